"""The promotion gate: whether a new version may serve, judged on validation key results.

The measure is the early-weighted AUC (metrics.early_weighted_auc) with the Brier score beside
it, each compared as a difference on the same rows with a bootstrap interval that resamples key
results, not snapshots (a key result's snapshots rise and fall together). The gate refuses:
- too few validation key results, or missed ones, to say anything;
- a version that does not beat every baseline by the margin, with an interval above zero;
- after a training, a version that does not beat the champion by the margin, or whose Brier is
  worse beyond the interval; after an update, one worse than the champion beyond the interval or
  no better on the newest period.
The champion is judged only on validation key results it has not learnt from (a champion is
refitted on every period closed when it was trained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from okr_pipeline.config import Model as ModelSettings
from okr_pipeline.model.dataset import Snapshots
from okr_pipeline.model.metrics import early_weighted_auc

__all__ = ["Difference", "Kind", "Verdict", "differences", "judge", "shortfall"]

Kind = Literal["training", "update"]  # what made the version: each has its rules
INTERVAL = (5.0, 95.0)  # percentiles of the bootstrap: a 90 % interval


@dataclass(frozen=True)
class Difference:
    """The candidate minus another scorer on the same rows: the point value and its interval."""

    auc: float
    auc_low: float
    auc_high: float
    brier: float
    brier_low: float
    brier_high: float


@dataclass(frozen=True)
class Verdict:
    promoted: bool
    reason: str
    differences: dict[str, Difference]  # scorer -> candidate minus scorer


def _measures(y: np.ndarray, risk: np.ndarray, elapsed: np.ndarray) -> tuple[float, float]:
    return early_weighted_auc(y, risk, elapsed), float(np.mean((risk - y) ** 2))


def differences(
    rows: Snapshots,
    candidate: np.ndarray,
    others: dict[str, np.ndarray],
    rounds: int,
    seed: int,
) -> dict[str, Difference]:
    """Candidate minus each other scorer on `rows`, with intervals from `rounds` resamples of
    the key results (each drawn with all of its snapshots)."""
    y, elapsed = rows.missed.astype(float), rows.elapsed
    _, position = np.unique(rows.groups, return_inverse=True)
    members = [np.flatnonzero(position == k) for k in range(position.max() + 1)]
    rng = np.random.default_rng(seed)
    samples = [
        np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        for _ in range(rounds)
    ]
    result = {}
    for name, other in others.items():
        point = np.subtract(_measures(y, candidate, elapsed), _measures(y, other, elapsed))
        drawn = np.array(
            [
                np.subtract(
                    _measures(y[s], candidate[s], elapsed[s]), _measures(y[s], other[s], elapsed[s])
                )
                for s in samples
            ]
        )
        (auc_low, brier_low), (auc_high, brier_high) = np.nanpercentile(drawn, INTERVAL, axis=0)
        result[name] = Difference(
            float(point[0]),
            float(auc_low),
            float(auc_high),
            float(point[1]),
            float(brier_low),
            float(brier_high),
        )
    return result


def shortfall(rows: Snapshots, settings: ModelSettings, whose: str) -> str | None:
    """The refusal when `rows` hold too few key results, or missed ones, to judge on."""
    key_results, first = np.unique(rows.groups, return_index=True)
    missed = int(rows.missed[first].sum())
    needed = (settings.min_validation_key_results, settings.min_validation_misses)
    if len(key_results) >= needed[0] and missed >= needed[1]:
        return None
    return (
        f"refused: not enough closed key results{whose} to judge: {len(key_results)} "
        f"({needed[0]} needed, model.min_validation_key_results), {missed} of them missed "
        f"({needed[1]} needed, model.min_validation_misses)"
    )


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:+.4f} [{low:+.4f}, {high:+.4f}]"


def judge(
    settings: ModelSettings,
    kind: Kind,
    valid: Snapshots,
    scores: dict[str, np.ndarray],
    baselines: list[str],
    champion: str | None,
    champion_unseen: np.ndarray | None,
) -> Verdict:
    """The gate's verdict on `scores["model"]`; `champion` names the champion's scores, and
    `champion_unseen` marks the validation rows of key results it has not learnt from."""
    margin, rounds, seed = (
        settings.promotion_margin,
        settings.bootstrap_rounds,
        settings.random_seed,
    )
    model = scores["model"]
    found = differences(valid, model, {n: scores[n] for n in baselines}, rounds, seed)
    refusal = shortfall(valid, settings, "")
    if refusal:
        return Verdict(False, refusal, found)
    for name in baselines:
        d = found[name]
        if not (d.auc >= margin and d.auc_low > 0):
            return Verdict(
                False,
                f"refused: early-weighted AUC over {name} {_interval(d.auc, d.auc_low, d.auc_high)}"
                f" is not above the margin {margin} with its interval above zero",
                found,
            )
    closest = min(baselines, key=lambda n: found[n].auc)
    d = found[closest]
    over_baselines = f"early-weighted AUC {_interval(d.auc, d.auc_low, d.auc_high)} over {closest}"
    if champion is None or champion_unseen is None:
        return Verdict(True, f"promoted: {over_baselines}; no champion yet", found)
    unseen = valid.subset(champion_unseen)
    refusal = shortfall(unseen, settings, " that the champion has not learnt from")
    if refusal:
        return Verdict(False, refusal, found)
    d = differences(
        unseen, model[champion_unseen], {champion: scores[champion][champion_unseen]}, rounds, seed
    )[champion]
    found[champion] = d
    versus = f"over {champion}: AUC {_interval(d.auc, d.auc_low, d.auc_high)}, Brier " + (
        _interval(d.brier, d.brier_low, d.brier_high)
    )
    # a better ranking with worse probabilities would mislead whoever reads a risk as a chance
    if d.brier_low > 0:
        return Verdict(False, f"refused: Brier worse than the champion's ({versus})", found)
    if kind == "training" and not d.auc >= margin:
        return Verdict(
            False, f"refused: not better than the champion by {margin} ({versus})", found
        )
    if kind == "update":
        if d.auc_high < 0:
            return Verdict(False, f"refused: worse than the champion ({versus})", found)
        newest = unseen.periods == unseen.period_order()[-1]
        elapsed, y = unseen.elapsed[newest], unseen.missed[newest]
        mine = early_weighted_auc(y, model[champion_unseen][newest], elapsed)
        theirs = early_weighted_auc(y, scores[champion][champion_unseen][newest], elapsed)
        if math.isnan(mine) or math.isnan(theirs):
            return Verdict(
                False,
                "refused: the newest period holds too few key results of both outcomes the "
                f"champion has not learnt from to compare on ({versus})",
                found,
            )
        if not mine > theirs:
            return Verdict(
                False,
                f"refused: not better than the champion on the newest period "
                f"(early-weighted AUC {mine:.4f} against {theirs:.4f}; {versus})",
                found,
            )
    return Verdict(True, f"promoted: {over_baselines}; {versus}", found)
