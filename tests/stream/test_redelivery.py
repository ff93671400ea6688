"""Dead letters applied again: stored once what they lacked is there (the letter resolved, never
removed), refused again without a second letter, never parked again; a message the limits
refused is stored once they allow it and its letter learns its event id; a letter not kept whole
is left alone; two retries at once apply a letter once."""

from __future__ import annotations

import json
import threading
from itertools import count

from sqlalchemy import Engine, func, select

from okr_pipeline.config import Limits
from okr_pipeline.stream.applier import apply_batch
from okr_pipeline.stream.events import make_event
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.redelivery import dead_letters_after, retry_dead_letters
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    dead_letters,
    parked_events,
    processed_events,
)
from samples import KEY_RESULT, OBJECTIVE

_offsets = count()
CHECK_IN = {
    "check_in_id": "C-1",
    "key_result_id": "KR-1",
    "checked_in_at": "2026-01-15T09:00:00Z",
    "value": 3,
}


def _message(value: bytes) -> Message:
    return Message("okr.events", 0, next(_offsets), None, value, 0)


def _event(entity: str, payload: dict) -> Message:
    return _message(make_event(entity, payload)[1])


def _apply(engine: Engine, messages: list[Message], limits: Limits | None = None) -> None:
    # no wait for a parent: an orphan is dead-lettered at once
    apply_batch(engine, messages, source="okr.events", park_timeout=0, limits=limits or Limits())


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _open(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return dead_letters_after(conn, 0, 100)


def _outcome(engine: Engine, event_id: str) -> str:
    with engine.connect() as conn:
        query = select(processed_events.c.outcome).where(processed_events.c.event_id == event_id)
        return conn.execute(query).scalar_one()


def test_an_orphan_is_stored_once_its_parent_is_there(warehouse: Engine):
    _apply(warehouse, [_event("check_ins", CHECK_IN)])
    (letter,) = _open(warehouse)
    assert letter["reason"] == "unknown_reference" and not letter["resolved"]

    early = retry_dead_letters(warehouse)
    assert (early.retried, early.stored, early.still_dead) == (1, 0, 1)
    assert early.by_reason == {"unknown_reference": 1}
    assert _open(warehouse) == [letter]  # the same one letter, not a second
    assert _count(warehouse, parked_events) == 0  # not parked again: it waited once
    assert _outcome(warehouse, letter["event_id"]) == "dead_lettered"

    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    done = retry_dead_letters(warehouse)
    assert (done.retried, done.stored, done.still_dead) == (1, 1, 0)
    assert _count(warehouse, ENTITY_TABLES["check_ins"]) == 1
    assert _outcome(warehouse, letter["event_id"]) == "stored"
    assert _open(warehouse) == []
    with warehouse.connect() as conn:
        (kept,) = dead_letters_after(conn, 0, 100, include_resolved=True)
    assert kept == letter | {"resolved": True}  # kept as it was, for the record

    assert retry_dead_letters(warehouse).retried == 0  # nothing open is left
    redelivered = apply_batch(
        warehouse, [_event("check_ins", CHECK_IN)], source="okr.events", park_timeout=0
    )
    assert redelivered.duplicates == 1  # its event is processed, as any other stored one


def test_refused_again_keeps_one_letter_with_the_reason_of_now(warehouse: Engine):
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    _apply(
        warehouse,
        [
            _message(b"not json"),
            _message(
                json.dumps({"event_id": "e1", "event_type": "kr.gone", "payload": {}}).encode()
            ),
            _event("check_ins", {**CHECK_IN, "value": "N/A"}),
        ],
    )
    letters = _open(warehouse)
    for _ in range(2):
        again = retry_dead_letters(warehouse, batch_size=2)  # two transactions
        assert (again.retried, again.still_dead, again.stored) == (3, 3, 0)
        assert again.by_reason == {
            "malformed_event": 1,
            "unknown_event_type": 1,
            "invalid_number": 1,
        }
        assert _open(warehouse) == letters
    only = retry_dead_letters(warehouse, reason="invalid_number")
    assert (only.retried, only.still_dead) == (1, 1)


def test_a_message_the_limits_refused_is_stored_once_they_allow_it(warehouse: Engine):
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    event = json.loads(make_event("check_ins", CHECK_IN)[1])
    deep = _message(json.dumps(event | {"trace": {"spans": [1]}}).encode())  # 3 levels deep
    _apply(warehouse, [deep], limits=Limits(max_depth=2))
    (letter,) = _open(warehouse)
    assert letter["reason"] == "too_large" and letter["event_id"] is None

    assert retry_dead_letters(warehouse, limits=Limits(max_depth=2)).still_dead == 1
    assert _open(warehouse) == [letter]
    done = retry_dead_letters(warehouse)  # the default limits allow it
    assert done.stored == 1 and _open(warehouse) == []
    with warehouse.connect() as conn:
        (kept,) = dead_letters_after(conn, 0, 100, include_resolved=True)
    assert kept["event_id"] == event["event_id"] and kept["resolved"]


def test_a_letter_not_kept_whole_is_left_alone(warehouse: Engine):
    _apply(warehouse, [_message(b'{"event_id": "\xff"}')])
    (letter,) = _open(warehouse)
    assert letter["reason"] == "invalid_encoding"
    left = retry_dead_letters(warehouse)
    assert (left.retried, left.not_retryable) == (0, 1)
    assert _open(warehouse) == [letter]


def test_two_retries_at_once_apply_a_letter_once(warehouse: Engine):
    _apply(warehouse, [_event("check_ins", CHECK_IN)])
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    start = threading.Barrier(2)
    results = []

    def retry() -> None:
        start.wait()
        results.append(retry_dead_letters(warehouse))

    threads = [threading.Thread(target=retry) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.stored for r in results) == [0, 1]
    assert _count(warehouse, ENTITY_TABLES["check_ins"]) == 1
    assert _count(warehouse, dead_letters) == 1 and _open(warehouse) == []
