"""Opening the event log that the configuration names (`stream.backend`)."""

from __future__ import annotations

from okr_pipeline.config import Settings
from okr_pipeline.stream.log import EventLog

__all__ = ["open_event_log", "warehouse_group_lag"]


def open_event_log(settings: Settings) -> EventLog:
    """The embedded SQLite log under the data directory, or the Kafka cluster of `stream`."""
    backend = settings.stream.backend
    if backend == "sqlite":
        from okr_pipeline.stream.sqlite_log import SqliteEventLog

        return SqliteEventLog(settings.data_dir / "events.db", settings.stream.partitions)
    if backend == "kafka":
        # imported here so the embedded backend never loads librdkafka
        from okr_pipeline.stream.kafka import KafkaEventLog

        return KafkaEventLog(settings)
    raise ValueError(f"unknown stream backend {backend!r}")  # config validation prevents this


def warehouse_group_lag(settings: Settings) -> dict[tuple[str, int], int]:
    """How far `stream.group` (the consumers that write the warehouse) is behind on the events
    topic, per (topic, partition), read without joining the group. Raises OkrError when the
    event log cannot be read."""
    event_log = open_event_log(settings)
    try:
        return event_log.group_lag(settings.stream.group, [settings.stream.topics.events])
    finally:
        event_log.close()
