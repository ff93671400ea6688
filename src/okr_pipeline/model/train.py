"""Training: snapshots of key results closed before D -> risk model and baselines -> evaluation
on the latest closed periods -> a new registry version (`challenger`) -> the promotion gate.
An update teaches the champion what closed since, without starting over, through the same gate.

The gate promotes the new version to `champion` only if it beats every baseline and the current
champion, scored on the same validation snapshots, by the configured AUC margin (a model no
better than a rule by more than noise is not worth serving), with a Brier score no worse than the
champion's; otherwise the reason is recorded on the version.
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
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError
from okr_pipeline.features import load_history
from okr_pipeline.model.baseline import BASELINES, metric_prefix
from okr_pipeline.model.dataset import Snapshots
from okr_pipeline.model.evaluate import score_against_baselines, time_split
from okr_pipeline.model.registry import ModelVersion, RiskPredictor, load_champion, open_registry
from okr_pipeline.model.risk import RiskModel

__all__ = ["TrainingResult", "closed_since_champion", "train", "update"]

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    model_version: str
    alias: str  # champion if promoted, else challenger
    promoted: bool
    reason: str
    kind: str  # training | incremental
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
    if not model["auc"] >= best["auc"] + margin:
        return False, (
            f"refused: AUC {model['auc']:.4f} < {best_name} {best['auc']:.4f} + margin {margin}"
        )
    if champion is not None and not model["auc"] >= champion["auc"] + margin:
        return False, (
            f"refused: AUC {model['auc']:.4f} < champion {champion['auc']:.4f} + margin {margin}"
        )
    # a better ranking with worse probabilities would mislead whoever reads a risk as a chance
    if champion is not None and not model["brier"] <= champion["brier"]:
        return False, (
            f"refused: Brier {model['brier']:.4f} is worse than champion's {champion['brier']:.4f}"
        )
    against = "no champion yet" if champion is None else f"champion {champion['auc']:.4f}"
    return True, f"promoted: AUC {model['auc']:.4f} beats {best_name} {best['auc']:.4f}, {against}"


def _flat(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """MLflow metric names: the model's as they are, the baselines' prefixed."""
    flat = {}
    for scorer, values in metrics.items():
        prefix = "" if scorer == "model" else metric_prefix(scorer)
        flat.update({f"{prefix}{k}": v for k, v in values.items() if not math.isnan(v)})
    return flat


def _refuse_future(as_of: datetime) -> None:
    """Training learns from outcomes that have happened: a later as-of would count key results
    still open as closed, and a model trained so would be registered and maybe promoted."""
    now = now_utc()
    if as_of > now:
        raise InputError(
            f"as-of {as_of.isoformat(timespec='seconds')} is later than now "
            f"({now.isoformat(timespec='seconds')} UTC): training needs outcomes that have "
            "happened; give a past as-of or none (now)"
        )


def train(settings: Settings, engine: Engine, as_of: datetime) -> TrainingResult:
    """Train on key results closed before `as_of`, register, and apply the promotion gate."""
    _refuse_future(as_of)
    started = time.perf_counter()
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    fit, valid = time_split(settings, history, as_of)
    params = settings.model.params.model_dump()
    model = RiskModel(**params, random_state=settings.model.random_seed)
    model.fit(fit.features, fit.missed, fit.groups)
    return _register(settings, model, fit, valid, as_of, started, kind="training", params=params)


def update(settings: Settings, engine: Engine, as_of: datetime) -> TrainingResult | None:
    """Teach the champion the key results closed since it was trained, without starting over
    (boosting continues with `model.update_trees` more trees), then register the result and
    apply the same gate as training. None when there is nothing new to learn from."""
    _refuse_future(as_of)
    started = time.perf_counter()
    champion, base, fit, valid, new = _since_champion(settings, engine, as_of)
    if (
        len(np.unique(new.groups)) < settings.model.min_update_key_results
        or len(np.unique(new.missed)) < 2
    ):
        log.info("no update: %d new closed key results", len(np.unique(new.groups)))
        return None
    model = base.updated(new.features, new.missed, new.groups, settings.model.update_trees)
    params = {
        "parent_version": champion.version,
        "update_trees": settings.model.update_trees,
        "new_key_results": len(np.unique(new.groups)),
    }
    return _register(settings, model, fit, valid, as_of, started, kind="incremental", params=params)


def closed_since_champion(settings: Settings, engine: Engine, as_of: datetime) -> tuple[str, int]:
    """The champion's version and how many key results closed before `as_of` it has not learnt
    from (what `update` would teach it)."""
    champion, _, _, _, new = _since_champion(settings, engine, as_of)
    return champion.version, len(np.unique(new.groups))


def _since_champion(
    settings: Settings, engine: Engine, as_of: datetime
) -> tuple[ModelVersion, RiskPredictor, Snapshots, Snapshots, Snapshots]:
    """The champion, its model, the time split as of `as_of`, and the training snapshots of the
    key results it has not learnt from."""
    champion, base = load_champion(settings)
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    fit, valid = time_split(settings, history, as_of)
    return (
        champion,
        base,
        fit,
        valid,
        fit.subset(~np.isin(fit.groups, list(base.trained_key_results_))),
    )


def _register(
    settings: Settings,
    model: RiskPredictor,
    fit: Snapshots,
    valid: Snapshots,
    as_of: datetime,
    started: float,
    *,
    kind: str,
    params: dict[str, Any],
) -> TrainingResult:
    """Evaluate the candidate next to the baselines and the champion, log and register it as a
    new version (`challenger`), and promote it if it passes the gate."""
    registry = open_registry(settings)
    champion = registry.version("champion")
    models: dict[str, Any] = {"model": model}
    if champion is not None:
        models[f"champion v{champion.version}"] = registry.load(champion.version)
    evaluation = score_against_baselines(fit, valid, models)
    metrics = evaluation.metrics
    champion_metrics = metrics.get(f"champion v{champion.version}") if champion else None
    report = evaluation.report(
        settings.path("results") / f"{kind}-{as_of:%Y%m%dT%H%M%S}-{int(time.time())}.html",
        valid,
        model,
        {
            "as of": as_of.isoformat(),
            "kind": kind,
            "champion before": f"v{champion.version}" if champion else "none",
        },
    )
    version = registry.log_training(
        model=model,
        params={
            **params,
            "kind": kind,
            "as_of": as_of.isoformat(),
            "seed": settings.model.random_seed,
            "snapshot_fractions": list(settings.model.snapshot_fractions),
            **evaluation.rows,
        },
        metrics=_flat({n: metrics[n] for n in ("model", *BASELINES)}),
        input_example=valid.features.head(5),
        artifacts=[report],
        tags={"as_of": as_of.isoformat(), "kind": kind},
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
    log.info("model version %s (%s): %s", version.version, kind, reason)
    return TrainingResult(
        model_version=version.version,
        alias="champion" if promoted else "challenger",
        promoted=promoted,
        reason=reason,
        kind=kind,
        as_of=as_of.isoformat(),
        metrics=metrics["model"],
        baseline_metrics={n: metrics[n] for n in BASELINES},
        champion_metrics=champion_metrics,
        rows=evaluation.rows,
        report=str(report),
        seconds=round(time.perf_counter() - started, 2),
        importance={str(k): float(v) for k, v in model.feature_importance().items()},
    )
