"""Ingestion: raw records -> contract validation -> warehouse rows or quarantine, one transaction.

Per entity, parents first (objectives, key results, then the rest), so references resolve
whatever the order of the input:
1. validate each row (contract.validate); a broken rule sends the row to the quarantine;
2. resolve its reference against this batch and the warehouse (`unknown_reference` otherwise);
3. collapse repeats of one id within the batch: the newer `updated_at` wins, check-ins keep the
   first, milestones the last; the losers count as unchanged;
4. compare with the stored row: new rows are inserted, changed and not older rows updated, the
   rest are unchanged. So `read = stored + unchanged + quarantined`, and a second ingest of the
   same input stores nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update

from okr_pipeline.contract import ENTITIES, ENTITY_ORDER, EntitySpec
from okr_pipeline.gcpause import gc_paused
from okr_pipeline.sources.record import RawRecord
from okr_pipeline.validation_batch import Origin, Rejected, Validated, chunked, validate_records
from okr_pipeline.warehouse.bulk import chunks, insert_rows
from okr_pipeline.warehouse.tables import ENTITY_TABLES, ingest_runs, quarantine

__all__ = ["EntityCounts", "IngestReport", "Ingestion", "ingest", "ingest_validated"]

log = logging.getLogger(__name__)
CHUNK_ROWS = 20000  # rows validated and stored at a time
LOOKUP_CHUNK = 900  # ids per IN (...) list: below every dialect's limit (Oracle: 1000)
_OLDEST = datetime.min


@dataclass
class EntityCounts:
    read: int = 0
    stored: int = 0
    unchanged: int = 0
    quarantined: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "stored": self.stored,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "by_reason": dict(sorted(self.by_reason.items())),
        }


@dataclass
class IngestReport:
    run_id: str
    source: str
    entities: dict[str, EntityCounts]
    warnings: list[str]
    resolved: int = 0  # quarantined rows that now passed (quarantine retry)

    @property
    def totals(self) -> EntityCounts:
        total = EntityCounts()
        for counts in self.entities.values():
            total.read += counts.read
            total.stored += counts.stored
            total.unchanged += counts.unchanged
            total.quarantined += counts.quarantined
            total.by_reason.update(counts.by_reason)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "entities": {name: c.as_dict() for name, c in self.entities.items()},
            "totals": self.totals.as_dict(),
            "warnings": self.warnings,
            "resolved_from_quarantine": self.resolved,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _lookup(conn: Connection, table: Table, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stored rows of `table` by primary key, for the given ids."""
    key = table.primary_key.columns.values()[0]
    # one cached statement with an expanding parameter: no SQL compiled per chunk
    query = select(table).where(key.in_(bindparam("ids", expanding=True)))
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(ids), LOOKUP_CHUNK):
        for row in conn.execute(query, {"ids": chunk}).mappings():
            found[row[key.name]] = dict(row)
    return found


def storable_text(raw: str) -> str:
    """Raw content as text every database stores: bad bytes and NULs shown as escapes."""
    if "\x00" in raw:
        raw = raw.replace("\x00", "\\x00")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # surrogates standing for bytes that were not UTF-8
        raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return raw


def _version(row: dict[str, Any]) -> tuple[bool, datetime]:
    """Order of versions of one id: a row without updated_at is older than any with one."""
    stamp = row.get("updated_at")
    return (stamp is not None, stamp or _OLDEST)


def _replaces(spec: EntitySpec, new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether `new` (seen later) takes the place of `old` for the same id."""
    if spec.immutable:
        return False  # a re-sent check-in is the same check-in
    if spec.versioned:
        return _version(new) >= _version(old)  # ties: the later one
    return True


class Ingestion:
    """One run: the state shared by the entities of one transaction."""

    def __init__(self, conn: Connection, run_id: str, progress: Callable[[int], None] | None):
        self.conn = conn
        self.run_id = run_id
        self.progress = progress
        self.now = _utcnow()
        self.rejected: list[Rejected] = []
        self.resolved: list[int] = []
        self.kept: dict[str, dict[str, dict[str, Any]]] = {}  # entity -> id -> row, this run
        self.empty: dict[str, bool] = {}

    def apply(self, chunk: Validated, counts: EntityCounts) -> None:
        """Store one validated chunk: references, repeats, then the warehouse."""
        spec = ENTITIES[chunk.entity]
        counts.read += chunk.read
        for rejected in chunk.rejected:
            self._reject(rejected, counts)
        valid = self._resolve_references(spec, chunk.valid, counts)
        winners = self._collapse_repeats(spec, valid, counts)
        self._store(spec, winners, counts)
        self.kept.setdefault(chunk.entity, {}).update(
            (key, row) for key, (_, row) in winners.items()
        )
        if self.progress is not None:
            self.progress(chunk.read)

    def _was_empty(self, entity: str) -> bool:
        """Whether the entity's table held no row when this run began: then no lookup in it
        can find anything but what this run stored, which `kept` already has."""
        if entity not in self.empty:
            table = ENTITY_TABLES[entity]
            first = self.conn.execute(select(table.primary_key.columns.values()[0]).limit(1))
            self.empty[entity] = first.first() is None
        return self.empty[entity]

    def _reject(self, rejected: Rejected, counts: EntityCounts) -> None:
        self.rejected.append(rejected)
        counts.quarantined += 1
        counts.by_reason[rejected.reason] += 1

    def _resolve_references(
        self,
        spec: EntitySpec,
        valid: list[tuple[Origin, dict[str, Any]]],
        counts: EntityCounts,
    ) -> list[tuple[Origin, dict[str, Any]]]:
        if spec.reference is None:
            return valid
        field_name, parent = spec.reference
        in_batch = self.kept.get(parent, {})
        wanted = {row[field_name] for _, row in valid} - in_batch.keys() - {None}
        stored = (
            {} if self._was_empty(parent) else _lookup(self.conn, ENTITY_TABLES[parent], wanted)
        )
        resolved = []
        for origin, row in valid:
            parent_id = row[field_name]
            if parent_id is None:  # an optional reference left empty
                resolved.append((origin, row))
                continue
            parent_row = in_batch.get(parent_id) or stored.get(parent_id)
            if parent_row is None:
                source, line, raw, quarantine_id = origin
                # the validated row stands in for the fields: a retry validates it again
                record = RawRecord(
                    spec.name, dict(row), source, line, raw, quarantine_id=quarantine_id
                )
                message = f"{field_name}: {parent_id!r} names no known {parent}"
                self._reject(Rejected(record, "unknown_reference", field_name, message), counts)
                continue
            if spec.name == "key_results" and row["due_date"] is None:
                row["due_date"] = parent_row["period_end"]  # contract default
            resolved.append((origin, row))
        return resolved

    def _collapse_repeats(
        self, spec: EntitySpec, valid: list[tuple[RawRecord, dict[str, Any]]], counts: EntityCounts
    ) -> dict[str, tuple[Origin, dict[str, Any]]]:
        winners: dict[str, tuple[Origin, dict[str, Any]]] = {}
        for origin, row in valid:
            key = row[spec.key]
            current = winners.get(key)
            if current is None or _replaces(spec, row, current[1]):
                winners[key] = (origin, row)
                loser = current
            else:
                loser = (origin, row)
            if loser is not None:
                counts.unchanged += 1
                self._resolve(loser[0])
        return winners

    def _store(
        self,
        spec: EntitySpec,
        winners: dict[str, tuple[Origin, dict[str, Any]]],
        counts: EntityCounts,
    ) -> None:
        table = ENTITY_TABLES[spec.name]
        empty = not winners or self._was_empty(spec.name)
        stored = {} if empty else _lookup(self.conn, table, winners)
        inserts, updates = [], []
        for key, (origin, row) in winners.items():
            self._resolve(origin)
            old = stored.get(key)
            if old is None:
                inserts.append(row)
            elif _replaces(spec, row, old) and any(row[f] != old[f] for f in spec.field_names):
                updates.append(row)
            else:
                counts.unchanged += 1
        counts.stored += len(inserts) + len(updates)
        for row in inserts:
            row["run_id"] = self.run_id
        insert_rows(self.conn, table, inserts)
        if updates:
            columns = [*spec.field_names, "run_id"]
            statement = (
                update(table)
                .where(table.c[spec.key] == bindparam("b_key"))
                .values({c: bindparam(f"b_{c}") for c in columns if c != spec.key})
            )
            params = [
                {"b_key": row[spec.key], "b_run_id": self.run_id}
                | {f"b_{c}": row[c] for c in spec.field_names if c != spec.key}
                for row in updates
            ]
            for chunk in chunks(params, 5000):
                self.conn.execute(statement, chunk)

    def _resolve(self, origin: Origin) -> None:
        """A row retried from the quarantine passed: its quarantine entry is resolved."""
        if origin[3] is not None:
            self.resolved.append(origin[3])

    def write_quarantine(self) -> None:
        """One quarantine row per distinct bad input: a repeat raises its count and last run."""
        by_print: dict[str, tuple[Rejected, int]] = {}
        for rejected in self.rejected:
            rejected.record.raw = storable_text(rejected.record.raw)
            digest = hashlib.sha256(
                f"{rejected.record.entity}\0{rejected.record.raw}".encode()
            ).hexdigest()
            seen = by_print.get(digest)
            # a retry from the quarantine is not a new sighting of the row
            sighting = 0 if rejected.record.quarantine_id is not None else 1
            by_print[digest] = (rejected, (seen[1] if seen else 0) + sighting)
        existing: dict[str, int] = {}
        for chunk in chunks(list(by_print), LOOKUP_CHUNK):
            rows = self.conn.execute(
                select(quarantine.c.fingerprint, quarantine.c.times_seen).where(
                    quarantine.c.fingerprint.in_(chunk)
                )
            )
            existing.update({fingerprint: times for fingerprint, times in rows})
        new_rows, seen_again = [], []
        for digest, (rejected, times) in by_print.items():
            common = {
                "reason": rejected.reason,
                "field": rejected.field,
                "message": rejected.message,
                "last_run_id": self.run_id,
                "last_seen_at": self.now,
            }
            if digest in existing:
                seen_again.append(
                    {"b_fingerprint": digest, "b_times_seen": existing[digest] + times}
                    | {f"b_{k}": v for k, v in common.items()}
                )
                continue
            record = rejected.record
            new_rows.append(
                common
                | {
                    "entity": record.entity,
                    "source": record.source,
                    "line": record.line,
                    "raw": record.raw,
                    "fields": None
                    if record.fields is None
                    else json.dumps(record.fields, ensure_ascii=False, default=str),
                    "fingerprint": digest,
                    "times_seen": times,
                    "first_run_id": self.run_id,
                    "first_seen_at": self.now,
                }
            )
        insert_rows(self.conn, quarantine, new_rows)
        if seen_again:
            columns = ["reason", "field", "message", "last_run_id", "last_seen_at", "times_seen"]
            statement = (
                update(quarantine)
                .where(quarantine.c.fingerprint == bindparam("b_fingerprint"))
                .values(
                    {c: bindparam(f"b_{c}") for c in columns}
                    | {"resolved_at": None, "resolved_run_id": None}
                )
            )
            self.conn.execute(statement, seen_again)
        # rows that came from the quarantine and passed are kept, marked resolved
        for chunk in chunks(self.resolved, LOOKUP_CHUNK):
            self.conn.execute(
                update(quarantine)
                .where(quarantine.c.id.in_(chunk))
                .values(resolved_at=self.now, resolved_run_id=self.run_id)
            )


def ingest(
    engine: Engine,
    records: dict[str, list[RawRecord]],
    *,
    source: str,
    kind: str = "files",
    warnings: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Validate and store the records in one transaction; the run and its report are recorded."""
    validated = (
        validate_records(entity, chunk)
        for entity in ENTITY_ORDER
        for chunk in chunked(entity, records.get(entity, []), CHUNK_ROWS)
    )
    return ingest_validated(
        engine, validated, source=source, kind=kind, warnings=warnings, progress=progress
    )


def ingest_validated(
    engine: Engine,
    validated: Iterable[Validated],
    *,
    source: str,
    kind: str = "files",
    warnings: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Store validated chunks, parents' entities first, in one transaction; the run and its
    report are recorded, a failed run too."""
    run_id = str(uuid.uuid4())
    report = IngestReport(
        run_id, source, {name: EntityCounts() for name in ENTITY_ORDER}, list(warnings)
    )
    started = _utcnow()
    try:
        with gc_paused(), engine.begin() as conn:
            conn.execute(
                insert(ingest_runs).values(
                    run_id=run_id, kind=kind, source=source, status="running", started_at=started
                )
            )
            run = Ingestion(conn, run_id, progress)
            for chunk in validated:
                report.warnings.extend(chunk.warnings)
                run.apply(chunk, report.entities[chunk.entity])
            run.write_quarantine()
            report.resolved = len(set(run.resolved))
            conn.execute(
                update(ingest_runs)
                .where(ingest_runs.c.run_id == run_id)
                .values(
                    status="completed", finished_at=_utcnow(), report=json.dumps(report.as_dict())
                )
            )
    except Exception as exc:
        # the data rolled back; keep a trace of the failed run for `okr status`
        with engine.begin() as conn:
            conn.execute(
                insert(ingest_runs).values(
                    run_id=run_id,
                    kind=kind,
                    source=source,
                    status="failed",
                    started_at=started,
                    finished_at=_utcnow(),
                    report=json.dumps({"error": str(exc)}),
                )
            )
        raise
    for warning in report.warnings:
        log.warning(warning)
    return report
