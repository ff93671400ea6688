"""Validated chunks made in a forked child process while this process stores them.

Parsing and validating a large bundle costs about as much CPU as storing it, and SQLite takes
its writes from one process: so a child parses and validates, and hands each chunk over a pipe
while the parent stores the previous ones. The child is forked: it starts at once, holding the
bundle's bytes already loaded, and imports nothing. Chunks cross as marshal data, by column,
with dates and timestamps as the text SQLite stores (chunk_bytes). They cross a plain pipe, each
read into one buffer kept for the whole stream: multiprocessing's Connection copies a message
several times into fresh memory, and the page faults of that cost the parent as much as decoding
the chunk.

A child that fails or dies ends the stream with an OkrError; closing the stream kills the child.
A child never outlives its parent: on Linux the kernel kills it when the parent dies, however the
parent dies; elsewhere it stops at its next write once nobody reads the pipe (each child closes
the reading ends it inherited, so the parent's is the only one).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from io import FileIO
from types import TracebackType

from okr_pipeline.contract import Validated
from okr_pipeline.core import gc_paused
from okr_pipeline.errors import OkrError
from okr_pipeline.ingest.chunk_bytes import decode_chunk, encode_chunk
from okr_pipeline.ingest.chunks import FileWarnings

__all__ = ["ChildChunks", "can_fork"]

_END = b"e"
_FAILED = b"f"
_CHUNK = b"c"
# A message: its kind and the sizes of its two parts, a small pickled one and a chunk's bulk.
_HEADER = struct.Struct("<cQQ")
_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): a signal to get when the parent dies
# The reading ends of the pipes of this process's children: a child forked later inherits them
# and must close them, or a dead parent's pipe would still have a reader and the child would
# block on it forever.
_READING_ENDS: set[int] = set()


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
        self._pipe, sender = os.pipe()
        _READING_ENDS.add(self._pipe)
        self._child = context.Process(
            target=_send_all, args=(make, sender, nice, os.getpid()), daemon=True
        )
        self._child.start()
        os.close(sender)  # the child holds the only writing end: its exit is our end of file
        self._buffer = bytearray()  # each chunk's bulk, read in place

    def __iter__(self) -> Iterator[Validated]:
        with FileIO(self._pipe, closefd=False) as pipe:
            while True:
                kind, small, size = _HEADER.unpack(self._read(pipe, _HEADER.size))
                meta = self._read(pipe, small)
                if kind == _END:
                    return
                if kind == _FAILED:
                    raise OkrError(f"reading the bundle failed: {meta.decode()}")
                warnings, meta = pickle.loads(meta)
                self._warnings.update(warnings)
                if len(self._buffer) < size:
                    self._buffer = bytearray(size)
                with memoryview(self._buffer)[:size] as bulk:
                    self._read_into(pipe, bulk)
                    chunk = decode_chunk(meta, bulk, self._dates_as_text)
                yield chunk

    def _read(self, pipe: FileIO, size: int) -> bytes:
        data = bytearray(size)
        self._read_into(pipe, memoryview(data))
        return bytes(data)

    def _read_into(self, pipe: FileIO, view: memoryview) -> None:
        done = 0
        while done < len(view):
            got = pipe.readinto(view[done:])
            if not got:
                self._child.join(5)
                raise OkrError(
                    "the process reading the bundle stopped before the end "
                    f"(exit code {self._child.exitcode})"
                )
            done += got

    def close(self) -> None:
        if self._pipe >= 0:
            _READING_ENDS.discard(self._pipe)
            os.close(self._pipe)
            self._pipe = -1
        if self._child.is_alive():
            self._child.kill()
        self._child.join()

    def __enter__(self) -> ChildChunks:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# A message to send: its kind and its two parts.
_Message = tuple[bytes, bytes, bytes]


def _die_with_parent(parent: int) -> None:
    """In the child: end when the parent ends (SIGKILL and SIGTERM included)."""
    for reading_end in _READING_ENDS:
        os.close(reading_end)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)


def _send_all(
    make: Callable[[FileWarnings], Iterator[Validated]], sender: int, nice: int, parent: int
) -> None:
    """The child: send every chunk, then the end (or what went wrong). A thread does the
    sending, so that making chunks goes on while the parent is busy and the pipe full."""
    _die_with_parent(parent)
    if nice:
        os.nice(nice)
    outbox: queue.SimpleQueue[_Message | None] = queue.SimpleQueue()
    reader_gone = threading.Event()
    thread = threading.Thread(target=_send, args=(outbox, sender, reader_gone))
    thread.start()
    try:
        with gc_paused():
            warnings: FileWarnings = {}
            for chunk in make(warnings):
                if reader_gone.is_set():  # nobody will read the rest
                    break
                meta, bulk = encode_chunk(chunk)
                outbox.put((_CHUNK, pickle.dumps((warnings, meta)), bulk))
        outbox.put((_END, b"", b""))
    except BaseException:
        outbox.put((_FAILED, traceback.format_exc(limit=-3).encode(), b""))
    finally:
        outbox.put(None)
        thread.join()
        os.close(sender)


def _send(
    outbox: queue.SimpleQueue[_Message | None], sender: int, reader_gone: threading.Event
) -> None:
    with FileIO(sender, "w", closefd=False) as pipe:
        while (message := outbox.get()) is not None:
            kind, meta, bulk = message
            try:
                for part in (_HEADER.pack(kind, len(meta), len(bulk)), meta, bulk):
                    with memoryview(part) as view:
                        done = 0
                        while done < len(view):
                            done += pipe.write(view[done:])
            except OSError:  # the parent closed its end or is gone: nothing left to do
                reader_gone.set()
                return


# --- the chunks on the wire ---------------------------------------------------------------------
