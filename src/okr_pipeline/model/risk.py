"""The risk model: gradient boosting on as-of features, with calibrated probabilities and the
drivers of each prediction.

LightGBM learns from the features (categorical ones natively, missing values as such). Its
settings (leaves, minimum child samples, regularisation, tree count) are chosen by rolling folds
over closed periods (tuning.py), and its scores are calibrated by a logistic fit (Platt scaling)
on those folds' out-of-period scores: the fit is monotone, so ranking (AUC) is the booster's own.
Per-prediction drivers are tree SHAP contributions, which LightGBM computes exactly
(`pred_contrib`), in log-odds; the reasons shown are the actionable ones, in points of the
calibrated risk (model.reasons).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression

from okr_pipeline.errors import OkrError
from okr_pipeline.features import CATEGORICAL, MONOTONE
from okr_pipeline.model.dataset import Snapshots
from okr_pipeline.model.reasons import reasons_of
from okr_pipeline.model.tuning import Candidate, Fixed, booster, search

__all__ = ["Candidate", "RiskModel"]

SEARCH = (
    Candidate(num_leaves=7, min_child_samples=40, reg_lambda=1.0),
    Candidate(num_leaves=15, min_child_samples=20, reg_lambda=0.0),
    Candidate(num_leaves=15, min_child_samples=80, reg_lambda=5.0),
    Candidate(num_leaves=31, min_child_samples=40, reg_lambda=1.0),
)


class RiskModel:
    """`fit(snapshots)`, `predict_proba(features)`, `reasons(features)`."""

    def __init__(
        self,
        *,
        learning_rate: float = 0.05,
        max_trees: int = 500,
        search: tuple[Candidate, ...] = SEARCH,
        folds: int = 4,
        random_state: int = 42,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_trees = max_trees
        self.search = search
        self.folds = folds
        self.random_state = random_state

    def _prepare(self, features: pd.DataFrame) -> pd.DataFrame:
        """The training columns in order; categories as learned (an unseen value is missing).
        A column the features no longer have is missing too: a champion trained before a
        feature was retired still scores, and can be replaced, until it is."""
        data = features.reindex(columns=self.features_)
        for name in CATEGORICAL:
            if name in data:
                learned = self.categories_[name]
                known = data[name].where(data[name].isin(learned))  # an unseen value: missing
                data[name] = pd.Categorical(known, categories=learned)
        return data

    def fit(self, snapshots: Snapshots) -> RiskModel:
        """Choose the settings by rolling folds, calibrate on their out-of-period scores, and
        fit the booster with those settings on every snapshot."""
        features = snapshots.features
        self.features_ = list(features.columns)
        self.categories_ = {
            name: sorted(features[name].dropna().astype(str).unique())
            for name in CATEGORICAL
            if name in features
        }
        data = self._prepare(features)
        missed = np.asarray(snapshots.missed, dtype=int)
        # a direction known for sure (more progress never raises the risk) is imposed, so that
        # sparse data cannot learn it backwards and reasons never read backwards
        monotone = tuple(MONOTONE.get(name, 0) for name in self.features_)
        fixed = Fixed(self.learning_rate, monotone, self.random_state)
        tuned = search(
            snapshots, data, self.search, fixed, max_folds=self.folds, max_trees=self.max_trees
        )
        if np.unique(missed[tuned.scored]).size < 2:
            raise OkrError(
                "every key result scored out of period has the same outcome: "
                "nothing to calibrate the risks on"
            )
        self.tuned_, self.trees_ = tuned.candidate, tuned.trees
        self.calibrator_ = LogisticRegression().fit(
            tuned.out_of_fold.reshape(-1, 1), missed[tuned.scored]
        )
        self.booster_ = booster(tuned.candidate, tuned.trees, fixed).fit(data, missed)
        self.trained_key_results_: frozenset[str] = frozenset(map(str, snapshots.groups))
        return self

    def refit(self, snapshots: Snapshots) -> RiskModel:
        """A model with this one's chosen settings fitted on `snapshots` (its tree count and
        calibration found again by rolling folds over them)."""
        return RiskModel(
            learning_rate=self.learning_rate,
            max_trees=self.max_trees,
            search=(self.tuned_,),
            folds=self.folds,
            random_state=self.random_state,
        ).fit(snapshots)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        raw = self.booster_.predict(self._prepare(features), raw_score=True)
        return self.calibrator_.predict_proba(np.asarray(raw).reshape(-1, 1))

    def predict_proba_columns(self, columns: Mapping[str, Any]) -> np.ndarray:
        """`predict_proba` of rows given as columns (array-likes by feature name), with no
        DataFrame: numbers as floats (None is missing), a category as its code among those
        learned (an unseen one is missing), which is what LightGBM makes of a DataFrame's
        categorical columns; and the logistic calibration computed as scikit-learn computes
        it. The same numbers as `predict_proba` (the libraries' own path, which MLflow's pyfunc
        runs), without the milliseconds pandas and the libraries' checks cost a few rows: what
        a server pays per request."""
        rows = len(columns[self.features_[0]])
        matrix = np.empty((rows, len(self.features_)))
        for j, name in enumerate(self.features_):
            values = columns[name]
            learned = self.categories_.get(name)
            if learned is None:
                matrix[:, j] = np.asarray(values, dtype=float)
            else:
                codes = {category: float(i) for i, category in enumerate(learned)}
                matrix[:, j] = [
                    codes.get(value, math.nan) if isinstance(value, str) else math.nan
                    for value in values
                ]
        # one thread, as the classifier predicts (n_jobs=1): by default the booster would start
        # as many as there are cores, and wait milliseconds for them when the others are busy
        raw = self.booster_.booster_.predict(matrix, raw_score=True, num_threads=1)
        # LogisticRegression.predict_proba of one feature: expit(raw * coef + intercept)
        missed = expit(raw * self.calibrator_.coef_[0, 0] + self.calibrator_.intercept_[0])
        return np.vstack([1 - missed, missed]).T

    def feature_importance(self) -> pd.Series:
        gains = self.booster_.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=self.features_).sort_values(ascending=False)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Each feature's push on each prediction, in log-odds of missing (tree SHAP)."""
        values = self.booster_.predict(self._prepare(features), pred_contrib=True)
        return pd.DataFrame(
            np.asarray(values)[:, :-1], columns=self.features_, index=features.index
        )

    def reasons(self, features: pd.DataFrame, top: int = 3) -> list[list[dict[str, Any]]]:
        """The strongest actionable drivers of each prediction, in points of the calibrated
        risk (model.reasons)."""
        data = self._prepare(features)
        raw = np.asarray(self.booster_.predict(data, raw_score=True))

        def calibrated(scores: np.ndarray) -> np.ndarray:
            return np.asarray(self.calibrator_.predict_proba(scores.reshape(-1, 1))[:, 1])

        return reasons_of(features, self.contributions(features), raw, calibrated, top)
