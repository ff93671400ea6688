"""`okr stream status` and `okr stream prune`: per group the lag and the oldest event not yet
consumed, per partition, and what the log holds, on the embedded log and on Kafka (a Tansu
broker); their --json documents; a log that cannot be read is one clear line and exit 1."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from okr_pipeline.cli import main
from okr_pipeline.config import load_settings
from okr_pipeline.errors import OkrError
from okr_pipeline.stream.kafka import KafkaEventLog
from okr_pipeline.stream.log import EventLog, Message
from okr_pipeline.stream.sqlite_log import SqliteEventLog
from okr_pipeline.stream.status import topic_status

pytest_plugins = ["broker"]

PARTITIONS = 3
MESSAGES = 30


@pytest.fixture(params=["sqlite", "kafka"])
def event_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    if request.param == "sqlite":
        log: EventLog = SqliteEventLog(tmp_path / "events.db", PARTITIONS)
    else:
        settings = load_settings(
            stream={
                "backend": "kafka",
                "bootstrap_servers": request.getfixturevalue("tansu_broker"),
                "partitions": PARTITIONS,
            }
        )
        log = KafkaEventLog(settings, timeout_s=5.0, session_timeout_ms=2000)
    yield log
    log.close()


def _read(log: EventLog, group: str, topic: str, commit_first_only: bool = False) -> list[Message]:
    """Poll as `group` until every message came (a Kafka consumer first joins its group), then
    commit them, or only the first of each partition."""
    consumer = log.consumer(group, [topic])
    got: list[Message] = []
    deadline = time.monotonic() + 20
    while len(got) < MESSAGES and time.monotonic() < deadline:
        got += consumer.poll(100, 0.5)
    consumer.commit(list(_firsts(got).values()) if commit_first_only else got)
    consumer.close()
    return got


def _firsts(messages: list[Message]) -> dict[int, Message]:
    """The first message of each partition."""
    firsts: dict[int, Message] = {}
    for message in sorted(messages, key=lambda m: m.offset):
        firsts.setdefault(message.partition, message)
    return firsts


def test_status_tells_each_groups_lag_and_oldest_unconsumed_event(event_log: EventLog):
    exact = isinstance(event_log, SqliteEventLog)  # Tansu's high watermarks can be stale
    topic = f"t-{uuid.uuid4().hex[:8]}"
    event_log.ensure_topics([topic])
    before_ms = time.time_ns() // 1_000_000
    event_log.produce(topic, [(b"k%d" % i, b"v%d" % i) for i in range(MESSAGES)])
    event_log.flush()
    assert len(_read(event_log, "done", topic)) == MESSAGES
    firsts = _firsts(_read(event_log, "behind", topic, commit_first_only=True))

    status = topic_status(event_log, topic, ["configured"])
    groups = {g["group"]: g for g in status["groups"]}
    assert set(groups) == {"done", "behind", "configured"}

    done = groups["done"]
    assert done["committed"] and done["lag"] == 0 and done["oldest_unconsumed_at"] is None
    behind = groups["behind"]
    for part in behind["partitions"]:
        first = firsts.get(part["partition"])
        if first is None:  # no key landed there
            assert part["lag"] == 0 and part["oldest_unconsumed_offset"] is None
            continue
        assert part["committed_offset"] == first.offset + 1
        assert part["oldest_unconsumed_offset"] == first.offset + 1
        assert part["lag"] >= 1
        at = datetime.fromisoformat(part["oldest_unconsumed_at"]).replace(tzinfo=UTC)
        assert before_ms - 1000 <= at.timestamp() * 1000 <= time.time() * 1000
        assert part["oldest_unconsumed_age_seconds"] >= 0
    configured = groups["configured"]
    assert not configured["committed"]
    assert all(p["committed_offset"] is None for p in configured["partitions"])
    assert configured["oldest_unconsumed_at"] == status["log"]["oldest_kept_at"] is not None
    if exact:
        assert behind["lag"] == MESSAGES - len(firsts)
        assert configured["lag"] == status["log"]["messages"] == MESSAGES
        assert {p["partition"]: p["low"] for p in status["log"]["partitions"]} == dict.fromkeys(
            range(PARTITIONS), 0
        )


def test_status_of_a_missing_topic_is_a_clear_error(event_log: EventLog):
    with pytest.raises(OkrError, match="no topic 'nowhere"):
        topic_status(event_log, f"nowhere-{uuid.uuid4().hex[:6]}")


def test_status_counts_from_the_oldest_message_kept(tmp_path: Path):
    with SqliteEventLog(tmp_path / "events.db", 1) as log:
        log.ensure_topics(["t"])
        log.produce("t", [(None, b"x")] * 10)
        with log.consumer("g", ["t"]) as consumer:
            consumer.commit([Message("t", 0, 5, None, b"", 0)])
        log.prune(before_ms=None, keep=2, chunk=100)
        status = topic_status(log, "t", ["new"])
    assert status["log"]["messages"] == 4 and status["log"]["partitions"][0]["low"] == 6
    groups = {g["group"]: g["partitions"][0] for g in status["groups"]}
    assert groups["g"]["lag"] == 4 and groups["g"]["oldest_unconsumed_offset"] == 6
    assert groups["new"]["lag"] == 4 and groups["new"]["oldest_unconsumed_offset"] == 6


# ---- the commands -----------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_status_and_prune_commands(monkeypatch: pytest.MonkeyPatch, contract_bundle: Path):
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.1")
    assert _run("produce", "--from", str(contract_bundle))[0] == 0
    code, out, err = _run("consume", "--max-events", "10", "--no-rescore", "--until-idle", "0")
    assert code == 0, err

    code, out, _ = _run("stream", "status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["backend"] == "sqlite" and status["topic"] == "okr.events"
    assert status["log"]["messages"] == 40
    (group,) = status["groups"]
    assert group["group"] == "okr-warehouse" and group["committed"] and group["lag"] == 30
    assert len(group["partitions"]) == 3
    assert set(group["partitions"][0]) == {
        "partition",
        "committed_offset",
        "lag",
        "oldest_unconsumed_offset",
        "oldest_unconsumed_at",
        "oldest_unconsumed_age_seconds",
    }
    code, text, _ = _run("stream", "status")
    oldest = group["oldest_unconsumed_at"]
    assert code == 0 and f"group okr-warehouse: lag 30, oldest unconsumed {oldest} UTC (" in text

    # keep one message per partition: but none the group has not committed
    monkeypatch.setenv("OKR_STREAM__RETENTION__LOG_MAX_MESSAGES", "1")
    code, out, _ = _run("stream", "prune", "--json")
    assert code == 0
    pruned = json.loads(out)
    assert set(pruned) == {"log_messages", "processed_ids", "dead_letters", "seconds"}
    assert pruned["log_messages"]["okr.events"] == 10
    code, out, _ = _run("stream", "status", "--json")
    after = json.loads(out)
    assert after["log"]["messages"] == 30 and after["groups"][0]["lag"] == 30
    code, text, _ = _run("stream", "prune")
    assert code == 0 and text.startswith("pruned 0 log messages")


def test_a_log_that_cannot_be_read_is_a_clear_error(tmp_path: Path):
    code, _, err = _run("stream", "status")  # nothing produced yet
    assert code == 1 and "no topic 'okr.events'" in err
    log_file = load_settings().data_dir / "events.db"
    log_file.write_bytes(b"not a database, " * 512)
    for command in ("status", "prune"):
        code, out, err = _run("stream", command, "--json")
        assert code == 1 and out == ""
        assert err.startswith("Error: ") and str(log_file) in err and "Traceback" not in err


def test_an_unreachable_broker_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
):
    monkeypatch.setenv("OKR_STREAM__BACKEND", "kafka")
    monkeypatch.setenv("OKR_STREAM__BOOTSTRAP_SERVERS", f"127.0.0.1:{unused_tcp_port}")
    code, _, err = _run("stream", "status", "--json")
    assert code == 1 and "cannot reach the Kafka broker" in err and "Traceback" not in err
