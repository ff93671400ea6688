"""Applying event batches: rows, duplicates, dead letters and parked events, exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import Engine, func, select, update

import okr_pipeline.stream.applier as applier
from okr_pipeline.core import now_utc
from okr_pipeline.stream.applier import apply_batch
from okr_pipeline.stream.events import make_event
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.parked_rows import ParkedRows
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    VERSION_TABLES,
    dead_letters,
    parked_events,
)
from samples import KEY_RESULT, OBJECTIVE

_offsets = count()
CHECK_IN = {
    "check_in_id": "C-1",
    "key_result_id": "KR-1",
    "checked_in_at": "2026-01-15T09:00:00Z",
    "value": 3,
    "confidence": "7",
}


def _message(value: bytes, key: bytes | None = None) -> Message:
    return Message("okr.events", 0, next(_offsets), key, value, 0)


def _event(entity: str, payload: dict) -> Message:
    key, value = make_event(entity, payload)
    return _message(value, key)


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


_kept: list[ParkedRows | None] = [None]


@pytest.fixture(autouse=True, params=["payloads", "kept rows"])
def parked_rows(request: pytest.FixtureRequest) -> Iterator[ParkedRows | None]:
    """Each test as a consumer that reads parked events from their payloads, and as one that
    keeps the rows of the events it parks."""
    _kept[0] = ParkedRows() if request.param == "kept rows" else None
    yield _kept[0]
    _kept[0] = None


def _apply(engine: Engine, messages: list[Message], park_timeout: float = 600):
    return apply_batch(
        engine, messages, source="okr.events", park_timeout=park_timeout, parked_rows=_kept[0]
    )


def test_events_are_stored_once(warehouse: Engine):
    batch = [
        _event("objectives", OBJECTIVE),
        _event("key_results", KEY_RESULT),
        _event("check_ins", CHECK_IN),
    ]
    first = _apply(warehouse, batch)
    assert (first.stored, first.duplicates, first.dead_lettered) == (3, 0, 0)
    assert first.touched_key_results == {"KR-1"}
    again = _apply(warehouse, batch)  # redelivered
    assert (again.stored, again.duplicates, again.dead_lettered) == (0, 3, 0)
    assert _count(warehouse, ENTITY_TABLES["check_ins"]) == 1
    twice = _apply(warehouse, [_event("check_ins", {**CHECK_IN, "check_in_id": "C-2"})] * 2)
    assert (twice.stored, twice.duplicates) == (1, 1)


def test_garbage_goes_to_dead_letters_once(warehouse: Engine):
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    bad_payload = _event("check_ins", {**CHECK_IN, "value": "N/A"})
    batch = [
        _message(b"not json"),
        _message(b"\xff\xfe"),
        _message(b"[1, 2]"),
        _message(json.dumps({"event_type": "check_in.recorded", "payload": {}}).encode()),
        _message(
            json.dumps({"event_id": "e1", "event_type": "kr.deleted", "payload": {}}).encode()
        ),
        bad_payload,
    ]
    result = _apply(warehouse, batch)
    assert result.dead_lettered == 6 and result.stored == 0
    assert result.by_reason == {
        "malformed_event": 2,
        "invalid_encoding": 1,
        "missing_field": 1,
        "unknown_event_type": 1,
        "invalid_number": 1,
    }
    again = _apply(warehouse, batch)
    assert (again.dead_lettered, again.duplicates) == (0, 6)
    assert _count(warehouse, dead_letters) == 6
    with warehouse.connect() as conn:
        row = conn.execute(select(dead_letters).where(dead_letters.c.reason == "invalid_number"))
        letter = row.mappings().one()
    assert letter["event_id"] and json.loads(letter["raw"])["payload"]["value"] == "N/A"


def test_an_orphan_waits_for_its_parent(warehouse: Engine):
    orphan = _apply(warehouse, [_event("check_ins", CHECK_IN)])
    assert (orphan.parked, orphan.stored, orphan.resolved) == (1, 0, 0)
    assert _count(warehouse, parked_events) == 1
    redelivered = _apply(warehouse, [_event("check_ins", CHECK_IN)])
    assert (redelivered.duplicates, redelivered.parked) == (1, 0)
    assert _count(warehouse, parked_events) == 1
    parents = _apply(
        warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)]
    )
    assert parents.stored == 3  # the two parents and the parked check-in
    assert _count(warehouse, parked_events) == 0
    assert _count(warehouse, ENTITY_TABLES["check_ins"]) == 1


def test_an_orphan_is_dead_lettered_after_the_wait(warehouse: Engine):
    _apply(warehouse, [_event("check_ins", CHECK_IN)], park_timeout=600)
    result = _apply(warehouse, [], park_timeout=0)
    assert result.dead_lettered == 1 and result.by_reason == {"unknown_reference": 1}
    assert _count(warehouse, parked_events) == 0
    with warehouse.connect() as conn:
        message = conn.execute(select(dead_letters.c.message)).scalar_one()
    assert "KR-1" in message and "waited" in message


def test_parked_parents_free_their_children_within_one_batch(warehouse: Engine):
    first = _apply(warehouse, [_event("key_results", KEY_RESULT)])  # its objective is missing
    assert (first.parked, first.stored) == (1, 0)
    # the check-in's key result is parked when the batch starts; the objective frees it, and
    # the key result then frees the check-in parked earlier in the same batch
    second = _apply(warehouse, [_event("check_ins", CHECK_IN), _event("objectives", OBJECTIVE)])
    assert (second.stored, second.parked, second.dead_lettered) == (3, 0, 0)
    assert second.touched_key_results == {"KR-1"}
    assert _count(warehouse, parked_events) == 0
    assert _count(warehouse, ENTITY_TABLES["check_ins"]) == 1


def test_only_parked_events_whose_parent_arrived_are_tried(warehouse: Engine):
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    waiting = {**CHECK_IN, "check_in_id": "C-9", "key_result_id": "KR-9"}
    _apply(warehouse, [_event("check_ins", waiting)])
    for n in range(3):  # batches that bring nothing it waits for leave it untouched
        assert (
            _apply(warehouse, [_event("check_ins", {**CHECK_IN, "check_in_id": f"C-{n}"})]).stored
            == 1
        )
    with warehouse.connect() as conn:
        row = conn.execute(select(parked_events.c.attempts, parked_events.c.awaits)).one()
    assert tuple(row) == (1, "KR-9")


MILESTONE = {"milestone_id": "M-1", "key_result_id": "KR-1", "title": "Launch"}


def _milestone_title(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(select(ENTITY_TABLES["milestones"].c.title)).scalar_one()


def test_a_rows_later_event_waits_behind_its_parked_earlier_one(warehouse: Engine):
    """Its key result comes with the milestone's later event (from another partition, read
    behind this one's): stored first, the later event would be overwritten by the earlier."""
    assert _apply(warehouse, [_event("milestones", MILESTONE)]).parked == 1
    later = _event("milestones", {**MILESTONE, "title": "Launch, second date"})
    parents = [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)]
    result = _apply(warehouse, [*parents, later])
    assert (result.stored, result.parked) == (4, 0)
    assert _milestone_title(warehouse) == "Launch, second date"


def test_parked_events_are_tried_in_the_order_of_the_log(warehouse: Engine):
    earlier = _event("milestones", MILESTONE)
    later = _event("milestones", {**MILESTONE, "title": "Launch, second date"})
    assert _apply(warehouse, [earlier]).parked == _apply(warehouse, [later]).parked == 1
    with warehouse.begin() as conn:  # the earlier one's row moved behind (as updates move rows)
        row = (
            conn.execute(select(parked_events).order_by(parked_events.c.offset)).mappings().first()
        )
        conn.execute(parked_events.delete().where(parked_events.c.event_id == row["event_id"]))
        conn.execute(parked_events.insert().values(**row))
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    assert _milestone_title(warehouse) == "Launch, second date"


def test_an_event_changing_a_target_adds_one_version(warehouse: Engine):
    versions = VERSION_TABLES["key_results"]
    first = {**KEY_RESULT, "updated_at": "2026-01-02T00:00:00Z"}
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", first)])
    assert _count(warehouse, versions) == 1
    edited = {**first, "target_value": 30, "updated_at": "2026-02-10T08:00:00Z"}
    batch = [_event("key_results", edited)]
    assert _apply(warehouse, batch).stored == 1
    assert _apply(warehouse, batch).duplicates == 1  # redelivered: no version
    # the same row in a new event (another id): stored as it is, no version either
    envelope = {"event_id": "resent-1", "event_type": "key_result.upserted", "payload": edited}
    assert _apply(warehouse, [_message(json.dumps(envelope).encode())]).stored == 1
    with warehouse.connect() as conn:
        rows = conn.execute(
            select(versions.c.valid_from, versions.c.target_value).order_by(versions.c.valid_from)
        ).all()
    assert [tuple(r) for r in rows] == [
        (datetime(2026, 1, 2), 20.0),
        (datetime(2026, 2, 10, 8), 30.0),
    ]
    # a milestone has no updated_at: its version is valid from the batch's time
    milestone = {"milestone_id": "M-1", "key_result_id": "KR-1", "title": "Launch"}
    before = now_utc()
    _apply(warehouse, [_event("milestones", milestone)])
    with warehouse.connect() as conn:
        since = conn.execute(select(VERSION_TABLES["milestones"].c.valid_from)).scalar_one()
    assert before <= since <= now_utc()


def test_a_row_without_updated_at_is_a_version_from_its_event_time(warehouse: Engine):
    _apply(warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)])
    milestone = {"milestone_id": "M-1", "key_result_id": "KR-1", "title": "Launch"}
    _apply(warehouse, [_event("milestones", milestone)])  # no occurred_at: the batch's time
    edited = {**milestone, "weight": 3}
    envelope = {
        "event_id": "m-edit",
        "event_type": "milestone.upserted",
        "occurred_at": "2026-02-03T10:00:00+01:00",
        "payload": edited,
    }
    batch = [_message(json.dumps(envelope).encode())]
    _apply(warehouse, batch)
    _apply(warehouse, batch)  # redelivered: nothing more
    versions = VERSION_TABLES["milestones"]
    with warehouse.connect() as conn:
        rows = conn.execute(
            select(versions.c.weight, versions.c.valid_from).order_by(versions.c.version_id)
        ).all()
    assert len(rows) == 2 and rows[0].weight == 1.0 and rows[0].valid_from > datetime(2026, 6, 1)
    assert (rows[1].weight, rows[1].valid_from) == (3.0, datetime(2026, 2, 3, 9))
    # an unreadable occurred_at is no reason to refuse the event: the batch's time stands
    envelope = {**envelope, "event_id": "m-edit-2", "occurred_at": "yesterday"}
    envelope["payload"] = {**edited, "weight": 4}
    assert _apply(warehouse, [_message(json.dumps(envelope).encode())]).stored == 1


@pytest.mark.parametrize("parked_rows", ["kept rows"], indirect=True)
def test_a_kept_parked_row_is_stored_without_reading_its_payload_again(
    warehouse: Engine, parked_rows: ParkedRows, monkeypatch: pytest.MonkeyPatch
):
    orphan = _event("milestones", MILESTONE)
    assert _apply(warehouse, [orphan]).parked == 1
    event_id = json.loads(orphan.value)["event_id"]
    assert parked_rows.get(event_id) is not None

    def unread(value: bytes) -> None:
        raise AssertionError(f"read again: {value[:60]!r}")

    monkeypatch.setattr(applier, "read_json", unread)
    parents = _apply(
        warehouse, [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)]
    )
    assert (parents.stored, parents.parked) == (3, 0)
    assert _milestone_title(warehouse) == "Launch"
    assert parked_rows.get(event_id) is None  # dropped once stored


@pytest.mark.parametrize("parked_rows", ["kept rows"], indirect=True)
def test_a_row_kept_for_an_event_another_consumer_resolved_is_not_used(
    warehouse: Engine, parked_rows: ParkedRows
):
    orphan = _event("milestones", MILESTONE)
    assert _apply(warehouse, [orphan]).parked == 1
    # another consumer (keeping nothing) stores the parents and frees the milestone
    parents = [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)]
    assert apply_batch(warehouse, parents, source="okr.events", park_timeout=600).stored == 3
    later = _event("milestones", {**MILESTONE, "title": "Launch, second date"})
    assert (_apply(warehouse, [later]).stored, _count(warehouse, parked_events)) == (1, 0)
    assert _milestone_title(warehouse) == "Launch, second date"


def test_an_event_held_behind_parked_ones_waits_for_them_not_for_a_wait_that_ended(
    warehouse: Engine,
):
    """A parked event whose wait is over is due before its parent comes: the later event of
    another row waiting for that parent must still follow that row's earlier parked event."""
    other = _event("milestones", {**MILESTONE, "milestone_id": "M-2"})
    earlier = _event("milestones", MILESTONE)
    assert _apply(warehouse, [other, earlier]).parked == 2
    with warehouse.begin() as conn:  # M-2's wait is over by the next batch; M-1's is not
        conn.execute(
            update(parked_events)
            .where(parked_events.c.offset == other.offset)
            .values(parked_at=now_utc() - timedelta(hours=2))
        )
    later = _event("milestones", {**MILESTONE, "title": "Launch, second date"})
    parents = [_event("objectives", OBJECTIVE), _event("key_results", KEY_RESULT)]
    result = _apply(warehouse, [*parents, later])
    assert (result.stored, result.dead_lettered, result.parked) == (5, 0, 0)  # M-2 too
    with warehouse.connect() as conn:
        table = ENTITY_TABLES["milestones"]
        title = conn.execute(select(table.c.title).where(table.c.milestone_id == "M-1"))
        assert title.scalar_one() == "Launch, second date"
