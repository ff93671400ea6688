"""The quarantine: every rejected row with its reason, origin and raw content; list and retry."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, select

from okr_pipeline.contract import RawRecord
from okr_pipeline.ingest.store import IngestReport, ingest
from okr_pipeline.warehouse import quarantine

__all__ = ["list_quarantine", "retry_quarantine"]


def list_quarantine(
    conn: Connection,
    *,
    reason: str | None = None,
    entity: str | None = None,
    include_resolved: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    # as found: by run, then file and line (ids follow an upsert's key order on PostgreSQL)
    query = select(quarantine).order_by(
        quarantine.c.first_seen_at, quarantine.c.source, quarantine.c.line, quarantine.c.id
    )
    if not include_resolved:
        query = query.where(quarantine.c.resolved_at.is_(None))
    if reason:
        query = query.where(quarantine.c.reason == reason)
    if entity:
        query = query.where(quarantine.c.entity == entity)
    if limit:
        query = query.limit(limit)
    rows = []
    for row in conn.execute(query).mappings():
        item = {k: v for k, v in row.items() if k not in ("fields", "fingerprint")}
        for key in ("first_seen_at", "last_seen_at", "resolved_at"):
            item[key] = item[key] and item[key].isoformat()
        rows.append(item)
    return rows


def retry_quarantine(engine: Engine) -> IngestReport:
    """Validate the open quarantined rows again (their parents may have arrived since); those
    that pass are stored and marked resolved, the others stay with their current reason."""
    records: dict[str, list[RawRecord]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(
            select(
                quarantine.c.id,
                quarantine.c.entity,
                quarantine.c.fields,
                quarantine.c.source,
                quarantine.c.line,
                quarantine.c.raw,
            )
            .where(quarantine.c.resolved_at.is_(None), quarantine.c.fields.is_not(None))
            .order_by(quarantine.c.id)
        ):
            records[row.entity].append(
                RawRecord(
                    row.entity,
                    json.loads(row.fields),
                    row.source,
                    row.line,
                    row.raw,
                    quarantine_id=row.id,
                )
            )
    return ingest(engine, records, source="quarantine", kind="quarantine_retry")
