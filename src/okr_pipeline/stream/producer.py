"""Publishing events: a bundle's rows, or an events JSON Lines file, onto the events topic.

Rows of a bundle become events as read (the consumer validates them, as the file ingestion
would), parents' entities first; each message is keyed by the entity id, so the events of one
entity stay in order. An event's id is a hash of its row, so publishing the same bundle twice
gives events the consumer skips as duplicates.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from okr_pipeline.config import Limits
from okr_pipeline.contract import DEFAULT_LIMITS, ENTITIES, ENTITY_ORDER, Unacceptable
from okr_pipeline.sources import read_path, read_regular_file
from okr_pipeline.stream.events import ENTITY_OF, make_event, read_json
from okr_pipeline.stream.log import EventLog

__all__ = ["Published", "events_from_path", "publish"]

Keyed = tuple[bytes | None, bytes]


@dataclass
class Published:
    published: int
    unreadable: int  # rows of a bundle that could not be read as rows (not published)
    seconds: float

    def as_dict(self) -> dict[str, float]:
        rate = round(self.published / self.seconds) if self.seconds else 0
        return {
            "published": self.published,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 3),
            "events_per_second": rate,
        }


def _event_lines(path: Path) -> list[bytes] | None:
    """The lines of an events JSON Lines file (its first line holds an event), as bytes;
    None for any other path. The lines are published as they are, whatever they hold: the
    consumer dead-letters what is not an event."""
    if not path.is_file() or path.suffix != ".jsonl":
        return None
    lines = [
        line
        for line in read_regular_file(path).removeprefix(codecs.BOM_UTF8).splitlines()
        if line.strip()
    ]
    if not lines:
        return None
    try:
        first = read_json(lines[0])
    except (ValueError, UnicodeDecodeError, Unacceptable):  # ValueError: JSONDecodeError
        return lines if b'"event_type"' in lines[0] else None  # a poison event is an event
    return lines if isinstance(first, dict) and "event_type" in first else None


def _event_key(line: bytes, limits: Limits) -> bytes | None:
    """The message key of an event line: its payload's entity id (None if it has none)."""
    try:
        event = read_json(line, limits)
        entity = ENTITY_OF[event["event_type"]]
        value = event["payload"][ENTITIES[entity].key]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, Unacceptable):
        return None  # garbage is published as it is: the consumer dead-letters it
    return None if value is None else str(value).strip().encode()


def events_from_path(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Iterator[Keyed], int]:
    """(key, value) messages of an events file or of a bundle (directory or entity file), and
    how many bundle rows could not be read (beyond the limits, too)."""
    lines = _event_lines(path)
    if lines is not None:
        return ((_event_key(line, limits), line) for line in lines), 0
    bundle = read_path(path, limits)
    unreadable = sum(1 for rows in bundle.records.values() for r in rows if r.fields is None)
    messages = (
        make_event(entity, record.fields)
        for entity in ENTITY_ORDER
        for record in bundle.records[entity]
        if record.fields is not None
    )
    return messages, unreadable


def publish(
    event_log: EventLog,
    topic: str,
    messages: Iterable[Keyed],
    *,
    rate: float | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> Published:
    """Produce the messages in batches, at most `rate` per second if given."""
    event_log.ensure_topics([topic])
    started = time.monotonic()
    size = max(1, min(batch_size, int(rate / 10))) if rate else batch_size
    batch: list[Keyed] = []
    sent = 0

    def send() -> None:
        nonlocal sent
        event_log.produce(topic, batch)
        sent += len(batch)
        if progress is not None:
            progress(len(batch))
        batch.clear()
        if rate:  # keep to the rate: wait until this many messages are due
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    for message in messages:
        batch.append(message)
        if len(batch) >= size:
            send()
    if batch:
        send()
    event_log.flush()
    return Published(sent, 0, time.monotonic() - started)
