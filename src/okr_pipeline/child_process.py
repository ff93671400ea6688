"""Validated chunks made in a forked child process while this process stores them.

Parsing and validating a large bundle costs about as much CPU as storing it, and SQLite takes
its writes from one process: so a child parses and validates, and hands each chunk over a pipe
while the parent stores the previous ones. The child is forked: it starts at once, holding the
bundle's bytes already loaded, and imports nothing. Chunks cross as marshal data with dates as
ISO text, many times cheaper than pickling rows of datetime objects.

A child that fails or dies ends the stream with an OkrError; closing the stream kills the child.
"""

from __future__ import annotations

import marshal
import multiprocessing
import pickle
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import date, datetime
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from okr_pipeline.chunk_stream import FileWarnings
from okr_pipeline.contract import ENTITIES
from okr_pipeline.errors import OkrError
from okr_pipeline.gcpause import gc_paused
from okr_pipeline.validation_batch import Validated

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
    child starts at once, so that it works while this process does something else."""

    def __init__(
        self, make: Callable[[FileWarnings], Iterator[Validated]], warnings: FileWarnings
    ) -> None:
        self._warnings = warnings
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._child = context.Process(target=_send_all, args=(make, sender), daemon=True)
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
            yield decode(chunk)

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


def _send_all(make: Callable[[FileWarnings], Iterator[Validated]], sender: Connection) -> None:
    """The child: send every chunk, then the end (or what went wrong). A thread does the
    sending, so that making chunks goes on while the parent is busy and the pipe full."""
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

_DAY_KINDS = {"date": date.fromisoformat, "timestamp": datetime.fromisoformat}


def _dated(entity: str) -> list[tuple[int, Callable[[str], Any]]]:
    """(position, parser) of the date and timestamp fields of an entity's rows."""
    fields = ENTITIES[entity].fields
    return [(i, _DAY_KINDS[f.kind]) for i, f in enumerate(fields) if f.kind in _DAY_KINDS]


def encode(chunk: Validated) -> bytes:
    """A validated chunk as bytes: rows and origins by column, dates and timestamps as ISO
    text. Marshal format 2 keeps no table of objects seen (the costly part of later formats):
    only the few distinct sources are written with it."""
    columns: list[Any] = list(zip(*chunk.rows)) or [()] * len(ENTITIES[chunk.entity].fields)
    for i, _ in _dated(chunk.entity):
        columns[i] = [None if value is None else value.isoformat() for value in columns[i]]
    sources, lines, raws, quarantine_ids = list(zip(*chunk.origins)) or [()] * 4
    bulk = marshal.dumps((columns, lines, raws, quarantine_ids), 2)
    rest = (chunk.entity, chunk.read, chunk.rejected, chunk.warnings, marshal.dumps(sources))
    return pickle.dumps((rest, bulk), protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> Validated:
    """The chunk that `encode` turned into `data`."""
    (entity, read, rejected, warnings, sources), bulk = pickle.loads(data)
    columns, lines, raws, quarantine_ids = marshal.loads(bulk)
    for i, parse in _dated(entity):
        columns[i] = [None if text is None else parse(text) for text in columns[i]]
    rows = list(zip(*columns))
    origins = list(zip(marshal.loads(sources), lines, raws, quarantine_ids))
    return Validated(entity, read, rows, origins, rejected, warnings)
