"""Live scores: the open key results a stream batch touched, re-scored by the champion at most
every `interval` seconds, so that live scores stay fresh at a bounded cost. The consumer calls
it after each batch (the stream layer knows nothing of models).

Whether there is a champion is found out beside the consumer, in a thread, while it already
stores events: loading the model stack and asking the registry take seconds, and events must
not wait for them. Without a champion, live scores say so once and stay off for the run (the
training pipeline scores every open key result once a model exists).

A re-score never loads the whole history for its batch (seconds to minutes on a big warehouse):
the run keeps one (`KeptHistory`) and reads again only the key results it re-scores."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import Connection, Engine

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import NoChampionError, OkrError
from okr_pipeline.features import History, load_history
from okr_pipeline.jobs.progress import Notify, quiet
from okr_pipeline.warehouse import LOOKUP_CHUNK, chunks

__all__ = ["KeptHistory", "LiveScores"]

FINAL_WAIT_SECONDS = 30  # at the end of a run, for the champion search to finish


class KeptHistory:
    """The history live scores work from, kept for the run: loaded whole at first, then at each
    re-score only the touched key results are read again (their rows, check-ins, milestones,
    tasks and versions) and put in place of theirs (`History.updated`). What needs every key
    result (outcome records, confidence and surge sums) and what no touched key result brings
    (another key result's objective edited, a task moved away from it) waits for the next
    whole load, once `refresh` seconds have passed since the last one began."""

    def __init__(
        self, threshold: float, refresh: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold, self.refresh, self.clock = threshold, refresh, clock
        self.history: History | None = None
        self.loaded_at = -math.inf

    def __call__(self, conn: Connection, touched: Collection[str]) -> History:
        """The history, up to date for the `touched` key results."""
        started = self.clock()
        if self.history is None or started - self.loaded_at >= self.refresh:
            self.history, self.loaded_at = load_history(conn, self.threshold), started
        else:
            for chunk in chunks(sorted(touched), LOOKUP_CHUNK):  # IN lists every dialect takes
                self.history = self.history.updated(load_history(conn, self.threshold, chunk))
        return self.history


class LiveScores:
    """`live_scores(touched, final)`: note the touched key results, re-score the noted ones if
    the interval has passed (or `final`), and return how many were re-scored."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        interval: float,
        notify: Notify = quiet,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = now_utc,  # the instant scored
    ) -> None:
        self.settings, self.engine, self.interval, self.notify = settings, engine, interval, notify
        self.clock, self.now = clock, now
        refresh = settings.model.live_history_refresh_minutes * 60
        self.history = KeptHistory(settings.model.achievement_threshold, refresh, clock)
        self.pending: set[str] = set()
        self.last = -math.inf
        self.off: str | None = None  # why live scores are off for this run
        self._ready = threading.Event()  # set once the champion is found (or known missing)
        # a daemon: a stop during the search need not wait for MLflow
        threading.Thread(target=self._find_champion, name="okr-champion", daemon=True).start()

    @property
    def state(self) -> str:
        if self.off:
            return f"off: {self.off}"
        return "on" if self._ready.is_set() else "starting"

    def _find_champion(self) -> None:
        try:
            settings = self.settings
            if settings.model.tracking_uri is None and not settings.default_tracking_store.exists():
                raise NoChampionError  # no store, no champion: no need to load MLflow
            from okr_pipeline.model import CHAMPION, open_registry  # loads the model stack

            if open_registry(settings).version(CHAMPION) is None:
                raise NoChampionError
        except OkrError as exc:
            self._turn_off(str(exc))
        finally:
            self._ready.set()

    def _turn_off(self, why: str) -> None:
        self.off = why
        self.notify(f"live scores are off for this run: {why}")

    def __call__(self, touched: set[str], final: bool = False) -> int:
        if self.off:
            return 0
        self.pending |= touched
        if final and not self._ready.wait(FINAL_WAIT_SECONDS):  # MLflow does not answer
            self._turn_off(f"the champion was still being looked for after {FINAL_WAIT_SECONDS} s")
            return 0
        if not self._ready.is_set() or self.off or not self.pending:
            return 0
        if not final and self.clock() - self.last < self.interval:
            return 0
        from okr_pipeline.model import predict

        self.last = self.clock()
        ids, self.pending = self.pending, set()
        try:
            with self.engine.connect() as conn:
                history = self.history(conn, ids)
            scored = predict(self.settings, self.engine, self.now(), ids, history)
            return len(scored)
        except OkrError as exc:  # the champion went away: rows are stored, scores come later
            self._turn_off(str(exc))
            return 0
