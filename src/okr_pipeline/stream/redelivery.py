"""Dead letters listed, and applied again.

A dead letter is open while its event is not stored: it has no event id (the message was no
event) or its id is processed as dead-lettered. Retrying applies the open ones again from the
message each one keeps, as the consumer applies a batch (rows validated and upserted, the
processed events' ids updated), a transaction per `batch_size` letters holding the writers'
turn from its first read: a retry and a consumer, or two retries, never apply one letter twice.

Each dead letter stays, for the record and for monitoring's dead-letter rates, and is never
doubled: an event stored now resolves its letter; one refused again keeps its one letter (the
retry answers why it failed now); none is parked again (it waited once already). The
dead-letter topic is not written again: it holds each letter once already. A letter whose
message is not kept whole (only its start, or bytes that were not UTF-8 kept as escapes) is
not retried: what is kept is not the message any more.

Retrying here rather than publishing the messages onto the events topic again: the consumer
would find their event ids processed and skip them as duplicates, a message refused again
would get a second letter at its new offset, and the answer could not say what happened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, select, update

from okr_pipeline.config import Limits
from okr_pipeline.contract import DEFAULT_LIMITS, REASONS
from okr_pipeline.core import gc_paused, now_utc
from okr_pipeline.stream.applier import BatchResult, _Batch, _Pending
from okr_pipeline.stream.events import EventProblem, parse_event
from okr_pipeline.stream.log import Message
from okr_pipeline.warehouse import (
    LOOKUP_CHUNK,
    chunks,
    dead_letters,
    existing_values,
    parked_events,
    processed_events,
    write_turn,
)

__all__ = ["DEAD_LETTER_REASONS", "Redelivery", "dead_letters_after", "retry_dead_letters"]

# a message that is no event (events.parse_event), then an event whose row the contract refuses
DEAD_LETTER_REASONS = tuple(
    dict.fromkeys(
        (
            "malformed_event",
            "missing_field",
            "invalid_type",
            "unknown_event_type",
            "too_long",
            "too_large",
            "invalid_encoding",
            *REASONS,
        )
    )
)

SOURCE = "dead-letters"  # the ingest runs' source of retried letters
# what was kept of these is not the message: bytes that were not UTF-8 became escapes
_NOT_KEPT_WHOLE = ("invalid_encoding",)

# its event is stored (by this letter's retry, or by another copy of the event)
_resolved = exists().where(
    processed_events.c.event_id == dead_letters.c.event_id,
    processed_events.c.outcome == "stored",
)


@dataclass
class Redelivery:
    """What a retry did: of the open letters it took, `stored` were stored now, `duplicates`
    were events another message had stored meanwhile (both resolved), `still_dead` were refused
    again (by the reason they fail for now), `not_retryable` were not kept whole."""

    retried: int = 0
    stored: int = 0
    duplicates: int = 0
    still_dead: int = 0
    not_retryable: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "retried": self.retried,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "still_dead": self.still_dead,
            "not_retryable": self.not_retryable,
            "by_reason": dict(sorted(self.by_reason.items())),
        }


def dead_letters_after(
    conn: Connection,
    after_id: int,
    limit: int,
    *,
    reason: str | None = None,
    include_resolved: bool = False,
) -> list[dict[str, Any]]:
    """Up to `limit` dead letters with an id past `after_id`, in id order, each with whether
    it is resolved: open ones only unless asked, for `reason` if given."""
    query = (
        select(dead_letters, _resolved.label("resolved"))
        .where(dead_letters.c.id > after_id)
        .order_by(dead_letters.c.id)
        .limit(limit)
    )
    if not include_resolved:
        query = query.where(~_resolved)
    if reason:
        query = query.where(dead_letters.c.reason == reason)
    letters = []
    for row in conn.execute(query).mappings():
        letter = dict(row)
        letter["resolved"] = bool(letter["resolved"])
        for key in ("created_at", "published_at"):
            letter[key] = letter[key] and letter[key].isoformat()
        letters.append(letter)
    return letters


def retry_dead_letters(
    engine: Engine,
    *,
    reason: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    batch_size: int = 1000,
) -> Redelivery:
    """Apply the open dead letters (for `reason` if given) again, oldest first."""
    done = Redelivery()
    after = 0
    while True:
        with gc_paused(), engine.begin() as conn:
            write_turn(conn, dead_letters)
            query = (
                select(dead_letters)
                .where(dead_letters.c.id > after, ~_resolved)
                .order_by(dead_letters.c.id)
                .limit(batch_size)
            )
            if reason:
                query = query.where(dead_letters.c.reason == reason)
            letters = conn.execute(query).mappings().all()
            if not letters:
                return done
            after = letters[-1]["id"]
            _retry(conn, letters, limits, done)


def _retry(conn: Connection, letters: Sequence[Any], limits: Limits, done: Redelivery) -> None:
    now = now_utc()
    pending: list[tuple[int, _Pending]] = []  # (letter id, its event)
    duplicates: list[tuple[int, str]] = []
    seen: set[str] = set()
    for letter in letters:
        if letter["raw_length"] is not None or letter["reason"] in _NOT_KEPT_WHOLE:
            done.not_retryable += 1
            continue
        done.retried += 1
        value = letter["raw"].encode("utf-8", "surrogateescape")
        message = Message(letter["topic"], letter["partition"], letter["offset"], None, value, 0)
        parsed = parse_event(message, limits)
        if isinstance(parsed, EventProblem):
            done.still_dead += 1
            done.by_reason[parsed.reason] += 1
            continue
        if parsed.event_id in seen:  # two letters of one event: the first one decides
            duplicates.append((letter["id"], parsed.event_id))
            continue
        seen.add(parsed.event_id)
        event = _Pending(
            parsed.event_id,
            parsed.entity,
            parsed.payload,
            letter["topic"],
            letter["partition"],
            letter["offset"],
            message=message,
        )
        pending.append((letter["id"], event))
    ids = [event.event_id for _, event in pending]
    # another message of the event was stored, or waits for its parent: this one is a copy
    elsewhere = _stored(conn, ids) | existing_values(conn, parked_events.c.event_id, ids)
    duplicates += [(letter_id, e.event_id) for letter_id, e in pending if e.event_id in elsewhere]
    pending = [(letter_id, e) for letter_id, e in pending if e.event_id not in elsewhere]
    done.duplicates += len(duplicates)
    # the events are processed anew: their "dead-lettered" record goes, the batch writes another
    for part in chunks([e.event_id for _, e in pending], LOOKUP_CHUNK):
        conn.execute(
            delete(processed_events).where(
                processed_events.c.event_id.in_(part),
                processed_events.c.outcome == "dead_lettered",
            )
        )
    result = BatchResult()
    batch = _Batch(conn, SOURCE, now, 0, result, kind="dead_letter_retry")
    batch.settle([event for _, event in pending])
    for letter in batch.letters:
        done.by_reason[letter["reason"]] += 1
    done.still_dead += len(batch.letters)
    done.stored += result.stored
    batch.letters = []  # refused again: each keeps the letter it has
    batch.write()
    # a letter of a message that had no readable id learns its event's: resolved with it
    for letter_id, event_id in [*((i, e.event_id) for i, e in pending), *duplicates]:
        conn.execute(
            update(dead_letters)
            .where(and_(dead_letters.c.id == letter_id, dead_letters.c.event_id.is_(None)))
            .values(event_id=event_id)
        )


def _stored(conn: Connection, event_ids: list[str]) -> set[str]:
    """Which of the events are processed as stored."""
    found: set[str] = set()
    for part in chunks(event_ids, LOOKUP_CHUNK):
        found.update(
            conn.execute(
                select(processed_events.c.event_id).where(
                    processed_events.c.event_id.in_(part), processed_events.c.outcome == "stored"
                )
            ).scalars()
        )
    return found
