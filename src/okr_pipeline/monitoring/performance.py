"""Model performance as of D: realized on the stored predictions whose key results have closed,
and estimated for the open key results before their outcomes arrive.

Realized: each closed key result contributes, per elapsed bucket (`model.metrics.BUCKETS`), its
latest stored prediction made in that bucket before its due date, so that a key result scored
every day weighs as much as one scored once; AUC and Brier come from `model.metrics`, with a
reliability table beside them.

Estimated: confidence-based performance estimation (CBPE, as NannyML documents it). The stored
risks are calibrated probabilities of missing, so each open key result's outcome is taken to be
Bernoulli(p_i): the expected miss rate is mean(p), the expected Brier score mean(p(1 - p)), and
the expected ROC curve comes from the expected confusion matrix at every threshold
(E[TP(t)] = sum of p_i over p_i >= t, E[FP(t)] = sum of 1 - p_i over the same), whose area is the
expected AUC. Intervals come from labels drawn from the same Bernoulli law (Monte Carlo, seeded):
they say how far the realized values may land from the estimate if the model is calibrated.

Each estimate is kept in `performance_estimates` with the risks it was made from, and is settled
(realized values beside it) once all of its key results have closed, so that the estimates
themselves can be judged.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select, update

from okr_pipeline.config import Settings
from okr_pipeline.core import days, instant, now_utc
from okr_pipeline.features import History, closed_before, elapsed_share, load_history, open_at
from okr_pipeline.model.metrics import BUCKETS, score_metrics
from okr_pipeline.monitoring.problems import problem
from okr_pipeline.warehouse import OLDEST_FIRST, performance_estimates, predictions

__all__ = [
    "CALIBRATION_BINS",
    "MIN_OUTCOMES",
    "SAMPLES",
    "Estimate",
    "StoredPrediction",
    "estimate",
    "estimate_metrics",
    "expected_auc",
    "performance",
    "realized_metrics",
    "record_estimate",
    "settle_estimates",
]

MIN_OUTCOMES = 20  # fewer key results: AUC and Brier say more about chance than about the model
CALIBRATION_BINS = 10  # equal-width bins of predicted risk in the reliability table
SAMPLES = 2000  # Monte Carlo draws for the intervals: quantiles to about ±0.01 at 90 %
DRAWN_AT_ONCE = 2_000_000  # labels drawn per block of draws: memory stays bounded (16 MB)
HISTORY_LIMIT = 200  # past estimates returned by `performance`, the newest


# --- the estimator, on plain arrays -----------------------------------------------------------


def expected_auc(p: np.ndarray) -> float:
    """The area under the expected ROC curve when each label is Bernoulli(p_i) (CBPE).

    Scores are the probabilities themselves; tied scores form one step of the curve, as
    `roc_auc_score` treats ties. NaN when the expected positives or negatives are zero.
    """
    p = np.asarray(p, dtype=float)
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return math.nan
    order = np.argsort(-p, kind="stable")
    sorted_p = p[order]
    # the curve's corners: after the last of each run of equal scores
    last_of_run = np.r_[sorted_p[1:] != sorted_p[:-1], True]
    tpr = np.r_[0.0, np.cumsum(sorted_p)[last_of_run] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - sorted_p)[last_of_run] / negatives]
    return float(np.trapezoid(tpr, fpr))


def _sampled_metrics(p: np.ndarray, samples: int, seed: int) -> dict[str, np.ndarray]:
    """AUC, Brier and miss rate of `samples` label vectors drawn Bernoulli(p), vectorised: the
    scores are fixed, so AUC is the rank-sum (Mann-Whitney) statistic of each draw. Drawn a
    block of rows at a time (the same numbers as all at once), so that tens of thousands of
    open key results do not take gigabytes."""
    rng = np.random.default_rng(seed)
    ranks = _average_ranks(p)
    # (y - p)^2 = y (1 - 2p) + p^2 for y in {0, 1}: no matrix of floats per draw
    brier_weights, brier_base = 1 - 2 * p, float(np.sum(p * p))
    block = max(1, DRAWN_AT_ONCE // max(p.size, 1))
    sums: dict[str, list[np.ndarray]] = {"missed": [], "ranks": [], "brier": []}
    for start in range(0, samples, block):
        labels = rng.random((min(block, samples - start), p.size)) < p  # one draw per row
        sums["missed"].append(labels.sum(axis=1).astype(float))
        sums["ranks"].append(labels @ ranks)
        sums["brier"].append(labels @ brier_weights)
    missed, rank_sums = np.concatenate(sums["missed"]), np.concatenate(sums["ranks"])
    achieved = p.size - missed
    with np.errstate(divide="ignore", invalid="ignore"):  # a one-class draw has no AUC: NaN
        auc = (rank_sums - missed * (missed + 1) / 2) / (missed * achieved)
    auc[(missed == 0) | (achieved == 0)] = math.nan
    return {
        "auc": auc,
        "brier": (np.concatenate(sums["brier"]) + brier_base) / p.size,
        "miss_rate": missed / p.size,
    }


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (as the Mann-Whitney statistic needs)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    run = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], values.size] - 1
    ranks = np.empty(values.size)
    ranks[order] = (first[run] + last[run]) / 2 + 1
    return ranks


def _number(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 6)


def estimate_metrics(p: np.ndarray, interval: float, seed: int) -> dict[str, Any]:
    """Expected AUC, Brier and miss rate of calibrated risks `p`, each with `low` and `high`
    (the central `interval` of the realized values under Bernoulli(p) labels)."""
    p = np.asarray(p, dtype=float)
    if p.size < MIN_OUTCOMES:
        reason = f"{p.size} open key results (at least {MIN_OUTCOMES} needed)"
        return {name: None for name in ("auc", "brier", "miss_rate")} | {"reason": reason}
    points = {
        "auc": expected_auc(p),
        "brier": float(np.mean(p * (1 - p))),
        "miss_rate": float(np.mean(p)),
    }
    tail = (1 - interval) / 2
    result: dict[str, Any] = {}
    for name, draws in _sampled_metrics(p, SAMPLES, seed).items():
        draws = draws[np.isfinite(draws)]
        low, high = np.quantile(draws, [tail, 1 - tail]) if draws.size else (math.nan, math.nan)
        result[name] = {
            "value": _number(points[name]),
            "low": _number(float(low)),
            "high": _number(float(high)),
        }
    return result


# --- realized performance ---------------------------------------------------------------------


def _calibration(y: np.ndarray, risk: np.ndarray) -> list[dict[str, Any]]:
    """The reliability table: per non-empty bin of predicted risk, the mean predicted risk next
    to the observed miss rate."""
    bins = np.minimum((risk * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    table = []
    for b in np.unique(bins):
        mask = bins == b
        table.append(
            {
                "low": round(b / CALIBRATION_BINS, 6),
                "high": round((b + 1) / CALIBRATION_BINS, 6),
                "mean_predicted": _number(float(risk[mask].mean())),
                "observed_miss_rate": _number(float(y[mask].mean())),
                "count": int(mask.sum()),
            }
        )
    return table


def realized_metrics(y: np.ndarray, risk: np.ndarray, elapsed: np.ndarray) -> dict[str, Any]:
    """AUC, Brier, miss rate and reliability table overall, AUC and Brier per elapsed bucket
    (each None with a reason when there are fewer than MIN_OUTCOMES outcomes or one class)."""
    y, risk, elapsed = (np.asarray(a, dtype=float) for a in (y, risk, elapsed))
    scores = score_metrics(y, risk, elapsed)
    result: dict[str, Any] = {"overall": _scored(y, risk, scores["auc"])}
    result["overall"]["calibration"] = _calibration(y, risk) if y.size else []
    result["by_bucket"] = {}
    for low, high, name in BUCKETS:
        mask = (elapsed >= low) & (elapsed < high)
        result["by_bucket"][name] = _scored(y[mask], risk[mask], scores[f"auc_{name}"])
    return result


def _scored(y: np.ndarray, risk: np.ndarray, auc: float) -> dict[str, Any]:
    scored: dict[str, Any] = {
        "n": int(y.size),
        "miss_rate": _number(float(y.mean())) if y.size else None,
    }
    if y.size < MIN_OUTCOMES or np.unique(y).size < 2:
        why = "one outcome class only" if y.size >= MIN_OUTCOMES else f"{y.size} outcomes"
        return scored | {"auc": None, "brier": None, "reason": f"{why} (need {MIN_OUTCOMES}+)"}
    return scored | {"auc": _number(auc), "brier": _number(float(np.mean((risk - y) ** 2)))}


@dataclass(frozen=True)
class StoredPrediction:
    key_result_id: str
    as_of: datetime
    risk: float
    model_version: str


def _stored_predictions(conn: Connection, as_of: datetime) -> list[StoredPrediction]:
    rows = conn.execute(
        select(
            predictions.c.key_result_id,
            predictions.c.as_of,
            predictions.c.risk,
            predictions.c.model_version,
        )
        .where(predictions.c.as_of <= as_of)
        .order_by(*OLDEST_FIRST)  # a later one replaces an earlier one as they are read
    )
    return [StoredPrediction(*row) for row in rows]


def _elapsed(history: History, kr_id: str, moment: datetime) -> float:
    """The elapsed share of the key result's period at `moment` (as the features count it)."""
    return elapsed_share(history.key_results[kr_id], days(moment))


def _bucket(elapsed: float) -> str:
    return next(name for low, high, name in BUCKETS if low <= elapsed < high)


def _realized(history: History, stored: list[StoredPrediction], as_of: datetime) -> dict[str, Any]:
    """Realized performance of the stored predictions on the key results closed before `as_of`:
    per key result and elapsed bucket, its latest prediction made before its due date."""
    closed = set(closed_before(history, as_of))
    chosen: dict[tuple[str, str], tuple[StoredPrediction, float]] = {}
    for pred in stored:  # in time order: later ones replace earlier ones of the same bucket
        kr = history.key_results.get(pred.key_result_id)
        if pred.key_result_id not in closed or kr is None or days(pred.as_of) > kr.end:
            continue
        share = _elapsed(history, pred.key_result_id, pred.as_of)
        chosen[(pred.key_result_id, _bucket(share))] = (pred, share)
    y = np.array([float(bool(history.outcome(p.key_result_id))) for p, _ in chosen.values()])
    risk = np.array([p.risk for p, _ in chosen.values()])
    elapsed = np.array([e for _, e in chosen.values()])
    result = realized_metrics(y, risk, elapsed)
    result["key_results"] = len({kr_id for kr_id, _ in chosen})
    result["model_versions"] = sorted({p.model_version for p, _ in chosen.values()})
    return result


# --- estimates: made, recorded, settled -------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """An estimate as of D and the risks it was made from (kept so it can be settled)."""

    as_of: datetime
    summary: dict[str, Any]  # JSON-ready: auc, brier, miss_rate, key_results, model_version…
    risks: dict[str, float]  # open key result -> its latest stored risk at or before D

    @property
    def cohort(self) -> str:
        """The sha256 of the key results' ids, sorted: the open key results it is about."""
        return hashlib.sha256("\n".join(sorted(self.risks)).encode()).hexdigest()


def estimate(
    settings: Settings, history: History, stored: Iterable[StoredPrediction], as_of: datetime
) -> Estimate:
    """Estimated performance on the key results open at `as_of` (not cancelled), from the latest
    stored prediction of each at or before `as_of`."""
    open_now = {k for k in open_at(history, as_of) if not history.key_results[k].cancelled}
    latest: dict[str, StoredPrediction] = {}
    for pred in stored:  # in time order: the last one wins
        if pred.key_result_id in open_now:
            latest[pred.key_result_id] = pred
    risks = {kr_id: pred.risk for kr_id, pred in sorted(latest.items())}
    ordered = sorted(latest.values(), key=lambda pred: pred.as_of)
    p = np.fromiter(risks.values(), dtype=float, count=len(risks))
    performance = settings.monitoring.performance
    summary = estimate_metrics(p, performance.interval, settings.model.random_seed)
    if "reason" in summary:  # open key results may have no stored prediction yet
        summary["reason"] = (
            f"{len(risks)} of the {len(open_now)} open key results have a stored prediction "
            f"(at least {MIN_OUTCOMES} needed)"
        )
    summary |= {
        "key_results": len(risks),
        # the newest prediction's model; the others' too, if the champion changed in between
        "model_version": ordered[-1].model_version if ordered else None,
        "model_versions": sorted({pred.model_version for pred in ordered}),
        "predicted_from": ordered[0].as_of.isoformat() if ordered else None,
        "predicted_to": ordered[-1].as_of.isoformat() if ordered else None,
        "interval": performance.interval,
    }
    return Estimate(as_of, summary, risks)


def record_estimate(conn: Connection, made: Estimate) -> int | None:
    """Store an estimate with its risks; returns its row id, or None if nothing was estimated (too
    few open key results) or the latest stored estimate at or before its as-of came from the same
    risks (a monitoring run every two hours between daily predictions would otherwise repeat it,
    and so would a second run as of a past date)."""
    if made.summary["miss_rate"] is None:
        return None
    latest = conn.execute(
        select(performance_estimates.c.cohort, performance_estimates.c.estimated)
        .where(performance_estimates.c.as_of <= made.as_of)
        .order_by(performance_estimates.c.as_of.desc(), performance_estimates.c.id.desc())
        .limit(1)
    ).first()
    if (
        latest is not None
        and latest.cohort == made.cohort
        and json.loads(latest.estimated)["risks"] == made.risks
    ):
        return None
    row_id = conn.execute(
        performance_estimates.insert().values(
            as_of=made.as_of,
            model_version=made.summary["model_version"],
            cohort=made.cohort,
            key_results=len(made.risks),
            estimated=json.dumps(made.summary | {"risks": made.risks}),
        )
    ).inserted_primary_key
    return int(row_id[0]) if row_id is not None else None


def settle_estimates(
    conn: Connection, settings: Settings, as_of: datetime, history: History | None = None
) -> int:
    """Fill `realized` / `realized_at` of the unsettled estimates made at or before `as_of` whose
    key results have all closed before it; returns how many were settled. `history`, if given,
    is the warehouse's as loaded in this transaction (else it is loaded when needed)."""
    pending = conn.execute(
        select(performance_estimates.c.id, performance_estimates.c.estimated).where(
            performance_estimates.c.realized.is_(None),
            performance_estimates.c.as_of <= as_of,
        )
    ).all()
    if not pending:
        return 0
    if history is None:
        history = load_history(conn, settings.model.achievement_threshold)
    closed = set(closed_before(history, as_of))
    now = min(days(as_of), history.data_until)
    settled = 0
    for row_id, estimated in pending:
        risks: dict[str, float] = json.loads(estimated)["risks"]
        krs = [history.key_results.get(kr_id) for kr_id in risks]
        if any(kr is not None and kr.end >= now for kr in krs):
            continue  # some are still open (or past due with no data yet): not yet
        realized = _settled(history, closed, risks)
        conn.execute(
            update(performance_estimates)
            .where(performance_estimates.c.id == row_id)
            .values(realized=json.dumps(realized), realized_at=now_utc())
        )
        settled += 1
    return settled


def _settled(history: History, closed: set[str], risks: Mapping[str, float]) -> dict[str, Any]:
    """The realized AUC, Brier and miss rate of the estimate's own risks on the outcomes of its
    key results (those cancelled or gone since have none and are counted apart), and when the
    last of those outcomes was known (`known_at`: the latest due date among them)."""
    with_outcome = [kr_id for kr_id in risks if kr_id in closed]
    y = np.array([float(bool(history.outcome(kr_id))) for kr_id in with_outcome])
    p = np.array([risks[kr_id] for kr_id in with_outcome])
    scored = _scored(y, p, score_metrics(y, p, np.zeros(y.size))["auc"])
    ends = [history.key_results[kr_id].end for kr_id in risks if kr_id in history.key_results]
    known_at = instant(max(ends)).isoformat() if ends else None
    return scored | {
        "key_results": len(with_outcome),
        "without_outcome": len(risks) - len(y),
        "known_at": known_at,
    }


def _history(conn: Connection, as_of: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(performance_estimates)
        .where(performance_estimates.c.as_of <= as_of)
        .order_by(performance_estimates.c.as_of.desc(), performance_estimates.c.id.desc())
        .limit(HISTORY_LIMIT)
    ).mappings()
    past = []
    for row in rows:
        estimated = json.loads(row["estimated"])
        estimated.pop("risks")
        realized = json.loads(row["realized"]) if row["realized"] else None
        # settled by a later run: its outcomes were not known yet at `as_of`
        known_at = realized and realized.get("known_at")
        if known_at and datetime.fromisoformat(known_at) >= as_of:
            realized = None
        past.append(
            {
                "as_of": row["as_of"].isoformat(),
                "model_version": row["model_version"],
                "cohort": row["cohort"],
                "key_results": row["key_results"],
                "estimated": estimated,
                "realized": realized,
                "realized_at": realized and row["realized_at"] and row["realized_at"].isoformat(),
            }
        )
    return past[::-1]  # oldest first, as a plot reads


# --- the whole picture ------------------------------------------------------------------------


def _problems(
    settings: Settings, realized: dict[str, Any], estimated: dict[str, Any]
) -> list[dict[str, Any]]:
    """AUC below `min_auc` or Brier above `max_brier`: realized (critical: the outcomes say so),
    or estimated with its whole interval past the limit (a warning: the model's own risks say
    so; early in a period the risks are mild and the estimate alone would often dip below)."""
    limits = settings.monitoring.performance
    problems = []
    overall = realized["overall"]
    if overall["auc"] is not None and overall["auc"] < limits.min_auc:
        problems.append(_problem("realized", "auc", overall["auc"], limits.min_auc, "below"))
    if overall["brier"] is not None and overall["brier"] > limits.max_brier:
        problems.append(_problem("realized", "brier", overall["brier"], limits.max_brier, "above"))
    auc, brier = estimated.get("auc"), estimated.get("brier")
    if auc is not None and auc["high"] < limits.min_auc:
        problems.append(_problem("estimated", "auc", auc, limits.min_auc, "below"))
    if brier is not None and brier["low"] > limits.max_brier:
        problems.append(_problem("estimated", "brier", brier, limits.max_brier, "above"))
    return problems


def _problem(
    kind: str, subject: str, value: float | dict[str, float], threshold: float, where: str
) -> dict[str, Any]:
    """A metric past its limit: a realized value, or an estimate with its interval."""
    if isinstance(value, dict):
        figure = f"{value['value']:.3f} (interval {value['low']:.3f} to {value['high']:.3f})"
        value, severity = value["value"], "warning"
    else:
        figure, severity = f"{value:.3f}", "critical"
    message = f"{kind} {subject.upper()} {figure} is {where} the limit {threshold}"
    return problem(f"performance.{kind}", subject, severity, message, value, threshold)


def performance(
    settings: Settings, engine: Engine, as_of: datetime, *, record: bool = False
) -> dict[str, Any]:
    """Realized and estimated performance as of `as_of`, the past estimates beside what they
    turned out to be, and the problems.

    With `record`, in one transaction: past estimates whose key results have all closed are
    settled first, then this estimate is recorded (and is the last of `history`).
    Returns `{"as_of", "realized", "estimated", "history", "problems"}`.
    """
    with engine.begin() if record else engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
        if record:
            settle_estimates(conn, settings, as_of, history)
        stored = _stored_predictions(conn, as_of)
        made = estimate(settings, history, stored, as_of)
        if record:
            record_estimate(conn, made)
        past = _history(conn, as_of)
    realized = _realized(history, stored, as_of)
    return {
        "as_of": as_of.isoformat(),
        "realized": realized,
        "estimated": made.summary | {"cohort": made.cohort},
        "history": past,
        "problems": _problems(settings, realized, made.summary),
    }
