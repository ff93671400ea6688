"""Batches prepared in another process, one batch ahead of the one the warehouse writes.

Reading events and validating their rows (applier.prepare) costs about as much CPU as writing
them, and needs no warehouse: a worker process does it for the next batch while this process
writes the current one, so two CPUs work (threads would not: the GIL). The worker is forked, once,
for the first batch large enough to be worth the trip, where forking is safe (core.can_fork);
otherwise, and for small batches, batches are prepared here, one after the other. A forked
worker imports nothing and runs no main module again, and leaves through os._exit, so it never
closes the parent's database connections; it ends with its parent, and when its pipe closes.

Batches cross a plain pipe as marshal data by column (the validated rows as ingest.encode_chunk
makes them, dates as the text SQLite stores where the warehouse is SQLite): pickling rows and
small objects one by one costs the worker as much as preparing them. A worker that dies or
fails is an error: its batch was not committed, so it comes again when the consumer restarts.
"""

from __future__ import annotations

import marshal
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection

from okr_pipeline.config import Limits
from okr_pipeline.core import can_fork, die_with_parent, gc_paused
from okr_pipeline.errors import OkrError
from okr_pipeline.ingest import decode_chunk, encode_chunk
from okr_pipeline.stream.applier import Parsed, Prepared, prepare
from okr_pipeline.stream.log import Message

__all__ = ["ReadAhead"]

# Fewer messages than this are prepared here: the trip to the worker would cost more.
IN_PROCESS_BELOW = 500


class ReadAhead:
    """`submit` a batch, then take its `result` before submitting the next."""

    def __init__(self, limits: Limits, dates_as_text: bool = False) -> None:
        self._limits = limits
        self._dates_as_text = dates_as_text  # keep prepared rows' dates as text (SQLite)
        self._pipe: Connection | None = None
        self._worker: multiprocessing.process.BaseProcess | None = None
        self._here: Prepared | None = None  # a batch prepared in this process

    def submit(self, messages: Sequence[Message]) -> None:
        if len(messages) >= IN_PROCESS_BELOW and self._pipe is None and can_fork():
            self._start()
        if self._pipe is None or len(messages) < IN_PROCESS_BELOW:
            self._here = prepare(messages, self._limits)
            return
        try:
            self._pipe.send_bytes(marshal.dumps([tuple(m) for m in messages]))
        except OSError:
            raise self._ended() from None

    def result(self) -> Prepared:
        if self._here is not None:
            here, self._here = self._here, None
            return here
        assert self._pipe is not None, "result() without submit()"
        try:
            data = self._pipe.recv_bytes()
        except (EOFError, OSError):
            raise self._ended() from None
        if data[:1] == _FAILED:
            raise OkrError(f"preparing a batch failed in the worker process:\n{data[1:].decode()}")
        with gc_paused():
            return _decode(data[1:], self._dates_as_text)

    def _ended(self) -> OkrError:
        assert self._worker is not None
        self._worker.join(1)
        return OkrError(
            "the process preparing the stream's batches ended "
            f"(exit code {self._worker.exitcode}); the batch comes again at the next start"
        )

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()  # the worker reads the end of its input and leaves
            self._pipe = None
        if self._worker is not None:
            self._worker.join(5)
            if self._worker.is_alive():
                self._worker.kill()
                self._worker.join()
            self._worker = None

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        mine, theirs = context.Pipe()
        self._worker = context.Process(
            target=_serve, args=(theirs, mine, self._limits, os.getpid()), daemon=True
        )
        self._worker.start()
        theirs.close()
        self._pipe = mine


def _serve(pipe: Connection, parents_end: Connection, limits: Limits, parent: int) -> None:
    """The worker: prepare each batch the pipe brings until it closes; a failure is sent back
    as its traceback."""
    die_with_parent(parent)
    parents_end.close()  # so that the parent's closing (or death) ends the input
    while True:
        try:
            data = pipe.recv_bytes()
        except EOFError:
            return
        try:
            with gc_paused():
                messages = list(map(Message._make, marshal.loads(data)))
                answer = _PREPARED + _encode(prepare(messages, limits))
        except Exception:
            answer = _FAILED + traceback.format_exc(limit=-5).encode()
        pipe.send_bytes(answer)


_PREPARED, _FAILED = b"p", b"f"


def _encode(prepared: Prepared) -> bytes:
    ids, entities, positions, moments, key_results = (
        list(zip(*prepared.events, strict=True)) or [()] * 5
    )
    times = [None if moment is None else moment.isoformat() for moment in moments]
    chunks = [encode_chunk(chunk) for chunk in prepared.validated]
    return pickle.dumps(
        (
            marshal.dumps((ids, entities, positions, times, key_results)),
            prepared.problems,
            prepared.repeats,
            chunks,
        ),
        pickle.HIGHEST_PROTOCOL,
    )


def _decode(data: bytes, dates_as_text: bool) -> Prepared:
    events, problems, repeats, chunks = pickle.loads(data)
    ids, entities, positions, times, key_results = marshal.loads(events)
    moments = [None if text is None else datetime.fromisoformat(text) for text in times]
    return Prepared(
        list(map(Parsed, ids, entities, positions, moments, key_results)),
        problems,
        repeats,
        [decode_chunk(meta, bulk, dates_as_text) for meta, bulk in chunks],
    )
