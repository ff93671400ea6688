"""What every layer shares: the as-of clock, redaction of secrets, pausing the garbage collector,
whether a worker may be forked;
and self-contained HTML reports (`okr_pipeline.core.html_report`, imported where used: it loads
matplotlib)."""

from okr_pipeline.core.clock import (
    as_of_instant,
    days,
    instant,
    now_utc,
)
from okr_pipeline.core.fork import can_fork, die_with_parent
from okr_pipeline.core.gc_pause import gc_paused
from okr_pipeline.core.redact import redact_text, redact_url

__all__ = [
    "as_of_instant",
    "can_fork",
    "days",
    "die_with_parent",
    "gc_paused",
    "instant",
    "now_utc",
    "redact_text",
    "redact_url",
]
