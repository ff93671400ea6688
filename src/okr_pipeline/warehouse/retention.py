"""Retention of the stream's bookkeeping in the warehouse: processed event ids and dead letters.

Rows go oldest first, `chunk` per transaction (each holding the writers' turn, so a batch or a
retry of dead letters never sees a chunk half gone), until none is left to go; each function
returns how many went. What must stay:

- a dead letter not yet on the dead-letter topic (`published_at` null): the outbox still has to
  send it;
- a processed id while a dead letter of its event is kept: the id says whether the letter is
  resolved, and without it a retry would apply a stored event again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Engine, Select, delete, exists, func, select

from okr_pipeline.warehouse.locks import writers_lock
from okr_pipeline.warehouse.tables import dead_letters, processed_events

__all__ = ["prune_dead_letters", "prune_processed_events"]


def prune_processed_events(engine: Engine, before: datetime, chunk: int) -> int:
    """Delete the ids of events processed before `before` (naive UTC), but not one a kept dead
    letter refers to."""
    lettered = exists().where(dead_letters.c.event_id == processed_events.c.event_id)
    old = select(processed_events.c.event_id).where(
        processed_events.c.processed_at < before, ~lettered
    )
    return _delete_all(engine, processed_events.c.event_id, old, chunk)


def prune_dead_letters(
    engine: Engine, before: datetime | None, keep: int | None, chunk: int
) -> int:
    """Delete the published dead letters created before `before` (naive UTC; None: any age),
    then the oldest published ones beyond the newest `keep` in all (None: no limit)."""
    published = dead_letters.c.published_at.is_not(None)
    deleted = 0
    if before is not None:
        old = select(dead_letters.c.id).where(published, dead_letters.c.created_at < before)
        deleted += _delete_all(engine, dead_letters.c.id, old, chunk)
    if keep is not None:
        with engine.connect() as conn:
            excess = (
                conn.execute(select(func.count()).select_from(dead_letters)).scalar_one() - keep
            )
        oldest = select(dead_letters.c.id).where(published).order_by(dead_letters.c.id)
        while excess > 0:
            step = _delete_chunk(engine, dead_letters.c.id, oldest, min(chunk, excess))
            if not step:
                break  # the rest are waiting for the outbox
            deleted += step
            excess -= step
    return deleted


def _delete_all(engine: Engine, key: Column[Any], rows: Select[Any], chunk: int) -> int:
    deleted = 0
    while step := _delete_chunk(engine, key, rows, chunk):
        deleted += step
    return deleted


def _delete_chunk(engine: Engine, key: Column[Any], rows: Select[Any], chunk: int) -> int:
    """Delete up to `chunk` of the rows whose `key` the select `rows` gives, in one transaction."""
    with engine.begin() as conn:
        writers_lock(conn)
        return conn.execute(delete(key.table).where(key.in_(rows.limit(chunk)))).rowcount
