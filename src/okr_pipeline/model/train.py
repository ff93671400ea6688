"""Training: snapshots of key results closed before D -> the risk model, its settings chosen by
rolling folds over the earlier periods -> scored on the latest closed periods beside the
baselines and the champion -> the promotion gate (gate.py) -> refitted on every closed period,
registered as a new version (`challenger`) and, if the gate passed, promoted to `champion`.

An update is the same training once key results have closed since the champion's; only its gate
differs: no worse than the champion within the interval, and better on the newest period.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import Engine

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError
from okr_pipeline.features import load_history
from okr_pipeline.model.baseline import BASELINES, metric_prefix
from okr_pipeline.model.dataset import Snapshots
from okr_pipeline.model.evaluate import score_against_baselines, time_split
from okr_pipeline.model.gate import Kind, Verdict, judge, shortfall
from okr_pipeline.model.metrics import score_metrics
from okr_pipeline.model.registry import ModelVersion, RiskPredictor, load_champion, open_registry
from okr_pipeline.model.risk import RiskModel
from okr_pipeline.model.tuning import Candidate

__all__ = ["TrainingResult", "closed_since_champion", "risk_model", "train", "update"]

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    model_version: str
    alias: str  # champion if promoted, else challenger
    promoted: bool
    reason: str
    kind: str  # training | update
    as_of: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]
    champion_metrics: dict[str, float] | None  # on the key results it had not learnt from
    differences: dict[str, dict[str, float]]  # the gate's: this version minus each scorer
    rows: dict[str, int]
    settings: dict[str, float]  # chosen by the search, with the served model's tree count
    report: str
    seconds: float
    importance: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["importance"] = dict(list(self.importance.items())[:10])
        return data


def _flat(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """MLflow metric names: the model's as they are, the baselines' prefixed."""
    flat = {}
    for scorer, values in metrics.items():
        prefix = "" if scorer == "model" else metric_prefix(scorer)
        flat.update({f"{prefix}{k}": v for k, v in values.items() if not math.isnan(v)})
    return flat


def risk_model(settings: Settings) -> RiskModel:
    """An unfitted risk model with the configured settings and search."""
    params = settings.model.params
    search = {}
    if params.search is not None:
        search["search"] = tuple(Candidate(**point.model_dump()) for point in params.search)
    return RiskModel(
        learning_rate=params.learning_rate,
        max_trees=params.max_trees,
        folds=params.folds,
        random_state=settings.model.random_seed,
        **search,
    )


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
    """Train on key results closed before `as_of`, apply the promotion gate, and register the
    model refitted on all of them."""
    _refuse_future(as_of)
    started = time.perf_counter()
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    fit, valid = time_split(settings, history, as_of)
    return _register(settings, fit, valid, as_of, started, "training", {})


def update(settings: Settings, engine: Engine, as_of: datetime) -> TrainingResult | None:
    """Train again on everything closed before `as_of` once at least
    `model.min_update_key_results` key results (of both outcomes) have closed that the champion
    has not learnt from, and enough of them to judge it on fall in the validation periods (the
    gate's minimums), through the update's gate. None when there are too few."""
    _refuse_future(as_of)
    started = time.perf_counter()
    champion, base, fit, valid, new = _since_champion(settings, engine, as_of)
    too_few = shortfall(valid.subset(_unseen(base, valid)), settings.model, "")
    if (
        len(np.unique(new.groups)) < settings.model.min_update_key_results
        or len(np.unique(new.missed)) < 2
        or too_few
    ):
        log.info("no update: %d new closed key results", len(np.unique(new.groups)))
        return None
    params = {"parent_version": champion.version, "new_key_results": len(np.unique(new.groups))}
    return _register(settings, fit, valid, as_of, started, "update", params)


def closed_since_champion(settings: Settings, engine: Engine, as_of: datetime) -> tuple[str, int]:
    """The champion's version and how many key results closed before `as_of` it has not learnt
    from (what `update` would add to its training)."""
    champion, _, _, _, new = _since_champion(settings, engine, as_of)
    return champion.version, len(np.unique(new.groups))


def _since_champion(
    settings: Settings, engine: Engine, as_of: datetime
) -> tuple[ModelVersion, RiskPredictor, Snapshots, Snapshots, Snapshots]:
    """The champion, its model, the time split as of `as_of`, and the snapshots of the key
    results it has not learnt from."""
    champion, base = load_champion(settings)
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    fit, valid = time_split(settings, history, as_of)
    closed = fit.join(valid)
    return champion, base, fit, valid, closed.subset(_unseen(base, closed))


def _unseen(model: RiskPredictor, rows: Snapshots) -> np.ndarray:
    return ~np.isin(rows.groups, list(model.trained_key_results_))


def _register(
    settings: Settings,
    fit: Snapshots,
    valid: Snapshots,
    as_of: datetime,
    started: float,
    kind: Kind,
    params: dict[str, Any],
) -> TrainingResult:
    """Fit a candidate on `fit`, judge it on `valid` next to the baselines and the champion,
    refit it on both, register that as a new version (`challenger`), and promote it if the
    candidate passed the gate."""
    registry = open_registry(settings)
    candidate = risk_model(settings).fit(fit)
    evaluation = score_against_baselines(fit, valid, {"model": candidate})
    scores, metrics = dict(evaluation.scores), evaluation.metrics
    champion = registry.version("champion")
    champion_name, unseen, champion_metrics = None, None, None
    if champion is not None:
        champion_name = f"champion v{champion.version}"
        champion_model = cast(RiskPredictor, registry.load(champion.version))
        scores[champion_name] = champion_model.predict_proba(valid.features)[:, 1]
        unseen = _unseen(champion_model, valid)
        if unseen.any():
            champion_metrics = score_metrics(
                valid.missed[unseen], scores[champion_name][unseen], valid.elapsed[unseen]
            )
    verdict = judge(settings.model, kind, valid, scores, list(BASELINES), champion_name, unseen)
    served = candidate.refit(fit.join(valid))
    report = evaluation.report(
        settings.path("results") / f"{kind}-{as_of:%Y%m%dT%H%M%S}-{int(time.time())}.html",
        valid,
        candidate,
        {
            "as of": as_of.isoformat(),
            "kind": kind,
            "champion before": f"v{champion.version}" if champion else "none",
            "gate": verdict.reason,
            "model shown": "fitted on the training periods, as judged; the version registered "
            "is the same setting refit on every closed period",
        },
    )
    chosen = {**vars(served.tuned_), "trees": served.trees_}
    version = registry.log_training(
        model=served,
        params={
            **params,
            **chosen,
            "kind": kind,
            "as_of": as_of.isoformat(),
            "seed": settings.model.random_seed,
            "snapshot_fractions": list(settings.model.snapshot_fractions),
            **evaluation.rows,
        },
        metrics=_flat({n: metrics[n] for n in ("model", *BASELINES)}) | _gate_metrics(verdict),
        input_example=valid.features.head(5),
        artifacts=[report],
        tags={"as_of": as_of.isoformat(), "kind": kind},
    )
    if verdict.promoted:
        registry.promote(version.version, verdict.reason)
    registry.record_decision(version.version, verdict.promoted, verdict.reason)
    log.info("model version %s (%s): %s", version.version, kind, verdict.reason)
    return TrainingResult(
        model_version=version.version,
        alias="champion" if verdict.promoted else "challenger",
        promoted=verdict.promoted,
        reason=verdict.reason,
        kind=kind,
        as_of=as_of.isoformat(),
        metrics=metrics["model"],
        baseline_metrics={n: metrics[n] for n in BASELINES},
        champion_metrics=champion_metrics,
        differences={n: vars(d) for n, d in verdict.differences.items()},
        rows=evaluation.rows,
        settings=chosen,
        report=str(report),
        seconds=round(time.perf_counter() - started, 2),
        importance={str(k): float(v) for k, v in served.feature_importance().items()},
    )


def _gate_metrics(verdict: Verdict) -> dict[str, float]:
    """The gate's differences as MLflow metrics: `gate_<scorer>_<measure>`."""
    return {
        f"gate_{metric_prefix(name.split(' v')[0])}{measure}": value
        for name, difference in verdict.differences.items()
        for measure, value in vars(difference).items()
        if not math.isnan(value)
    }
