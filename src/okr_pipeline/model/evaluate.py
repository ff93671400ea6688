"""Evaluation: a model next to the baselines on the latest closed periods before D, with the
HTML report (ROC and calibration curves, AUC by elapsed bucket, feature importance)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from okr_pipeline.config import Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.features import History, load_history
from okr_pipeline.model.baseline import BASELINES
from okr_pipeline.model.dataset import Snapshots, split_by_time, training_snapshots
from okr_pipeline.model.metrics import score_metrics
from okr_pipeline.model.registry import RiskPredictor, load_champion
from okr_pipeline.model.report import write_report

__all__ = ["Evaluation", "evaluate_champion", "score_against_baselines", "time_split"]


@dataclass
class Evaluation:
    scores: dict[str, np.ndarray]  # scorer -> risk on the validation snapshots
    metrics: dict[str, dict[str, float]]  # scorer -> metrics
    rows: dict[str, int]

    def report(
        self, path: Path, valid: Snapshots, model: RiskPredictor, context: dict[str, str]
    ) -> Path:
        return write_report(
            path,
            title="Risk model evaluation",
            y=valid.missed,
            scores=self.scores,
            elapsed=valid.elapsed,
            importance=model.feature_importance(),
            context={**context, **{k.replace("_", " "): str(v) for k, v in self.rows.items()}},
        )


def time_split(
    settings: Settings, history: History, as_of: datetime
) -> tuple[Snapshots, Snapshots]:
    """Training and validation snapshots of the key results closed before `as_of`."""
    snapshots = training_snapshots(history, as_of, settings.model.snapshot_fractions)
    fit, valid = split_by_time(snapshots, settings.model.validation_share)
    minimum = settings.model.min_training_key_results
    # the validation periods may be few: a fifth of the training minimum is enough to compare
    for part, name, needed in ((fit, "training", minimum), (valid, "validation", minimum // 5)):
        key_results = len(np.unique(part.groups))
        if key_results < needed:
            raise OkrError(
                f"only {key_results} key results with an outcome before {as_of:%Y-%m-%d} for "
                f"{name} (at least {needed} needed; model.min_training_key_results is {minimum})"
            )
        if len(np.unique(part.missed)) < 2:
            raise OkrError(f"every {name} key result has the same outcome: nothing to learn")
    return fit, valid


def score_against_baselines(fit: Snapshots, valid: Snapshots, models: dict[str, Any]) -> Evaluation:
    """The given models and the baselines (fitted on `fit`) scored on `valid`."""
    scores = {name: model.predict_proba(valid.features)[:, 1] for name, model in models.items()}
    for name, rule in BASELINES.items():
        scores[name] = rule().fit(fit.features, fit.missed).predict_proba(valid.features)[:, 1]
    metrics = {name: score_metrics(valid.missed, s, valid.elapsed) for name, s in scores.items()}
    rows = {
        "training_snapshots": len(fit),
        "validation_snapshots": len(valid),
        "training_key_results": len(np.unique(fit.groups)),
        "validation_key_results": len(np.unique(valid.groups)),
    }
    return Evaluation(scores, metrics, rows)


def evaluate_champion(settings: Settings, engine: Engine, as_of: datetime) -> dict[str, Any]:
    """The champion next to the baselines on the latest periods closed before `as_of`, on the
    key results it has not learnt from (it learnt every period closed when it was trained)."""
    champion, model = load_champion(settings)
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    fit, valid = time_split(settings, history, as_of)
    valid = valid.subset(~np.isin(valid.groups, list(model.trained_key_results_)))
    if np.unique(valid.missed).size < 2:
        raise OkrError(
            f"model version {champion.version} learnt from the key results closed before "
            f"{as_of:%Y-%m-%d} that would judge it ({len(np.unique(valid.groups))} others, of "
            "one outcome at most): evaluate it as of a later date, once more have closed; its "
            "validation at training is in `okr model list`"
        )
    evaluation = score_against_baselines(fit, valid, {"model": model})
    path = evaluation.report(
        settings.path("results") / f"evaluation-v{champion.version}-{as_of:%Y%m%dT%H%M%S}.html",
        valid,
        model,
        {"as of": as_of.isoformat(), "model version": champion.version},
    )
    return {
        "model_version": champion.version,
        "as_of": as_of.isoformat(),
        "metrics": evaluation.metrics["model"],
        "baseline_metrics": {n: evaluation.metrics[n] for n in BASELINES},
        "rows": evaluation.rows,
        "report": str(path),
    }
