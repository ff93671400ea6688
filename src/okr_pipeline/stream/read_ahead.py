"""Batches prepared in a worker process, one batch ahead of the one the warehouse writes.

Reading events and validating their rows (applier.prepare) costs about as much CPU as writing
them, and needs no warehouse: a worker does it for the next batch while this process writes the
current one, so two CPUs work (threads would not: the GIL). The worker is a fresh Python
(`_read_ahead_worker`), not a fork, which is unsafe beside the threads a consumer runs (the
champion's search, Kafka's client). The consumer starts it with itself (`start`), else the first
batch large enough to be worth the trip does. Small batches are prepared here, and so is a batch
with nothing else to run meanwhile while the worker is still starting (its imports take a third
of a second); any other goes to the worker at once, sent by a thread while this process writes
the last one. The worker reads batches on its standard input and answers on its standard output;
once this process closes its end, or dies, it reads the end and leaves.

Batches cross as marshal data by column (the validated rows as ingest.encode_chunk makes them,
dates as the text SQLite stores where the warehouse is SQLite): pickling rows and small objects
one by one costs as much as preparing them. A worker that dies or fails is an error: its batch
was not committed, so it comes again when the consumer restarts.
"""

from __future__ import annotations

import marshal
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection

from okr_pipeline.config import Limits
from okr_pipeline.core import gc_paused
from okr_pipeline.errors import OkrError
from okr_pipeline.ingest import decode_chunk, encode_chunk
from okr_pipeline.stream.applier import Parsed, Prepared, prepare
from okr_pipeline.stream.log import Message

__all__ = ["ReadAhead", "serve"]

# Fewer messages than this are prepared here: the trip to the worker would cost more.
IN_PROCESS_BELOW = 500
WORKER = "okr_pipeline.stream._read_ahead_worker"
_READY, _PREPARED, _FAILED = b"r", b"p", b"f"


class ReadAhead:
    """`submit` a batch, then take its `result` before submitting the next."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._worker: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._answers: Connection | None = None
        self._ready = False  # the worker has started
        self._here: Prepared | None = None  # a batch prepared in this process
        self._sending: threading.Thread | None = None
        self._send_failed = False

    def start(self) -> None:
        """Start the worker now, not at the first large batch: it is then ready sooner."""
        if self._worker is None:
            self._start()

    def submit(self, messages: Sequence[Message], *, alone: bool = False) -> None:
        """Prepare the batch, here or in the worker. `alone`: nothing runs here until its
        result is taken, so while the worker is still starting it is prepared here; otherwise
        it goes to the worker at once, ready or not, and is sent meanwhile by a thread (a
        starting worker does not read yet)."""
        if len(messages) >= IN_PROCESS_BELOW:
            self.start()
        if len(messages) < IN_PROCESS_BELOW or (alone and not self._worker_ready()):
            self._here = prepare(messages, self._limits)
            return
        data = marshal.dumps([tuple(m) for m in messages])
        self._sending = threading.Thread(target=self._send, args=(data,), daemon=True)
        self._sending.start()

    def result(self, dates_as_text: bool = False) -> Prepared:
        """The batch prepared; `dates_as_text`: its rows' dates kept as the text SQLite stores
        (of a batch prepared here, they are date and datetime objects whatever it says)."""
        if self._here is not None:
            here, self._here = self._here, None
            return here
        assert self._answers is not None and self._sending, "result() without submit()"
        self._sending.join()
        self._sending = None
        if self._send_failed or not self._await_ready():
            raise self._ended()
        try:
            data = self._answers.recv_bytes()
        except (EOFError, OSError):
            raise self._ended() from None
        if data[:1] == _FAILED:
            raise OkrError(f"preparing a batch failed in the worker process:\n{data[1:].decode()}")
        with gc_paused():  # many small new objects: the collector would walk the heap often
            return _decode(data[1:], dates_as_text)

    def close(self) -> None:
        if self._worker is not None and (not self._ready or self._sending is not None):
            self._worker.kill()  # starting, or given a batch whose result nobody takes
        if self._sending is not None:  # it ends as the worker reads it or is gone
            self._sending.join()
            self._sending = None
        for end in (self._requests, self._answers):
            if end is not None:
                end.close()  # the worker reads the end of its input and leaves
        self._requests = self._answers = None
        self._ready = False
        if self._worker is not None:
            try:
                self._worker.wait(5)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait()
            self._worker = None

    def _start(self) -> None:
        self._send_failed = False
        self._worker = subprocess.Popen(
            [sys.executable, "-m", WORKER, self._limits.model_dump_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._worker.stdin is not None and self._worker.stdout is not None
        self._requests = Connection(os.dup(self._worker.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(self._worker.stdout.fileno()), writable=False)
        self._worker.stdin.close()
        self._worker.stdout.close()

    def _send(self, data: bytes) -> None:
        try:
            self._requests.send_bytes(data)  # type: ignore[union-attr]
        except OSError:  # the worker is gone: `result` says so
            self._send_failed = True

    def _worker_ready(self) -> bool:
        """Whether the worker has started, without waiting."""
        ready_to_read = not self._ready and self._answers is not None and self._answers.poll(0)
        if ready_to_read and not self._await_ready():
            raise self._ended()
        return self._ready

    def _await_ready(self) -> bool:
        """Wait for the worker to say it has started; False if it died instead."""
        if not self._ready:
            try:  # a worker that died starting gives its end of file instead
                self._ready = self._answers.recv_bytes() == _READY  # type: ignore[union-attr]
            except (EOFError, OSError):
                return False
        return self._ready

    def _ended(self) -> OkrError:
        assert self._worker is not None
        try:
            code = self._worker.wait(1)
        except subprocess.TimeoutExpired:
            code = None
        return OkrError(
            f"the process preparing the stream's batches ended (exit code {code}); "
            "the batch comes again at the next start"
        )


def serve(limits: Limits) -> None:
    """The worker: say it is ready, then prepare each batch its input brings until it ends; a
    failure is answered with its traceback."""
    requests = Connection(os.dup(sys.stdin.fileno()), writable=False)
    answers = Connection(os.dup(sys.stdout.fileno()), readable=False)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing else may write on the answers
    try:
        answers.send_bytes(_READY)
    except BrokenPipeError:
        return  # the consumer closed before this had started
    while True:
        try:
            data = requests.recv_bytes()
        except EOFError:
            return
        try:
            with gc_paused():
                messages = list(map(Message._make, marshal.loads(data)))
                answer = _PREPARED + _encode(prepare(messages, limits))
        except Exception:
            answer = _FAILED + traceback.format_exc(limit=-5).encode()
        try:
            answers.send_bytes(answer)
        except BrokenPipeError:
            return  # the consumer is gone


def _encode(prepared: Prepared) -> bytes:
    ids, entities, positions, moments, key_results, parents = (
        list(zip(*prepared.events, strict=True)) or [()] * 6
    )
    times = [None if moment is None else moment.isoformat() for moment in moments]
    chunks = [encode_chunk(chunk) for chunk in prepared.validated]
    return pickle.dumps(
        (
            marshal.dumps((ids, entities, positions, times, key_results, parents)),
            prepared.problems,
            prepared.repeats,
            chunks,
        ),
        pickle.HIGHEST_PROTOCOL,
    )


def _decode(data: bytes, dates_as_text: bool) -> Prepared:
    events, problems, repeats, chunks = pickle.loads(data)
    ids, entities, positions, times, key_results, parents = marshal.loads(events)
    moments = [None if text is None else datetime.fromisoformat(text) for text in times]
    return Prepared(
        list(map(Parsed, ids, entities, positions, moments, key_results, parents)),
        problems,
        repeats,
        [decode_chunk(meta, bulk, dates_as_text) for meta, bulk in chunks],
    )
