"""The risk model: training snapshots, pace baselines, the LightGBM risk model, evaluation,
the MLflow registry with its promotion gate, and predictions with reasons and lineage."""

from okr_pipeline.model.evaluate import Evaluation, evaluate_champion, time_split
from okr_pipeline.model.predict import Scores, predict, risk_status, score
from okr_pipeline.model.registry import (
    CHAMPION,
    ModelVersion,
    Registry,
    open_registry,
)
from okr_pipeline.model.serving import ServedModel, served_champion
from okr_pipeline.model.signature import InputSchema, RowProblem, RowsRejected
from okr_pipeline.model.train import TrainingResult, closed_since_champion, train, update

__all__ = [
    "CHAMPION",
    "Evaluation",
    "InputSchema",
    "ModelVersion",
    "Registry",
    "RowProblem",
    "RowsRejected",
    "Scores",
    "ServedModel",
    "TrainingResult",
    "closed_since_champion",
    "evaluate_champion",
    "open_registry",
    "predict",
    "risk_status",
    "score",
    "served_champion",
    "time_split",
    "train",
    "update",
]
