"""The consumer: event log -> warehouse, batch by batch, exactly once in effect.

Each batch: poll -> apply in one warehouse transaction (applier) -> publish new dead letters to
the dead-letter topic (an outbox: the warehouse holds them first, so a crash only delays them) ->
commit the offsets -> hand the open key results the batch touched to `live_scores`, if given (the
command wires model.live_scores: this layer knows nothing of models). A stop request (SIGTERM,
SIGINT) is honoured between batches. Every `stream.retention.interval_minutes` the log and the
stream's bookkeeping are pruned between batches (`retention`).

On SQLite another writer (an ingest) may hold the one write lock for minutes, longer than the
busy timeout: the batch's transaction then rolled back whole, so it is tried again, after a pause,
until the lock is free or a stop is requested (its messages, not committed, come again).
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, RowMapping, select, update
from sqlalchemy.exc import OperationalError

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.stream.applier import BatchResult, apply_batch
from okr_pipeline.stream.log import EventLog, Message
from okr_pipeline.stream.parked_rows import ParkedRows
from okr_pipeline.stream.read_ahead import ReadAhead
from okr_pipeline.stream.retention import PruneTimer
from okr_pipeline.warehouse import dead_letters, sqlite_busy

__all__ = ["ConsumeSummary", "LiveScores", "consume", "publish_dead_letters"]

log = logging.getLogger(__name__)
# Called after each batch with the open key results it touched, and once at the end (`final`):
# re-scores them and returns how many it did (model.live_scores, wired by the command).
LiveScores = Callable[[set[str], bool], int]
BUSY_PAUSE_SECONDS = 1.0  # before a batch the busy warehouse refused is tried again
T = TypeVar("T")
P = ParamSpec("P")


class _Stopped(Exception):
    """A stop was requested while the warehouse was busy."""


def _when_free(stop: threading.Event, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(...)`, tried again while SQLite's write lock stays taken past the busy timeout."""
    while True:
        try:
            return work(*args, **kwargs)
        except OperationalError as exc:
            if not sqlite_busy(exc):
                raise
            log.warning("the warehouse is busy (another writer holds its lock); trying again")
        if stop.wait(BUSY_PAUSE_SECONDS):
            raise _Stopped


@dataclass
class ConsumeSummary:
    consumed: int = 0  # events resolved: stored + duplicates + dead_lettered
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    parked: int = 0  # events of this run still waiting for their parent
    messages: int = 0  # messages polled
    batches: int = 0
    rescored: int = 0
    seconds: float = 0.0
    busy_seconds: float = 0.0  # from the first message polled to the last batch committed
    lag: int = 0

    def add(self, batch: BatchResult) -> None:
        self.stored += batch.stored
        self.duplicates += batch.duplicates
        self.dead_lettered += batch.dead_lettered
        self.consumed += batch.resolved
        self.parked += batch.parked
        self.by_reason.update(batch.by_reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "by_reason": dict(sorted(self.by_reason.items())),
            "parked": self.parked,
            "messages": self.messages,
            "batches": self.batches,
            "rescored": self.rescored,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.messages / self.busy_seconds)
            if self.busy_seconds
            else 0,
            "lag": self.lag,
        }


def publish_dead_letters(engine: Engine, event_log: EventLog, topic: str) -> int:
    """Send the dead letters not yet on the dead-letter topic, then mark them sent. Consumers
    of one group do it at once: on PostgreSQL each holds the rows it sends until they are
    marked, and skips those another holds, so no letter is sent twice."""
    with engine.begin() as conn:
        rows = (
            conn.execute(
                select(dead_letters)
                .where(dead_letters.c.published_at.is_(None))
                .order_by(dead_letters.c.id)
                .with_for_update(skip_locked=True)
            )
            .mappings()
            .all()
        )
        if not rows:
            return 0
        _send(event_log, topic, rows)
        conn.execute(
            update(dead_letters)
            .where(dead_letters.c.id.in_([r["id"] for r in rows]))
            .values(published_at=now_utc())
        )
    return len(rows)


def _send(event_log: EventLog, topic: str, rows: Sequence[RowMapping]) -> None:
    event_log.produce(
        topic,
        [
            (
                f"{r['topic']}/{r['partition']}/{r['offset']}".encode(),
                json.dumps(
                    {
                        "reason": r["reason"],
                        "detail": r["message"],
                        "event_id": r["event_id"],
                        "source": {
                            "topic": r["topic"],
                            "partition": r["partition"],
                            "offset": r["offset"],
                        },
                        "original": r["raw"],
                        "original_base64": base64.b64encode(
                            r["raw"].encode("utf-8", "surrogateescape")
                        ).decode(),
                        # the original is only its start: the whole one's length and hash
                        **(
                            {"original_length": r["raw_length"], "original_sha256": r["raw_sha256"]}
                            if r["raw_length"] is not None
                            else {}
                        ),
                    },
                    ensure_ascii=False,
                ).encode(),
            )
            for r in rows
        ],
    )
    event_log.flush()


def consume(
    settings: Settings,
    engine: Engine,
    event_log: EventLog,
    *,
    group: str,
    max_events: int | None = None,
    until_idle: float | None = None,
    stop: threading.Event | None = None,
    live_scores: LiveScores | None = None,
    drain: bool = False,
    read_ahead: ReadAhead | None = None,
) -> ConsumeSummary:
    """Consume the events topic until `max_events` messages, `until_idle` seconds without
    any, or a stop request; a `drain` also stops where the topic ended when it started.
    `read_ahead`: one started earlier (its worker's imports then overlap the caller's set-up),
    which this closes."""
    stream = settings.stream
    topics = stream.topics
    event_log.ensure_topics(
        [topics.events, topics.dead_letters, topics.alerts, topics.model_updates]
    )
    consumer = event_log.consumer(group, [topics.events], drain=drain)
    log.info("consuming %s as group %s", topics.events, group)
    summary = ConsumeSummary()
    # What exists now (modules, settings, clients) outlives the loop: the collector need not
    # walk it again after every batch (it waits during one, see apply_batch).
    gc.collect()
    gc.freeze()
    started = idle_since = time.monotonic()
    busy_from = 0.0
    stop = stop or threading.Event()
    end: int | None = None  # a drain stops at the messages there were when it started
    prune_when_due = PruneTimer(settings, engine, event_log)

    read_ahead = read_ahead or ReadAhead(settings.limits)
    dates_as_text = engine.dialect.name == "sqlite"  # SQLite stores them as text
    ahead: list[Message] = []  # a batch polled and being prepared while the last is applied
    parked_rows = ParkedRows()
    try:
        read_ahead.start()  # its imports overlap the first poll (on Kafka, the group's join)
        while not stop.is_set():
            _when_free(stop, prune_when_due)
            bound = min(n for n in (max_events, end, math.inf) if n is not None)
            limit = stream.batch_size
            if bound < math.inf:
                limit = min(limit, int(bound) - summary.messages - len(ahead))
            # with a batch ahead, no wait: it is applied at once if nothing more has come
            messages = (
                consumer.poll(limit, 0 if ahead else stream.poll_timeout_seconds)
                if limit > 0
                else []
            )
            if drain and end is None and consumer.ready():  # a Kafka member: once it joined
                # what is not committed yet, including what this poll gave
                end = summary.messages + sum(max(n, 0) for n in consumer.lag().values())
            if messages:
                idle_since = time.monotonic()
                busy_from = busy_from or idle_since
            if not (ahead or messages):
                if limit <= 0:
                    break
                if not consumer.ready():
                    idle_since = time.monotonic()  # joining the group is not being idle
                elif until_idle is not None and time.monotonic() - idle_since >= until_idle:
                    break
                batch = _when_free(
                    stop,
                    apply_batch,
                    engine,
                    [],
                    source=topics.events,
                    park_timeout=stream.park_timeout_seconds,
                    parked_rows=parked_rows,
                )
                summary.add(batch)  # parked events that resolved or timed out meanwhile
                _when_free(stop, publish_dead_letters, engine, event_log, topics.dead_letters)
                continue
            prepared = read_ahead.result(dates_as_text) if ahead else None
            if messages:
                read_ahead.submit(messages, alone=not ahead)
            if ahead:
                batch = _when_free(
                    stop,
                    apply_batch,
                    engine,
                    ahead,
                    source=topics.events,
                    park_timeout=stream.park_timeout_seconds,
                    prepared=prepared,
                    parked_rows=parked_rows,
                )
                _when_free(stop, publish_dead_letters, engine, event_log, topics.dead_letters)
                consumer.commit(ahead)
                summary.messages += len(ahead)
                summary.batches += 1
                summary.add(batch)
                summary.busy_seconds = time.monotonic() - busy_from
                if live_scores is not None:
                    summary.rescored += live_scores(batch.touched_key_results, False)
            ahead = messages
        if live_scores is not None:
            summary.rescored += live_scores(set(), True)
    except _Stopped:
        log.info("stopped while the warehouse was busy: the last batch comes again")
    else:
        summary.lag = sum(max(n, 0) for n in consumer.lag().values())
    finally:
        read_ahead.close()
        gc.unfreeze()
        consumer.close()
        summary.seconds = time.monotonic() - started
    return summary
