"""Choosing the risk model's settings by time: rolling folds over closed periods, a small search,
and the out-of-fold scores its calibration is fitted on.

Each fold scores one period with a model fitted on the periods whose outcomes were known before
it (ordered by end), never on key results of the same period: period-level signals (a good or bad
quarter moves every key result in it) would otherwise cross folds and flatter the model. Each
candidate is fitted per fold with early stopping on the scored period's log-loss; the candidate
with the lowest mean log-loss wins, with the mean of its folds' best tree counts.
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
    losses: dict[Candidate, float]  # mean log-loss over the folds, per candidate


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
    end) scored by a model fitted on the periods that ended before it. A period is scored only
    when those earlier periods hold both outcomes."""
    order = snapshots.period_order()
    folds = []
    for position in range(1, len(order)):
        fitted = np.isin(snapshots.periods, order[:position])
        if np.unique(snapshots.missed[fitted]).size == 2:
            folds.append(
                (np.flatnonzero(fitted), np.flatnonzero(snapshots.periods == order[position]))
            )
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
    """The candidate with the lowest mean out-of-period log-loss over rolling folds, its tree
    count, and its out-of-fold scores at that count."""
    folds = rolling_folds(snapshots, max_folds)
    if not folds:
        periods = len(np.unique(snapshots.periods))
        raise OkrError(
            f"the training key results span {periods} period(s): choosing the model's settings "
            "needs an earlier closed period, with both outcomes, before one it is scored on"
        )
    missed = snapshots.missed
    results = {}
    for candidate in candidates:
        fitted_boosters, losses, best = [], [], []
        for fitted, scored in folds:
            model = booster(candidate, max_trees, fixed).fit(
                data.iloc[fitted],
                missed[fitted],
                eval_X=(data.iloc[scored],),
                eval_y=(missed[scored],),
                callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
            )
            fitted_boosters.append(model)
            best.append(model.best_iteration_ or max_trees)
            losses.append(model.best_score_["valid_0"]["binary_logloss"])
        results[candidate] = (float(np.mean(losses)), round(float(np.mean(best))), fitted_boosters)
    chosen = min(candidates, key=lambda c: results[c][0])
    _, trees, fitted_boosters = results[chosen]
    scored = np.concatenate([rows for _, rows in folds])
    out_of_fold = np.concatenate(
        [
            model.predict(data.iloc[rows], raw_score=True, num_iteration=trees)
            for model, (_, rows) in zip(fitted_boosters, folds, strict=True)
        ]
    )
    return Tuned(chosen, trees, scored, out_of_fold, {c: r[0] for c, r in results.items()})
