"""As-of features: a key result's history and the feature table at an instant, with no leakage."""

from okr_pipeline.features.history import (
    History,
    closed_before,
    elapsed_share,
    load_history,
    open_at,
    snapshot_instant,
)
from okr_pipeline.features.states import KeyResultState, key_result_states
from okr_pipeline.features.table import CATEGORICAL, FEATURES, MONOTONE, features_at

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "MONOTONE",
    "History",
    "KeyResultState",
    "closed_before",
    "elapsed_share",
    "features_at",
    "key_result_states",
    "load_history",
    "open_at",
    "snapshot_instant",
]
