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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
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
    RawRecord,
    Rejected,
    chunked,
    validate_records,
)
from okr_pipeline.core import gc_paused, now_utc
from okr_pipeline.ingest import CHUNK_ROWS, EntityCounts, Ingestion, bounded_raw, storable_text
from okr_pipeline.stream.events import Event, EventProblem, parse_event, read_json
from okr_pipeline.stream.log import Message
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

__all__ = ["BatchResult", "apply_batch"]


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


@dataclass(slots=True)
class _Pending:
    """An event to apply: fresh from this batch, or parked earlier."""

    event_id: str
    entity: str
    payload: dict[str, Any]
    topic: str
    partition: int
    offset: int
    message: Message | None = None  # a fresh event's message; its text is made only if needed
    stored_raw: dict[str, Any] | None = None  # a parked event's text (bounded_raw's columns)
    parked: bool = False
    expired_at: datetime | None = None  # when a parked event whose wait is over was parked
    occurred_at: datetime | None = None  # a fresh event's envelope time (not kept when parked)

    @property
    def where(self) -> tuple[str, int]:
        return f"{self.topic}/{self.partition}", self.offset

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
) -> BatchResult:
    """Apply the messages (and retry the parked events) in one transaction; a message beyond
    the limits is dead-lettered. The garbage collector waits meanwhile: the batch's many new
    objects would make it walk the heap often."""
    with gc_paused():
        return _apply(engine, messages, source, park_timeout, limits)


def _apply(
    engine: Engine, messages: Sequence[Message], source: str, park_timeout: float, limits: Limits
) -> BatchResult:
    now = now_utc()
    result = BatchResult()
    events: list[Event] = []
    problems: list[EventProblem] = []
    seen: set[str] = set()
    for message in messages:
        parsed = parse_event(message, limits)
        if isinstance(parsed, EventProblem):
            problems.append(parsed)
        elif parsed.event_id in seen:
            result.duplicates += 1  # the same event twice in one batch
        else:
            seen.add(parsed.event_id)
            events.append(parsed)

    with engine.begin() as conn:
        writers_lock(conn)  # PostgreSQL: writers take turns
        ids = [e.event_id for e in events]
        done = existing_values(conn, processed_events.c.event_id, ids)
        # a redelivered parked event is already waiting: this copy is a duplicate
        waiting = existing_values(conn, parked_events.c.event_id, ids)
        result.duplicates += len(done) + len(waiting)
        fresh = [
            _Pending(
                e.event_id,
                e.entity,
                e.payload,
                e.message.topic,
                e.message.partition,
                e.message.offset,
                message=e.message,
                occurred_at=e.occurred_at,
            )
            for e in events
            if e.event_id not in done and e.event_id not in waiting
        ]
        batch = _Batch(conn, source, now, park_timeout, result)
        batch.letters = _garbage_letters(conn, problems, now, result)
        fresh = batch.hold_behind_parked(fresh)
        # with the parked events whose parent has arrived (or whose wait is over); then again
        # while any is due: a parent stored in one round frees its children in the next
        tried: set[str] = set()
        items = fresh
        while True:
            due = [p for p in _due_parked(conn, now, park_timeout) if p.event_id not in tried]
            if not (items or due):
                break
            tried.update(p.event_id for p in due)
            batch.settle(due + items)  # in the log's order: of one row's events the last wins
            items = []
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
    ) -> None:
        self.conn, self.source, self.now, self.kind = conn, source, now, kind
        self.park_timeout, self.result = park_timeout, result
        self.run_id: str | None = None
        self.letters: list[dict[str, Any]] = []
        self.finished: list[tuple[str, str, str, int, int]] = []
        self.parked_now: set[str] = set()  # parked by this batch
        self.still_waiting: list[str] = []

    def hold_behind_parked(self, items: list[_Pending]) -> list[_Pending]:
        """The items to settle now. The others are parked behind the parked events that wait
        for the same parent, to be settled with them in the log's order: a row's later event
        settled first would be overwritten by its earlier one (consumers of other partitions,
        or a partition read ahead of another, bring a parent after its children)."""
        if self.park_timeout <= 0:
            return items
        parents = {item.event_id: _parent_of(item) for item in items}
        awaited = existing_values(
            self.conn, parked_events.c.awaits, list({p for p in parents.values() if p})
        )
        if not awaited:
            return items
        held = [item for item in items if parents[item.event_id] in awaited]
        self.result.parked += len(held)
        self.parked_now.update(item.event_id for item in held)
        rows = [_parked_row(item, parents[item.event_id], self.now) for item in held]
        insert_rows(self.conn, parked_events, rows)
        return [item for item in items if parents[item.event_id] not in awaited]

    def settle(self, items: list[_Pending]) -> None:
        """Store the items' rows; each is stored, parked (again) or dead-lettered."""
        if not items:
            return
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
        rejected = _store(self.conn, self.run_id, items, self.now)
        result = self.result
        newly_parked: list[dict[str, Any]] = []
        unparked: list[str] = []  # parked events that are done
        for item in items:
            problem = rejected.get(item.where)
            if problem is None:
                result.stored += 1
                self._finish(item, "stored", unparked)
                if touched := _key_result_of(item):
                    result.touched_key_results.add(touched)
                continue
            reason, detail, awaits = problem
            if reason == "unknown_reference":
                if self.park_timeout > 0 and item.expired_at is None:
                    if not item.parked:
                        result.parked += 1
                        self.parked_now.add(item.event_id)
                        newly_parked.append(_parked_row(item, awaits, self.now))
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

    def _finish(self, item: _Pending, outcome: str, unparked: list[str]) -> None:
        self.finished.append((item.event_id, outcome, item.topic, item.partition, item.offset))
        if item.parked:
            unparked.append(item.event_id)
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


def _due_parked(conn: Connection, now: datetime, park_timeout: float) -> list[_Pending]:
    """The parked events to try now: their parent exists, or their wait is over."""
    awaits = parked_events.c.awaits
    parked_at = parked_events.c.parked_at
    expired = parked_at <= now - timedelta(seconds=park_timeout)
    due = [awaits.is_(None), expired]
    for parent, children in _CHILDREN.items():
        table = ENTITY_TABLES[parent]
        arrived = exists().where(table.c[ENTITIES[parent].key] == awaits)
        due.append(and_(parked_events.c.entity.in_(children), arrived))
    return [
        _Pending(
            row.event_id,
            row.entity,
            read_json(row.payload.encode()),
            row.topic,
            row.partition,
            row.offset,
            stored_raw={"raw": row.raw, "raw_length": row.raw_length, "raw_sha256": row.raw_sha256},
            parked=True,
            expired_at=row.expired_at,
        )
        # the time of parking only where the wait is over: reading timestamps costs
        for row in conn.execute(
            select(*_PARKED, case((expired, parked_at)).label("expired_at"))
            .where(or_(*due))
            .order_by(parked_events.c.topic, parked_events.c.partition, parked_events.c.offset)
        )
    ]


def _garbage_letters(
    conn: Connection, problems: list[EventProblem], now: datetime, result: BatchResult
) -> list[dict[str, Any]]:
    """Dead letters for messages that are not events; a redelivered one is a duplicate."""
    if not problems:
        return []
    where = [(p.message.topic, p.message.partition, p.message.offset) for p in problems]
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
    for problem, coordinates in zip(problems, where, strict=True):
        if coordinates in known:
            result.duplicates += 1
            continue
        known.add(coordinates)
        result.dead_lettered += 1
        result.by_reason[problem.reason] += 1
        letters.append(
            _dead_letter(
                problem.reason,
                problem.detail,
                _text(problem.message.value),
                *coordinates,
                None,
                now,
            )
        )
    return letters


def _store(
    conn: Connection, run_id: str, items: list[_Pending], now: datetime
) -> dict[tuple[str, int | None], tuple[str, str, str | None]]:
    """Validate and upsert the events' rows as the file ingestion does; a changed row without
    updated_at is a version valid from its event's occurred_at, else from `now`, the batch's
    time. Returns, by
    (topic/partition, offset), each rejected event's reason, detail and, for an unknown
    reference, the parent's id it names."""
    by_entity: dict[str, list[RawRecord]] = {name: [] for name in ENTITY_ORDER}
    for item in items:
        source, offset = item.where
        # no raw text: a rejection is reported from the item itself
        by_entity[item.entity].append(RawRecord(item.entity, item.payload, source, offset, ""))
    times: dict[tuple[str, int | None], datetime] = {
        item.where: item.occurred_at for item in items if item.occurred_at is not None
    }
    ingestion = Ingestion(conn, run_id, None, now, times)
    for entity in ENTITY_ORDER:
        counts = EntityCounts()
        for chunk in chunked(entity, by_entity[entity], CHUNK_ROWS):
            ingestion.apply(validate_records(entity, chunk), counts)
    return {
        (r.record.source, r.record.line): (
            r.reason,
            r.message,
            _awaited(r) if r.reason == "unknown_reference" else None,
        )
        for r in ingestion.rejected
    }


def _awaited(rejected: Rejected) -> str | None:
    value = (rejected.record.fields or {}).get(rejected.field or "")
    return None if value is None else str(value)


def _parent_of(item: _Pending) -> str | None:
    """The id of the parent row an event's row refers to, as a parked event awaits it."""
    reference = ENTITIES[item.entity].reference
    value = item.payload.get(reference[0]) if reference else None
    return None if value is None else str(value)


def _key_result_of(item: _Pending) -> str | None:
    """The key result a stored event's row is about (objectives: none)."""
    value = item.payload.get("key_result_id")
    return str(value).strip() or None if value is not None else None


def _parked_row(item: _Pending, awaits: str | None, now: datetime) -> dict[str, Any]:
    return {
        "event_id": item.event_id,
        "entity": item.entity,
        "payload": json.dumps(item.payload, ensure_ascii=False, default=str),
        **item.raw,
        "topic": item.topic,
        "partition": item.partition,
        "offset": item.offset,
        "attempts": 1,
        "parked_at": now,
        "awaits": awaits,
    }
