"""The warehouse's state as ingestion left it: rows per entity, the open quarantine, the last
ingest runs."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from okr_pipeline.warehouse import ENTITY_TABLES, ingest_runs, quarantine

__all__ = ["warehouse_status"]


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
