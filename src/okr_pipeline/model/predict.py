"""Predictions: every key result open at D scored by the champion, with its drivers, stored with
lineage (model version, as-of, a hash of the features it saw)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.features import History, features_at, load_history, open_at
from okr_pipeline.model.registry import ModelVersion, RiskPredictor, load_champion
from okr_pipeline.warehouse import chunks, insert_rows, predictions

__all__ = ["Scores", "predict", "risk_status", "score"]


def risk_status(risk: float, at_risk: float, off_track: float) -> str:
    if risk >= off_track:
        return "off_track"
    return "at_risk" if risk >= at_risk else "on_track"


def _feature_hash(row: pd.Series) -> str:
    values = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Scores:
    """Risks computed (not stored) for key results as of one instant, with their reasons and
    the features they came from (one row per key result, in the same order)."""

    as_of: datetime
    model_version: str
    key_result_ids: list[str]
    risks: list[float]  # as computed, unrounded
    statuses: list[str]
    reasons: list[list[dict[str, Any]]]
    features: pd.DataFrame

    def results(self) -> list[dict[str, Any]]:
        """One dict per key result, as `okr predict` shows them (risk rounded)."""
        return [
            {
                "key_result_id": kr_id,
                "risk": round(risk, 4),
                "status": status,
                "reasons": why,
                "model_version": self.model_version,
                "as_of": self.as_of.isoformat(),
            }
            for kr_id, risk, status, why in zip(
                self.key_result_ids, self.risks, self.statuses, self.reasons, strict=True
            )
        ]


def score(
    settings: Settings,
    history: History,
    as_of: datetime,
    champion: ModelVersion,
    model: RiskPredictor,
    key_result_ids: Collection[str] | None = None,
) -> Scores:
    """The risks of the key results open at `as_of` (all, or those of `key_result_ids`;
    cancelled ones have none) by `model`, with their reasons; nothing is stored."""
    open_ids = [
        k
        for k in open_at(history, as_of)
        if not history.key_results[k].cancelled and (key_result_ids is None or k in key_result_ids)
    ]
    features = features_at(history, [(k, as_of) for k in open_ids])
    risks: list[float] = []
    reasons: list[list[dict[str, Any]]] = []
    if open_ids:
        risks = [float(risk) for risk in model.predict_proba(features)[:, 1]]
        reasons = model.reasons(features)
    thresholds = settings.model.risk_thresholds
    statuses = [risk_status(risk, thresholds.at_risk, thresholds.off_track) for risk in risks]
    return Scores(as_of, champion.version, open_ids, risks, statuses, reasons, features)


def predict(
    settings: Settings,
    engine: Engine,
    as_of: datetime,
    key_result_ids: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Score the key results open at `as_of` (all, or those of `key_result_ids`) with the
    champion and store the predictions."""
    champion, model = load_champion(settings)
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    scores = score(settings, history, as_of, champion, model, key_result_ids)
    if not scores.key_result_ids:
        return []
    created = now_utc()
    rows = [
        {
            "key_result_id": kr_id,
            "as_of": as_of,
            "risk": risk,
            "status": status,
            "reasons": json.dumps(why),
            "model_version": champion.version,
            "feature_hash": _feature_hash(row),
            "created_at": created,
        }
        for kr_id, risk, status, why, (_, row) in zip(
            scores.key_result_ids,
            scores.risks,
            scores.statuses,
            scores.reasons,
            scores.features.iterrows(),
            strict=True,
        )
    ]
    with engine.begin() as conn:
        # predicting the same as-of with the same model again replaces the earlier rows
        for part in chunks(scores.key_result_ids, 900):
            conn.execute(
                delete(predictions).where(
                    predictions.c.as_of == as_of,
                    predictions.c.model_version == champion.version,
                    predictions.c.key_result_id.in_(part),
                )
            )
        insert_rows(conn, predictions, rows)
    return scores.results()
