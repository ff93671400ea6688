"""The baselines to beat: the pace rule that OKR tools ship, alone, with the owner's confidence,
and with both the confidence and how far the period has gone (a pace of 0.5 on day 3 says little;
on day 80 it says the key result will miss).

Pace is progress divided by the elapsed share of the period: on track at 0.95 or more, lagging
from 0.75, at risk below. As a scorer it needs probabilities to be compared fairly (Brier,
log-loss), so each rule is a one- or two-input logistic regression fitted on the same training
snapshots as the model: the information is the rule's, only the scale is learned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

__all__ = [
    "BASELINES",
    "PaceConfidenceRule",
    "PaceElapsedConfidenceRule",
    "PaceRule",
    "metric_prefix",
]

NEUTRAL_CONFIDENCE = 5.0  # a key result nobody rated sits in the middle of the 0-10 scale


class PaceRule:
    """Risk from pace alone."""

    columns: tuple[str, ...] = ("pace",)

    def __init__(self) -> None:
        self.regression_ = LogisticRegression()

    def _inputs(self, features: pd.DataFrame) -> np.ndarray:
        data = features[list(self.columns)].astype(float)
        if "last_confidence" in data:
            data["last_confidence"] = data["last_confidence"].fillna(NEUTRAL_CONFIDENCE)
        return data.to_numpy()

    def fit(self, features: pd.DataFrame, missed: np.ndarray) -> PaceRule:
        self.regression_.fit(self._inputs(features), missed)
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return self.regression_.predict_proba(self._inputs(features))


class PaceConfidenceRule(PaceRule):
    """Risk from pace and the owner's last confidence."""

    columns = ("pace", "last_confidence")


class PaceElapsedConfidenceRule(PaceRule):
    """Risk from pace, the owner's last confidence and the elapsed share of the period, with
    pace's weight growing as the period goes (their product)."""

    columns = ("pace", "last_confidence", "elapsed")

    def _inputs(self, features: pd.DataFrame) -> np.ndarray:
        data = super()._inputs(features)
        pace, elapsed = data[:, 0], data[:, 2]
        return np.column_stack([data, pace * elapsed])


BASELINES = {
    "pace rule": PaceRule,
    "pace + confidence": PaceConfidenceRule,
    "pace + elapsed + confidence": PaceElapsedConfidenceRule,
}


def metric_prefix(baseline: str) -> str:
    """What a baseline's metrics are named with in MLflow: "pace + confidence" ->
    "pace_confidence_"."""
    return baseline.replace(" + ", "_").replace(" ", "_") + "_"
