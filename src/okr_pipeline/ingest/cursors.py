"""The REST source's cursors in the warehouse (`source_cursors`): per source and entity, the
`updated_since` the next pull sends, where the last pull whose rows were stored ended.

A cursor advances only once the rows it covers are stored: `pull_rest_bundle` pulls from the
stored cursors and returns the cursors the pull would advance to; the caller ingests the folder
and, once that succeeded, records them with `commit_cursors`. A pull that failed midway
(`PullError`) still holds the entities pulled before the failure: ingest the folder and commit
`error.pulled` the same way. A pull whose rows were never stored leaves the cursors where they
were, so the next pull asks for those rows again (stored rows come back as unchanged).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, delete, insert, select

from okr_pipeline.config import Settings
from okr_pipeline.sources import Pulled, pull_bundle, source_name
from okr_pipeline.warehouse import source_cursors, writers_lock

__all__ = ["commit_cursors", "pull_rest_bundle", "stored_cursors"]


def stored_cursors(engine: Engine, source: str) -> dict[str, str]:
    """entity -> the cursor stored for it under `source` (see `source_name`)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(source_cursors.c.entity, source_cursors.c.updated_since).where(
                source_cursors.c.source == source
            )
        )
        return {entity: cursor for entity, cursor in rows}


def pull_rest_bundle(settings: Settings, engine: Engine, folder: Path) -> Pulled:
    """Pull the configured REST source into `folder` from the cursors stored for it."""
    return pull_bundle(settings, folder, stored_cursors(engine, source_name(settings.rest)))


def commit_cursors(target: Engine | Connection, pulled: Pulled) -> int:
    """Record the cursors of a pull whose rows are stored (in the connection's transaction, or
    in one of its own for an engine); returns how many were recorded."""
    if isinstance(target, Engine):
        with target.begin() as conn:
            return commit_cursors(conn, pulled)
    if not pulled.cursors:
        return 0
    writers_lock(target)
    target.execute(
        delete(source_cursors).where(
            source_cursors.c.source == pulled.source,
            source_cursors.c.entity.in_(list(pulled.cursors)),
        )
    )
    target.execute(
        insert(source_cursors),
        [
            {
                "source": pulled.source,
                "entity": entity,
                "updated_since": cursor,
                "pulled_at": pulled.pulled_at,
            }
            for entity, cursor in pulled.cursors.items()
        ],
    )
    return len(pulled.cursors)
