"""How far the stream's consumer group that writes the warehouse is behind, per partition of
the events topic, read without joining the group (as monitoring reads it)."""

from __future__ import annotations

from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.stream import warehouse_group_lag

__all__ = ["stream_lag"]


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
