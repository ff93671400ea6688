"""Advisory locks on PostgreSQL: the warehouse's writers take turns, and so do schema upgrades.

An ingest or a stream batch writes many rows in one transaction, in orders that differ (chunk by
chunk, file after file, parked children after the parents that freed them): two holding row
locks at once could each wait for the other, and PostgreSQL would abort one of them. So each
holds the writers' lock for its transaction, and they run one after another, as SQLite runs its
writers; their statements still tolerate any other writer (INSERT ... ON CONFLICT, bulk.upsert).
Waiting for a lock is not a runaway statement: the statement timeout does not cut it short.
Other dialects need nothing here.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["schema_lock", "writers_lock"]

_WRITERS = 0x6F6B725F77726974  # "okr_writ"
_SCHEMA = 0x6F6B725F6D696772  # "okr_migr"


def _hold(conn: Connection, key: int) -> None:
    """Hold the lock `key` until the connection's transaction ends (waiting for it first)."""
    if conn.dialect.name != "postgresql":
        return
    timeout = conn.execute(text("SHOW statement_timeout")).scalar_one()
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    conn.execute(text("SELECT set_config('statement_timeout', :value, true)"), {"value": timeout})


def writers_lock(conn: Connection) -> None:
    """The turn of this transaction to write entity rows, the quarantine or stream bookkeeping."""
    _hold(conn, _WRITERS)


def schema_lock(conn: Connection) -> None:
    """The turn of this transaction to create or upgrade the schema."""
    _hold(conn, _SCHEMA)
