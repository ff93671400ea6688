"""Consumers of one group on Kafka (a Tansu broker) with a PostgreSQL warehouse: two `okr consume`
processes share the events topic's partitions, one is killed mid-stream and the other takes its
partitions over and finishes, and the warehouse then holds what one consumer alone stores from the
same stream. A consumer that lost its partitions (a rebalance, a batch that waited too long for
the warehouse) carries on: what it could not commit is read again, a no-op."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    dead_letters,
    parked_events,
    processed_events,
)
from processes import okr
from samples import OBJECTIVE
from warehouse_rows import entity_rows

pytestmark = pytest.mark.postgres
pytest_plugins = ["broker"]

PARTITIONS = 4
REPO = Path(__file__).resolve().parents[2]
SESSION_TIMEOUT_S = 2.0  # how soon a killed consumer's partitions move (Tansu allows 2 s)
# longer than a survivor waits for them: the killed one's session to end, then a rebalance
IDLE_S = SESSION_TIMEOUT_S + 4
ASSIGNED = re.compile(r"partitions assigned: \S+?\[([\d, ]*)\]")


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


class Member:
    """An `okr consume` process of the group, its log read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = okr(
            "-v", "consume", "--json", "--no-rescore", "--until-idle", str(IDLE_S), env=env
        )
        self.assignments: list[set[int]] = []  # in the order the group gave them
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            if found := ASSIGNED.search(line):
                self.assignments.append({int(p) for p in found[1].split(",") if p.strip()})

    @property
    def partitions(self) -> set[int]:
        return self.assignments[-1] if self.assignments else set()

    def finish(self, timeout: float) -> tuple[int, str]:
        """Its exit code and output (a summary: small enough for the pipe to hold)."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.process.kill()
        self._reader.join(timeout=5)  # the log to its end (the reader alone reads stderr)
        assert self.process.stdout is not None
        return self.process.returncode, self.process.stdout.read()


def _messages(work: Path) -> list[tuple[bytes | None, bytes]]:
    """The benches' realistic mix (five event types from a messy bundle in time order, so a
    child may come before its parent, in another partition; bad rows; updates of stored rows;
    2 % redeliveries) with garbage among it: not JSON (no key: any partition), unknown types."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from mixes import realistic_mix
    finally:
        sys.path.remove(str(REPO / "bench"))
    messages, _ = realistic_mix(work, scale=0.2, seed=11)
    garbage: list[tuple[bytes | None, bytes]] = []
    for n in range(12):
        unknown = {"event_id": f"g-{n}", "event_type": "kr.deleted", "payload": {}}
        garbage += [(None, b"{not json"), (f"g-{n}".encode(), json.dumps(unknown).encode())]
    step = len(messages) // len(garbage)
    for n, bad in enumerate(garbage):
        messages.insert(n * step + step // 2, bad)
    return messages


def _state(engine: Engine) -> dict[str, Any]:
    """What consuming left in the warehouse, without what differs by run or time. Versions
    are left out: rows without updated_at add one per batch that changed them, and which
    events share a batch depends on timing, for one consumer as for two."""
    state: dict[str, Any] = dict(entity_rows(engine))
    processed = [c for c in processed_events.c if c.name != "processed_at"]
    letters = [dead_letters.c[n] for n in ("topic", "partition", "offset", "event_id", "reason")]
    with engine.connect() as conn:
        state["processed_events"] = sorted(map(tuple, conn.execute(select(*processed))))
        state["dead_letters"] = sorted(map(tuple, conn.execute(select(*letters))))
        state["parked_events"] = sorted(conn.execute(select(parked_events.c.event_id)).scalars())
        unpublished = dead_letters.c.published_at.is_(None)
        state["unpublished"] = conn.execute(
            select(func.count()).select_from(dead_letters).where(unpublished)
        ).scalar_one()
    return state


def _dead_letter_topic(settings: Settings, expected: int) -> list[Message]:
    """The messages on the dead-letter topic, read until `expected` came and then until none
    comes for a moment."""
    event_log = KafkaEventLog(settings)
    topic = settings.stream.topics.dead_letters
    reader = event_log.consumer(f"dlq-{uuid.uuid4().hex[:8]}", [topic])
    read: list[Message] = []
    try:
        _wait_for(
            lambda: read.extend(reader.poll(1000, 0.2)) or len(read) >= expected,
            f"{expected} dead letters were on their topic",
        )
        while more := reader.poll(1000, 1.0):
            read += more
    finally:
        reader.close()
        event_log.close()
    return read


def test_two_consumers_share_the_partitions_and_one_takes_over_from_a_killed_one(
    tmp_path: Path, kafka_postgres: Settings, new_database: Callable[[], str]
) -> None:
    """Nothing lost or stored twice: the warehouse as one consumer alone leaves it (a fresh
    database, a group of its own, the same stream), every letter on the dead-letter topic."""
    settings = kafka_postgres
    topic, group = settings.stream.topics.events, settings.stream.group
    event_log = KafkaEventLog(settings)
    publish(event_log, topic, _messages(tmp_path))
    open_warehouse(settings).dispose()  # migrated once, before the consumers race to do it
    engine = create_warehouse_engine(settings.warehouse.url)
    env = {**os.environ, "OKR_STREAM__BATCH_SIZE": "100"}  # many batches: commits to interrupt

    victim, survivor = members = [Member(env) for _ in range(2)]
    try:
        _wait_for(
            lambda: (
                all(m.partitions for m in members)
                and victim.partitions | survivor.partitions == set(range(PARTITIONS))
            ),
            "the two consumers shared the partitions",
        )
        assert not victim.partitions & survivor.partitions
        # the two at work side by side until the victim has done about a third of its share
        # (some ten batches), then it is killed in the middle of the stream
        with _offsets_reader(settings) as offsets:
            before = _committed(offsets, topic)

            def victim_committed() -> int:
                now = _committed(offsets, topic)
                return sum(now[p] - max(before[p], 0) for p in victim.partitions)

            _wait_for(lambda: victim_committed() >= 1000, "the victim committed ten batches")
        killed_from = time.time() * 1000
        victim.process.send_signal(signal.SIGKILL)
        killed_by = time.time() * 1000
        code, out = survivor.finish(timeout=120)
    finally:
        for member in members:
            member.process.kill()
    assert code == 0, "".join(survivor.log[-30:])
    summary = json.loads(out)
    assert survivor.partitions == set(range(PARTITIONS)), survivor.assignments  # took over
    assert summary["lag"] == 0
    assert all(n == 0 for n in event_log.group_lag(group, [topic]).values())

    together = _state(engine)
    engine.dispose()
    assert together["unpublished"] == 0
    on_topic = _dead_letter_topic(settings, len(together["dead_letters"]))
    sent: dict[bytes | None, list[int]] = defaultdict(list)  # when each copy was sent
    for message in on_topic:
        sent[message.key].append(message.timestamp_ms)
    assert set(sent) == {f"{t}/{p}/{o}".encode() for t, p, o, *_ in together["dead_letters"]}
    # each sent once, by one of the two (they send at once, taking turns); only the letters
    # the victim was sending when it was killed (not yet marked sent) are sent again, after
    again = sorted(sorted(times) for times in sent.values() if len(times) > 1)
    assert all(
        len(times) == 2 and times[0] <= killed_by and times[1] >= killed_from for times in again
    ), (killed_from, again)

    alone_settings = load_settings(warehouse={"url": new_database()})
    alone_engine = open_warehouse(alone_settings)
    consume(alone_settings, alone_engine, event_log, group=f"{group}-alone", until_idle=2.0)
    event_log.close()
    alone = _state(alone_engine)
    alone_engine.dispose()
    assert alone["processed_events"] and alone["dead_letters"] and alone["parked_events"]
    for part, expected in alone.items():
        assert together[part] == expected, part


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
        _wait_for(
            lambda: _waiting_for_a_lock(engine) or not consumer.is_alive(),
            "the consumer's batch waited",
        )
        assert consumer.is_alive(), outcome
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
    with _offsets_reader(settings) as offsets:
        committed = _committed(offsets, topic)
    first.close()
    second.close()
    event_log.close()
    assert {p: committed[p] for p in moved} == {p: ends[p] for p in moved}
    assert {p: committed[p] for p in set(ends) - moved} == dict.fromkeys(set(ends) - moved, 2)


@contextmanager
def _offsets_reader(settings: Settings) -> Iterator[Consumer]:
    """A client of the group that reads its committed offsets (it never joins)."""
    reader = Consumer(client_config(settings, 5.0) | {"group.id": settings.stream.group})
    try:
        yield reader
    finally:
        reader.close()


def _committed(reader: Consumer, topic: str) -> dict[int, int]:
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    return {tp.partition: tp.offset for tp in reader.committed(partitions, timeout=5.0)}


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
