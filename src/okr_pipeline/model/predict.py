"""Predictions: every key result open at D scored by the champion, with its drivers, stored with
lineage (model version, as-of, a hash of the features it saw)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.features import features_at, load_history, open_at
from okr_pipeline.model.registry import load_champion
from okr_pipeline.warehouse import chunks, insert_rows, predictions

__all__ = ["predict", "risk_status"]


def risk_status(risk: float, at_risk: float, off_track: float) -> str:
    if risk >= off_track:
        return "off_track"
    return "at_risk" if risk >= at_risk else "on_track"


def _feature_hash(row: pd.Series) -> str:
    values = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


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
    open_ids = [
        k
        for k in open_at(history, as_of)
        if not history.key_results[k].cancelled and (key_result_ids is None or k in key_result_ids)
    ]
    if not open_ids:
        return []
    features = features_at(history, [(k, as_of) for k in open_ids])
    risks = model.predict_proba(features)[:, 1]
    reasons = model.reasons(features)
    thresholds = settings.model.risk_thresholds
    created = now_utc()
    results, rows = [], []
    for kr_id, risk, why, (_, row) in zip(
        open_ids, risks, reasons, features.iterrows(), strict=True
    ):
        status = risk_status(float(risk), thresholds.at_risk, thresholds.off_track)
        results.append(
            {
                "key_result_id": kr_id,
                "risk": round(float(risk), 4),
                "status": status,
                "reasons": why,
                "model_version": champion.version,
                "as_of": as_of.isoformat(),
            }
        )
        rows.append(
            {
                "key_result_id": kr_id,
                "as_of": as_of,
                "risk": float(risk),
                "status": status,
                "reasons": json.dumps(why),
                "model_version": champion.version,
                "feature_hash": _feature_hash(row),
                "created_at": created,
            }
        )
    with engine.begin() as conn:
        # predicting the same as-of with the same model again replaces the earlier rows
        for part in chunks(open_ids, 900):
            conn.execute(
                delete(predictions).where(
                    predictions.c.as_of == as_of,
                    predictions.c.model_version == champion.version,
                    predictions.c.key_result_id.in_(part),
                )
            )
        insert_rows(conn, predictions, rows)
    return results
