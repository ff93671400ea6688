"""The risk model: gradient boosting on as-of features, with calibrated probabilities and the
drivers of each prediction.

LightGBM learns from the features (categorical ones natively, missing values as such). Its scores
are calibrated by a logistic fit (Platt scaling) on out-of-fold scores, folds grouped by key result
so that no key result's snapshots are both fitted and scored; the fit is monotone, so ranking
(AUC) is the booster's own. Per-prediction drivers are tree SHAP contributions, which LightGBM
computes exactly (`pred_contrib`), in log-odds; the reasons shown are the actionable ones, in
points of the calibrated risk (model.reasons).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from okr_pipeline.features import CATEGORICAL
from okr_pipeline.model.reasons import reasons_of

__all__ = ["RiskModel"]


class RiskModel:
    """`fit(features, missed, groups)`, `predict_proba(features)`, `reasons(features)`."""

    def __init__(
        self,
        *,
        learning_rate: float = 0.05,
        n_estimators: int = 300,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        calibration_folds: int = 4,
        random_state: int = 42,
    ) -> None:
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def _booster(self, trees: int) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            learning_rate=self.learning_rate,
            n_estimators=trees,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            random_state=self.random_state,
            deterministic=True,
            force_row_wise=True,
            n_jobs=1,  # two threads thrash whenever the other core is busy (measured)
            verbose=-1,
        )

    def _prepare(self, features: pd.DataFrame) -> pd.DataFrame:
        """The training columns in order; categories as learned (an unseen value is missing)."""
        data = features[self.features_].copy()
        for name in CATEGORICAL:
            if name in data:
                data[name] = pd.Categorical(data[name], categories=self.categories_[name])
        return data

    def fit(self, features: pd.DataFrame, missed: np.ndarray, groups: np.ndarray) -> RiskModel:
        self.features_ = list(features.columns)
        self.categories_ = {
            name: sorted(features[name].dropna().astype(str).unique())
            for name in CATEGORICAL
            if name in features
        }
        self.trained_key_results_: frozenset[str] = frozenset()
        self._fit_boosted(features, missed, groups, self.n_estimators, None)
        return self

    def updated(
        self, features: pd.DataFrame, missed: np.ndarray, groups: np.ndarray, extra_trees: int
    ) -> RiskModel:
        """A copy that has learnt from more snapshots without starting over: boosting goes on
        from this model's trees with `extra_trees` more, and the calibration is refitted."""
        model = copy.deepcopy(self)
        model._fit_boosted(features, missed, groups, extra_trees, self.booster_.booster_)
        return model

    def _fit_boosted(
        self,
        features: pd.DataFrame,
        missed: np.ndarray,
        groups: np.ndarray,
        trees: int,
        init_model: lgb.Booster | None,
    ) -> None:
        data = self._prepare(features)
        missed = np.asarray(missed, dtype=int)
        folds = min(self.calibration_folds, len(np.unique(groups)))
        out_of_fold = np.zeros(len(missed))
        for fitted, scored in GroupKFold(n_splits=folds).split(data, missed, groups):
            booster = self._booster(trees).fit(
                data.iloc[fitted], missed[fitted], init_model=init_model
            )
            out_of_fold[scored] = booster.predict(data.iloc[scored], raw_score=True)
        self.calibrator_ = LogisticRegression().fit(out_of_fold.reshape(-1, 1), missed)
        self.booster_ = self._booster(trees).fit(data, missed, init_model=init_model)
        self.trained_key_results_ = self.trained_key_results_ | frozenset(map(str, groups))

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
