"""Live scores: the open key results a stream batch touched, re-scored by the champion at most
every `interval` seconds, so that live scores stay fresh at a bounded cost. The consumer calls
it after each batch (it knows nothing of models); without a champion it says so once and stays
off for the run (the training pipeline scores every open key result when a model exists)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine

from okr_pipeline.asof import now_utc
from okr_pipeline.config import Settings
from okr_pipeline.errors import OkrError

__all__ = ["LiveScores"]

log = logging.getLogger(__name__)


class LiveScores:
    """`live_scores(touched, final)`: note the touched key results, re-score the noted ones if
    the interval has passed (or `final`), and return how many were re-scored."""

    def __init__(self, settings: Settings, engine: Engine, interval: float) -> None:
        self.settings, self.engine, self.interval = settings, engine, interval
        self.pending: set[str] = set()
        self.last = 0.0
        self.off: str | None = None  # why live scores are off for this run

    @property
    def state(self) -> str:
        return f"off: {self.off}" if self.off else "on"

    def __call__(self, touched: set[str], final: bool = False) -> int:
        if self.off:
            return 0
        self.pending |= touched
        if not self.pending or (not final and time.monotonic() - self.last < self.interval):
            return 0
        from okr_pipeline.model.predict import predict  # the model stack loads only when used

        self.last = time.monotonic()
        ids, self.pending = self.pending, set()
        try:
            return len(predict(self.settings, self.engine, now_utc(), key_result_ids=ids))
        except OkrError as exc:  # no champion yet: rows are stored, scores come later
            log.warning("live scores are off for this run: %s", exc)
            self.off = str(exc)
            return 0
