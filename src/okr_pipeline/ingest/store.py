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
5. versions of the mutable rows (`versions.Versions`): each row inserted or updated adds one; a
   row with an updated_at older than the stored one's (arriving late, or beaten by a repeat in
   the batch) adds one valid from then. A redelivery adds none.

On PostgreSQL, where other runs (an ingest, the stream consumer) may write the same rows at once,
step 4 is one INSERT ... ON CONFLICT per chunk (`_upsert`) with the same rule in SQL: what it
inserted or updated was stored by this run, the rest is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import itemgetter, not_
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from okr_pipeline.contract import (
    ENTITIES,
    ENTITY_ORDER,
    EntitySpec,
    Origin,
    RawBatch,
    RawRecord,
    Rejected,
    Row,
    Validated,
    chunked_batch,
    validate_rows,
)
from okr_pipeline.core import gc_paused, now_utc
from okr_pipeline.ingest.versions import Versions
from okr_pipeline.warehouse import (
    ENTITY_TABLES,
    LOOKUP_CHUNK,
    VERSION_TABLES,
    Excluded,
    bulk_page_cache,
    chunks,
    from_sqlite_text,
    ingest_runs,
    insert_rows,
    insert_tuples,
    quarantine,
    upsert,
    upserts,
    writers_lock,
)

__all__ = [
    "EntityCounts",
    "IngestReport",
    "Ingestion",
    "bounded_raw",
    "ingest",
    "ingest_batches",
    "ingest_validated",
    "storable_text",
]

log = logging.getLogger(__name__)
CHUNK_ROWS = 20000  # rows validated and stored at a time
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
            # a warning may quote a file's undecodable bytes (a broken header name)
            "warnings": [storable_text(w) for w in self.warnings],
            "resolved_from_quarantine": self.resolved,
        }


def _lookup(
    conn: Connection, spec: EntitySpec, ids: Iterable[str], names: Sequence[str] | None = None
) -> dict[str, Row]:
    """Stored rows of the entity by id, for the given ids: their fields `names` (by default
    all, in field order)."""
    table = ENTITY_TABLES[spec.name]
    key = table.c[spec.key]
    names = spec.field_names if names is None else names
    # one cached statement with an expanding parameter: no SQL compiled per chunk
    query = select(key, *(table.c[name] for name in names)).where(
        key.in_(bindparam("ids", expanding=True))
    )
    found: dict[str, Row] = {}
    for chunk in chunks(sorted(ids), LOOKUP_CHUNK):
        for row in conn.execute(query, {"ids": chunk}):
            found[row[0]] = tuple(row[1:])
    return found


def storable_text(raw: str) -> str:
    """Raw content as text every database stores: bad bytes, lone surrogates and NULs shown as
    escapes."""
    if "\x00" in raw:
        raw = raw.replace("\x00", "\\x00")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        # surrogates standing for bytes that were not UTF-8 (surrogateescape) become \xNN; any
        # other (a "\ud800" escape read from JSON) \uNNNN
        raw = _NOT_A_BYTE.sub(lambda match: f"\\u{ord(match[0]):04x}", raw)
        raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return raw


_NOT_A_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
RAW_KEPT_BYTES = 64 * 1024  # of a longer raw content only this much is stored


def bounded_raw(raw: str) -> dict[str, Any]:
    """The raw columns for storable raw content: a long one keeps its first RAW_KEPT_BYTES,
    with raw_length and raw_sha256 of the whole (UTF-8); content kept whole has neither."""
    whole = {"raw": raw, "raw_length": None, "raw_sha256": None}
    if len(raw) <= RAW_KEPT_BYTES // 4:  # the common case: short whatever its characters
        return whole
    data = raw.encode("utf-8")
    if len(data) <= RAW_KEPT_BYTES:
        return whole
    return {
        "raw": data[:RAW_KEPT_BYTES].decode("utf-8", "ignore"),  # not half a character
        "raw_length": len(data),
        "raw_sha256": hashlib.sha256(data).hexdigest(),
    }


# The entities that others refer to (their rows are looked up by id during the run).
_REFERENCED = {spec.reference[1] for spec in ENTITIES.values() if spec.reference}


def _with_objects(spec: EntitySpec, rows: list[Row]) -> list[Row]:
    """Rows whose dates and timestamps are text (Validated.dates_as_text), with date and
    datetime objects instead: to compare with stored rows, or to show in the quarantine."""
    table = ENTITY_TABLES[spec.name]
    parsers = [from_sqlite_text(table.c[name].type) for name in spec.field_names]
    return [
        tuple(
            parse(value) if parse is not None and value.__class__ is str else value
            for value, parse in zip(row, parsers)
        )
        for row in rows
    ]


def _version(stamp: datetime | None) -> tuple[bool, datetime]:
    """Order of versions of one id: a row without updated_at is older than any with one."""
    return (stamp is not None, stamp or _OLDEST)


def _position(spec: EntitySpec, name: str) -> int:
    return spec.field_names.index(name)


def _replaces(spec: EntitySpec, new: Row, old: Row) -> bool:
    """Whether `new` (seen later) takes the place of `old` for the same id."""
    if spec.immutable:
        return False  # a re-sent check-in is the same check-in
    if spec.versioned:
        at = _position(spec, "updated_at")
        return _version(new[at]) >= _version(old[at])  # ties: the later one
    return True


class Ingestion:
    """One run: the state shared by the entities of one transaction."""

    def __init__(
        self,
        conn: Connection,
        run_id: str,
        progress: Callable[[int], None] | None,
        now: datetime | None = None,
        times: Mapping[tuple[str, int | None], datetime] | None = None,
        ids_across_chunks: bool = False,
    ):
        self.conn = conn
        self.run_id = run_id
        self.progress = progress
        # when this run's rows became true, for versions of rows without updated_at; `times`,
        # by origin (source, line), for rows that know better (an event's occurred_at)
        self.now = now or now_utc()
        self.versions = Versions(conn, run_id, self.now, times or {})
        self.rejected: list[Rejected] = []
        self.resolved: list[int] = []
        # entity -> id -> row stored this run, for the entities others refer to
        self.kept: dict[str, dict[str, Row]] = {}
        self.empty: dict[str, bool] = {}
        # whether an id may come in more than one chunk of an entity (contract.chunked keeps
        # a file's repeats in one): then a table empty at the start is so for one chunk only
        self.ids_across_chunks = ids_across_chunks
        # rows of the chunk being stored that lost to a newer repeat of their id in it
        self.superseded: list[Row] = []

    def apply(self, chunk: Validated, counts: EntityCounts) -> None:
        """Store one validated chunk: references, repeats, then the warehouse."""
        spec = ENTITIES[chunk.entity]
        counts.read += chunk.read
        for rejected in chunk.rejected:
            self._reject(rejected, counts)
        rows, origins = chunk.rows, chunk.origins
        rows, origins = self._resolve_references(spec, rows, origins, chunk.dates_as_text, counts)
        keys, rows, origins = self._collapse_repeats(spec, rows, origins, counts)
        self._store(spec, keys, rows, origins, chunk.dates_as_text, counts)
        if chunk.entity in _REFERENCED:
            self.kept.setdefault(chunk.entity, {}).update(zip(keys, rows))
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
        rows: list[Row],
        origins: list[Origin],
        dates_as_text: bool,
        counts: EntityCounts,
    ) -> tuple[list[Row], list[Origin]]:
        """The rows whose reference names a known row (or is empty); the others are rejected.
        A key result without a due date takes its objective's period_end."""
        if spec.reference is None:
            return rows, origins
        field_name, parent = spec.reference
        in_batch = self.kept.get(parent, {})
        parent_ids = list(map(itemgetter(_position(spec, field_name)), rows))
        wanted = set(parent_ids) - in_batch.keys() - {None}
        # of a stored parent only what a child takes from it: a key result its period's end
        taken = ["period_end"] if spec.name == "key_results" else []
        stored = (
            {} if self._was_empty(parent) else _lookup(self.conn, ENTITIES[parent], wanted, taken)
        )
        unknown = wanted - stored.keys()
        if unknown:
            is_unknown = list(map(unknown.__contains__, parent_ids))
            orphans = list(compress(rows, is_unknown))
            if dates_as_text:
                orphans = _with_objects(spec, orphans)
            for row, origin in zip(orphans, compress(origins, is_unknown)):
                self._reject_unknown(spec, row, origin, counts)
            known = list(map(not_, is_unknown))
            rows = list(compress(rows, known))
            origins = list(compress(origins, known))
            parent_ids = list(compress(parent_ids, known))
        if spec.name == "key_results":  # the contract's default due date
            due = _position(spec, "due_date")
            end = _position(ENTITIES[parent], "period_end")
            rows = [
                row
                if row[due] is not None
                else (
                    *row[:due],
                    in_batch[parent_id][end] if parent_id in in_batch else stored[parent_id][0],
                    *row[due + 1 :],
                )
                for row, parent_id in zip(rows, parent_ids)
            ]
        return rows, origins

    def _reject_unknown(
        self, spec: EntitySpec, row: Row, origin: Origin, counts: EntityCounts
    ) -> None:
        """Quarantine a row (with date and datetime objects) whose reference names no known row."""
        field_name, parent = spec.reference  # type: ignore[misc]
        # the validated row stands in for the fields: a retry validates it again
        fields = dict(zip(spec.field_names, row))
        source, line, raw, quarantine_id = origin
        record = RawRecord(spec.name, fields, source, line, raw, None, quarantine_id)
        message = f"{field_name}: {fields[field_name]!r} names no known {parent}"
        self._reject(Rejected(record, "unknown_reference", field_name, message), counts)

    def _collapse_repeats(
        self, spec: EntitySpec, rows: list[Row], origins: list[Origin], counts: EntityCounts
    ) -> tuple[list[str], list[Row], list[Origin]]:
        """The winning row of each id, in order of first sight, with its id and origin; the
        losers count as unchanged."""
        keys = list(map(itemgetter(_position(spec, spec.key)), rows))
        if len(set(keys)) == len(keys):
            return keys, rows, origins  # no id twice
        winners: dict[str, int] = {}
        losers: list[int] = []
        for i, key in enumerate(keys):
            current = winners.get(key)
            if current is None or _replaces(spec, rows[i], rows[current]):
                winners[key] = i
                loser = current
            else:
                loser = i
            if loser is not None:
                counts.unchanged += 1
                self._resolve(origins[loser])
                losers.append(loser)
        if spec.versioned and spec.name in VERSION_TABLES:
            # an older version of the winner, kept with its own time (none: no time to keep)
            at = _position(spec, "updated_at")
            self.superseded = [
                rows[i]
                for i in losers
                if rows[i][at] is not None and rows[i][at] != rows[winners[keys[i]]][at]
            ]
        return (
            list(winners),
            [rows[i] for i in winners.values()],
            [origins[i] for i in winners.values()],
        )

    def _store(
        self,
        spec: EntitySpec,
        keys: list[str],
        rows: list[Row],
        origins: list[Origin],
        dates_as_text: bool,
        counts: EntityCounts,
    ) -> None:
        """Insert the new rows, update the changed ones (and not older), count the rest."""
        self.resolved += [o.quarantine_id for o in origins if o.quarantine_id is not None]
        superseded, self.superseded = self.superseded, []
        if superseded and dates_as_text:
            superseded = _with_objects(spec, superseded)  # to compare with stored versions
        if upserts(self.conn):
            self._upsert(spec, rows, counts)
            if spec.name in VERSION_TABLES:
                self.versions.add_written(spec, keys)
                received = _with_objects(spec, rows) if dates_as_text else rows
                self.versions.add_late(spec, [*superseded, *received], maybe_stored=True)
                self.versions.event_times(spec, keys, rows, origins)
            return
        table = ENTITY_TABLES[spec.name]
        empty = not rows or self._was_empty(spec.name)
        if rows and self.ids_across_chunks:
            self.empty[spec.name] = False
        stored = {} if empty else _lookup(self.conn, spec, keys)
        inserts = rows
        updates: list[Row] = []  # of date and datetime objects, as the stored rows they replace
        late: list[Row] = []  # older than the stored row, and not the same
        if stored:
            inserts = [row for key, row in zip(keys, rows) if key not in stored]
            known = [(key, row) for key, row in zip(keys, rows) if key in stored]
            found = [row for _, row in known]
            if dates_as_text:
                found = _with_objects(spec, found)  # to compare with the stored ones
            for (key, _), row in zip(known, found):
                old = stored[key]
                if _replaces(spec, row, old):
                    if row != old:
                        updates.append(row)
                    else:
                        counts.unchanged += 1
                else:
                    counts.unchanged += 1
                    if row != old:
                        late.append(row)
        if spec.name in VERSION_TABLES:
            # late: never text (stored); with no rows, there is nothing late either
            self.versions.add_late(spec, [*superseded, *late], maybe_stored=not empty)
            self.versions.add(spec, updates, dates_as_text=False)
        counts.stored += len(inserts) + len(updates)
        names = spec.field_names
        last = self.versions.last_rowid(table) if inserts and spec.name in VERSION_TABLES else None
        insert_tuples(
            self.conn, table, names, inserts, {"run_id": self.run_id}, dates_as_text=dates_as_text
        )
        if last is not None:
            self.versions.copy_inserted(spec, last)
        if spec.name in VERSION_TABLES:
            self.versions.event_times(spec, keys, rows, origins)
        if updates:
            columns = [*names, "run_id"]
            statement = (
                update(table)
                .where(table.c[spec.key] == bindparam("b_key"))
                .values({c: bindparam(f"b_{c}") for c in columns if c != spec.key})
            )
            params = [
                {"b_key": row[_position(spec, spec.key)], "b_run_id": self.run_id}
                | {f"b_{c}": value for c, value in zip(names, row) if c != spec.key}
                for row in updates
            ]
            for chunk in chunks(params, 5000):
                self.conn.execute(statement, chunk)

    def _upsert(self, spec: EntitySpec, rows: list[Row], counts: EntityCounts) -> None:
        """`_store` on a database with concurrent writers: `_replaces` and the comparison with
        the stored row happen in the statement, against the row as committed at that moment."""
        if not rows:
            return
        table = ENTITY_TABLES[spec.name]
        values = [name for name in spec.field_names if name != spec.key]

        def changes(new: Excluded) -> dict[str, Any]:
            return {name: new[name] for name in [*values, "run_id"]}

        def when(new: Excluded) -> Any:
            differs = tuple_(*(table.c[n] for n in values)).is_distinct_from(
                tuple_(*(new[n] for n in values))
            )
            if not spec.versioned:
                return differs
            old_at, new_at = table.c.updated_at, new["updated_at"]
            # not older (see _version): a stored row without updated_at is older than any
            return differs & or_(old_at.is_(None), new_at >= old_at)

        written = upsert(
            self.conn,
            table,
            [{"run_id": self.run_id, **dict(zip(spec.field_names, row))} for row in rows],
            spec.key,
            None if spec.immutable else changes,
            when,
        )
        counts.stored += written
        counts.unchanged += len(rows) - written

    def _resolve(self, origin: Origin) -> None:
        """A row retried from the quarantine passed: its quarantine entry is resolved."""
        if origin.quarantine_id is not None:
            self.resolved.append(origin.quarantine_id)

    def _retried_prints(self) -> dict[int | None, str]:
        """The fingerprints of the quarantined rows retried in this run, by id: a retried row's
        raw content may be only its start (bounded_raw), not what its fingerprint was made of."""
        ids = sorted({q for r in self.rejected if (q := r.record.quarantine_id) is not None})
        prints: dict[int | None, str] = {}
        for chunk in chunks(ids, LOOKUP_CHUNK):
            query = select(quarantine.c.id, quarantine.c.fingerprint)
            rows = self.conn.execute(query.where(quarantine.c.id.in_(chunk)))
            prints.update({row_id: fingerprint for row_id, fingerprint in rows})
        return prints

    def write_quarantine(self) -> None:
        """One quarantine row per distinct bad input: a repeat raises its count and last run."""
        by_print: dict[str, tuple[Rejected, int]] = {}
        retried = self._retried_prints()
        for rejected in self.rejected:
            rejected.record.raw = storable_text(rejected.record.raw)
            digest = (
                retried.get(rejected.record.quarantine_id)
                or hashlib.sha256(
                    f"{rejected.record.entity}\0{rejected.record.raw}".encode()
                ).hexdigest()
            )
            seen = by_print.get(digest)
            # a retry from the quarantine is not a new sighting of the row
            sighting = 0 if rejected.record.quarantine_id is not None else 1
            by_print[digest] = (rejected, (seen[1] if seen else 0) + sighting)
        existing: dict[str, int] = {}
        # with concurrent writers, a repeat is found (and counted) by the insert itself
        concurrent = upserts(self.conn)
        for chunk in [] if concurrent else chunks(list(by_print), LOOKUP_CHUNK):
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
                    **bounded_raw(record.raw),
                    "fields": None
                    if record.fields is None
                    else json.dumps(record.fields, default=str),  # ASCII: escapes any bad bytes
                    "fingerprint": digest,
                    "times_seen": times,
                    "first_run_id": self.run_id,
                    "first_seen_at": self.now,
                }
            )
        if concurrent:
            upsert(self.conn, quarantine, new_rows, "fingerprint", _seen_again)
        else:
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


def _seen_again(new: Excluded) -> dict[str, Any]:
    """A quarantined row seen again: its count and last sighting (as `write_quarantine` sets)."""
    last = ["reason", "field", "message", "last_run_id", "last_seen_at"]
    return {name: new[name] for name in last} | {
        "times_seen": quarantine.c.times_seen + new["times_seen"],
        "resolved_at": None,
        "resolved_run_id": None,
    }


def ingest(
    engine: Engine,
    records: Mapping[str, Sequence[RawRecord]],
    *,
    source: str,
    kind: str = "files",
    warnings: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Validate and store the records in one transaction; the run and its report are recorded."""
    batches = {entity: RawBatch.from_records(entity, rows) for entity, rows in records.items()}
    return ingest_batches(
        engine, batches, source=source, kind=kind, warnings=warnings, progress=progress
    )


def ingest_batches(
    engine: Engine,
    batches: Mapping[str, RawBatch],
    *,
    source: str,
    kind: str = "files",
    warnings: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """`ingest` for rows already in columns (as `sources.files` reads them)."""
    return ingest_validated(
        engine,
        validate_chunks(batches),
        source=source,
        kind=kind,
        warnings=warnings,
        progress=progress,
    )


def validate_chunks(batches: Mapping[str, RawBatch]) -> Iterator[Validated]:
    """The batches validated chunk by chunk, parents' entities first."""
    for entity in ENTITY_ORDER:
        if entity in batches:
            for chunk in chunked_batch(batches[entity], CHUNK_ROWS):
                yield validate_rows(chunk)
        else:
            yield validate_rows(RawBatch.empty(entity))


def _store_all(
    conn: Connection,
    validated: Iterable[Validated],
    report: IngestReport,
    progress: Callable[[int], None] | None,
) -> None:
    """Store the chunks into the report's run. The run's rows are freed on return, while the
    garbage collector is still paused: it would otherwise walk them all once before they go."""
    run = Ingestion(conn, report.run_id, progress)
    for chunk in validated:
        report.warnings.extend(chunk.warnings)
        run.apply(chunk, report.entities[chunk.entity])
    run.write_quarantine()
    report.resolved = len(set(run.resolved))


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
    started = now_utc()
    try:
        with gc_paused(), engine.connect() as conn, bulk_page_cache(conn), conn.begin():
            writers_lock(conn)
            conn.execute(
                insert(ingest_runs).values(
                    run_id=run_id, kind=kind, source=source, status="running", started_at=started
                )
            )
            _store_all(conn, validated, report, progress)
            conn.execute(
                update(ingest_runs)
                .where(ingest_runs.c.run_id == run_id)
                .values(
                    status="completed", finished_at=now_utc(), report=json.dumps(report.as_dict())
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
                    finished_at=now_utc(),
                    report=json.dumps({"error": str(exc)}),
                )
            )
        raise
    for warning in report.warnings:
        log.warning(warning)
    return report
