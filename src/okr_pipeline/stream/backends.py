"""Opening the event log that the configuration names (`stream.backend`)."""

from __future__ import annotations

from okr_pipeline.config import Settings
from okr_pipeline.stream.log import EventLog

__all__ = ["open_event_log"]


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
