"""A topic of the event log as it stands: what it holds (messages, the oldest still kept) and, per
consumer group, how far behind it is and since when (its oldest event not yet committed).

Read through the event-log interface, so the same on every backend, and without joining any
group. A group's events not yet consumed start at its committed offset, or at the oldest kept
for a group that has not committed on a partition. On Kafka the message found there also bounds
the head from below: some brokers (Tansu) report a stale high watermark.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from okr_pipeline.errors import OkrError
from okr_pipeline.stream.log import EventLog

__all__ = ["oldest_kept_ms", "topic_status"]


def topic_status(
    event_log: EventLog, topic: str, groups: Sequence[str] = (), *, now_ms: int | None = None
) -> dict[str, Any]:
    """The topic's log and its groups: those that committed on it, and `groups` (e.g. the one
    configured) even if they have not. Raises OkrError when the topic does not exist or the
    log cannot be read."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    marks = event_log.watermarks(topic)
    if not marks:
        raise OkrError(f"the event log has no topic {topic!r}: nothing was produced to it yet")
    committed = event_log.committed_offsets(topic)
    oldest = event_log.first_messages(topic, {part: low for part, (low, _) in marks.items()})
    log_parts = [
        {
            "partition": part,
            "low": low,
            "high": high,
            "messages": high - low,
            **_moment("oldest_kept", oldest.get(part), now_ms),
        }
        for part, (low, high) in sorted(marks.items())
    ]
    return {
        "topic": topic,
        "log": {
            "messages": sum(p["messages"] for p in log_parts),
            **_moment("oldest_kept", _earliest(oldest), now_ms),
            "partitions": log_parts,
        },
        "groups": [
            _group(event_log, topic, group, marks, committed.get(group, {}), now_ms)
            for group in sorted({*committed, *groups})
        ],
    }


def oldest_kept_ms(event_log: EventLog, topic: str) -> int | None:
    """The timestamp of the oldest message the topic still holds (None: it holds none)."""
    marks = event_log.watermarks(topic)
    found = event_log.first_messages(topic, {part: low for part, (low, _) in marks.items()})
    earliest = _earliest(found)
    return earliest[1] if earliest else None


def _group(
    event_log: EventLog,
    topic: str,
    group: str,
    marks: Mapping[int, tuple[int, int]],
    committed: Mapping[int, int],
    now_ms: int,
) -> dict[str, Any]:
    starts = {part: max(low, committed.get(part, low)) for part, (low, _) in marks.items()}
    waiting = event_log.first_messages(topic, starts)
    parts = []
    for part, (_, high) in sorted(marks.items()):
        first = waiting.get(part)
        head = max(high, first[0] + 1) if first else high
        parts.append(
            {
                "partition": part,
                "committed_offset": committed.get(part),
                "lag": max(0, head - starts[part]),
                **_moment("oldest_unconsumed", first, now_ms, offset=True),
            }
        )
    return {
        "group": group,
        "committed": bool(committed),
        "lag": sum(p["lag"] for p in parts),
        **_moment("oldest_unconsumed", _earliest(waiting), now_ms),
        "partitions": parts,
    }


def _earliest(found: Mapping[int, tuple[int, int]]) -> tuple[int, int] | None:
    """The (offset, timestamp) of the earliest of the messages found, by timestamp."""
    return min(found.values(), key=lambda message: message[1], default=None)


def _moment(
    name: str, message: tuple[int, int] | None, now_ms: int, *, offset: bool = False
) -> dict[str, Any]:
    """The message's time (UTC, naive as stored rows) and age; its offset if asked."""
    fields: dict[str, Any] = {f"{name}_offset": message[0] if message else None} if offset else {}
    timestamp = message[1] if message and message[1] > 0 else None  # 0: the broker has none
    fields[f"{name}_at"] = (
        datetime.fromtimestamp(timestamp / 1000, UTC).replace(tzinfo=None).isoformat()
        if timestamp
        else None
    )
    fields[f"{name}_age_seconds"] = (
        round(max(0, now_ms - timestamp) / 1000, 3) if timestamp else None
    )
    return fields
