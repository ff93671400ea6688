"""Validated chunks made in a forked child process while this process stores them.

Parsing and validating a large bundle costs about as much CPU as storing it, and SQLite takes
its writes from one process: so a child parses and validates, and hands each chunk over a pipe
while the parent stores the previous ones. The child is forked: it starts at once, holding the
bundle's bytes already loaded, and imports nothing. Chunks cross as marshal data, by column,
with dates and timestamps as the text SQLite stores: many times cheaper than pickling rows of
datetime objects.

A child that fails or dies ends the stream with an OkrError; closing the stream kills the child.
"""

from __future__ import annotations

import marshal
import multiprocessing
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from sqlalchemy import Column

from okr_pipeline.chunk_stream import FileWarnings
from okr_pipeline.contract import ENTITIES
from okr_pipeline.errors import OkrError
from okr_pipeline.gcpause import gc_paused
from okr_pipeline.validation_batch import Validated
from okr_pipeline.warehouse.bulk import from_sqlite_text, sqlite_text
from okr_pipeline.warehouse.tables import ENTITY_TABLES

__all__ = ["ChildChunks", "can_fork"]

_END = b"end"
_FAILED = b"failed"
_CHUNK = b"chunk"


def can_fork() -> bool:
    """Whether a child can be forked safely: the platform has fork, and this process runs one
    thread (a lock held by another thread at the fork would stay locked in the child)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class ChildChunks:
    """The chunks `make(warnings)` yields, made in a forked child, which also fills `warnings`
    here as `make` fills it there. Iterate once, then close (or use as a context manager). The
    child starts at once, so that it works while this process does something else; with `nice`,
    at a lower priority. With `dates_as_text`, the chunks keep their dates as text."""

    def __init__(
        self,
        make: Callable[[FileWarnings], Iterator[Validated]],
        warnings: FileWarnings,
        *,
        nice: int = 0,
        dates_as_text: bool = False,
    ) -> None:
        self._warnings = warnings
        self._dates_as_text = dates_as_text
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._child = context.Process(target=_send_all, args=(make, sender, nice), daemon=True)
        self._child.start()
        sender.close()  # the child holds the only writing end: its exit is our end of file

    def __iter__(self) -> Iterator[Validated]:
        while True:
            try:
                message = self._receiver.recv_bytes()
            except EOFError:
                self._child.join(5)
                raise OkrError(
                    "the process reading the bundle stopped before the end "
                    f"(exit code {self._child.exitcode})"
                ) from None
            kind, _, payload = message.partition(b":")
            if kind == _END:
                return
            if kind == _FAILED:
                raise OkrError(f"reading the bundle failed: {payload.decode()}")
            warnings, chunk = pickle.loads(payload)
            self._warnings.update(warnings)
            yield decode(chunk, self._dates_as_text)

    def close(self) -> None:
        self._receiver.close()
        if self._child.is_alive():
            self._child.kill()
        self._child.join()

    def __enter__(self) -> ChildChunks:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _send_all(
    make: Callable[[FileWarnings], Iterator[Validated]], sender: Connection, nice: int
) -> None:
    """The child: send every chunk, then the end (or what went wrong). A thread does the
    sending, so that making chunks goes on while the parent is busy and the pipe full."""
    if nice:
        os.nice(nice)
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    thread = threading.Thread(target=_send, args=(outbox, sender))
    thread.start()
    try:
        with gc_paused():
            warnings: FileWarnings = {}
            for chunk in make(warnings):
                outbox.put(_CHUNK + b":" + pickle.dumps((warnings, encode(chunk))))
        outbox.put(_END + b":")
    except BaseException:
        outbox.put(_FAILED + b":" + traceback.format_exc(limit=-3).encode())
    finally:
        outbox.put(None)
        thread.join()
        sender.close()


def _send(outbox: queue.SimpleQueue[bytes | None], sender: Connection) -> None:
    while (message := outbox.get()) is not None:
        try:
            sender.send_bytes(message)
        except OSError:  # the parent is gone: nothing left to do
            return


# --- the chunks on the wire ---------------------------------------------------------------------


def _dated(entity: str) -> list[tuple[int, Column[Any]]]:
    """(position, column) of the date and timestamp fields of an entity's rows."""
    table = ENTITY_TABLES[entity]
    names = ENTITIES[entity].field_names
    return [(i, table.c[name]) for i, name in enumerate(names) if sqlite_text(table.c[name].type)]


def encode(chunk: Validated) -> bytes:
    """A validated chunk as bytes: rows and origins by column, dates and timestamps as the text
    SQLite stores. Marshal format 2 keeps no table of objects seen (the costly part of later
    formats): only the few distinct sources are written with it."""
    columns: list[Any] = list(zip(*chunk.rows)) or [()] * len(ENTITIES[chunk.entity].fields)
    for i, column in _dated(chunk.entity):
        columns[i] = list(map(sqlite_text(column.type), columns[i]))  # type: ignore[arg-type]
    sources, lines, raws, quarantine_ids = list(zip(*chunk.origins)) or [()] * 4
    bulk = marshal.dumps((columns, lines, raws, quarantine_ids), 2)
    rest = (chunk.entity, chunk.read, chunk.rejected, chunk.warnings, marshal.dumps(sources))
    return pickle.dumps((rest, bulk), protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes, dates_as_text: bool = False) -> Validated:
    """The chunk that `encode` turned into `data`; with `dates_as_text`, its dates and
    timestamps stay text (see Validated.dates_as_text)."""
    (entity, read, rejected, warnings, sources), bulk = pickle.loads(data)
    columns, lines, raws, quarantine_ids = marshal.loads(bulk)
    if not dates_as_text:
        for i, column in _dated(entity):
            parse = from_sqlite_text(column.type)
            columns[i] = [None if text is None else parse(text) for text in columns[i]]  # type: ignore[misc]
    rows = list(zip(*columns))
    origins = list(zip(marshal.loads(sources), lines, raws, quarantine_ids))
    return Validated(entity, read, rows, origins, rejected, warnings, dates_as_text)
