"""The quarantine: every rejected row with its reason, origin and raw content; list and retry."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Select, select

from okr_pipeline.contract import RawRecord
from okr_pipeline.ingest.store import IngestReport, ingest
from okr_pipeline.warehouse import quarantine

__all__ = ["list_quarantine", "quarantine_after", "retry_quarantine"]


def _filtered(
    query: Select[Any], reason: str | None, entity: str | None, include_resolved: bool
) -> Select[Any]:
    if not include_resolved:
        query = query.where(quarantine.c.resolved_at.is_(None))
    if reason:
        query = query.where(quarantine.c.reason == reason)
    if entity:
        query = query.where(quarantine.c.entity == entity)
    return query


def _shown(rows: Iterable[RowMapping]) -> list[dict[str, Any]]:
    shown = []
    for row in rows:
        item = {k: v for k, v in row.items() if k not in ("fields", "fingerprint")}
        for key in ("first_seen_at", "last_seen_at", "resolved_at"):
            item[key] = item[key] and item[key].isoformat()
        shown.append(item)
    return shown


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
    query = _filtered(query, reason, entity, include_resolved)
    if limit:
        query = query.limit(limit)
    return _shown(conn.execute(query).mappings())


def quarantine_after(
    conn: Connection,
    after_id: int,
    limit: int,
    *,
    reason: str | None = None,
    entity: str | None = None,
    include_resolved: bool = False,
) -> list[dict[str, Any]]:
    """Up to `limit` quarantined rows with an id past `after_id`, in id order: pages of the
    quarantine, each resuming after the last id of the one before."""
    query = select(quarantine).where(quarantine.c.id > after_id).order_by(quarantine.c.id)
    query = _filtered(query, reason, entity, include_resolved).limit(limit)
    return _shown(conn.execute(query).mappings())


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
