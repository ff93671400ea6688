"""The champion as a long-running server holds it: loaded once per process with the input
schema of its MLflow signature, and reloaded when the `champion` alias has moved.

Whether the alias moved costs one registry call (`Registry.alias_version`); it is asked at most
every `check_seconds`, so a promotion or rollback is served within that time and a burst of
requests pays for one call. Loading (download, unpickle, signature) happens only on a change.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import cast

from okr_pipeline.config import Settings
from okr_pipeline.errors import NoChampionError
from okr_pipeline.model.registry import (
    CHAMPION,
    ModelVersion,
    Registry,
    RiskPredictor,
    open_registry,
)
from okr_pipeline.model.signature import InputSchema

__all__ = ["ServedChampion", "ServedModel", "served_champion"]


@dataclass(frozen=True)
class ServedModel:
    version: ModelVersion
    model: RiskPredictor
    schema: InputSchema


class ServedChampion:
    """The champion of one registry, kept loaded."""

    def __init__(self, registry: Registry, check_seconds: float) -> None:
        self.registry = registry
        self.check_seconds = check_seconds
        self._served: ServedModel | None = None
        self._checked = -float("inf")  # when the alias was last looked at (monotonic)
        self._lock = threading.Lock()  # one load at a time, under threaded servers too

    def get(self) -> ServedModel:
        """The champion, reloaded first if the alias moved since it was loaded; NoChampionError
        if no version holds the alias."""
        with self._lock:
            served = self._served
            if served is not None and time.monotonic() - self._checked < self.check_seconds:
                return served
            number = self.registry.alias_version(CHAMPION)
            if number is None:
                self._served = None
                raise NoChampionError
            if served is None or served.version.version != number:
                model, signature = self.registry.load_with_signature(number)
                version = self.registry.version(number)
                if version is None:  # deleted meanwhile: the next call looks again
                    raise NoChampionError
                risk_model = cast(RiskPredictor, model)  # the pipeline registers RiskModels
                served = ServedModel(version, risk_model, InputSchema.of(signature))
                self._served = served
            self._checked = time.monotonic()
            return served


_CHAMPIONS: dict[tuple[str, str], ServedChampion] = {}
_CHAMPIONS_LOCK = threading.Lock()


def served_champion(settings: Settings) -> ServedModel:
    """The champion of the configured registry, held by this process."""
    key = (settings.tracking_uri, settings.model.registered_name)
    with _CHAMPIONS_LOCK:
        holder = _CHAMPIONS.get(key)
        if holder is None:
            holder = _CHAMPIONS[key] = ServedChampion(
                open_registry(settings), settings.api.champion_check_seconds
            )
    holder.check_seconds = settings.api.champion_check_seconds
    return holder.get()
