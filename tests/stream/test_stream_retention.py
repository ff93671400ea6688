"""Retention of the stream as a whole (`stream.retention`): a redelivered event stays a no-op while
its id is kept, and its id is kept as long as a log holds its message; dead letters not yet on
their topic are never pruned; the settings refuse windows that would break either; the consumer
and the ETL run prune."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import ConfigError
from okr_pipeline.stream import consume, events_from_path, prune, publish
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.sqlite_log import SqliteEventLog
from okr_pipeline.warehouse import (
    dead_letters,
    open_warehouse,
    processed_events,
    prune_dead_letters,
    prune_processed_events,
)

DAY = timedelta(days=1)


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, SqliteEventLog]]:
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.1")
    settings = load_settings()
    log = SqliteEventLog(settings.data_dir / "events.db", settings.stream.partitions)
    yield settings, log
    log.close()


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _consume(settings: Settings, engine: Engine, log: SqliteEventLog, group: str | None = None):
    return consume(settings, engine, log, group=group or settings.stream.group, until_idle=0.3)


def test_a_redelivered_event_is_a_no_op_while_its_id_is_kept(stream, contract_bundle: Path):
    """The log pruned after a week, the ids kept for 30 days: a copy of an event arriving after
    the log dropped its message changes nothing; once the ids are gone it is applied again."""
    settings, log = stream
    engine = open_warehouse(settings)
    topic = settings.stream.topics.events
    published = publish(log, topic, events_from_path(contract_bundle)[0]).published
    first = _consume(settings, engine, log)
    assert first.stored and first.dead_lettered and first.parked  # each kind of outcome
    ids = _count(engine, processed_events)

    week_on = prune(settings, engine, log, now=now_utc() + 8 * DAY)
    assert week_on.log_messages[topic] == published  # all committed, all older than 7 days
    assert week_on.processed_ids == 0 and week_on.dead_letters == 0
    assert all(low == high for low, high in log.watermarks(topic).values())

    publish(log, topic, events_from_path(contract_bundle)[0])  # redelivered
    again = _consume(settings, engine, log)
    assert again.duplicates == published and again.stored == again.dead_lettered == 0
    assert _count(engine, processed_events) == ids

    month_on = prune(settings, engine, log, now=now_utc() + 31 * DAY)
    assert month_on.processed_ids == ids and month_on.dead_letters == first.dead_lettered
    publish(log, topic, events_from_path(contract_bundle)[0])
    late = _consume(settings, engine, log)
    assert late.stored + late.dead_lettered == first.stored + first.dead_lettered


def test_a_lagging_group_keeps_the_messages_and_the_ids_of_their_events(
    stream, contract_bundle: Path
):
    """A group that committed only the start of each partition holds the rest of the log past
    its age limit, and so the ids of the events in it: when it reads them at last, into the
    same warehouse, they are duplicates."""
    settings, log = stream
    engine = open_warehouse(settings)
    topic = settings.stream.topics.events
    published = publish(log, topic, events_from_path(contract_bundle)[0]).published
    _consume(settings, engine, log)
    with log.consumer("lagging", [topic]) as lagging:
        lagging.commit([Message(topic, p, 0, None, b"", 0) for p in log.watermarks(topic)])
    ids = _count(engine, processed_events)

    pruned = prune(settings, engine, log, now=now_utc() + 31 * DAY)
    assert pruned.log_messages[topic] == len(log.watermarks(topic))  # offset 0 of each
    assert pruned.processed_ids == 0 and _count(engine, processed_events) == ids
    late = _consume(settings, engine, log, group="lagging")
    assert late.messages == published - len(log.watermarks(topic))
    assert late.stored == late.dead_lettered == 0


def test_the_warehouse_group_holds_the_events_before_it_first_commits(
    stream, contract_bundle: Path
):
    """Events published before the warehouse's consumer ever ran are not lost to the age limit."""
    settings, log = stream
    topic = settings.stream.topics.events
    published = publish(log, topic, events_from_path(contract_bundle)[0]).published
    engine = open_warehouse(settings)
    pruned = prune(settings, engine, log, now=now_utc() + 60 * DAY)
    assert pruned.log_messages[topic] == 0
    assert _consume(settings, engine, log).messages == published


def test_the_consumer_prunes_every_interval(monkeypatch: pytest.MonkeyPatch, contract_bundle: Path):
    monkeypatch.setenv("OKR_STREAM__RETENTION__INTERVAL_MINUTES", "0.001")
    monkeypatch.setenv("OKR_STREAM__RETENTION__LOG_MAX_MESSAGES", "1")
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.1")
    settings = load_settings()
    with SqliteEventLog(settings.data_dir / "events.db", settings.stream.partitions) as log:
        topic = settings.stream.topics.events
        publish(log, topic, events_from_path(contract_bundle)[0])
        _consume(settings, open_warehouse(settings), log)
        assert {high - low for low, high in log.watermarks(topic).values()} == {1}


def test_without_an_interval_the_consumer_never_prunes(
    monkeypatch: pytest.MonkeyPatch, contract_bundle: Path
):
    # null from the environment: the section as JSON
    monkeypatch.setenv("OKR_STREAM__RETENTION", '{"interval_minutes": null, "log_max_messages": 1}')
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.1")
    settings = load_settings()
    assert settings.stream.retention.interval_minutes is None
    with SqliteEventLog(settings.data_dir / "events.db", settings.stream.partitions) as log:
        topic = settings.stream.topics.events
        published = publish(log, topic, events_from_path(contract_bundle)[0]).published
        _consume(settings, open_warehouse(settings), log)
        assert sum(high - low for low, high in log.watermarks(topic).values()) == published


def test_the_etl_run_drains_then_prunes(monkeypatch: pytest.MonkeyPatch, contract_bundle: Path):
    monkeypatch.setenv("OKR_STREAM__RETENTION__LOG_MAX_MESSAGES", "1")
    settings = load_settings()
    jobs.produce_events(settings, contract_bundle)
    run = jobs.run_pipeline(settings, "etl")
    assert run.status == "succeeded", run.error
    extract = run.tasks[0].output
    assert extract["stream"]["messages"] == 40
    assert extract["retention"]["log_messages"][settings.stream.topics.events] == 40 - 3


# ---- the warehouse's side, on each dialect --------------------------------------------------


def _letter(n: int, created_at: datetime, published: bool, event_id: str | None = None) -> dict:
    return {
        "topic": "okr.events",
        "partition": 0,
        "offset": n,
        "event_id": event_id,
        "reason": "malformed_event",
        "message": "not JSON",
        "raw": "{",
        "created_at": created_at,
        "published_at": created_at if published else None,
    }


def test_unpublished_dead_letters_are_never_pruned(warehouse: Engine):
    old = now_utc() - 60 * DAY
    with warehouse.begin() as conn:
        conn.execute(
            insert(dead_letters), [_letter(n, old, published=n % 3 != 0) for n in range(9)]
        )
    assert prune_dead_letters(warehouse, now_utc(), keep=0, chunk=2) == 6
    with warehouse.connect() as conn:
        kept = conn.execute(select(dead_letters.c.offset, dead_letters.c.published_at)).all()
    assert sorted(offset for offset, _ in kept) == [0, 3, 6]
    assert all(published is None for _, published in kept)


def test_dead_letters_beyond_the_count_go_oldest_first(warehouse: Engine):
    now = now_utc()
    with warehouse.begin() as conn:
        conn.execute(
            insert(dead_letters),
            [_letter(n, now, published=n != 1) for n in range(10)],  # 1: not sent yet
        )
    assert prune_dead_letters(warehouse, None, keep=4, chunk=3) == 6
    with warehouse.connect() as conn:
        kept = sorted(conn.execute(select(dead_letters.c.offset)).scalars())
    assert kept == [1, 7, 8, 9]  # the newest four, and the one the outbox has to send
    assert prune_dead_letters(warehouse, now - DAY, keep=None, chunk=3) == 0  # none that old


def test_processed_ids_go_by_age_but_stay_while_a_letter_of_their_event_does(warehouse: Engine):
    now = now_utc()
    rows = [
        ("old-1", now - 40 * DAY),
        ("old-2", now - 40 * DAY),
        ("old-lettered", now - 40 * DAY),
        ("young", now - DAY),
    ]
    with warehouse.begin() as conn:
        conn.execute(
            insert(processed_events),
            [
                {
                    "event_id": event_id,
                    "outcome": "dead_lettered" if "lettered" in event_id else "stored",
                    "topic": "okr.events",
                    "partition": 0,
                    "offset": n,
                    "processed_at": at,
                }
                for n, (event_id, at) in enumerate(rows)
            ],
        )
        conn.execute(insert(dead_letters), [_letter(0, now, True, event_id="old-lettered")])
    assert prune_processed_events(warehouse, now - 30 * DAY, chunk=1) == 2
    with warehouse.connect() as conn:
        kept = set(conn.execute(select(processed_events.c.event_id)).scalars())
    assert kept == {"old-lettered", "young"}


# ---- the settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retention", "says"),
    [
        ({"processed_ids_max_age_hours": 100}, "must be at least 168 hours"),
        ({"log_max_age_hours": 2000}, "must be at least 2000 hours"),
        ({"log_max_age_hours": None}, "must be null (kept for ever)"),
        ({"dead_letters_max_age_hours": 48}, "monitoring counts the stream's events"),
        ({"processed_ids_max_age_hours": 200}, "monitoring counts the stream's events"),
    ],
)
def test_retention_shorter_than_a_redelivery_or_monitoring_is_refused(retention, says):
    with pytest.raises(ConfigError, match="retention") as refused:
        load_settings(stream={"retention": retention})
    assert says in str(refused.value)


def test_the_broker_retention_bounds_processed_ids_too():
    with pytest.raises(ConfigError, match="must be at least 1000 hours"):
        load_settings(stream={"broker_retention_hours": 1000})
    kept = load_settings(
        stream={"broker_retention_hours": None, "retention": {"processed_ids_max_age_hours": None}}
    )
    assert kept.stream.retention.processed_ids_max_age_hours is None
    custom = {"log_max_age_hours": 24, "log_max_messages": 10, "dead_letters_max_count": 5}
    assert load_settings(stream={"retention": custom}).stream.retention.log_max_messages == 10


def test_pruning_an_empty_log_and_warehouse_does_nothing(stream):
    """Pruning an empty log (topics made, nothing produced) and an empty warehouse does nothing."""
    settings, log = stream
    log.ensure_topics([settings.stream.topics.events, f"other-{uuid.uuid4().hex[:6]}"])
    pruned = prune(settings, open_warehouse(settings), log, now=now_utc() + 365 * DAY)
    assert sum(pruned.log_messages.values()) == pruned.processed_ids == pruned.dead_letters == 0
