"""Training: snapshots of key results closed before D -> risk model and baselines -> evaluation
on the latest closed periods -> a new registry version (`challenger`) -> the promotion gate.

The gate promotes the new version to `champion` only if it beats every baseline and the current
champion, scored on the same validation snapshots, by the configured AUC margin; otherwise the
reason is recorded on the version.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine

from okr_pipeline.config import Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.features import load_history
from okr_pipeline.model.baseline import BASELINES
from okr_pipeline.model.dataset import Snapshots, split_by_time, training_snapshots
from okr_pipeline.model.metrics import score_metrics
from okr_pipeline.model.registry import Registry
from okr_pipeline.model.report import write_report
from okr_pipeline.model.risk import RiskModel

__all__ = ["TrainingResult", "open_registry", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    version: str
    alias: str  # champion if promoted, else challenger
    promoted: bool
    reason: str
    as_of: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]
    champion_metrics: dict[str, float] | None
    rows: dict[str, int]
    report: str
    seconds: float
    importance: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["importance"] = dict(list(self.importance.items())[:10])
        return data


def open_registry(settings: Settings) -> Registry:
    return Registry(
        settings.tracking_uri,
        settings.model.registered_name,
        artifact_root=settings.data_dir.resolve() / "mlartifacts",
    )


def _check_enough(snapshots: Snapshots, settings: Settings, as_of: datetime) -> None:
    key_results = len(np.unique(snapshots.groups))
    if key_results < settings.model.min_training_key_results:
        raise OkrError(
            f"only {key_results} key results closed before {as_of:%Y-%m-%d} have an outcome; "
            f"training needs at least {settings.model.min_training_key_results} "
            "(model.min_training_key_results)"
        )
    if len(np.unique(snapshots.missed)) < 2:
        raise OkrError("every closed key result has the same outcome: nothing to learn from")


def _gate(
    model: dict[str, float],
    baselines: dict[str, dict[str, float]],
    champion: dict[str, float] | None,
    margin: float,
) -> tuple[bool, str]:
    best_name, best = max(baselines.items(), key=lambda item: item[1]["auc"])
    if not model["auc"] > best["auc"]:
        return False, f"refused: AUC {model['auc']:.4f} does not beat {best_name} {best['auc']:.4f}"
    if champion is not None and not model["auc"] >= champion["auc"] + margin:
        return False, (
            f"refused: AUC {model['auc']:.4f} < champion {champion['auc']:.4f} + margin {margin}"
        )
    against = "no champion yet" if champion is None else f"champion {champion['auc']:.4f}"
    return True, f"promoted: AUC {model['auc']:.4f} beats {best_name} {best['auc']:.4f}, {against}"


def _flat(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """MLflow metric names: the model's as they are, the baselines' prefixed."""
    flat = {}
    for scorer, values in metrics.items():
        prefix = "" if scorer == "model" else scorer.replace(" + ", "_").replace(" ", "_") + "_"
        flat.update({f"{prefix}{k}": v for k, v in values.items() if not math.isnan(v)})
    return flat


def train(settings: Settings, engine: Engine, as_of: datetime) -> TrainingResult:
    """Train on key results closed before `as_of`, register, and apply the promotion gate."""
    started = time.perf_counter()
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    snapshots = training_snapshots(history, as_of, settings.model.snapshot_fractions)
    _check_enough(snapshots, settings, as_of)
    fit, valid = split_by_time(snapshots, settings.model.validation_share)
    _check_enough(fit, settings, as_of)

    params = settings.model.params.model_dump()
    model = RiskModel(**params, random_state=settings.model.random_seed)
    model.fit(fit.features, fit.missed, fit.groups)
    scores = {"model": model.predict_proba(valid.features)[:, 1]}
    for name, rule in BASELINES.items():
        scores[name] = rule().fit(fit.features, fit.missed).predict_proba(valid.features)[:, 1]
    metrics = {name: score_metrics(valid.missed, s, valid.elapsed) for name, s in scores.items()}

    registry = open_registry(settings)
    champion = registry.version("champion")
    champion_metrics = None
    if champion is not None:
        champion_risk = registry.load(champion.version).predict_proba(valid.features)[:, 1]
        champion_metrics = score_metrics(valid.missed, champion_risk, valid.elapsed)
        scores[f"champion v{champion.version}"] = champion_risk

    rows = {
        "training_snapshots": len(fit),
        "validation_snapshots": len(valid),
        "training_key_results": len(np.unique(fit.groups)),
        "validation_key_results": len(np.unique(valid.groups)),
    }
    report = write_report(
        settings.path("results") / f"evaluation-{as_of:%Y%m%dT%H%M%S}.html",
        title="Risk model evaluation",
        y=valid.missed,
        scores=scores,
        elapsed=valid.elapsed,
        importance=model.feature_importance(),
        context={
            "as of": as_of.isoformat(),
            **{k.replace("_", " "): str(v) for k, v in rows.items()},
            "champion before": f"v{champion.version}" if champion else "none",
        },
    )
    version = registry.log_training(
        model=model,
        params={
            **params,
            "as_of": as_of.isoformat(),
            "seed": settings.model.random_seed,
            "snapshot_fractions": list(settings.model.snapshot_fractions),
            **rows,
        },
        metrics=_flat({k: v for k, v in metrics.items()}),
        input_example=valid.features.head(5),
        artifacts=[report],
        tags={"as_of": as_of.isoformat()},
    )
    promoted, reason = _gate(
        metrics["model"],
        {n: metrics[n] for n in BASELINES},
        champion_metrics,
        settings.model.promotion_margin,
    )
    if promoted:
        registry.promote(version.version, reason)
    registry.record_decision(version.version, promoted, reason)
    log.info("model version %s: %s", version.version, reason)
    return TrainingResult(
        version=version.version,
        alias="champion" if promoted else "challenger",
        promoted=promoted,
        reason=reason,
        as_of=as_of.isoformat(),
        metrics=metrics["model"],
        baseline_metrics={n: metrics[n] for n in BASELINES},
        champion_metrics=champion_metrics,
        rows=rows,
        report=str(report),
        seconds=round(time.perf_counter() - started, 2),
        importance={k: float(v) for k, v in model.feature_importance().items()},
    )
