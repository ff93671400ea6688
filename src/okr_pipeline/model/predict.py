"""Predictions: every key result open at D scored by the champion, with its drivers, stored with
lineage (model version, as-of, the features it saw and their hash). Scoring an as-of again adds
rows; readers take the latest (warehouse.latest), and any stored risk can be rebuilt from its
features (`stored_features`) and its model version (`Registry.load`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.features import CATEGORICAL, History, features_at, load_history, open_at
from okr_pipeline.model.registry import ModelVersion, RiskPredictor, load_champion
from okr_pipeline.warehouse import insert_rows, predictions

__all__ = ["Scores", "predict", "risk_status", "score", "stored_features"]


def risk_status(risk: float, at_risk: float, off_track: float) -> str:
    if risk >= off_track:
        return "off_track"
    return "at_risk" if risk >= at_risk else "on_track"


def _feature_json(row: pd.Series) -> str:
    """The feature values of one row as stored (JSON, keys sorted, a missing value null): the
    text `feature_hash` is the sha256 of."""
    values = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    return json.dumps(values, sort_keys=True, default=str)


def stored_features(texts: Sequence[str]) -> pd.DataFrame:
    """The feature rows stored with predictions (their `features` JSON) as a frame the model
    takes: numbers as floats, a missing value NaN, categories as strings."""
    frame = pd.DataFrame([json.loads(text) for text in texts])
    for name in frame.columns:
        if name in CATEGORICAL:
            frame[name] = frame[name].astype("object")
        else:
            frame[name] = frame[name].astype(float)
    return frame


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
    history: History | None = None,
) -> list[dict[str, Any]]:
    """Score the key results open at `as_of` (all, or those of `key_result_ids`) with the
    champion and store the predictions; from `history` if given (one kept by the caller, up to
    date for those key results), else from the warehouse's whole history."""
    champion, model = load_champion(settings)
    if history is None:
        with engine.connect() as conn:
            history = load_history(conn, settings.model.achievement_threshold)
    scores = score(settings, history, as_of, champion, model, key_result_ids)
    if not scores.key_result_ids:
        return []
    created = now_utc()
    rows = []
    for kr_id, risk, status, why, (_, row) in zip(
        scores.key_result_ids,
        scores.risks,
        scores.statuses,
        scores.reasons,
        scores.features.iterrows(),
        strict=True,
    ):
        features = _feature_json(row)
        rows.append(
            {
                "key_result_id": kr_id,
                "as_of": as_of,
                "risk": risk,
                "status": status,
                "reasons": json.dumps(why),
                "model_version": champion.version,
                "feature_hash": hashlib.sha256(features.encode()).hexdigest(),
                "features": features,
                "created_at": created,
            }
        )
    # added, not replaced: predicting the same as-of again keeps the earlier rows (lineage);
    # readers take the latest (warehouse.latest)
    with engine.begin() as conn:
        insert_rows(conn, predictions, rows)
    return scores.results()
