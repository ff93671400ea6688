"""The risk model: training snapshots, pace baselines, the LightGBM risk model, evaluation,
the MLflow registry with its promotion gate, and predictions with reasons and lineage."""

from okr_pipeline.model.evaluate import Evaluation, evaluate_champion, time_split
from okr_pipeline.model.predict import predict
from okr_pipeline.model.registry import (
    CHAMPION,
    ModelVersion,
    Registry,
    open_registry,
)
from okr_pipeline.model.train import TrainingResult, closed_since_champion, train, update

__all__ = [
    "CHAMPION",
    "Evaluation",
    "ModelVersion",
    "Registry",
    "TrainingResult",
    "closed_since_champion",
    "evaluate_champion",
    "open_registry",
    "predict",
    "time_split",
    "train",
    "update",
]
