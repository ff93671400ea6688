"""Use cases about the risk model: train, evaluate, predict, update, and the registered versions."""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import InputError
from okr_pipeline.model import (
    ModelVersion,
    TrainingResult,
    evaluate_champion,
    open_registry,
    predict,
    train,
    update,
)
from okr_pipeline.stream import open_event_log
from okr_pipeline.warehouse import open_warehouse

__all__ = [
    "ModelUpdate",
    "evaluate_model",
    "model_versions",
    "predict_risks",
    "promote_model",
    "rollback_model",
    "train_model",
    "update_model",
]

NOTHING_NEW = (
    "too few key results closed since the champion was trained (model.min_update_key_results), "
    "or too few of them, or of them missed, in the validation periods to judge an update "
    "(model.min_validation_key_results, model.min_validation_misses)"
)


@dataclass(frozen=True)
class ModelUpdate:
    """What `update_model` did: the update's training result, or why there was none."""

    as_of: datetime
    result: TrainingResult | None

    def as_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {"updated": False, "as_of": self.as_of.isoformat(), "reason": NOTHING_NEW}
        return {"updated": True, **self.result.as_dict()}


def train_model(settings: Settings, as_of: datetime) -> TrainingResult:
    """Train on key results closed before `as_of`, register the model, apply the gate."""
    return train(settings, open_warehouse(settings), as_of)


def evaluate_model(settings: Settings, as_of: datetime) -> dict[str, Any]:
    """The champion next to the baselines on the latest periods closed before `as_of`, with
    the HTML report."""
    return evaluate_champion(settings, open_warehouse(settings), as_of)


def predict_risks(
    settings: Settings, as_of: datetime, output: Path | None = None
) -> list[dict[str, Any]]:
    """The risk of missing of every key result open at `as_of`, with reasons, stored with
    lineage; also written as a JSON list to `output` if given (checked before the work)."""
    if output is not None:
        if output.is_dir():
            raise InputError(f"--output {output} is a directory; give a file path")
        _write_output(output, None)
    results = predict(settings, open_warehouse(settings), as_of)
    if output is not None:
        _write_output(output, json.dumps(results, indent=2, ensure_ascii=False))
    return results


def _write_output(path: Path, content: str | None) -> None:
    """Write `content` to the file at `path` (None: only make its folder)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write --output {path}: {exc.strerror}") from None


def model_versions(settings: Settings) -> list[ModelVersion]:
    """The registered versions, newest first, with aliases and validation metrics."""
    return open_registry(settings).versions()


def promote_model(settings: Settings, version: str) -> ModelVersion:
    """Make `version` the champion by hand, past the gate."""
    return open_registry(settings).promote(version, "promoted by hand")


def rollback_model(settings: Settings) -> ModelVersion:
    """Give the champion alias back to the version that held it before."""
    return open_registry(settings).rollback()


def update_model(settings: Settings, as_of: datetime) -> ModelUpdate:
    """Train again on everything closed once enough has closed since the champion's training;
    the result goes through the update's gate and is announced on the model-updates topic."""
    result = update(settings, open_warehouse(settings), as_of)
    if result is not None:
        _announce(settings, result)
    return ModelUpdate(as_of, result)


def _announce(settings: Settings, result: TrainingResult) -> None:
    fields = ("model_version", "alias", "promoted", "reason", "kind", "as_of")
    announcement: dict[str, Any] = {k: getattr(result, k) for k in fields}
    announcement["auc"] = result.metrics["auc"]
    with closing(open_event_log(settings)) as event_log:
        topic = settings.stream.topics.model_updates
        event_log.ensure_topics([topic])
        event_log.produce(
            topic, [(result.model_version.encode(), json.dumps(announcement).encode())]
        )
        event_log.flush()
