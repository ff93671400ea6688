"""What every layer shares: the as-of clock, redaction of secrets, pausing the garbage collector;
and self-contained HTML reports (`okr_pipeline.core.html_report`, imported where used: it loads
matplotlib)."""

from okr_pipeline.core.clock import (
    as_of_instant,
    days,
    instant,
    now_utc,
)
from okr_pipeline.core.gc_pause import gc_paused
from okr_pipeline.core.redact import redact_text, redact_url

__all__ = [
    "as_of_instant",
    "days",
    "gc_paused",
    "instant",
    "now_utc",
    "redact_text",
    "redact_url",
]
