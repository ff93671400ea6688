"""Applying a batch of event messages to the warehouse in one transaction.

The transaction holds the rows (validated and upserted as a file's rows are), the ids of the
processed events, the dead letters and the parked events; offsets are committed only after it.
A crash anywhere therefore redelivers the batch, and a redelivered event is a no-op: its id is
found among the processed events (a message that had no readable id is found among the dead
letters by topic, partition and offset).

An event whose parent has not arrived is parked, with the parent's id it awaits, and tried again
once that parent is stored; once it has waited `park_timeout` seconds it is dead-lettered as
`unknown_reference`.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    delete,
    exists,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from okr_pipeline.config import Limits
from okr_pipeline.contract import (
    DEFAULT_LIMITS,
    ENTITIES,
    ENTITY_ORDER,
    Origin,
    RawRecord,
    Rejected,
    Row,
    Validated,
    chunked,
    validate_records,
)
from okr_pipeline.core import gc_paused, now_utc
from okr_pipeline.ingest import CHUNK_ROWS, EntityCounts, Ingestion, bounded_raw, storable_text
from okr_pipeline.stream.events import EventProblem, parse_event, read_json
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.parked_rows import Kept, ParkedRows
from okr_pipeline.warehouse import (
    ENTITY_TABLES,
    LOOKUP_CHUNK,
    chunks,
    dead_letters,
    existing_values,
    ingest_runs,
    insert_rows,
    insert_tuples,
    parked_events,
    processed_events,
    writers_lock,
)

__all__ = ["BatchResult", "Parsed", "Prepared", "apply_batch", "prepare"]


@dataclass
class BatchResult:
    """What one batch did. `stored + duplicates + dead_lettered` counts the events it resolved:
    messages of this batch, and parked events of earlier batches that resolved now."""

    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    parked: int = 0  # events of this batch now waiting for their parent
    by_reason: Counter[str] = field(default_factory=Counter)
    touched_key_results: set[str] = field(default_factory=set)

    @property
    def resolved(self) -> int:
        return self.stored + self.duplicates + self.dead_lettered


class Parsed(NamedTuple):
    """An event of a prepared batch, without its payload (its row is validated already)."""

    event_id: str
    entity: str
    position: int  # of its message in the batch
    occurred_at: datetime | None
    key_result: str | None  # the key result its row is about
    parent: str | None  # the id of the parent row its row refers to


@dataclass(slots=True)
class Prepared:
    """A batch's messages read as events and their rows validated: all that needs no warehouse,
    so that it can be done in another process for the next batch while this one is written."""

    events: list[Parsed] = field(default_factory=list)  # each event once
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (index, reason, detail)
    repeats: int = 0  # messages of an event given earlier in the batch
    validated: list[Validated] = field(default_factory=list)  # by entity in ENTITY_ORDER


def prepare(messages: Sequence[Message], limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """Parse the messages (a message beyond the limits is a problem) and validate the rows."""
    prepared = Prepared()
    seen: set[str] = set()
    records: dict[str, list[RawRecord]] = {name: [] for name in ENTITY_ORDER}
    with gc_paused():  # many small new objects: the collector would walk the heap often
        for i, message in enumerate(messages):
            parsed = parse_event(message, limits)
            if isinstance(parsed, EventProblem):
                prepared.problems.append((i, parsed.reason, parsed.detail))
                continue
            if parsed.event_id in seen:
                prepared.repeats += 1
                continue
            seen.add(parsed.event_id)
            payload = parsed.payload
            prepared.events.append(
                Parsed(
                    parsed.event_id,
                    parsed.entity,
                    i,
                    parsed.occurred_at,
                    _key_result(payload),
                    _parent(parsed.entity, payload),
                )
            )
            records[parsed.entity].append(
                _record(
                    parsed.entity,
                    payload,
                    _source(message.topic, message.partition),
                    message.offset,
                )
            )
        prepared.validated = _validated(records)
    return prepared


def _validated(records: dict[str, list[RawRecord]]) -> list[Validated]:
    return [
        validate_records(entity, chunk)
        for entity in ENTITY_ORDER
        for chunk in chunked(entity, records[entity], CHUNK_ROWS)
        if chunk
    ]


@dataclass(slots=True)
class _Pending:
    """An event to apply: fresh from this batch, or parked earlier."""

    event_id: str
    entity: str
    payload: dict[str, Any] | None  # None: validated already, read again from `message` if needed
    topic: str
    partition: int
    offset: int
    message: Message | None = None  # a fresh event's message; its text is made only if needed
    stored_raw: dict[str, Any] | None = None  # a parked event's text (bounded_raw's columns)
    parked: bool = False
    expired_at: datetime | None = None  # when a parked event whose wait is over was parked
    occurred_at: datetime | None = None  # a fresh event's envelope time (not kept when parked)
    key_result: str | None = None  # the key result its row is about
    parent: str | None = None  # the id of the parent row its row refers to
    where: tuple[str, int] = ("", 0)  # (topic/partition, offset): its rows' origin in the ingest
    kept: Kept | None = None  # a parked event's validated row, from ParkedRows

    def __post_init__(self) -> None:
        self.where = _source(self.topic, self.partition), self.offset
        if self.payload is not None:
            self.key_result = _key_result(self.payload)
            self.parent = _parent(self.entity, self.payload)

    def body(self) -> dict[str, Any]:
        """The payload."""
        if self.payload is None:
            self.payload = read_json(self.message.value)["payload"]  # type: ignore[union-attr]
        return self.payload

    @property
    def raw(self) -> dict[str, Any]:
        if self.stored_raw is None:
            self.stored_raw = _text(self.message.value)  # type: ignore[union-attr]
        return self.stored_raw


def _text(value: bytes) -> dict[str, Any]:
    """A message's text as the raw columns of a dead letter or parked event."""
    return bounded_raw(storable_text(value.decode("utf-8", "surrogateescape")))


def _dead_letter(
    reason: str,
    message: str,
    raw: dict[str, Any],
    topic: str,
    partition: int,
    offset: int,
    event_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "event_id": event_id,
        "reason": reason,
        "message": message,
        **raw,
        "created_at": now,
        "published_at": None,
    }


def apply_batch(
    engine: Engine,
    messages: Sequence[Message],
    *,
    source: str,
    park_timeout: float,
    limits: Limits = DEFAULT_LIMITS,
    prepared: Prepared | None = None,
    parked_rows: ParkedRows | None = None,
) -> BatchResult:
    """Apply the messages (and retry the parked events) in one transaction; a message beyond
    the limits is dead-lettered. `prepared`: the messages prepared already; `parked_rows`: the
    rows of the events this consumer parked, kept across its batches. The garbage collector
    waits meanwhile, as in `prepare`."""
    prepared = prepared or prepare(messages, limits)
    with gc_paused():
        return _apply(engine, messages, prepared, source, park_timeout, parked_rows)


def _apply(
    engine: Engine,
    messages: Sequence[Message],
    prepared: Prepared,
    source: str,
    park_timeout: float,
    parked_rows: ParkedRows | None,
) -> BatchResult:
    now = now_utc()
    result = BatchResult(duplicates=prepared.repeats)
    events = prepared.events
    with engine.begin() as conn:
        writers_lock(conn)  # PostgreSQL: writers take turns
        ids = [e.event_id for e in events]
        done = existing_values(conn, processed_events.c.event_id, ids)
        # a redelivered parked event is already waiting: this copy is a duplicate
        waiting = existing_values(conn, parked_events.c.event_id, ids)
        result.duplicates += len(done) + len(waiting)
        fresh: list[_Pending] = []
        later: set[tuple[str, int]] = set()  # where the rows not settled now come from
        for e in events:
            message = messages[e.position]
            item = _Pending(
                e.event_id,
                e.entity,
                None,
                message.topic,
                message.partition,
                message.offset,
                message=message,
                occurred_at=e.occurred_at,
                key_result=e.key_result,
                parent=e.parent,
            )
            if e.event_id in done or e.event_id in waiting:
                later.add(item.where)  # duplicates
            else:
                fresh.append(item)
        batch = _Batch(conn, source, now, park_timeout, result, parked_rows=parked_rows)
        problems = [(messages[i], reason, detail) for i, reason, detail in prepared.problems]
        batch.letters = _garbage_letters(conn, problems, now, result)
        fresh, held = batch.hold_behind_parked(fresh)
        rest, held_validated = _split(prepared.validated, {item.where for item in held})
        validated, _ = _split(rest, later)
        # with the parked events whose parent has arrived (or whose wait is over); then again
        # while any is due: a parent stored in one round frees its children in the next
        tried: set[str] = set()
        items = fresh
        arrived: dict[str, Collection[str]] | None = None  # the first round looks at every one
        while True:
            due = [
                p
                for p in _due_parked(conn, now, park_timeout, arrived, parked_rows)
                if p.event_id not in tried
            ]
            # the held events follow the parked ones they wait behind, once their parent is
            # stored: then those are all due (a wait that is over frees nothing)
            freed = _stored_parents(conn, held) if arrived is None else {p.parent for p in due}
            released = [item for item in held if item.parent in freed]
            if released:
                held = [item for item in held if item.parent not in freed]
                held_validated, chosen = _split(held_validated, {i.where for i in released})
                items, validated = items + released, validated + chosen
            if not (items or due):
                break
            tried.update(p.event_id for p in due)
            arrived = batch.settle(due + items, validated)  # in the log's order: see _store
            items, validated = [], []
        batch.park(held)  # still behind parked events: parked with them
        batch.write()
    return result


class _Batch:
    """The outcomes of one batch's events, written at the end of its transaction."""

    def __init__(
        self,
        conn: Connection,
        source: str,
        now: datetime,
        park_timeout: float,
        result: BatchResult,
        kind: str = "stream",
        parked_rows: ParkedRows | None = None,
    ) -> None:
        self.conn, self.source, self.now, self.kind = conn, source, now, kind
        self.park_timeout, self.result = park_timeout, result
        self.parked_rows = parked_rows
        self.run_id: str | None = None
        self.letters: list[dict[str, Any]] = []
        self.finished: list[tuple[str, str, str, int, int]] = []
        self.parked_now: set[str] = set()  # parked by this batch
        self.still_waiting: list[str] = []

    def hold_behind_parked(self, items: list[_Pending]) -> tuple[list[_Pending], list[_Pending]]:
        """(the items to settle now, those held). The held ones wait behind the parked events
        that await the same parent, to be settled after them, in the log's order: a row's
        later event settled first would be overwritten by its earlier one (consumers of other
        partitions, or a partition read ahead of another, bring a parent after its children).
        Those still held when the batch ends are parked (`park`)."""
        if self.park_timeout <= 0:
            return items, []
        awaited = existing_values(
            self.conn, parked_events.c.awaits, list({i.parent for i in items if i.parent})
        )
        if not awaited:
            return items, []
        held = [item for item in items if item.parent in awaited]
        return [item for item in items if item.parent not in awaited], held

    def park(self, held: list[_Pending]) -> None:
        """Park the held items, awaiting the parent of the parked events they wait behind."""
        self.result.parked += len(held)
        self.parked_now.update(item.event_id for item in held)
        insert_rows(self.conn, parked_events, [_parked_row(i, i.parent, self.now) for i in held])

    def settle(
        self, items: list[_Pending], validated: list[Validated] | None = None
    ) -> dict[str, Collection[str]]:
        """Store the items' rows (`validated` already: those of the items that have no
        payload); each is stored, parked (again) or dead-lettered. Returns the ids of the rows
        stored that others refer to, by entity."""
        if not items:
            return {}
        if self.run_id is None:  # an ingest run (the rows' lineage) only where rows may change
            self.run_id = str(uuid.uuid4())
            self.conn.execute(
                insert(ingest_runs).values(
                    run_id=self.run_id,
                    kind=self.kind,
                    source=self.source,
                    status="running",
                    started_at=self.now,
                )
            )
        rejected, arrived = _store(self.conn, self.run_id, items, validated or [], self.now)
        result = self.result
        newly_parked: list[dict[str, Any]] = []
        unparked: list[str] = []  # parked events that are done
        for item in items:
            problem = rejected.get(item.where)
            if problem is None:
                result.stored += 1
                self._finish(item, "stored", unparked)
                if item.key_result:
                    result.touched_key_results.add(item.key_result)
                continue
            reason, detail = problem.reason, problem.message
            if reason == "unknown_reference":
                if self.park_timeout > 0 and item.expired_at is None:
                    if not item.parked:
                        result.parked += 1
                        self.parked_now.add(item.event_id)
                        newly_parked.append(_parked_row(item, _awaited(problem), self.now))
                        if self.parked_rows is not None:
                            self.parked_rows.keep(
                                item.event_id, problem.record, item.key_result, item.parent
                            )
                    else:
                        self.still_waiting.append(item.event_id)
                    continue
                if item.expired_at is not None:  # it was parked and waited in vain
                    waited = (self.now - item.expired_at).total_seconds()
                    detail += f" (waited {timedelta(seconds=round(waited))} for it)"
            result.dead_lettered += 1
            result.by_reason[reason] += 1
            self.letters.append(
                _dead_letter(
                    reason,
                    detail,
                    item.raw,
                    item.topic,
                    item.partition,
                    item.offset,
                    item.event_id,
                    self.now,
                )
            )
            self._finish(item, "dead_lettered", unparked)
        # the parking changes at once: a later round of this batch sees them
        for part in chunks(unparked, LOOKUP_CHUNK):
            self.conn.execute(delete(parked_events).where(parked_events.c.event_id.in_(part)))
        insert_rows(self.conn, parked_events, newly_parked)
        return arrived

    def _finish(self, item: _Pending, outcome: str, unparked: list[str]) -> None:
        self.finished.append((item.event_id, outcome, item.topic, item.partition, item.offset))
        if item.parked:
            unparked.append(item.event_id)
            if self.parked_rows is not None:
                self.parked_rows.drop(item.event_id)
            if item.event_id in self.parked_now:  # parked and resolved by this batch
                self.result.parked -= 1

    def write(self) -> None:
        conn, result = self.conn, self.result
        for part in chunks(self.still_waiting, LOOKUP_CHUNK):
            conn.execute(
                update(parked_events)
                .where(parked_events.c.event_id.in_(part))
                .values(attempts=parked_events.c.attempts + 1)
            )
        insert_tuples(conn, processed_events, _PROCESSED, self.finished, {"processed_at": self.now})
        insert_rows(conn, dead_letters, self.letters)
        if self.run_id is not None:
            conn.execute(
                update(ingest_runs)
                .where(ingest_runs.c.run_id == self.run_id)
                .values(
                    status="completed",
                    finished_at=now_utc(),
                    report=json.dumps(
                        {
                            "stored": result.stored,
                            "duplicates": result.duplicates,
                            "dead_lettered": result.dead_lettered,
                            "parked": result.parked,
                            "by_reason": dict(result.by_reason),
                        }
                    ),
                )
            )


_PROCESSED = ("event_id", "outcome", "topic", "partition", "offset")
# parent entity -> the entities whose rows refer to it
_CHILDREN: dict[str, list[str]] = {}
for _spec in ENTITIES.values():
    if _spec.reference:
        _CHILDREN.setdefault(_spec.reference[1], []).append(_spec.name)


_PARKED = [c for c in parked_events.c if c.name not in ("attempts", "awaits", "parked_at")]


def _due_parked(
    conn: Connection,
    now: datetime,
    park_timeout: float,
    arrived: Mapping[str, Collection[str]] | None = None,
    parked_rows: ParkedRows | None = None,
) -> list[_Pending]:
    """The parked events to try now: their parent exists, or their wait is over; given the
    parents that `arrived` (by entity) since the last look, only the events awaiting those."""
    awaits = parked_events.c.awaits
    parked_at = parked_events.c.parked_at
    expired = parked_at <= now - timedelta(seconds=park_timeout)
    if arrived is None:
        due = [awaits.is_(None), expired]
        for parent, children in _CHILDREN.items():
            table = ENTITY_TABLES[parent]
            stored = exists().where(table.c[ENTITIES[parent].key] == awaits)
            due.append(and_(parked_events.c.entity.in_(children), stored))
        found = _parked(conn, or_(*due), expired, parked_rows)
    else:
        found = [
            event
            for parent, ids in arrived.items()
            for part in chunks(sorted(ids), LOOKUP_CHUNK)
            for event in _parked(
                conn,
                and_(parked_events.c.entity.in_(_CHILDREN[parent]), awaits.in_(part)),
                expired,
                parked_rows,
            )
        ]
    # in the log's order: of one row's events the last wins
    return sorted(found, key=lambda event: (event.topic, event.partition, event.offset))


def _parked(
    conn: Connection,
    where: ColumnElement[bool],
    expired: ColumnElement[bool],
    parked_rows: ParkedRows | None,
) -> list[_Pending]:
    found = []
    # the time of parking only where the wait is over: reading timestamps costs
    query = select(*_PARKED, case((expired, parked_events.c.parked_at)).label("expired_at"))
    for row in conn.execute(query.where(where)):
        kept = parked_rows.get(row.event_id) if parked_rows is not None else None
        found.append(
            _Pending(
                row.event_id,
                row.entity,
                None if kept else read_json(row.payload.encode()),
                row.topic,
                row.partition,
                row.offset,
                stored_raw={
                    "raw": row.raw,
                    "raw_length": row.raw_length,
                    "raw_sha256": row.raw_sha256,
                },
                parked=True,
                expired_at=row.expired_at,
                key_result=kept.key_result if kept else None,
                parent=kept.parent if kept else None,
                kept=kept,
            )
        )
    return found


def _garbage_letters(
    conn: Connection, problems: list[tuple[Message, str, str]], now: datetime, result: BatchResult
) -> list[dict[str, Any]]:
    """Dead letters for messages that are not events (with the reason and detail); a
    redelivered one is a duplicate."""
    if not problems:
        return []
    where = [(m.topic, m.partition, m.offset) for m, _, _ in problems]
    key = tuple_(dead_letters.c.topic, dead_letters.c.partition, dead_letters.c.offset)
    known: set[tuple[str, int, int]] = set()
    for part in chunks(where, LOOKUP_CHUNK):
        known.update(
            tuple(row)
            for row in conn.execute(
                select(dead_letters.c.topic, dead_letters.c.partition, dead_letters.c.offset).where(
                    key.in_(part)
                )
            )
        )
    letters = []
    for (message, reason, detail), coordinates in zip(problems, where, strict=True):
        if coordinates in known:
            result.duplicates += 1
            continue
        known.add(coordinates)
        result.dead_lettered += 1
        result.by_reason[reason] += 1
        letters.append(
            _dead_letter(
                reason,
                detail,
                _text(message.value),
                *coordinates,
                None,
                now,
            )
        )
    return letters


def _store(
    conn: Connection, run_id: str, items: list[_Pending], validated: list[Validated], now: datetime
) -> tuple[dict[tuple[str, int | None], Rejected], dict[str, Collection[str]]]:
    """Upsert the events' rows as the file ingestion does, validating those of the items that
    have a payload (the others are kept, or `validated`); a changed row without updated_at is a
    version valid from its event's occurred_at, else from `now`, the batch's time. Returns, by
    (topic/partition, offset), each rejected event's rejection; and the ids stored that others
    refer to."""
    records: dict[str, list[RawRecord]] = {name: [] for name in ENTITY_ORDER}
    for item in items:
        if item.payload is not None:
            records[item.entity].append(_record(item.entity, item.payload, *item.where))
    times: dict[tuple[str, int | None], datetime] = {
        item.where: item.occurred_at for item in items if item.occurred_at is not None
    }
    ingestion = Ingestion(conn, run_id, None, now, times, ids_across_chunks=True)
    # in the log's order: an entity's parked rows (earlier events) first, then the batch's own,
    # so that of one row's events the last wins
    order = {entity: i for i, entity in enumerate(ENTITY_ORDER)}
    read = _in_order(items, _validated(records))
    chunks_in_order = sorted([*read, *validated], key=lambda v: order[v.entity])
    for chunk in chunks_in_order:
        ingestion.apply(chunk, EntityCounts())
    rejected = {_origin(r): r for r in ingestion.rejected}
    return rejected, {entity: rows.keys() for entity, rows in ingestion.kept.items()}


def _in_order(items: list[_Pending], read: list[Validated]) -> list[Validated]:
    """The rows of the items read from their payloads (`read`) and those kept, an entity's in
    one chunk in the items' order: of one row's events the last wins."""
    found: dict[tuple[str, int | None], tuple[Row, Origin]] = {}
    merged: dict[str, Validated] = {}
    for chunk in read:
        found.update(zip(map(_where, chunk.origins), zip(chunk.rows, chunk.origins, strict=True)))
        into = _chunk_of(merged, chunk.entity)
        into.rejected += chunk.rejected
        into.warnings += chunk.warnings
    for item in items:
        kept = item.kept
        row = (kept.row, kept.origin) if kept else found.get(item.where)
        if row is not None:
            chunk = _chunk_of(merged, item.entity)
            chunk.rows.append(row[0])
            chunk.origins.append(row[1])
    for chunk in merged.values():
        chunk.read = len(chunk.rows) + len(chunk.rejected)
    return list(merged.values())


def _chunk_of(chunks: dict[str, Validated], entity: str) -> Validated:
    return chunks.setdefault(entity, Validated(entity, 0, [], [], []))


def _where(origin: Origin) -> tuple[str, int | None]:
    return origin.source, origin.line


def _awaited(rejected: Rejected) -> str | None:
    value = (rejected.record.fields or {}).get(rejected.field or "")
    return None if value is None else str(value)


def _source(topic: str, partition: int) -> str:
    """Where an event's row comes from, as the ingestion names it (with the offset as line)."""
    return f"{topic}/{partition}"


def _record(entity: str, payload: dict[str, Any], source: str, offset: int) -> RawRecord:
    # no raw text: a rejection is reported from the event itself
    return RawRecord(entity, payload, source, offset, "")


def _key_result(payload: dict[str, Any]) -> str | None:
    """The key result an event's row is about (objectives: none)."""
    value = payload.get("key_result_id")
    return str(value).strip() or None if value is not None else None


def _parent(entity: str, payload: dict[str, Any]) -> str | None:
    """The id of the parent row an event's row refers to, as a parked event awaits it."""
    reference = ENTITIES[entity].reference
    value = payload.get(reference[0]) if reference else None
    return str(value).strip() or None if value is not None else None


def _stored_parents(conn: Connection, items: list[_Pending]) -> set[str | None]:
    """The items' parents that are stored."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        reference = ENTITIES[item.entity].reference
        if reference and item.parent:
            wanted.setdefault(reference[1], set()).add(item.parent)
    stored: set[str | None] = set()
    for parent, ids in wanted.items():
        key = ENTITY_TABLES[parent].c[ENTITIES[parent].key]
        stored |= existing_values(conn, key, list(ids))
    return stored


def _split(
    validated: list[Validated], wheres: set[tuple[str, int]]
) -> tuple[list[Validated], list[Validated]]:
    """(the chunks without the rows, valid or rejected, that came from `wheres`; the chunks of
    those rows only)."""
    if not wheres:
        return validated, []
    without: list[Validated] = []
    only: list[Validated] = []
    for chunk in validated:
        keep = [_where(o) not in wheres for o in chunk.origins]
        for wanted, part in ((True, without), (False, only)):
            rows = [row for row, k in zip(chunk.rows, keep, strict=True) if k is wanted]
            origins = [o for o, k in zip(chunk.origins, keep, strict=True) if k is wanted]
            rejected = [r for r in chunk.rejected if (_origin(r) not in wheres) is wanted]
            if rows or rejected:
                part.append(
                    Validated(
                        chunk.entity,
                        len(rows) + len(rejected),
                        rows,
                        origins,
                        rejected,
                        chunk.warnings if wanted else [],
                        chunk.dates_as_text,
                    )
                )
    return without, only


def _origin(rejected: Rejected) -> tuple[str, int | None]:
    return rejected.record.source, rejected.record.line


def _parked_row(item: _Pending, awaits: str | None, now: datetime) -> dict[str, Any]:
    return {
        "event_id": item.event_id,
        "entity": item.entity,
        "payload": json.dumps(item.body(), ensure_ascii=False, default=str),
        **item.raw,
        "topic": item.topic,
        "partition": item.partition,
        "offset": item.offset,
        "attempts": 1,
        "parked_at": now,
        "awaits": awaits,
    }
