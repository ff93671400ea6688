"""The stream's state, read without joining any group: how far the consumer group that writes
the warehouse is behind (as monitoring reads it), and the events topic as a whole (`okr stream
status`)."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.stream import open_event_log, topic_status, warehouse_group_lag

__all__ = ["stream_lag", "stream_status"]


def stream_lag(settings: Settings) -> dict[str, Any]:
    """The lag of `stream.group` on the events topic: per partition and in total. An event log
    that cannot be read is told as `error` (the page shows why) rather than raised."""
    group, topic = settings.stream.group, settings.stream.topics.events
    found: dict[str, Any] = {
        "backend": settings.stream.backend,
        "group": group,
        "topic": topic,
        "partitions": [],
        "total": None,
        "error": None,
    }
    try:
        lag = warehouse_group_lag(settings)
    except OkrError as exc:
        found["error"] = str(exc)
        return found
    found["partitions"] = [
        {"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(lag.items())
    ]
    found["total"] = sum(lag.values())
    return found


def stream_status(settings: Settings) -> dict[str, Any]:
    """The events topic: the messages the log holds, and per consumer group that committed on it
    (and `stream.group` in any case) the lag and the oldest event not yet consumed, per
    partition. Raises OkrError when the log cannot be read."""
    with closing(open_event_log(settings)) as event_log:
        found = topic_status(event_log, settings.stream.topics.events, [settings.stream.group])
    return {"backend": settings.stream.backend} | found
