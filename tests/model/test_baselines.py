"""The baselines are the rules an OKR tool could ship: each learns only the scale of its
inputs, and the elapsed-aware one knows that a low pace late in the period means more."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from okr_pipeline.model.baseline import (
    BASELINES,
    NEUTRAL_CONFIDENCE,
    PaceConfidenceRule,
    PaceElapsedConfidenceRule,
    metric_prefix,
)


def _snapshots(count: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Snapshots whose outcome depends on pace more as the period goes, and on nothing else."""
    rng = np.random.default_rng(seed)
    elapsed = rng.uniform(0.05, 0.95, count)
    pace = rng.lognormal(0.0, 0.5, count)
    missed = rng.random(count) < 1 / (1 + np.exp(8 * elapsed * (pace - 0.9)))
    confidence = np.where(rng.random(count) < 0.2, np.nan, rng.uniform(0, 10, count))
    features = pd.DataFrame({"pace": pace, "elapsed": elapsed, "last_confidence": confidence})
    return features, missed.astype(int)


def test_the_elapsed_aware_rule_ranks_better_where_elapsed_matters():
    fit, fit_missed = _snapshots(4000, seed=1)
    valid, valid_missed = _snapshots(4000, seed=2)
    auc = {
        rule: roc_auc_score(valid_missed, rule().fit(fit, fit_missed).predict_proba(valid)[:, 1])
        for rule in (PaceConfidenceRule, PaceElapsedConfidenceRule)
    }
    assert auc[PaceElapsedConfidenceRule] > auc[PaceConfidenceRule] + 0.02, auc


def test_a_missing_confidence_is_neutral_and_every_rule_scores_each_row():
    features, missed = _snapshots(500, seed=3)
    rated = features.fillna({"last_confidence": NEUTRAL_CONFIDENCE})
    for name, rule in BASELINES.items():
        fitted = rule().fit(features, missed)
        risks = fitted.predict_proba(features)[:, 1]
        assert risks.shape == (500,) and np.all((risks > 0) & (risks < 1)), name
        assert np.allclose(risks, fitted.predict_proba(rated)[:, 1]), name


def test_metric_names_of_the_baselines_are_distinct():
    prefixes = [metric_prefix(name) for name in BASELINES]
    assert prefixes == ["pace_rule_", "pace_confidence_", "pace_elapsed_confidence_"]
