"""Objectives and key results as the API shows them: each as of a date (progress, score, open or
closed, outcome) with the latest risk stored by then, filtered, sorted and a page at a time; and
one key result whole, with its check-ins, milestones, tasks and risk history."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from okr_pipeline.config import Settings
from okr_pipeline.errors import NotFoundError
from okr_pipeline.features import KeyResultState, key_result_states
from okr_pipeline.jobs.pages import Kind, Page, page_of
from okr_pipeline.warehouse import (
    ENTITY_TABLES,
    OLDEST_FIRST,
    latest_predictions,
    open_warehouse,
    predictions,
)

__all__ = [
    "KEY_RESULT_SORTS",
    "OBJECTIVE_SORTS",
    "KeyResultFilters",
    "ObjectiveFilters",
    "key_result_record",
    "key_results_as_of",
    "key_results_page",
    "objectives_page",
]

# what a list may be sorted by, and how each sorts
KEY_RESULT_SORTS: dict[str, Kind] = {
    "key_result_id": "text",
    "due_date": "text",
    "progress": "number",
    "risk": "number",
}
OBJECTIVE_SORTS: dict[str, Kind] = {
    "objective_id": "text",
    "period_end": "text",
    "progress": "number",
    "risk": "number",
}


@dataclass(frozen=True)
class KeyResultFilters:
    as_of: datetime
    department: str | None = None  # the objective's
    owner: str | None = None  # the key result's owner, else its objective's
    objective_id: str | None = None
    state: str | None = None  # open | closed
    status: str | None = None  # the latest risk's: on_track | at_risk | off_track
    min_risk: float | None = None
    max_risk: float | None = None


@dataclass(frozen=True)
class ObjectiveFilters:
    as_of: datetime
    department: str | None = None
    owner: str | None = None
    status: str | None = None  # the objective's: active | completed | cancelled | on_hold
    min_risk: float | None = None  # of its riskiest open key result
    max_risk: float | None = None


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _row(row: Any, skip: tuple[str, ...] = ("run_id",)) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row._mapping.items() if key not in skip}


def _latest_risks(
    conn: Connection, as_of: datetime, key_result_ids: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per key result, the prediction stored latest for an as-of at or before `as_of`."""
    where = [predictions.c.as_of <= as_of]
    if key_result_ids is not None:
        where.append(predictions.c.key_result_id.in_(key_result_ids))
    columns = (
        predictions.c.key_result_id,
        predictions.c.risk,
        predictions.c.status,
        predictions.c.as_of,
        predictions.c.model_version,
    )
    rows = conn.execute(latest_predictions(*where, columns=columns))
    return {
        row.key_result_id: {
            "risk": row.risk,
            "risk_status": row.status,
            "risk_as_of": row.as_of.isoformat(),
            "model_version": row.model_version,
        }
        for row in rows
    }


_NO_RISK = {"risk": None, "risk_status": None, "risk_as_of": None, "model_version": None}


def _key_result_items(
    conn: Connection, settings: Settings, as_of: datetime, key_result_ids: list[str] | None
) -> list[dict[str, Any]]:
    """Key results (all, or those of `key_result_ids`) as of `as_of` with their latest risk."""
    krs, objectives = ENTITY_TABLES["key_results"], ENTITY_TABLES["objectives"]
    query = select(
        krs.c.key_result_id,
        krs.c.objective_id,
        krs.c.title,
        krs.c.metric_type,
        krs.c.start_value,
        krs.c.target_value,
        krs.c.unit,
        krs.c.weight,
        func.coalesce(krs.c.owner_id, objectives.c.owner_id).label("owner_id"),
        objectives.c.department,
    ).join(objectives, objectives.c.objective_id == krs.c.objective_id)
    if key_result_ids is not None:
        query = query.where(krs.c.key_result_id.in_(key_result_ids))
    rows = {row.key_result_id: _row(row) for row in conn.execute(query)}
    states: dict[str, KeyResultState] = {
        s.key_result_id: s
        for s in key_result_states(
            conn, as_of, settings.model.achievement_threshold, key_result_ids=key_result_ids
        )
    }
    risks = _latest_risks(conn, as_of, key_result_ids)
    items = []
    for kr_id, row in rows.items():
        state = states[kr_id].as_dict()
        del state["key_result_id"], state["objective_id"]
        items.append({**row, **state, **risks.get(kr_id, _NO_RISK)})
    return items


def _within(risk: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    return risk is not None and (low is None or risk >= low) and (high is None or risk <= high)


def key_results_as_of(settings: Settings, filters: KeyResultFilters) -> list[dict[str, Any]]:
    """Every key result as of `filters.as_of` that passes the filters, in no set order."""
    f = filters
    with open_warehouse(settings).connect() as conn:
        return [
            item
            for item in _key_result_items(conn, settings, f.as_of, None)
            if (f.department is None or item["department"] == f.department)
            and (f.owner is None or item["owner_id"] == f.owner)
            and (f.objective_id is None or item["objective_id"] == f.objective_id)
            and (f.state is None or item["state"] == f.state)
            and (f.status is None or item["risk_status"] == f.status)
            and _within(item["risk"], f.min_risk, f.max_risk)
        ]


def key_results_page(
    settings: Settings,
    filters: KeyResultFilters,
    *,
    sort: str = "key_result_id",
    cursor: str | None = None,
    limit: int,
) -> Page[dict[str, Any]]:
    """Key results as of `filters.as_of` that pass the filters, a page sorted by `sort`."""
    return page_of(
        key_results_as_of(settings, filters),
        sort=sort,
        kinds=KEY_RESULT_SORTS,
        value=lambda item, field: item[field],
        item_id=lambda item: item["key_result_id"],
        cursor=cursor,
        limit=limit,
    )


def objectives_page(
    settings: Settings,
    filters: ObjectiveFilters,
    *,
    sort: str = "objective_id",
    cursor: str | None = None,
    limit: int,
) -> Page[dict[str, Any]]:
    """Objectives that pass the filters, a page sorted by `sort`; each with the progress of its
    key results as of `filters.as_of` (their scores weighted by their weights) and its risk,
    that of its riskiest open key result."""
    f = filters
    table = ENTITY_TABLES["objectives"]
    query = select(table)
    if f.department is not None:
        query = query.where(table.c.department == f.department)
    if f.owner is not None:
        query = query.where(table.c.owner_id == f.owner)
    if f.status is not None:
        query = query.where(table.c.status == f.status)
    with open_warehouse(settings).connect() as conn:
        objectives = [_row(row) for row in conn.execute(query)]
        by_objective: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for kr in _key_result_items(conn, settings, f.as_of, None):
            by_objective[kr["objective_id"]].append(kr)
    items = []
    for objective in objectives:
        krs = by_objective.get(objective["objective_id"], [])
        weight = sum(kr["weight"] for kr in krs)
        open_risks = [kr["risk"] for kr in krs if kr["state"] == "open" and kr["risk"] is not None]
        item = {
            **objective,
            "key_results": len(krs),
            "open_key_results": sum(kr["state"] == "open" for kr in krs),
            "progress": sum(kr["score"] * kr["weight"] for kr in krs) / weight if weight else None,
            "risk": max(open_risks) if open_risks else None,
        }
        if _within(item["risk"], f.min_risk, f.max_risk):
            items.append(item)
    return page_of(
        items,
        sort=sort,
        kinds=OBJECTIVE_SORTS,
        value=lambda item, field: item[field],
        item_id=lambda item: item["objective_id"],
        cursor=cursor,
        limit=limit,
    )


# what a key result's record lists of each entity under it, and in which order
_RECORD_PARTS = {
    "check_ins": ("checked_in_at", "check_in_id"),
    "milestones": ("due_date", "milestone_id"),
    "tasks": ("planned_for", "task_id"),
}


def key_result_record(settings: Settings, key_result_id: str, as_of: datetime) -> dict[str, Any]:
    """One key result as of `as_of` with its latest risk, and everything stored about it: its
    check-ins (oldest first), milestones, tasks and every risk predicted for it."""
    with open_warehouse(settings).connect() as conn:
        found = _key_result_items(conn, settings, as_of, [key_result_id])
        if not found:
            raise NotFoundError(f"no key result {key_result_id!r}")
        record = found[0]
        for entity, order in _RECORD_PARTS.items():
            table = ENTITY_TABLES[entity]
            record[entity] = [
                _row(row, ("run_id", "key_result_id"))
                for row in conn.execute(
                    select(table)
                    .where(table.c.key_result_id == key_result_id)
                    .order_by(*(table.c[column] for column in order))
                )
            ]
        record["risk_history"] = [
            {**_row(row, ()), "reasons": json.loads(row.reasons)}
            for row in conn.execute(
                select(
                    predictions.c.as_of,
                    predictions.c.risk,
                    predictions.c.status,
                    predictions.c.reasons,
                    predictions.c.model_version,
                    predictions.c.created_at,
                )
                .where(predictions.c.key_result_id == key_result_id)
                .order_by(*OLDEST_FIRST)
            )
        ]
    return record
