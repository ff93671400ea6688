"""Use cases about the API's audit log: record a call (who, what, when, outcome) and read the
log back, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import OperationalError

from okr_pipeline.config import Settings
from okr_pipeline.errors import InputError
from okr_pipeline.jobs.audit_backlog import backlog_of
from okr_pipeline.jobs.pages import Page, decode_id_cursor, id_page
from okr_pipeline.warehouse import audit_log, open_warehouse, sqlite_busy, sqlite_wait

__all__ = ["OUTCOMES", "AuditEntry", "audit_entries", "outcome_of", "record_audit"]

# allowed: done; refused: no valid token, too low a role or too many failures; failed: allowed
# in but it did not succeed (bad input, unknown id, an error)
OUTCOMES = ("allowed", "refused", "failed")
_REFUSED = {401, 403, 429}
MAX_PATH = 2048  # a path is kept up to this long: the log must not grow with hostile input
_SORT = "audit"  # the one order of the log (newest first), named in its cursors
# how long a call's entry may wait for another writer's lock before it joins the backlog: a
# commit of the consumer's (a batch) is over by then, an ingest's is not
BRIEF_WAIT_MS = 250


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    token_name: str | None
    role: str | None
    remote_addr: str | None
    method: str
    path: str
    operation_id: str
    status: int

    @property
    def outcome(self) -> str:
        return outcome_of(self.status)


def outcome_of(status: int) -> str:
    """What the status of a call's response says of it."""
    if status in _REFUSED:
        return "refused"
    return "allowed" if status < 400 else "failed"


def _text(value: str, length: int) -> str:
    # NUL cannot be stored in PostgreSQL text; the rest is kept as it came, up to `length`
    return value.replace("\x00", "\ufffd")[:length]


def record_audit(settings: Settings, entry: AuditEntry) -> None:
    """Append `entry` to the audit log. If another writer holds the warehouse past a brief
    wait (on SQLite an ingest holds its one write lock throughout), the entry joins this
    process's backlog, written as soon as the lock is free (see `audit_backlog`): the call it
    records is answered meanwhile. Any other failure raises."""
    engine = open_warehouse(settings)
    backlog = backlog_of(settings.warehouse_url, partial(_write, engine))
    if len(backlog):  # entries wait already: this one goes after them
        backlog.add(entry)
        return
    try:
        _write(engine, [entry], wait_ms=BRIEF_WAIT_MS)
    except OperationalError as exc:
        if not sqlite_busy(exc):
            raise
        backlog.add(entry)


def _write(engine: Engine, entries: Sequence[AuditEntry], wait_ms: int | None = None) -> None:
    """Insert the entries in one transaction, waiting for another writer's lock at most
    `wait_ms` (None: the warehouse's busy timeout)."""
    with engine.begin() as conn, _waiting(conn, wait_ms):
        conn.execute(
            insert(audit_log),
            [
                {
                    "at": entry.at,
                    "token_name": entry.token_name,
                    "role": entry.role,
                    "remote_addr": entry.remote_addr and _text(entry.remote_addr, 64),
                    "method": _text(entry.method, 16),
                    "path": _text(entry.path, MAX_PATH),
                    "operation_id": _text(entry.operation_id, 128),
                    "status": entry.status,
                    "outcome": entry.outcome,
                }
                for entry in entries
            ],
        )


def _waiting(conn: Connection, wait_ms: int | None) -> AbstractContextManager[None]:
    return nullcontext() if wait_ms is None else sqlite_wait(conn, wait_ms)


def audit_entries(
    settings: Settings,
    *,
    cursor: str | None = None,
    limit: int,
    outcome: str | None = None,
    token_name: str | None = None,
) -> Page[dict[str, Any]]:
    """A page of the audit log, newest first, after `cursor`; only entries with `outcome` or
    of the token `token_name` if given."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(audit_log.c.id < decode_id_cursor(cursor, _SORT))
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise InputError(f"unknown outcome {outcome!r}; the outcomes are {', '.join(OUTCOMES)}")
        query = query.where(audit_log.c.outcome == outcome)
    if token_name is not None:
        query = query.where(audit_log.c.token_name == token_name)
    with open_warehouse(settings).connect() as conn:
        rows = conn.execute(query).all()
    items = [
        {
            "id": row.id,
            "at": row.at.isoformat(),
            "token_name": row.token_name,
            "role": row.role,
            "remote_addr": row.remote_addr,
            "method": row.method,
            "path": row.path,
            "operation_id": row.operation_id,
            "status": row.status,
            "outcome": row.outcome,
        }
        for row in rows
    ]
    return id_page(items, limit, _SORT)
