"""Audit entries that could not be written at once because another writer held the warehouse
(on SQLite an ingest holds the one write lock for its whole transaction, up to minutes): kept in
order by this process and written by a thread of its own as soon as the lock is free, so that the
call they record is answered without waiting. The thread runs only while entries wait: a process
that made many apps (or warehouses) keeps no idle threads, and can still fork safely. Entries of
a process go to the log in the order they came: while some wait here, later ones wait behind them.

The process writes what is left before it exits (gunicorn's workers exit through Python's own
shutdown, recycled or stopped), waiting for the lock as the warehouse's busy timeout says; an
entry that cannot be written even then is logged whole as an error, so that no call goes
unrecorded in silence. Only a process killed outright loses what waited here.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from okr_pipeline.warehouse import sqlite_busy

if TYPE_CHECKING:
    from okr_pipeline.jobs.audit import AuditEntry

__all__ = ["AuditBacklog", "backlog_of"]

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # between attempts, once a write has waited the whole busy timeout

Write = Callable[["Sequence[AuditEntry]"], None]  # writes entries in one transaction


class AuditBacklog:
    """The entries of one warehouse waiting to be written, and the thread writing them."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._entries: deque[AuditEntry] = deque()
        self._lock = threading.Lock()  # guards the entries and the thread
        self._writing = threading.Lock()  # one writer of the entries: the thread, or the exit
        self._closed = False
        self._thread: threading.Thread | None = None  # running while entries wait
        atexit.register(self.close)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: AuditEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="okr-audit-backlog", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._write_waiting() and not self._closed:
                time.sleep(RETRY_SECONDS)  # the warehouse is still busy: try again in a while
            with self._lock:
                if not self._entries or self._closed:
                    self._thread = None  # the next entry starts another
                    return

    def _write_waiting(self) -> bool:
        """Write the waiting entries; False if the warehouse stayed busy past its timeout."""
        with self._writing:
            while self._entries:
                batch = list(self._entries)
                try:
                    self._write(batch)
                except OperationalError as exc:
                    if sqlite_busy(exc):
                        return False
                    self._give_up(batch, exc)
                except Exception as exc:  # the thread must not die: later entries need it
                    self._give_up(batch, exc)
                with self._lock:
                    for _ in batch:
                        self._entries.popleft()
            return True

    def _give_up(self, batch: Sequence[AuditEntry], exc: BaseException) -> None:
        for entry in batch:
            log.error("audit entry not written: %s", entry, exc_info=exc)

    def close(self) -> None:
        """Write what waits (at the process's exit): what cannot be written is logged."""
        self._closed = True
        if not self._write_waiting():
            with self._lock:
                left = list(self._entries)
                self._entries.clear()
            self._give_up(left, RuntimeError("the warehouse stayed busy until the exit"))


_BACKLOGS: dict[tuple[int, str], AuditBacklog] = {}  # by process (a fork has no thread) and URL
_MAKING = threading.Lock()


def backlog_of(warehouse_url: str, write: Write) -> AuditBacklog:
    """This process's backlog of the warehouse at `warehouse_url`, made at first use."""
    key = (os.getpid(), warehouse_url)
    with _MAKING:
        if key not in _BACKLOGS:
            _BACKLOGS[key] = AuditBacklog(write)
        return _BACKLOGS[key]
