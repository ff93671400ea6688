"""The event-log conformance suite, run on the embedded SQLite log and on Kafka (a Tansu broker).

Tansu reports a stale high watermark after multi-message batches, so exact lag is only asserted on
SQLite; on Kafka lag must be non-negative and reach 0 once everything is committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from okr_pipeline.config import Settings, load_settings
from okr_pipeline.errors import ConfigError, OkrError
from okr_pipeline.stream import sqlite_log
from okr_pipeline.stream.backends import open_event_log
from okr_pipeline.stream.kafka import PASSWORD_VARIABLE, KafkaEventLog, client_config
from okr_pipeline.stream.log import Consumer, EventLog, Message
from okr_pipeline.stream.sqlite_log import SqliteEventLog, partition_for

pytest_plugins = ["broker"]

PARTITIONS = 3
KAFKA_OPTIONS = {"timeout_s": 5.0, "delivery_timeout_s": 10.0, "session_timeout_ms": 2000}


@dataclass
class Backend:
    name: str
    log: EventLog
    open_log: Callable[[], EventLog]  # another client of the same log, like another process

    def topic(self) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"  # the Tansu broker is shared by the whole session
        self.log.ensure_topics([name])
        return name

    @staticmethod
    def group() -> str:
        return f"g-{uuid.uuid4().hex[:10]}"

    @property
    def exact_lag(self) -> bool:
        return self.name == "sqlite"


def kafka_settings(servers: str) -> Settings:
    return load_settings(
        stream={"backend": "kafka", "bootstrap_servers": servers, "partitions": PARTITIONS}
    )


@pytest.fixture(params=["sqlite", "kafka"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[EventLog] = []

    def open_log() -> EventLog:
        if request.param == "sqlite":
            log: EventLog = SqliteEventLog(tmp_path / "events.db", PARTITIONS)
        else:
            servers = request.getfixturevalue("tansu_broker")
            log = KafkaEventLog(kafka_settings(servers), **KAFKA_OPTIONS)
        opened.append(log)
        return log

    yield Backend(request.param, open_log(), open_log)
    for log in opened:
        log.close()


def drain(consumer: Consumer, count: int, timeout: float = 15.0) -> list[Message]:
    """Poll until `count` messages came (a Kafka consumer first has to join its group)."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(100, 0.5)
    return got


def keyed(count: int, keys: int) -> list[tuple[bytes | None, bytes]]:
    return [(b"key-%d" % (i % keys), b"value-%d" % i) for i in range(count)]


# ---- conformance: both backends -------------------------------------------------------------


def test_round_trip_keeps_keys_values_and_order_per_key(backend: Backend) -> None:
    topic = backend.topic()
    sent = keyed(60, keys=6)
    assert backend.log.produce(topic, sent) == 60
    assert backend.log.produce(topic, [(None, b"no key")]) == 1
    backend.log.flush()
    consumer = backend.log.consumer(backend.group(), [topic])
    got = drain(consumer, 61)
    consumer.close()

    assert Counter((m.key, m.value) for m in got) == Counter([*sent, (None, b"no key")])
    assert all(m.topic == topic and 0 <= m.partition < PARTITIONS for m in got)
    assert all(m.timestamp_ms > 0 for m in got)
    by_key: dict[bytes | None, list[Message]] = defaultdict(list)
    for message in got:
        by_key[message.key].append(message)
    for key, messages in by_key.items():
        if key is None:
            continue
        assert len({m.partition for m in messages}) == 1, f"{key!r} moved between partitions"
        assert [m.value for m in messages] == [v for k, v in sent if k == key]
    by_partition: dict[int, list[int]] = defaultdict(list)
    for message in got:
        by_partition[message.partition].append(message.offset)
    for offsets in by_partition.values():
        assert offsets == sorted(set(offsets)), "offsets must increase within a partition"
    if backend.name == "sqlite":  # the embedded log promises more: CRC-32 partitions, dense offsets
        assert all(m.partition == partition_for(m.key, PARTITIONS) for m in got)
        assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())


def test_new_consumer_resumes_after_the_commit(backend: Backend) -> None:
    topic, group = backend.topic(), backend.group()
    backend.log.produce(topic, keyed(10, keys=3))
    backend.log.flush()
    first = backend.log.consumer(group, [topic])
    got = drain(first, 10)
    assert len(got) == 10
    first.commit(got[:6])  # a prefix of each partition: polls keep partition order
    first.close()

    second = backend.open_log().consumer(group, [topic])
    rest = drain(second, 4)
    assert sorted(m.value for m in rest) == sorted(m.value for m in got[6:])
    assert second.poll(100, 0.5) == []
    second.close()


def test_without_a_commit_a_new_consumer_gets_the_messages_again(backend: Backend) -> None:
    topic, group = backend.topic(), backend.group()
    backend.log.produce(topic, keyed(5, keys=5))
    backend.log.flush()
    first = backend.log.consumer(group, [topic])
    got = drain(first, 5)
    assert len(got) == 5
    assert first.poll(100, 0.3) == [], "one consumer must not see a message twice"
    first.close()

    second = backend.log.consumer(group, [topic])
    again = drain(second, 5)
    second.close()
    assert sorted((m.partition, m.offset, m.value) for m in again) == sorted(
        (m.partition, m.offset, m.value) for m in got
    )


def test_groups_are_independent(backend: Backend) -> None:
    topic, group_a, group_b = backend.topic(), backend.group(), backend.group()
    backend.log.produce(topic, keyed(8, keys=4))
    backend.log.flush()
    a = backend.log.consumer(group_a, [topic])
    a.commit(drain(a, 8))
    a.close()

    b = backend.log.consumer(group_b, [topic])
    assert len(drain(b, 8)) == 8
    b.close()
    a_again = backend.log.consumer(group_a, [topic])
    assert a_again.poll(100, 2.5 if backend.name == "kafka" else 0.2) == []  # join, then nothing
    a_again.close()


def test_lag_falls_to_zero_once_everything_is_committed(backend: Backend) -> None:
    topic = backend.topic()
    backend.log.produce(topic, keyed(30, keys=6))
    backend.log.flush()
    consumer = backend.log.consumer(backend.group(), [topic])
    before = consumer.lag()
    assert set(before) <= {(topic, p) for p in range(PARTITIONS)}
    assert all(value >= 0 for value in before.values())
    if backend.exact_lag:
        assert sum(before.values()) == 30
    got = drain(consumer, 30)
    assert len(got) == 30
    halfway = {(m.partition, m.offset) for m in got[:15]}
    consumer.commit(got[:15])
    if backend.exact_lag:
        assert sum(consumer.lag().values()) == 30 - len(halfway)
    consumer.commit(got)
    deadline = time.monotonic() + 5
    while (lag := consumer.lag()) and any(lag.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lag and all(value == 0 for value in lag.values())
    consumer.close()


def test_group_lag_is_read_without_joining_the_group(backend: Backend) -> None:
    topic, group = backend.topic(), backend.group()
    backend.log.produce(topic, keyed(30, keys=6))
    backend.log.flush()
    reader = backend.open_log()
    before = reader.group_lag(group, [topic, "no-such-topic"])
    assert set(before) == {(topic, p) for p in range(PARTITIONS)}
    if backend.exact_lag:
        assert sum(before.values()) == 30
    consumer = backend.log.consumer(group, [topic])  # not refused: the reader never joined
    got = drain(consumer, 30)
    consumer.commit(got)
    deadline = time.monotonic() + 5
    while any((lag := reader.group_lag(group, [topic])).values()) and time.monotonic() < deadline:
        time.sleep(0.1)  # while the consumer still holds the group
    assert set(lag) == set(before) and not any(lag.values())
    assert reader.group_lag(group, []) == {}
    consumer.close()


def test_poll_times_out_with_nothing_and_returns_as_soon_as_there_is(backend: Backend) -> None:
    topic = backend.topic()
    consumer = backend.log.consumer(backend.group(), [topic])
    started = time.monotonic()
    assert consumer.poll(10, 0.4) == []
    assert 0.35 <= time.monotonic() - started < 2.0
    backend.log.produce(topic, [(b"k", b"v")])
    backend.log.flush()
    assert [m.value for m in drain(consumer, 1)] == [b"v"]
    consumer.close()


# ---- the embedded log -----------------------------------------------------------------------

PRODUCER_UNTIL_KILLED = """
import sys
from pathlib import Path
from okr_pipeline.stream.sqlite_log import SqliteEventLog

log = SqliteEventLog(Path(sys.argv[1]), 3)
log.ensure_topics(["events"])
total = 0
while True:
    total += log.produce("events", [(b"k%d" % (i % 7), b"%d" % (total + i)) for i in range(200)])
    print(total, flush=True)  # acknowledged: produce returned
"""

PRODUCER = """
import sys, time
from pathlib import Path
from okr_pipeline.stream.sqlite_log import SqliteEventLog

log = SqliteEventLog(Path(sys.argv[1]), 3)
for batch in range(20):
    log.produce("events", [(b"k%d" % (i % 5), b"%d" % (batch * 250 + i)) for i in range(250)])
    time.sleep(0.02)  # so the consumer catches up and waits in between
log.close()
"""

CONSUMER = """
import json, sys, time
from pathlib import Path
from okr_pipeline.stream.sqlite_log import SqliteEventLog

log = SqliteEventLog(Path(sys.argv[1]), 3)
consumer = log.consumer("workers", ["events"])
got, deadline = [], time.monotonic() + 30
while len(got) < 5000 and time.monotonic() < deadline:
    batch = consumer.poll(300, 0.2)
    consumer.commit(batch)
    got += [[m.key.decode(), int(m.value)] for m in batch]
print(json.dumps(got))
"""


def run_python(code: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], text=True, **kwargs
    )


def test_sqlite_log_keeps_what_was_produced_when_the_producer_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    child = run_python(PRODUCER_UNTIL_KILLED, str(path), stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        acknowledged = 0
        while acknowledged < 3000:
            line = child.stdout.readline()
            assert line, "the producer died on its own"
            acknowledged = int(line)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    with SqliteEventLog(path, 3) as log, log.consumer("after", ["events"]) as consumer:
        got = drain(consumer, acknowledged, timeout=5)
        got += consumer.poll(100_000, 0)  # and whatever came after the last line read
    values = sorted(int(m.value) for m in got)
    assert values[:acknowledged] == list(range(acknowledged))
    assert values == list(range(len(values))), "a batch must be all there or not at all"
    per_partition: dict[int, list[int]] = defaultdict(list)
    for message in got:
        per_partition[message.partition].append(message.offset)
    assert all(offsets == list(range(len(offsets))) for offsets in per_partition.values())


def test_sqlite_producer_and_consumer_processes_run_at_once(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with SqliteEventLog(path, 3) as log:
        log.ensure_topics(["events"])
    consumer = run_python(CONSUMER, str(path), stdout=subprocess.PIPE)
    producer = run_python(PRODUCER, str(path))
    try:
        assert producer.wait(timeout=30) == 0
        out, _ = consumer.communicate(timeout=40)
    finally:
        producer.kill()
        consumer.kill()
    assert consumer.returncode == 0
    got = json.loads(out)
    assert sorted(value for _, value in got) == list(range(5000))
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, value in got:
        per_key[key].append(value)
    assert all(values == sorted(values) for values in per_key.values())
    with SqliteEventLog(path, 3) as log, log.consumer("workers", ["events"]) as after:
        assert after.lag() == {("events", p): 0 for p in range(3)}


def test_sqlite_poll_interleaves_partitions_fairly(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 3) as log:
        log.ensure_topics(["t"])
        keys = {
            p: next(b"k%d" % i for i in range(99) if partition_for(b"k%d" % i, 3) == p)
            for p in range(3)
        }
        log.produce("t", [(keys[0], b"x")] * 100 + [(keys[1], b"y")] * 100 + [(keys[2], b"z")])
        with log.consumer("g", ["t"]) as consumer:
            batch = consumer.poll(30, 0)
            counts = {p: sum(m.partition == p for m in batch) for p in range(3)}
            assert counts == {0: 15, 1: 14, 2: 1} or counts == {0: 14, 1: 15, 2: 1}
            assert len({m.partition for m in batch[:3]}) == 3, "round robin, not one after another"
            rest = consumer.poll(1000, 0)
            assert len(batch) + len(rest) == 201


def test_sqlite_poll_holds_a_bounded_size_of_values_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_log, "POLL_MAX_BYTES", 10_000)
    with SqliteEventLog(tmp_path / "events.db", 2) as log:
        log.ensure_topics(["t"])
        log.produce("t", [(b"k%d" % i, b"%04d" % i + b"." * 996) for i in range(50)])
        with log.consumer("g", ["t"]) as consumer:
            batches = [consumer.poll(1000, 0) for _ in range(6)]
    assert [len(b) for b in batches] == [10, 10, 10, 10, 10, 0]
    assert sorted(m.value[:4] for b in batches for m in b) == [b"%04d" % i for i in range(50)]
    with SqliteEventLog(tmp_path / "big.db", 1) as log:  # one message larger than the bound
        log.ensure_topics(["t"])
        log.produce("t", [(None, b"x" * 20_000), (None, b"y")])
        with log.consumer("g", ["t"]) as consumer:
            assert [len(consumer.poll(10, 0)) for _ in range(2)] == [1, 1]


def test_sqlite_commit_never_moves_backwards(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["t"])
        log.produce("t", keyed(10, keys=1))
        with log.consumer("g", ["t"]) as consumer:
            got = consumer.poll(10, 0)
            consumer.commit(got)
            consumer.commit(got[:3])
            assert consumer.lag() == {("t", 0): 0}
        with log.consumer("g", ["t"]) as consumer:
            assert consumer.poll(10, 0) == []


def test_sqlite_unknown_topic_is_a_clear_error(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "events.db", 3) as log:
        with pytest.raises(OkrError, match="no topic 'missing'; call ensure_topics"):
            log.produce("missing", [(b"k", b"v")])
        with pytest.raises(OkrError, match="no topic"):
            log.consumer("g", ["missing"])
        log.ensure_topics(["t", "t"])
        log.ensure_topics(["t"])  # idempotent
        assert log.produce("t", []) == 0


# ---- Kafka ----------------------------------------------------------------------------------


def test_unreachable_broker_is_a_clear_error_within_seconds(unused_tcp_port: int) -> None:
    settings = kafka_settings(f"127.0.0.1:{unused_tcp_port}")
    log = KafkaEventLog(settings, timeout_s=1.5, delivery_timeout_s=1.5)
    started = time.monotonic()
    with pytest.raises(OkrError, match=r"cannot reach the Kafka broker at 127\.0\.0\.1:\d+"):
        log.ensure_topics(["t"])
    assert time.monotonic() - started < 5
    started = time.monotonic()
    log.produce("t", [(b"k", b"v")])
    with pytest.raises(OkrError, match=r"not delivered|not acknowledged"):
        log.flush()
    assert time.monotonic() - started < 6


def test_failed_authentication_is_a_clear_error_within_seconds(
    tansu_auth_broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "wrong")
    settings = load_settings(
        stream={
            "backend": "kafka",
            "bootstrap_servers": tansu_auth_broker,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "nobody",
        }
    )
    log = KafkaEventLog(settings, timeout_s=1.5)
    expected = r"authentication with the Kafka broker at 127\.0\.0\.1:\d+ failed .*sasl_username"
    started = time.monotonic()
    with pytest.raises(OkrError, match=expected):
        log.ensure_topics(["t"])
    assert time.monotonic() - started < 5
    consumer = log.consumer("g", ["t"])
    started = time.monotonic()
    with pytest.raises(OkrError, match=expected):
        consumer.poll(10, 4)
    assert time.monotonic() - started < 5
    consumer.close()


def test_sasl_password_comes_only_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kafka = {
        "backend": "kafka",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "okr",
    }
    with pytest.raises(ConfigError, match=PASSWORD_VARIABLE):
        client_config(load_settings(stream=kafka), timeout_s=1)
    monkeypatch.setenv(PASSWORD_VARIABLE, "s3cret")
    settings = load_settings(stream=kafka)
    config = client_config(settings, timeout_s=1)
    assert config["sasl.username"] == "okr"
    assert config["sasl.password"] == "s3cret"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert "s3cret" not in json.dumps(settings.redacted())
    in_file = tmp_path / "c.json"
    in_file.write_text(json.dumps({"stream": {"sasl_password": "s3cret"}}))
    monkeypatch.setenv("OKR_CONFIG", str(in_file))
    with pytest.raises(ConfigError, match="only in the environment"):
        load_settings()


def test_open_event_log_follows_the_configured_backend(tmp_path: Path) -> None:
    sqlite = open_event_log(load_settings())
    assert isinstance(sqlite, SqliteEventLog)
    assert sqlite.path == load_settings().data_dir / "events.db"
    assert sqlite.partitions == 3
    sqlite.close()
    kafka = open_event_log(kafka_settings("127.0.0.1:9"))  # clients connect lazily
    assert isinstance(kafka, KafkaEventLog)
    kafka.close()
