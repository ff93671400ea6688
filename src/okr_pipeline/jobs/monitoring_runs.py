"""The stored monitoring runs (`okr monitor`, the monitoring pipeline): the document of the latest
one as of a date, every run a page at a time (newest first), and one run whole."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import NotFoundError
from okr_pipeline.jobs.pages import Page, decode_id_cursor, id_page
from okr_pipeline.warehouse import MAX_ID, monitor_runs, open_warehouse

__all__ = ["latest_monitoring", "monitoring_run", "monitoring_runs_page"]

_SORT = "monitor_runs"  # the one order of the runs (newest first), named in their cursors


def _run(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "as_of": row.as_of.isoformat(),
        "created_at": row.created_at.isoformat(),
        "report": row.report,
        "document": json.loads(row.document),
    }


def latest_monitoring(settings: Settings, as_of: datetime | None = None) -> dict[str, Any]:
    """The stored run with the latest as-of at or before `as_of` (default now; of two as of
    the same instant, the one made later), with its document; NotFoundError if none is."""
    moment = as_of or now_utc()
    query = (
        select(monitor_runs)
        .where(monitor_runs.c.as_of <= moment)
        .order_by(
            monitor_runs.c.as_of.desc(), monitor_runs.c.created_at.desc(), monitor_runs.c.id.desc()
        )
        .limit(1)
    )
    with open_warehouse(settings).connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"no monitoring run as of {moment.isoformat()} or before")
    return _run(row)


def monitoring_run(settings: Settings, run_id: int) -> dict[str, Any]:
    """The stored run `run_id` with its document; NotFoundError if there is none."""
    if not 1 <= run_id <= MAX_ID:
        raise NotFoundError(f"no monitoring run {run_id}")
    with open_warehouse(settings).connect() as conn:
        row = conn.execute(select(monitor_runs).where(monitor_runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no monitoring run {run_id}")
    return _run(row)


def monitoring_runs_page(
    settings: Settings, *, cursor: str | None = None, limit: int
) -> Page[dict[str, Any]]:
    """A page of the stored runs, newest first, after `cursor`: each run's as-of, when it was
    made, its report and how many alerts it raised (not its document)."""
    query = select(monitor_runs).order_by(monitor_runs.c.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(monitor_runs.c.id < decode_id_cursor(cursor, _SORT))
    with open_warehouse(settings).connect() as conn:
        rows = conn.execute(query).all()
    items = []
    for row in rows:
        run = _run(row)
        alerts = run.pop("document").get("alerts", [])
        items.append(run | {"alerts": len(alerts)})
    return id_page(items, limit, _SORT)
