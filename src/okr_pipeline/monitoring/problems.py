"""What a monitoring check finds wrong: a problem, which `alerts.raise_alerts` turns into an
alert (one per condition and subject)."""

from __future__ import annotations

from typing import Any

__all__ = ["Problem", "problem"]

Problem = dict[str, Any]


def problem(
    condition: str,
    subject: str,
    severity: str,
    message: str,
    value: float | None,
    threshold: float | None,
    **details: Any,
) -> Problem:
    """A problem of `condition` (e.g. `quality.freshness`) about `subject`; `details` are kept
    with the alert."""
    return {
        "condition": condition,
        "subject": subject,
        "severity": severity,
        "message": message,
        "value": value,
        "threshold": threshold,
        **details,
    }
