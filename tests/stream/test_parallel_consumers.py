"""Consumers of one group on Kafka (a Tansu broker) with a PostgreSQL warehouse: a consumer
that lost its partitions (a rebalance, a batch that waited too long for the warehouse) carries
on, and what it could not commit is read again, a no-op."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, func, select, text

from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import now_utc
from okr_pipeline.stream.applier import apply_batch
from okr_pipeline.stream.consumer import ConsumeSummary, consume, publish_dead_letters
from okr_pipeline.stream.events import make_event
from okr_pipeline.stream.kafka import KafkaEventLog, client_config
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.producer import publish
from okr_pipeline.stream.sqlite_log import SqliteEventLog
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate, open_warehouse
from okr_pipeline.warehouse.tables import ENTITY_TABLES, dead_letters
from samples import OBJECTIVE

pytestmark = pytest.mark.postgres
pytest_plugins = ["broker"]

PARTITIONS = 4
SESSION_TIMEOUT_S = 2.0  # how soon a killed consumer's partitions move (Tansu allows 2 s)


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


@pytest.fixture
def kafka_postgres(
    monkeypatch: pytest.MonkeyPatch, tansu_broker: str, postgres_url: str
) -> Iterator[Settings]:
    """Settings of Kafka (fresh topics of PARTITIONS partitions) and a PostgreSQL warehouse,
    also in the environment for the processes the test starts."""
    suffix = uuid.uuid4().hex[:8]
    for name in ("events", "dead_letters", "alerts", "model_updates"):
        monkeypatch.setenv(f"OKR_STREAM__TOPICS__{name.upper()}", f"{name}-{suffix}")
    monkeypatch.setenv("OKR_STREAM__GROUP", f"group-{suffix}")
    monkeypatch.setenv("OKR_STREAM__BACKEND", "kafka")
    monkeypatch.setenv("OKR_STREAM__BOOTSTRAP_SERVERS", tansu_broker)
    monkeypatch.setenv("OKR_STREAM__PARTITIONS", str(PARTITIONS))
    monkeypatch.setenv("OKR_STREAM__SESSION_TIMEOUT_SECONDS", str(SESSION_TIMEOUT_S))
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("OKR_WAREHOUSE__URL", postgres_url)
    yield load_settings()


def test_a_batch_that_waits_past_the_poll_interval_is_read_again_not_fatal(
    kafka_postgres: Settings,
) -> None:
    """A batch kept waiting by the warehouse (a transaction holds its table) longer than
    max.poll.interval.ms: the client leaves the group meanwhile, so the batch's commit is
    refused and the next poll says why. The consumer joins again and reads the batch again:
    duplicates, nothing lost."""
    settings = kafka_postgres
    topic, group = settings.stream.topics.events, settings.stream.group
    objectives = [{**OBJECTIVE, "objective_id": f"O-{n}"} for n in range(20)]
    event_log = KafkaEventLog(settings, extra_config={"max.poll.interval.ms": 2500})
    event_log.ensure_topics([topic])
    engine = open_warehouse(settings)
    outcome: list[ConsumeSummary | Exception] = []

    def run() -> None:
        try:
            outcome.append(consume(settings, engine, event_log, group=group, until_idle=1.0))
        except Exception as exc:  # the test's, to show
            outcome.append(exc)

    consumer = threading.Thread(target=run)
    consumer.start()
    admin = AdminClient(client_config(settings, 5.0))
    _wait_for(lambda: _group_state(admin, group) == ConsumerGroupState.STABLE, "it joined")
    with engine.connect() as holder:
        holder.begin()  # idle polls go on: they store nothing
        holder.execute(text("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE"))
        publish(event_log, topic, [make_event("objectives", o) for o in objectives])
        _wait_for(lambda: _waiting_for_a_lock(engine), "the consumer's batch waited")
        empty = ConsumerGroupState.EMPTY
        _wait_for(lambda: _group_state(admin, group) == empty, "the consumer left the group")
        holder.rollback()
    consumer.join(timeout=60)
    event_log.close()
    (summary,) = outcome
    assert isinstance(summary, ConsumeSummary), summary
    # the batch that waited came again: its events were duplicates then
    assert summary.stored == 20 and summary.duplicates > 0
    assert summary.messages == summary.stored + summary.duplicates
    assert summary.lag == 0
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(ENTITY_TABLES["objectives"]))
        assert stored.scalar_one() == 20


def _group_state(admin: AdminClient, group: str) -> ConsumerGroupState:
    """(Tansu lists no members of a group, but tells its state.)"""
    return admin.describe_consumer_groups([group])[group].result(timeout=5.0).state


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting.scalar_one())


def test_a_commit_after_a_rebalance_leaves_moved_partitions_to_their_new_owner(
    kafka_postgres: Settings,
) -> None:
    """Messages read before a rebalance and committed after it: the partitions another member
    got meanwhile are not committed, so their offsets do not go back (Tansu, unlike Kafka,
    takes a commit of an earlier generation of the group)."""
    settings = kafka_postgres
    topic, group = settings.stream.topics.events, settings.stream.group
    event_log = KafkaEventLog(settings)
    event_log.ensure_topics([topic])
    event_log.produce(topic, [(f"k-{n}".encode(), b"{}") for n in range(200)])
    event_log.flush()
    first = event_log.consumer(group, [topic])
    read: list[Message] = []
    _wait_for(lambda: read.extend(first.poll(200, 0.2)) or len(read) == 200, "all was read")
    ends = {p: 1 + max(m.offset for m in read if m.partition == p) for p in range(PARTITIONS)}
    by_offset = {(m.partition, m.offset): m for m in read}
    first.commit([by_offset[p, 0] for p in ends])

    second = event_log.consumer(group, [topic])
    seconds: list[Message] = []

    def second_read_its_share() -> bool:
        first.poll(200, 0.05)  # the group changes within polls: the first gives some up
        seconds.extend(got := second.poll(200, 0.05))
        second.commit(got)
        if not (first.ready() and second.ready()):
            return False
        held = {p for _, p in second.lag()}
        read_to = {
            p: max((m.offset + 1 for m in seconds if m.partition == p), default=0) for p in held
        }
        return all(read_to[p] == ends[p] for p in held)

    _wait_for(second_read_its_share, "the second read its partitions to their end")
    moved = {p for _, p in second.lag()}
    assert 0 < len(moved) < PARTITIONS
    first.commit([by_offset[p, 1] for p in ends])  # in hand since before the rebalance
    committed = _committed(settings, group, topic)
    first.close()
    second.close()
    event_log.close()
    assert {p: committed[p] for p in moved} == {p: ends[p] for p in moved}
    assert {p: committed[p] for p in set(ends) - moved} == dict.fromkeys(set(ends) - moved, 2)


def _committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    reader = Consumer(client_config(settings, 5.0) | {"group.id": group})
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in reader.committed(partitions, timeout=5.0)}
    finally:
        reader.close()


def test_dead_letters_another_consumer_is_sending_are_not_sent_again(
    tmp_path: Path, postgres_url: str
) -> None:
    """Consumers of a group publish the dead letters at once: the letters another one has read
    and not yet marked sent are left to it, not sent a second time."""
    engine = create_warehouse_engine(postgres_url, statement_timeout_seconds=5)
    migrate(engine)
    garbage = [Message("okr.events", 0, offset, None, b"{oops", 0) for offset in range(3)]
    apply_batch(engine, garbage, source="okr.events", park_timeout=600)
    event_log = SqliteEventLog(tmp_path / "events.db", 1)
    event_log.ensure_topics(["dlq"])
    with engine.connect() as other:  # the other consumer, while it sends two of them
        other.begin()
        by_id = select(dead_letters.c.id).order_by(dead_letters.c.id)
        held = other.execute(by_id.limit(2).with_for_update()).scalars().all()
        assert publish_dead_letters(engine, event_log, "dlq") == 1
        sent = dead_letters.update().where(dead_letters.c.id.in_(held))
        other.execute(sent.values(published_at=now_utc()))
        other.commit()
    assert publish_dead_letters(engine, event_log, "dlq") == 0
    reader = event_log.consumer("reader", ["dlq"])
    assert [json.loads(m.value)["source"]["offset"] for m in reader.poll(10, 0.5)] == [2]
    reader.close()
    event_log.close()
    engine.dispose()
