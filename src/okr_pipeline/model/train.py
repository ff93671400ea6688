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

from sqlalchemy import Engine

from okr_pipeline.config import Settings
from okr_pipeline.features import load_history
from okr_pipeline.model.baseline import BASELINES
from okr_pipeline.model.evaluate import score_against_baselines, time_split
from okr_pipeline.model.registry import open_registry
from okr_pipeline.model.risk import RiskModel

__all__ = ["TrainingResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    model_version: str
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
    fit, valid = time_split(settings, history, as_of)
    params = settings.model.params.model_dump()
    model = RiskModel(**params, random_state=settings.model.random_seed)
    model.fit(fit.features, fit.missed, fit.groups)

    registry = open_registry(settings)
    champion = registry.version("champion")
    models: dict[str, Any] = {"model": model}
    if champion is not None:
        models[f"champion v{champion.version}"] = registry.load(champion.version)
    evaluation = score_against_baselines(fit, valid, models)
    metrics = evaluation.metrics
    champion_metrics = metrics.get(f"champion v{champion.version}") if champion else None
    report = evaluation.report(
        settings.path("results") / f"training-{as_of:%Y%m%dT%H%M%S}-{int(time.time())}.html",
        valid,
        model,
        {
            "as of": as_of.isoformat(),
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
            **evaluation.rows,
        },
        metrics=_flat({n: metrics[n] for n in ("model", *BASELINES)}),
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
        model_version=version.version,
        alias="champion" if promoted else "challenger",
        promoted=promoted,
        reason=reason,
        as_of=as_of.isoformat(),
        metrics=metrics["model"],
        baseline_metrics={n: metrics[n] for n in BASELINES},
        champion_metrics=champion_metrics,
        rows=evaluation.rows,
        report=str(report),
        seconds=round(time.perf_counter() - started, 2),
        importance={k: float(v) for k, v in model.feature_importance().items()},
    )
