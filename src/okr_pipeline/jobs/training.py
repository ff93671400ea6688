"""The training pipeline's tasks: a first model if there is no champion -> the key results
closed since the champion was trained -> an update (trained again on everything closed, through
the update's gate) once enough have -> every open key result scored as of the run, so that
predictions are never older than a day."""

from __future__ import annotations

from collections.abc import Mapping

from okr_pipeline.config import Settings
from okr_pipeline.jobs.model import update_model
from okr_pipeline.jobs.pipelines import Output, RunContext
from okr_pipeline.model import (
    CHAMPION,
    TrainingResult,
    closed_since_champion,
    open_registry,
    predict,
    train,
)
from okr_pipeline.warehouse import open_warehouse

__all__ = ["collect_closed", "ensure_champion", "score_open", "update_champion"]


def _summary(result: TrainingResult) -> Output:
    keep = ("model_version", "alias", "promoted", "reason", "kind", "as_of", "report")
    return {key: getattr(result, key) for key in keep} | {"auc": result.metrics["auc"]}


def ensure_champion(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Train a first model when no version is the champion."""
    champion = open_registry(settings).version(CHAMPION)
    if champion is not None:
        return {"champion": champion.version, "trained": None}
    result = train(settings, open_warehouse(settings), run.as_of)
    return {
        "champion": result.model_version if result.promoted else None,
        "trained": _summary(result),
    }


def collect_closed(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """How many key results closed before the run's as-of the champion has not learnt from
    (none to count when the first model did not pass the gate)."""
    ensured = inputs["ensure_champion"]
    version, closed = ensured["champion"], 0
    if version is not None:
        version, closed = closed_since_champion(settings, open_warehouse(settings), run.as_of)
    return {
        "champion": version,
        "closed_since": closed,
        "needed": settings.model.min_update_key_results,
        "just_trained": ensured["trained"] is not None,
    }


def update_champion(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Train again on everything closed once enough key results closed since the champion's
    training; the result replaces the champion if it passes the update's gate."""
    collected = inputs["collect_closed"]
    if collected["just_trained"] or collected["closed_since"] < collected["needed"]:
        return {"action": "none", "closed_since": collected["closed_since"]}
    updated = update_model(settings, run.as_of).result  # announced on the model-updates topic
    if updated is None:  # e.g. the new ones are all of one outcome: nothing to learn
        return {"action": "none", "closed_since": collected["closed_since"]}
    return {"action": "updated" if updated.promoted else "kept", "update": _summary(updated)}


def score_open(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Score every key result open at the run's as-of with the champion, stored with lineage
    (without one, because the first model did not pass the gate, the run fails: not retried)."""
    risks = predict(settings, open_warehouse(settings), run.as_of)
    return {
        "scored": len(risks),
        "model_version": risks[0]["model_version"] if risks else None,
        "as_of": run.as_of.isoformat(),
    }
