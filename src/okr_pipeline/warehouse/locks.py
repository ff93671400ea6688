"""Advisory locks on PostgreSQL: the warehouse's writers take turns, and so do schema upgrades.

An ingest or a stream batch writes many rows in one transaction, in orders that differ (chunk by
chunk, file after file, parked children after the parents that freed them): two holding row
locks at once could each wait for the other, and PostgreSQL would abort one of them. So each
holds the writers' lock for its transaction, and they run one after another, as SQLite runs its
writers; their statements still tolerate any other writer (INSERT ... ON CONFLICT, bulk.upsert).
Waiting for a lock is not a runaway statement: the statement timeout does not cut it short.
Other dialects need nothing here.

Pipelines take a lock of their own for a whole run, without waiting: two runs of one pipeline
never overlap, whichever process or machine starts them (an advisory lock of the session on
PostgreSQL; elsewhere a file lock in the data directory, for one machine's processes).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, false, text, update
from sqlalchemy.exc import DBAPIError

__all__ = [
    "pipeline_lock",
    "schema_lock",
    "sqlite_busy",
    "sqlite_schema_lock",
    "sqlite_wait",
    "write_turn",
    "writers_lock",
]

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


def write_turn(conn: Connection, table: Table) -> None:
    """The writers' turn for this transaction, taken now rather than at its first write: what
    it reads from here on, no other writer changes before it ends. On SQLite, whose transaction
    begins at its first write (reads before it see whatever is committed meanwhile), a write to
    `table` that changes nothing takes the database's write lock, waiting as any writer does."""
    if conn.dialect.name == "sqlite":
        key = table.primary_key.columns[0]
        conn.execute(update(table).where(false()).values({key.name: key}))
    else:
        writers_lock(conn)


@contextmanager
def sqlite_wait(conn: Connection, milliseconds: int) -> Iterator[None]:
    """On SQLite, a statement of the block waits at most `milliseconds` for another writer's
    lock (then fails: see `sqlite_busy`) rather than the warehouse's busy timeout: for small writes
    that must not wait behind a long one (an ingest holds the lock for its whole transaction).
    Nothing elsewhere: PostgreSQL's writers lock rows, and the writers' lock is taken by name."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(milliseconds)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {before}")


def sqlite_busy(exc: BaseException) -> bool:
    """Whether a statement failed because another writer held SQLite's lock (past the wait)."""
    cause = getattr(exc, "orig", None)
    code = getattr(cause, "sqlite_errorcode", None)  # extended codes: the primary in the low byte
    return (
        isinstance(cause, sqlite3.Error)
        and code is not None
        and code & 0xFF
        in (
            sqlite3.SQLITE_BUSY,
            sqlite3.SQLITE_LOCKED,
        )
    )


def schema_lock(conn: Connection) -> None:
    """The turn of this transaction to create or upgrade the schema."""
    _hold(conn, _SCHEMA)


@contextmanager
def sqlite_schema_lock(engine: Engine) -> Iterator[None]:
    """On a SQLite file, the turn of this process to create or upgrade the schema (a file lock
    beside the database, waited for): SQLite has no advisory locks, and processes that open a
    new warehouse at once would each find no schema and create it. Nothing elsewhere."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.schema.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def pipeline_lock(engine: Engine, pipeline: str, lock_dir: Path) -> Iterator[bool]:
    """Whether this run holds the turn of `pipeline` for the block (False: another run of it is
    in progress). Never waits; the lock goes with the process if it dies. On PostgreSQL it is
    the session's advisory lock; on a SQLite file a file lock beside it; elsewhere a file lock
    in `lock_dir`."""
    digest = hashlib.sha256(f"okr_pipeline:{pipeline}".encode()).digest()
    if engine.dialect.name == "postgresql":
        with _advisory_session_lock(engine, int.from_bytes(digest[:8], "big", signed=True)) as held:
            yield held
        return
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        path = Path(f"{database}.pipeline-{digest[:8].hex()}.lock")
    else:
        lock_dir.mkdir(parents=True, exist_ok=True)
        path = lock_dir / f"pipeline-{digest[:8].hex()}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _advisory_session_lock(engine: Engine, key: int) -> Iterator[bool]:
    """The advisory lock `key` held by one connection of its own for the block, if free."""
    with engine.connect() as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
                except DBAPIError:  # the connection is gone, and its lock with it
                    conn.invalidate()
