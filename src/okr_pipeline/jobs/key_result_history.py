"""One key result as the dashboard draws it: its record (as the API gives it) with its period,
its progress at each check-in, the ideal pace over the period, and its stored risks over time,
each up to the as-of date."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select

from okr_pipeline.config import Settings
from okr_pipeline.jobs.okrs import key_result_record
from okr_pipeline.warehouse import ENTITY_TABLES, open_warehouse

__all__ = ["key_result_timeline"]


def key_result_timeline(settings: Settings, key_result_id: str, as_of: datetime) -> dict[str, Any]:
    """The key result's record as of `as_of` (NotFoundError if unknown) with its objective's
    title and period start, and the series of its chart: `progress` (per check-in up to
    `as_of`: its time and progress, the share of the way from start to target), `pace` (the
    ideal: 0 at the period's start, 1 at the end of the due day) and `risk` (per stored risk up
    to `as_of`: its as-of and risk)."""
    record = key_result_record(settings, key_result_id, as_of)
    objectives = ENTITY_TABLES["objectives"]
    with open_warehouse(settings).connect() as conn:
        objective = conn.execute(
            select(objectives.c.title, objectives.c.period_start).where(
                objectives.c.objective_id == record["objective_id"]
            )
        ).one()
    begin = datetime.combine(objective.period_start, time.min)
    end = datetime.combine(date.fromisoformat(record["due_date"]), time.max)
    span = record["target_value"] - record["start_value"]
    moment = as_of.isoformat()
    record["objective_title"] = objective.title
    record["period_start"] = objective.period_start.isoformat()
    record["progress_series"] = [
        {"at": c["checked_in_at"], "progress": (c["value"] - record["start_value"]) / span}
        for c in record["check_ins"]
        if c["checked_in_at"] <= moment
    ]
    record["pace_series"] = [
        {"at": begin.isoformat(), "progress": 0.0},
        {"at": end.isoformat(), "progress": 1.0},
    ]
    # one point per as-of: its latest stored risk (the history is oldest first, so a later
    # row for the same as-of replaces an earlier one)
    latest = {r["as_of"]: r["risk"] for r in record["risk_history"] if r["as_of"] <= moment}
    record["risk_series"] = [{"at": at, "risk": risk} for at, risk in latest.items()]
    return record
