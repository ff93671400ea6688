"""Applying a batch of event messages to the warehouse in one transaction.

The transaction holds the rows (validated and upserted as a file's rows are), the ids of the
processed events, the dead letters and the parked events; offsets are committed only after it.
A crash anywhere therefore redelivers the batch, and a redelivered event is a no-op: its id is
found among the processed events (a message that had no readable id is found among the dead
letters by topic, partition and offset).

An event whose parent has not arrived is parked and tried again with every batch; once it has
waited `park_timeout` seconds it is dead-lettered as `unknown_reference`.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, tuple_, update

from okr_pipeline.asof import now_utc
from okr_pipeline.contract import ENTITY_ORDER
from okr_pipeline.ingest import CHUNK_ROWS, EntityCounts, Ingestion, storable_text
from okr_pipeline.sources.record import RawRecord
from okr_pipeline.stream.events import Event, EventProblem, parse_event
from okr_pipeline.stream.log import Message
from okr_pipeline.validation_batch import chunked, validate_records
from okr_pipeline.warehouse.bulk import chunks, insert_rows
from okr_pipeline.warehouse.tables import (
    dead_letters,
    ingest_runs,
    parked_events,
    processed_events,
)

__all__ = ["BatchResult", "apply_batch"]

LOOKUP_CHUNK = 900


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


@dataclass
class _Pending:
    """An event to apply: fresh from this batch, or parked earlier."""

    event_id: str
    entity: str
    payload: dict[str, Any]
    raw: str
    topic: str
    partition: int
    offset: int
    parked_at: datetime | None = None
    attempts: int = 0

    @property
    def where(self) -> tuple[str, int]:
        return f"{self.topic}/{self.partition}", self.offset


def _text(value: bytes) -> str:
    return storable_text(value.decode("utf-8", "surrogateescape"))


def _existing(conn: Connection, column: Any, values: list[Any]) -> set[Any]:
    """Which of the values the column holds. One cached statement: no SQL compiled per call."""
    query = select(column).where(column.in_(bindparam("values", expanding=True)))
    found: set[Any] = set()
    for part in chunks(values, LOOKUP_CHUNK):
        found.update(conn.execute(query, {"values": list(part)}).scalars())
    return found


def _dead_letter(
    reason: str,
    message: str,
    raw: str,
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
        "raw": raw,
        "created_at": now,
        "published_at": None,
    }


def apply_batch(
    engine: Engine, messages: Sequence[Message], *, source: str, park_timeout: float
) -> BatchResult:
    """Apply the messages (and retry the parked events) in one transaction."""
    now = now_utc()
    result = BatchResult()
    events: list[Event] = []
    problems: list[EventProblem] = []
    seen: set[str] = set()
    for message in messages:
        parsed = parse_event(message)
        if isinstance(parsed, EventProblem):
            problems.append(parsed)
        elif parsed.event_id in seen:
            result.duplicates += 1  # the same event twice in one batch
        else:
            seen.add(parsed.event_id)
            events.append(parsed)

    with engine.begin() as conn:
        done = _existing(conn, processed_events.c.event_id, [e.event_id for e in events])
        result.duplicates += sum(e.event_id in done for e in events)
        parked = [  # every batch tries the parked events again
            _Pending(
                row.event_id,
                row.entity,
                json.loads(row.payload),
                row.raw,
                row.topic,
                row.partition,
                row.offset,
                row.parked_at,
                row.attempts,
            )
            for row in conn.execute(select(parked_events))
        ]
        waiting = {item.event_id for item in parked}
        # a redelivered parked event is already waiting: it is counted when it resolves
        pending = [
            _Pending(
                e.event_id,
                e.entity,
                e.payload,
                _text(e.message.value),
                e.message.topic,
                e.message.partition,
                e.message.offset,
            )
            for e in events
            if e.event_id not in done and e.event_id not in waiting
        ]
        letters = _garbage_letters(conn, problems, now, result)
        run_id = None
        rejected: dict[tuple[str, int], tuple[str, str]] = {}
        if pending or parked:  # an ingest run (the rows' lineage) only where rows may change
            run_id = str(uuid.uuid4())
            conn.execute(
                insert(ingest_runs).values(
                    run_id=run_id, kind="stream", source=source, status="running", started_at=now
                )
            )
            rejected = _store(conn, run_id, pending + parked)

        finished: list[dict[str, Any]] = []
        newly_parked: list[dict[str, Any]] = []
        still_waiting: list[str] = []
        for item in pending + parked:
            problem = rejected.get(item.where)
            if problem is None:
                result.stored += 1
                finished.append(_processed(item, "stored", now))
                if touched := _key_result_of(item):
                    result.touched_key_results.add(touched)
                continue
            reason, detail = problem
            if reason == "unknown_reference":
                waited = (now - (item.parked_at or now)).total_seconds()
                if waited < park_timeout:
                    if item.parked_at is None:
                        result.parked += 1
                        newly_parked.append(_parked_row(item, now))
                    else:
                        still_waiting.append(item.event_id)
                    continue
                detail += f" (waited {timedelta(seconds=round(waited))} for it)"
            result.dead_lettered += 1
            result.by_reason[reason] += 1
            letters.append(
                _dead_letter(
                    reason,
                    detail,
                    item.raw,
                    item.topic,
                    item.partition,
                    item.offset,
                    item.event_id,
                    now,
                )
            )
            finished.append(_processed(item, "dead_lettered", now))

        waiting_now = set(still_waiting)
        resolved = [item.event_id for item in parked if item.event_id not in waiting_now]
        for part in chunks(resolved, LOOKUP_CHUNK):
            conn.execute(delete(parked_events).where(parked_events.c.event_id.in_(part)))
        for part in chunks(still_waiting, LOOKUP_CHUNK):
            conn.execute(
                update(parked_events)
                .where(parked_events.c.event_id.in_(part))
                .values(attempts=parked_events.c.attempts + 1)
            )
        insert_rows(conn, parked_events, newly_parked)
        insert_rows(conn, processed_events, finished)
        insert_rows(conn, dead_letters, letters)
        if run_id is not None:
            conn.execute(
                update(ingest_runs)
                .where(ingest_runs.c.run_id == run_id)
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
    return result


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
    conn: Connection, run_id: str, items: list[_Pending]
) -> dict[tuple[str, int], tuple[str, str]]:
    """Validate and upsert the events' rows as the file ingestion does. Returns the rejection
    (reason, detail) of each rejected event by its (topic/partition, offset)."""
    by_entity: dict[str, list[RawRecord]] = {name: [] for name in ENTITY_ORDER}
    for item in items:
        source, offset = item.where
        by_entity[item.entity].append(
            RawRecord(item.entity, item.payload, source, offset, item.raw)
        )
    ingestion = Ingestion(conn, run_id, None)
    for entity in ENTITY_ORDER:
        counts = EntityCounts()
        for chunk in chunked(entity, by_entity[entity], CHUNK_ROWS):
            ingestion.apply(validate_records(entity, chunk), counts)
    return {(r.record.source, r.record.line): (r.reason, r.message) for r in ingestion.rejected}


def _key_result_of(item: _Pending) -> str | None:
    """The key result a stored event's row is about (objectives: none)."""
    value = item.payload.get("key_result_id")
    return str(value).strip() or None if value is not None else None


def _processed(item: _Pending, outcome: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": item.event_id,
        "outcome": outcome,
        "topic": item.topic,
        "partition": item.partition,
        "offset": item.offset,
        "processed_at": now,
    }


def _parked_row(item: _Pending, now: datetime) -> dict[str, Any]:
    return {
        "event_id": item.event_id,
        "entity": item.entity,
        "payload": json.dumps(item.payload, ensure_ascii=False, default=str),
        "raw": item.raw,
        "topic": item.topic,
        "partition": item.partition,
        "offset": item.offset,
        "attempts": 1,
        "parked_at": now,
    }
