"""Read-side queries: key results as of a date (progress, score, open/closed, outcome), status."""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from okr_pipeline.warehouse.tables import ENTITY_TABLES, ingest_runs, quarantine

__all__ = ["KeyResultState", "key_result_states", "warehouse_status"]

key_results = ENTITY_TABLES["key_results"]
objectives = ENTITY_TABLES["objectives"]
check_ins = ENTITY_TABLES["check_ins"]


@dataclass(frozen=True)
class KeyResultState:
    """A key result as known at `as_of` (contract section 2)."""

    key_result_id: str
    objective_id: str
    due_date: date
    state: str  # open: due date not passed; closed: passed
    progress: float  # of the latest check-in at or before as_of; 0 before the first
    score: float  # progress clipped to [0, 1]
    last_check_in_at: datetime | None
    final_score: float | None  # score at the due date, for closed key results
    outcome: str | None  # achieved | missed for closed ones; None if open or cancelled
    cancelled: bool  # its objective is cancelled: it never gets an outcome

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_date"] = self.due_date.isoformat()
        data["last_check_in_at"] = self.last_check_in_at and self.last_check_in_at.isoformat()
        return data


def _progress(value: float, start: float, target: float) -> float:
    return (value - start) / (target - start)


def _latest_before(series: tuple[list[datetime], list[float]], limit: datetime) -> int:
    """Index of the latest check-in at or before `limit` in a time-sorted series, or -1."""
    return bisect.bisect_right(series[0], limit) - 1


def key_result_states(
    conn: Connection, as_of: datetime, threshold: float, state: str | None = None
) -> list[KeyResultState]:
    """Every key result as of `as_of`; `state` filters open or closed ones."""
    rows = conn.execute(
        select(
            key_results.c.key_result_id,
            key_results.c.objective_id,
            key_results.c.due_date,
            key_results.c.start_value,
            key_results.c.target_value,
            objectives.c.status,
        )
        .join(objectives, objectives.c.objective_id == key_results.c.objective_id)
        .order_by(key_results.c.key_result_id)
    ).all()
    series: dict[str, tuple[list[datetime], list[float]]] = defaultdict(lambda: ([], []))
    # ordered by time then id: at equal times the larger id is taken as the later check-in
    for kr_id, moment, value in conn.execute(
        select(check_ins.c.key_result_id, check_ins.c.checked_in_at, check_ins.c.value)
        .where(check_ins.c.checked_in_at <= as_of)
        .order_by(check_ins.c.key_result_id, check_ins.c.checked_in_at, check_ins.c.check_in_id)
    ):
        times, values = series[kr_id]
        times.append(moment)
        values.append(value)
    states = []
    for kr_id, objective_id, due, start, target, objective_status in rows:
        closed = due < as_of.date()
        if state is not None and state != ("closed" if closed else "open"):
            continue
        points = series.get(kr_id, ([], []))
        latest = len(points[0]) - 1
        progress = _progress(points[1][latest], start, target) if latest >= 0 else 0.0
        cancelled = objective_status == "cancelled"
        final_score = outcome = None
        if closed:
            at_due = _latest_before(points, datetime.combine(due, time.max))
            final = _progress(points[1][at_due], start, target) if at_due >= 0 else 0.0
            final_score = min(max(final, 0.0), 1.0)
            if not cancelled:
                outcome = "achieved" if final_score >= threshold else "missed"
        states.append(
            KeyResultState(
                key_result_id=kr_id,
                objective_id=objective_id,
                due_date=due,
                state="closed" if closed else "open",
                progress=progress,
                score=min(max(progress, 0.0), 1.0),
                last_check_in_at=points[0][latest] if latest >= 0 else None,
                final_score=final_score,
                outcome=outcome,
                cancelled=cancelled,
            )
        )
    return states


def warehouse_status(conn: Connection, last_runs: int = 5) -> dict[str, Any]:
    """Row counts per entity, open quarantine by entity and reason, the last ingest runs."""
    counts = {
        name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for name, table in ENTITY_TABLES.items()
    }
    open_rows = conn.execute(
        select(quarantine.c.entity, quarantine.c.reason, func.count())
        .where(quarantine.c.resolved_at.is_(None))
        .group_by(quarantine.c.entity, quarantine.c.reason)
        .order_by(quarantine.c.entity, quarantine.c.reason)
    ).all()
    by_reason: dict[str, int] = defaultdict(int)
    by_entity: dict[str, int] = defaultdict(int)
    for entity, reason, n in open_rows:
        by_reason[reason] += n
        by_entity[entity] += n
    runs = (
        conn.execute(select(ingest_runs).order_by(ingest_runs.c.started_at.desc()).limit(last_runs))
        .mappings()
        .all()
    )
    return {
        "rows": counts,
        "quarantine": {
            "open": sum(by_reason.values()),
            "by_reason": dict(by_reason),
            "by_entity": dict(by_entity),
        },
        "last_runs": [_run_summary(run) for run in runs],
    }


def _run_summary(run: Any) -> dict[str, Any]:
    report = json.loads(run["report"]) if run["report"] else {}
    return {
        "run_id": run["run_id"],
        "kind": run["kind"],
        "source": run["source"],
        "status": run["status"],
        "started_at": run["started_at"].isoformat(),
        "finished_at": run["finished_at"] and run["finished_at"].isoformat(),
        "totals": report.get("totals"),
        "error": report.get("error"),
    }
