"""Events sent to the API (one, or a batch; contract section 4) published onto the events topic
the way `okr produce` publishes an events file: every event as it came, in order, keyed by its
entity id, the invalid ones too. The consumer then dead-letters those through its one path for
bad input (the warehouse's dead letters with their reason, topic, partition, offset and
original, sent on to the dead-letter topic; listed and retried like any other), so none is lost.

The answer tells at once which events the consumer will dead-letter and why (stream.verdicts):
the envelope and the payload's row rules. An event whose parent has not arrived yet is
accepted: the consumer parks it until the parent comes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import TooLargeError
from okr_pipeline.stream import judge_events, open_event_log, publish

__all__ = ["PostedEvents", "Rejection", "post_events"]


@dataclass(frozen=True)
class Rejection:
    index: int  # the event's place in the batch (0 for a single event)
    reason: str  # what the consumer dead-letters it as
    detail: str


@dataclass(frozen=True)
class PostedEvents:
    topic: str
    accepted: int
    rejections: list[Rejection]

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "accepted": self.accepted,
            "rejected": len(self.rejections),
            "rejections": [vars(r) for r in self.rejections],
        }


def _message(event: Any) -> bytes:
    """An event's message: its JSON as it came (keys and values in their order)."""
    try:
        return json.dumps(event, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, the consumer finds it the same
        return json.dumps(event).encode("ascii")


def post_events(settings: Settings, events: Sequence[Any]) -> PostedEvents:
    """Publish the events onto the events topic; at most `api.events_max` (else
    TooLargeError, and nothing is published)."""
    limit = settings.api.events_max
    if len(events) > limit:
        raise TooLargeError(f"{len(events)} events: at most {limit} per request (api.events_max)")
    messages = [_message(event) for event in events]
    verdicts = judge_events(messages, settings.limits)
    topic = settings.stream.topics.events
    with closing(open_event_log(settings)) as event_log:
        publish(
            event_log,
            topic,
            [(verdict.key, message) for verdict, message in zip(verdicts, messages, strict=True)],
            batch_size=settings.stream.batch_size,
        )
    rejections = [
        Rejection(i, verdict.reason, verdict.detail or "")
        for i, verdict in enumerate(verdicts)
        if verdict.reason is not None
    ]
    return PostedEvents(topic, len(events) - len(rejections), rejections)
