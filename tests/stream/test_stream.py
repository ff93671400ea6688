"""The stream path end to end, on the embedded log and on Kafka (a Tansu broker): a bundle
published as events lands in the warehouse as its file ingestion would; redelivery and restarts
change nothing; dead letters reach their topic; SIGTERM stops cleanly; SIGKILL loses nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from okr_pipeline.config import Settings, load_settings
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.stream.consumer import consume
from okr_pipeline.stream.kafka import KafkaEventLog
from okr_pipeline.stream.log import EventLog
from okr_pipeline.stream.producer import events_from_path, publish
from okr_pipeline.stream.sqlite_log import SqliteEventLog
from okr_pipeline.warehouse.engine import open_warehouse
from okr_pipeline.warehouse.tables import ENTITY_TABLES, dead_letters, parked_events
from processes import okr

pytest_plugins = ["broker"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("messy")
    return out, generate_bundle(out, seed=5, scale=0.08, messy=True, as_of=date(2026, 5, 20))


@pytest.fixture(params=["sqlite", "kafka"])
def stream(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Settings, EventLog]]:
    """Settings with fresh topics, and an event log of the backend."""
    suffix = uuid.uuid4().hex[:8]
    for name in ("events", "dead_letters", "alerts", "model_updates"):
        monkeypatch.setenv(f"OKR_STREAM__TOPICS__{name.upper()}", f"{name}-{suffix}")
    monkeypatch.setenv("OKR_STREAM__BATCH_SIZE", "300")
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.3")
    if request.param == "kafka":
        monkeypatch.setenv("OKR_STREAM__BACKEND", "kafka")
        monkeypatch.setenv("OKR_STREAM__BOOTSTRAP_SERVERS", request.getfixturevalue("tansu_broker"))
        settings = load_settings()
        log: EventLog = KafkaEventLog(settings, timeout_s=5, session_timeout_ms=2000)
    else:
        settings = load_settings()
        log = SqliteEventLog(tmp_path / "events.db", settings.stream.partitions)
    yield settings, log
    log.close()


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _consume(settings: Settings, log: EventLog, engine: Engine, **options):
    options.setdefault("until_idle", 3.0 if settings.stream.backend == "kafka" else 1.0)
    return consume(settings, engine, log, group=settings.stream.group, **options)


def test_a_published_bundle_lands_as_its_file_ingestion_would(stream, messy):
    settings, log = stream
    bundle, manifest = messy
    messages, unreadable = events_from_path(bundle)
    published = publish(log, settings.stream.topics.events, messages)
    assert unreadable == 0
    engine = open_warehouse(settings)
    first = _consume(settings, log, engine)
    assert first.messages == published.published and first.lag == 0
    # orphans wait for parents that never come; with no more waiting they are dead letters
    no_wait = settings.model_copy(
        update={"stream": settings.stream.model_copy(update={"park_timeout_seconds": 0.0})}
    )
    last = _consume(no_wait, log, engine, until_idle=0.5)
    assert _count(engine, parked_events) == 0
    total = first.consumed + last.consumed
    assert total == published.published
    assert first.stored + first.duplicates + first.dead_lettered == first.consumed
    for entity, expected in manifest["expected"].items():
        assert _count(engine, ENTITY_TABLES[entity]) == expected["stored"], entity
    with engine.connect() as conn:
        letters = Counter(conn.execute(select(dead_letters.c.reason)).scalars())
    expected_reasons = Counter()
    for counts in manifest["expected"].values():
        expected_reasons.update(counts["by_reason"])
    assert letters == expected_reasons

    again = publish(log, settings.stream.topics.events, events_from_path(bundle)[0])
    redelivered = _consume(settings, log, engine)
    assert redelivered.messages == again.published
    assert redelivered.duplicates == again.published and redelivered.stored == 0


def test_dead_letters_reach_their_topic_once(stream):
    settings, log = stream
    publish(log, settings.stream.topics.events, [(None, b"{oops"), (b"k", b"[1]")])
    engine = open_warehouse(settings)
    summary = _consume(settings, log, engine)
    assert summary.dead_lettered == 2 and summary.by_reason == {"malformed_event": 2}
    reader = log.consumer("dlq-reader", [settings.stream.topics.dead_letters])
    letters, deadline = [], time.monotonic() + 15
    while len(letters) < 2 and time.monotonic() < deadline:
        letters += reader.poll(10, 0.5)
    reader.close()
    bodies = sorted((json.loads(m.value) for m in letters), key=lambda b: b["original"])
    assert [b["original"] for b in bodies] == ["[1]", "{oops"]
    assert {b["reason"] for b in bodies} == {"malformed_event"}
    assert all(b["source"]["topic"] == settings.stream.topics.events for b in bodies)
    _consume(settings, log, engine, until_idle=0.5)  # nothing new: nothing published again
    assert _count(engine, dead_letters) == 2


def test_a_restart_picks_up_where_the_commit_left(stream, messy):
    settings, log = stream
    bundle, manifest = messy
    published = publish(log, settings.stream.topics.events, events_from_path(bundle)[0])
    engine = open_warehouse(settings)
    part = _consume(settings, log, engine, max_events=700)
    assert part.messages == 700
    rest = _consume(settings, log, engine)
    assert part.messages + rest.messages == published.published
    assert (
        _count(engine, ENTITY_TABLES["objectives"]) == manifest["expected"]["objectives"]["stored"]
    )


def test_sigterm_finishes_the_batch_and_exits_cleanly(tmp_path: Path):
    env = {**os.environ, "OKR_DATA_DIR": str(tmp_path / "data")}
    consumer = okr("-v", "consume", "--json", "--no-rescore", env=env)
    for line in consumer.stderr:  # wait until it is consuming (start-up takes seconds)
        if "consuming" in line:
            break
    consumer.send_signal(signal.SIGTERM)
    out, err = consumer.communicate(timeout=30)
    assert consumer.returncode == 0, err
    assert json.loads(out)["consumed"] == 0


@pytest.mark.parametrize("mix", ["check-ins", "realistic"])
def test_sigkill_loses_and_duplicates_nothing(tmp_path: Path, mix: str):
    """The chaos bench at a small size: the consumer killed mid-stream, three times on the
    check-ins (the warehouse reconciles with what was sent), twice on the realistic mix (it
    equals what a consumer never killed stores)."""
    sys.path.insert(0, str(REPO / "bench"))
    import chaos_stream

    result = chaos_stream.run(
        tmp_path / "data",
        kills=3 if mix == "check-ins" else 2,
        env={"OKR_STREAM__BATCH_SIZE": "200"},
        events=12000,
        mix=mix,
        scale=0.4,
    )
    assert result["ok"], result
    assert result["killed"] >= 2  # the runs were killed, not finished on their own


def test_a_drain_stops_where_the_topic_ended_when_it_started(stream, messy):
    """Events published while a pipeline drains the topic are left to the next reader."""
    settings, log = stream
    engine = open_warehouse(settings)
    topic = settings.stream.topics.events
    messages = list(events_from_path(messy[0], settings.limits)[0])
    first, later = messages[:600], messages[600:1200]
    publish(log, topic, first)
    published_during: list[int] = []

    def publish_more(touched: set[str], final: bool) -> int:  # after each batch
        if not published_during:
            published_during.append(publish(log, topic, later).published)
        return 0

    drained = _consume(settings, log, engine, until_idle=None, drain=True, live_scores=publish_more)
    rest = _consume(settings, log, engine)
    assert published_during == [600] and drained.messages + rest.messages == 1200
    if settings.stream.backend == "sqlite":
        assert drained.messages == 600
    else:  # Tansu reports stale high watermarks: a drain may stop early, never late
        assert 0 < drained.messages <= 600


def test_a_batch_waits_while_another_writer_holds_sqlite(tmp_path: Path, monkeypatch):
    """An ingest may hold SQLite's write lock past the busy timeout: the consumer tries the
    batch again once the lock is free, and a stop meanwhile ends it cleanly, nothing lost."""
    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OKR_WAREHOUSE__SQLITE_BUSY_TIMEOUT_MS", "100")
    monkeypatch.setattr("okr_pipeline.stream.consumer.BUSY_PAUSE_SECONDS", 0.1)
    settings = load_settings()
    engine = open_warehouse(settings)
    log = SqliteEventLog(tmp_path / "events.db", settings.stream.partitions)
    objective = {"title": "Grow", "period_start": "2026-04-01", "period_end": "2026-06-30"}
    events = [
        (
            f"O-{i}".encode(),
            json.dumps(
                {
                    "event_id": f"o-{i}",
                    "event_type": "objective.upserted",
                    "payload": {"objective_id": f"O-{i}", **objective},
                }
            ).encode(),
        )
        for i in range(5)
    ]
    publish(log, settings.stream.topics.events, events)

    def consume_while_locked(stop: threading.Event | None = None, hold: float = 1.0):
        holder = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as an ingest's transaction takes it
        release = threading.Timer(hold, lambda: holder.execute("COMMIT"))
        release.start()
        try:
            return _consume(settings, log, engine, until_idle=0.5, stop=stop)
        finally:
            release.join()
            holder.close()

    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    stopped = consume_while_locked(stop, hold=2.0)
    assert stopped.messages == 0 and _count(engine, ENTITY_TABLES["objectives"]) == 0
    summary = consume_while_locked()
    assert (summary.messages, summary.stored) == (5, 5)
    assert _count(engine, ENTITY_TABLES["objectives"]) == 5
    log.close()
