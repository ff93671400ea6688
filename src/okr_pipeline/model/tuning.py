"""Choosing the risk model's settings by time: rolling folds over closed periods, a small search,
and the out-of-fold scores its calibration is fitted on.

Each fold scores one period with a model fitted on the periods that had ended when it began,
never on key results of the same period or of one still running: period-level signals (a good or
bad quarter moves every key result in it) would otherwise cross folds and flatter the model. Each
candidate is fitted per fold with early stopping on the scored period's log-loss; the candidate
with the lowest out-of-period log-loss at the mean of its folds' best tree counts wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from okr_pipeline.errors import OkrError
from okr_pipeline.model.dataset import Snapshots

__all__ = ["Candidate", "Fixed", "Tuned", "booster", "rolling_folds", "search"]

PATIENCE = 40  # trees without a better log-loss on the scored period before a fold stops


@dataclass(frozen=True)
class Candidate:
    num_leaves: int
    min_child_samples: int
    reg_lambda: float


@dataclass(frozen=True)
class Fixed:
    """What the search does not choose."""

    learning_rate: float
    monotone: tuple[int, ...]  # per feature: +1 risk only rises with it, -1 only falls, 0 free
    random_state: int


@dataclass
class Tuned:
    candidate: Candidate
    trees: int
    scored: np.ndarray  # row positions that have an out-of-fold score
    out_of_fold: np.ndarray  # raw scores (log-odds) of those rows, by the chosen candidate
    losses: dict[Candidate, float]  # out-of-period log-loss, per candidate


def booster(candidate: Candidate, trees: int, fixed: Fixed) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(
        learning_rate=fixed.learning_rate,
        n_estimators=trees,
        num_leaves=candidate.num_leaves,
        min_child_samples=candidate.min_child_samples,
        reg_lambda=candidate.reg_lambda,
        monotone_constraints=list(fixed.monotone),
        random_state=fixed.random_state,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,  # two threads thrash whenever the other core is busy (measured)
        verbose=-1,
    )


def rolling_folds(snapshots: Snapshots, max_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fitted rows, scored rows) of up to `max_folds` folds: each of the latest periods (by
    end) scored by a model fitted on the periods that had ended when it began. A period is
    scored only when those hold both outcomes."""
    folds = []
    for period in snapshots.period_order():
        scored = snapshots.periods == period
        fitted = snapshots.period_ends < snapshots.period_starts[scored][0]
        if np.unique(snapshots.missed[fitted]).size == 2:
            folds.append((np.flatnonzero(fitted), np.flatnonzero(scored)))
    return folds[-max_folds:]


def search(
    snapshots: Snapshots,
    data: pd.DataFrame,
    candidates: tuple[Candidate, ...],
    fixed: Fixed,
    *,
    max_folds: int,
    max_trees: int,
) -> Tuned:
    """The candidate with the lowest out-of-period log-loss over rolling folds, its tree count,
    and its out-of-fold scores at that count."""
    folds = rolling_folds(snapshots, max_folds)
    if not folds:
        periods = len(np.unique(snapshots.periods))
        raise OkrError(
            f"the training key results span {periods} period(s): choosing the model's settings "
            "needs an earlier closed period, with both outcomes, before one it is scored on"
        )
    missed = snapshots.missed
    scored = np.concatenate([rows for _, rows in folds])
    results = {}
    for candidate in candidates:
        boosters = [
            booster(candidate, max_trees, fixed).fit(
                data.iloc[fitted],
                missed[fitted],
                eval_X=(data.iloc[rows],),
                eval_y=(missed[rows],),
                callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
            )
            for fitted, rows in folds
        ]
        # one tree count for every fold, and the loss there: each fold's own best would be the
        # minimum of a noisy curve, which flatters the noisier candidates
        trees = round(float(np.mean([b.best_iteration_ or max_trees for b in boosters])))
        out_of_fold = np.concatenate(
            [
                b.predict(data.iloc[rows], raw_score=True, num_iteration=trees)
                for b, (_, rows) in zip(boosters, folds, strict=True)
            ]
        )
        results[candidate] = (_log_loss(missed[scored], out_of_fold), trees, out_of_fold)
    chosen = min(candidates, key=lambda c: results[c][0])
    _, trees, out_of_fold = results[chosen]
    return Tuned(chosen, trees, scored, out_of_fold, {c: r[0] for c, r in results.items()})


def _log_loss(missed: np.ndarray, raw: np.ndarray) -> float:
    """The mean log-loss of raw scores (log-odds), computed stably."""
    return float(np.mean(np.logaddexp(0.0, raw) - missed * raw))
