"""Retention of the stream (`stream.retention`): the embedded log, processed event ids and dead
letters pruned by age or size, by `okr stream prune`, the ETL run and the consumer (`PruneTimer`,
every `interval_minutes`).

- The embedded log: each partition of each topic loses its oldest messages, never one that a
  group that committed on the topic has not committed past, nor on the events topic one that
  `stream.group` (the warehouse's) has not, even before it first commits
  (`SqliteEventLog.prune`). On Kafka the broker prunes its topics itself (retention.ms); nothing
  is done to them here.
- Processed event ids: a redelivered event is a no-op while its id is kept, and a message can be
  redelivered as long as a log holds it. So an id goes once it is older than
  `processed_ids_max_age_hours` (the settings refuse less than the log's or the broker's
  retention) and the events topic holds no message from before it was processed (a lagging
  group keeps messages past the log's age limit). Never one a kept dead letter refers to.
- Dead letters: only those already on the dead-letter topic.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.stream.log import EventLog
from okr_pipeline.stream.sqlite_log import SqliteEventLog
from okr_pipeline.stream.status import oldest_kept_ms
from okr_pipeline.warehouse import prune_dead_letters, prune_processed_events

__all__ = ["PruneTimer", "Pruned", "prune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    log_messages: dict[str, int]  # per topic of the embedded log ({} on Kafka)
    processed_ids: int
    dead_letters: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "log_messages": dict(sorted(self.log_messages.items())),
            "processed_ids": self.processed_ids,
            "dead_letters": self.dead_letters,
            "seconds": round(self.seconds, 3),
        }


def prune(
    settings: Settings, engine: Engine, event_log: EventLog, *, now: datetime | None = None
) -> Pruned:
    """Apply `stream.retention` as of `now` (naive UTC; default: now)."""
    retention = settings.stream.retention
    now = now or now_utc()
    started = time.monotonic()
    chunk = retention.chunk_size
    dropped = {}
    if isinstance(event_log, SqliteEventLog):
        dropped = event_log.prune(
            before_ms=_ms(_before(now, retention.log_max_age_hours)),
            keep=retention.log_max_messages,
            chunk=chunk,
            # the warehouse's group holds the events topic even before its first commit
            readers={settings.stream.topics.events: [settings.stream.group]},
        )
    # letters first: the ids of those that went may go below
    letters = prune_dead_letters(
        engine,
        _before(now, retention.dead_letters_max_age_hours),
        retention.dead_letters_max_count,
        chunk,
    )
    processed = 0
    before = _before(now, retention.processed_ids_max_age_hours)
    if before is not None:
        oldest = oldest_kept_ms(event_log, settings.stream.topics.events)
        if oldest is not None:
            before = min(before, datetime.fromtimestamp(oldest / 1000, UTC).replace(tzinfo=None))
        processed = prune_processed_events(engine, before, chunk)
    return Pruned(dropped, processed, letters, time.monotonic() - started)


class PruneTimer:
    """Called often (the consumer: once a batch), prunes once `interval_minutes` have passed
    since it was made or last pruned; never when the interval is null."""

    def __init__(self, settings: Settings, engine: Engine, event_log: EventLog) -> None:
        self.settings = settings
        self.engine = engine
        self.event_log = event_log
        minutes = settings.stream.retention.interval_minutes
        self.interval_s = None if minutes is None else minutes * 60
        self._last = time.monotonic()

    def __call__(self) -> Pruned | None:
        if self.interval_s is None or time.monotonic() - self._last < self.interval_s:
            return None
        pruned = prune(self.settings, self.engine, self.event_log)
        self._last = time.monotonic()
        log.info("retention: %s", pruned.as_dict())
        return pruned


def _before(now: datetime, hours: float | None) -> datetime | None:
    return None if hours is None else now - timedelta(hours=hours)


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.replace(tzinfo=UTC).timestamp() * 1000)
