"""Scores of a risk scorer on validation snapshots, overall and by elapsed share of the period.

Every value is a plain float so that it can be logged to MLflow as is; a metric that is undefined
(AUC with a single outcome class, anything on zero rows) is NaN rather than an error, because a
small validation slice legitimately lacks one class.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata  # type: ignore[import-untyped]

__all__ = [
    "BUCKETS",
    "BUCKET_WEIGHTS",
    "EPSILON",
    "auc",
    "best_scorers",
    "compare",
    "direction",
    "early_weighted_auc",
    "score_metrics",
]

# Elapsed share of the period: [low, high). The last bound is above 1 so that snapshots taken on
# the due date itself (elapsed == 1.0) land in "late".
BUCKETS: tuple[tuple[float, float, str], ...] = (
    (0.0, 1 / 3, "early"),
    (1 / 3, 2 / 3, "middle"),
    (2 / 3, 1.0001, "late"),
)
# A warning is worth most early, when there is time to act: the gate's AUC weighs the buckets so.
BUCKET_WEIGHTS = {"early": 0.5, "middle": 0.3, "late": 0.2}
EPSILON = 1e-6  # log-loss clipping: a confident wrong 0 or 1 would otherwise cost infinity

_HIGHER_IS_BETTER = ("auc",)
_LOWER_IS_BETTER = ("brier", "log_loss")


def auc(y: np.ndarray, risk: np.ndarray) -> float:
    """ROC AUC from ranks (ties as half), as roc_auc_score computes it but without its checks,
    which cost more than the AUC on the thousands of resamples of a bootstrap; NaN when one
    outcome is absent."""
    positives = int(np.count_nonzero(y))
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(risk)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def early_weighted_auc(y: np.ndarray, risk: np.ndarray, elapsed: np.ndarray) -> float:
    """The mean of the AUCs within each elapsed bucket, weighted by BUCKET_WEIGHTS (a bucket
    without both outcomes left out and the weights of the others rescaled): predictions are
    compared only with others made at the same point of a period, where pooling would reward
    knowing that late snapshots are surer."""
    total = weight = 0.0
    for low, high, name in BUCKETS:
        mask = (elapsed >= low) & (elapsed < high)
        value = auc(y[mask], risk[mask])
        if not math.isnan(value):
            total += BUCKET_WEIGHTS[name] * value
            weight += BUCKET_WEIGHTS[name]
    return total / weight if weight else math.nan


def _validated(
    y: np.ndarray, risk: np.ndarray, elapsed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    risk = np.asarray(risk, dtype=float).ravel()
    elapsed = np.asarray(elapsed, dtype=float).ravel()
    if not y.size == risk.size == elapsed.size:
        raise ValueError(f"length mismatch: y={y.size}, risk={risk.size}, elapsed={elapsed.size}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold only 0 (achieved) and 1 (missed)")
    if not np.isfinite(risk).all() or (risk < 0).any() or (risk > 1).any():
        raise ValueError("risk must be finite probabilities in [0, 1]")
    return y, risk, elapsed


def score_metrics(y: np.ndarray, risk: np.ndarray, elapsed: np.ndarray) -> dict[str, float]:
    """AUC pooled and early-weighted, Brier, log-loss, row count and miss rate, then AUC and row
    count per elapsed bucket.

    Keys: `auc`, `auc_weighted`, `brier`, `log_loss`, `auc_<bucket>` for each bucket, `n`,
    `miss_rate`, `n_<bucket>` for each bucket (quality first, counts after: the order of a
    report table).
    """
    y, risk, elapsed = _validated(y, risk, elapsed)
    empty = y.size == 0
    clipped = np.clip(risk, EPSILON, 1 - EPSILON)
    metrics: dict[str, float] = {
        "auc": auc(y, risk),
        "auc_weighted": early_weighted_auc(y, risk, elapsed),
        "brier": math.nan if empty else float(np.mean((risk - y) ** 2)),
        "log_loss": math.nan
        if empty
        else float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
    }
    # NaN elapsed fails both comparisons, so such rows count overall but in no bucket.
    masks = {name: (elapsed >= low) & (elapsed < high) for low, high, name in BUCKETS}
    for name, mask in masks.items():
        metrics[f"auc_{name}"] = auc(y[mask], risk[mask])
    metrics["n"] = float(y.size)
    metrics["miss_rate"] = math.nan if empty else float(np.mean(y))
    for name, mask in masks.items():
        metrics[f"n_{name}"] = float(mask.sum())
    return metrics


def direction(metric: str) -> int:
    """+1 if a higher value is better, -1 if lower is better, 0 if it is a fact, not a score."""
    if metric in _HIGHER_IS_BETTER or metric.startswith("auc_"):
        return 1
    return -1 if metric in _LOWER_IS_BETTER else 0


def compare(metrics_by_scorer: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per metric, `{"metric": name, <scorer>: value, ...}`, scorers in the given order.

    Metrics appear in the order the first scorer reports them (then any others'); a scorer lacking
    a metric gets NaN.
    """
    if "metric" in metrics_by_scorer:
        raise ValueError('"metric" is the row label column and cannot name a scorer')
    names: dict[str, None] = {}  # an ordered set
    for metrics in metrics_by_scorer.values():
        names.update(dict.fromkeys(metrics))
    return [
        {"metric": name}
        | {scorer: float(m.get(name, math.nan)) for scorer, m in metrics_by_scorer.items()}
        for name in names
    ]


def best_scorers(row: dict[str, Any]) -> list[str]:
    """The scorers holding the best value of a `compare` row (all of them on a tie; none if the
    metric has no better direction or no scorer has a value)."""
    sign = direction(row["metric"])
    values = {k: v for k, v in row.items() if k != "metric" and not math.isnan(v)}
    if sign == 0 or not values:
        return []
    best = max(sign * v for v in values.values())
    return [k for k, v in values.items() if math.isclose(sign * v, best, rel_tol=1e-12)]
