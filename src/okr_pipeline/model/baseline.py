"""The baseline to beat: the pace rule that OKR tools ship, alone and with the owner's confidence.

Pace is progress divided by the elapsed share of the period: on track at 0.95 or more, lagging
from 0.75, at risk below. As a scorer it needs probabilities to be compared fairly (Brier,
log-loss), so each rule is a one- or two-input logistic regression fitted on the same training
snapshots as the model: the information is the rule's, only the scale is learned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

__all__ = ["BASELINES", "PaceConfidenceRule", "PaceRule"]

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


BASELINES = {"pace rule": PaceRule, "pace + confidence": PaceConfidenceRule}
