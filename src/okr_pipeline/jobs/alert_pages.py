"""The alerts as the API shows them: latest raised first a page at a time, and acknowledging one
by its id (an unknown id is not found; a cleared alert cannot be acknowledged)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.errors import ConflictError, InputError, NotFoundError
from okr_pipeline.jobs.pages import Page, page_of
from okr_pipeline.warehouse import MAX_ID, open_warehouse
from okr_pipeline.warehouse import alerts as alerts_table

__all__ = ["acknowledge_alert_by_id", "alerts_page"]

_SHOWN = (
    "id",
    "condition",
    "subject",
    "severity",
    "message",
    "details",
    "status",
    "first_raised_at",
    "last_raised_at",
    "last_notified_at",
    "times_raised",
    "acknowledged_at",
    "cleared_at",
    "undelivered",
)


def _shown(alert: Any) -> dict[str, Any]:
    document: dict[str, Any] = alert.as_dict()
    return {key: document[key] for key in _SHOWN}


def alerts_page(
    settings: Settings, *, open_only: bool = False, cursor: str | None = None, limit: int
) -> Page[dict[str, Any]]:
    """A page of the alerts, latest raised first, after `cursor`; only those still holding
    (open or acknowledged) if `open_only`."""
    found = [_shown(alert) for alert in jobs.alerts(settings, open_only)]
    return page_of(
        found,
        sort="-last_raised_at",
        kinds={"last_raised_at": "text"},  # ISO instants sort as text
        value=lambda alert, field: alert[field],
        item_id=lambda alert: f"{alert['id']:012d}",  # ids in the order of their numbers
        cursor=cursor,
        limit=limit,
    )


def acknowledge_alert_by_id(settings: Settings, alert_id: int) -> dict[str, Any]:
    """Acknowledge the alert `alert_id` (again: no change): NotFoundError if there is none,
    ConflictError if it has cleared."""
    if not 1 <= alert_id <= MAX_ID:
        raise NotFoundError(f"no alert {alert_id}")
    with open_warehouse(settings).connect() as conn:
        known = conn.execute(select(alerts_table.c.id).where(alerts_table.c.id == alert_id)).first()
    if known is None:
        raise NotFoundError(f"no alert {alert_id}")
    try:
        acknowledged = jobs.acknowledge_alert(settings, alert_id)
    except InputError as exc:  # alerts are never deleted: a known one refused has cleared
        raise ConflictError(str(exc)) from None
    return _shown(acknowledged)
