"""Use cases about the event stream: publish a bundle or an events file, simulate live
activity, consume the events topic into the warehouse with live re-scoring, prune what the
retention settings no longer keep."""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.core import instant, now_utc
from okr_pipeline.features import load_history, open_at
from okr_pipeline.jobs.live_scores import LiveScores
from okr_pipeline.jobs.progress import Notify, quiet
from okr_pipeline.stream import (
    ConsumeSummary,
    GroupBusyError,
    OpenKeyResult,
    Pruned,
    Published,
    ReadAhead,
    consume,
    events_from_path,
    live_events,
    open_event_log,
    prune,
    publish,
)
from okr_pipeline.warehouse import open_warehouse

__all__ = [
    "Consumed",
    "consume_events",
    "drain_events",
    "produce_events",
    "prune_stream",
    "simulate_activity",
]


def produce_events(settings: Settings, source: Path, rate: float | None = None) -> Published:
    """Publish a bundle's rows (or an events file) as events on the events topic."""
    messages, unreadable = events_from_path(source, settings.limits)
    with closing(open_event_log(settings)) as event_log:
        result = publish(
            event_log,
            settings.stream.topics.events,
            messages,
            rate=rate,
            batch_size=settings.stream.batch_size,
        )
    result.unreadable = unreadable
    return result


def simulate_activity(
    settings: Settings,
    *,
    rate: float,
    seed: int = 0,
    count: int | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
) -> Published:
    """Publish live check-ins and task updates of the key results open now, `rate` a second,
    until `count` events, `duration` seconds or a stop request."""
    events = live_events(_open_key_results(settings), seed)
    if count is not None:
        events = itertools.islice(events, count)
    if duration is not None:
        deadline = time.monotonic() + duration
        events = itertools.takewhile(lambda _: time.monotonic() < deadline, events)
    if stop is not None:
        events = itertools.takewhile(lambda _: not stop.is_set(), events)
    with closing(open_event_log(settings)) as event_log:
        return publish(
            event_log,
            settings.stream.topics.events,
            events,
            rate=rate,
            batch_size=max(1, int(rate)),
        )


def _open_key_results(settings: Settings) -> list[OpenKeyResult]:
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    open_now = (history.key_results[k] for k in open_at(history, now_utc()))
    return [
        OpenKeyResult(kr.id, instant(kr.begin), instant(kr.end), kr.start_value, kr.target_value)
        for kr in open_now
        if not kr.cancelled
    ]


@dataclass(frozen=True)
class Consumed:
    """A consume run's summary and what became of live scores ("on", "off: why", "not asked")."""

    summary: ConsumeSummary
    live_scores: str

    def as_dict(self) -> dict[str, Any]:
        return self.summary.as_dict() | {"live_scores": self.live_scores}


def consume_events(
    settings: Settings,
    *,
    group: str | None = None,
    max_events: int | None = None,
    until_idle: float | None = None,
    rescore: bool = True,
    stop: threading.Event | None = None,
    notify: Notify = quiet,
    drain: bool = False,
) -> Consumed:
    """Events topic -> warehouse, exactly once in effect, dead letters to their topic; the
    open key results a batch touched re-scored by the champion (unless `rescore` is off)."""
    read_ahead = ReadAhead(settings.limits)
    read_ahead.start()  # its worker starts while the warehouse and the log are opened
    try:
        engine = open_warehouse(settings)
        interval = settings.stream.rescore_interval_seconds
        live_scores = LiveScores(settings, engine, interval, notify) if rescore else None
        with closing(open_event_log(settings)) as event_log:
            summary = consume(
                settings,
                engine,
                event_log,
                group=group or settings.stream.group,
                max_events=max_events,
                until_idle=until_idle,
                stop=stop,
                live_scores=live_scores,
                drain=drain,
                read_ahead=read_ahead,
            )
    finally:
        read_ahead.close()  # consume closes it too; not if opening the warehouse failed
    return Consumed(summary, live_scores.state if live_scores else "not asked")


def drain_events(settings: Settings) -> Consumed | None:
    """The events topic consumed up to its current end, as part of a pipeline run; None when
    a consumer of the group is running (`okr consume`): the stream is then its to take."""
    with closing(open_event_log(settings)) as event_log:
        if event_log.group_busy(settings.stream.group):
            return None
    try:
        return consume_events(settings, until_idle=0, rescore=False, drain=True)
    except GroupBusyError:  # it started meanwhile
        return None


def prune_stream(settings: Settings) -> Pruned:
    """The embedded log, processed event ids and dead letters pruned by `stream.retention`."""
    engine = open_warehouse(settings)
    with closing(open_event_log(settings)) as event_log:
        return prune(settings, engine, event_log)
