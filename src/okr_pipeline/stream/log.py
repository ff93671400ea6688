"""The event-log interface that the producer and the consumer use, whatever the backend.

Two backends implement it: `sqlite_log` (an embedded durable log under the data directory, the
default, so one machine needs no broker) and `kafka` (confluent-kafka). Messages are keyed: all
messages with one key go to one partition, in order. A consumer in a group reads its partitions
from the group's committed offsets; `commit` moves them past the messages it is given, so a crash
before a commit means those messages are delivered again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from okr_pipeline.errors import OkrError

__all__ = ["Consumer", "EventLog", "GroupBusyError", "Message"]


class GroupBusyError(OkrError):
    """The consumer group already has an active consumer that holds the topic's partitions."""


class Message(NamedTuple):  # a tuple: made for every message read, the cheapest to make
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int  # when the log accepted it


class Consumer(Protocol):
    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to `max_messages` messages, waiting at most `timeout` seconds for the first."""

    def commit(self, messages: Sequence[Message]) -> None:
        """Mark these messages (and all before them in their partitions) as consumed."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Messages not yet committed, per (topic, partition) assigned to this consumer."""

    def ready(self) -> bool:
        """Whether partitions are assigned (a Kafka consumer first joins its group): until
        then an empty poll says nothing about the topic being idle."""

    def close(self) -> None: ...


class EventLog(Protocol):
    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the topics that do not exist yet (partitions and replication from config)."""

    def produce(self, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
        """Append (key, value) messages; returns how many. Durable once `flush` returns."""

    def flush(self) -> None: ...

    def consumer(self, group: str, topics: Sequence[str], *, drain: bool = False) -> Consumer:
        """A consumer of `group`; a `drain` reads to the end and stops, and a consumer starting
        meanwhile waits for it instead of being refused."""

    def group_busy(self, group: str) -> bool:
        """Whether a consumer of `group` is running now (a drain then leaves the topic to it)."""

    def group_lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """Messages the group has not committed yet, per (topic, partition) of the `topics` that
        exist, read without joining the group (so a running consumer keeps its partitions)."""

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """Per partition of `topic`: the oldest offset still held and the next one to be
        written ({} when there is no such topic)."""

    def committed_offsets(self, topic: str) -> dict[str, dict[int, int]]:
        """Per consumer group that has committed on `topic`: partition -> the next offset it
        reads. Read without joining any group."""

    def first_messages(self, topic: str, offsets: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """Per partition of `offsets`: the offset and timestamp (ms) of the first message held
        at or after that offset; a partition with none is left out."""

    def close(self) -> None: ...
