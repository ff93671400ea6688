"""The validated rows of the events a consumer parked, kept across its batches (applier)."""

from __future__ import annotations

from typing import NamedTuple

from okr_pipeline.contract import ENTITIES, Origin, RawRecord, Row

__all__ = ["Kept", "ParkedRows"]


class Kept(NamedTuple):
    """A parked event's validated row, kept by the consumer that parked it."""

    row: Row
    origin: Origin
    key_result: str | None
    parent: str | None


class ParkedRows:
    """The validated rows of the events this consumer parked, by event id: once their parent
    is there they are stored without reading and validating their payload again (an event
    another consumer parked, or one parked before a restart, is read from its payload). Only
    ids the warehouse lists as parked are looked up, so a row kept for an event another
    consumer resolved is never used; at most `limit` are kept."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._rows: dict[str, Kept] = {}

    def keep(
        self, event_id: str, record: RawRecord, key_result: str | None, parent: str | None
    ) -> None:
        """Keep the row of an event parked now: `record`, its rejection's (validated) row."""
        if len(self._rows) >= self.limit:
            self._rows.clear()  # those of events others resolved would stay: start afresh
        names = ENTITIES[record.entity].field_names
        row = tuple((record.fields or {})[name] for name in names)
        origin = Origin(record.source, record.line, record.raw, record.quarantine_id)
        self._rows[event_id] = Kept(row, origin, key_result, parent)

    def get(self, event_id: str) -> Kept | None:
        return self._rows.get(event_id)

    def drop(self, event_id: str) -> None:
        self._rows.pop(event_id, None)
