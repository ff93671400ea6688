"""Risks (a viewer token): one key result's risk, stored or computed on demand, and feature rows
scored by the champion as `mlflow models serve` scores them.

`POST /predict` needs no more than a viewer: it stores and changes nothing and tells nothing a
viewer cannot read already (risks); its cost is bounded by `api.predict_max_rows` and the body
size. Like every POST it is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response
from pydantic import Field, model_validator

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, settings
from okr_pipeline.api.errors import error_response
from okr_pipeline.api.models import AsOf, ErrorBody, Instant, Model, Problem, Text

__all__ = ["area"]

area = Area("risks", __name__, role="viewer", tag="Risks")

Status = Literal["on_track", "at_risk", "off_track"]

# --- one key result's risk ----------------------------------------------------------------------


class RiskPath(Model):
    key_result_id: Text


class RiskQuery(Model):
    as_of: AsOf | None = None


class Reason(Model):
    """One of the strongest drivers of a risk that someone can act on (check-ins, confidence,
    milestones, tasks, progress); the context (time elapsed, days left, the period's pace,
    weight, metric type, priority, past attainment) counts in the risk but is never a reason."""

    feature: str
    value: float | str | None
    direction: Literal["raises_risk", "lowers_risk"]
    contribution: float = Field(description="its push in log-odds of missing (tree SHAP)")
    points: float | None = Field(
        default=None,
        description="how many percentage points of the risk it adds (negative: takes away), "
        "the risk less the risk without its push; null on risks stored before it was kept",
    )
    text: str = Field(description="what it is, its value, its points and what to do")


class KeyResultRisk(Model):
    """A key result's risk of missing as of an instant, with its drivers."""

    key_result_id: str
    as_of: Instant = Field(description="the instant the risk is for")
    risk: float = Field(description="the calibrated probability of missing, 0 to 1")
    status: Status
    reasons: list[Reason]
    model_version: str
    stored: bool = Field(description="false: computed for this request, not stored")
    created_at: Instant | None = Field(description="when it was stored; null if computed")


@area.get(
    "/key-results/<key_result_id>/risk",
    responses={200: KeyResultRisk, 404: ErrorBody},
)
def get_key_result_risk(path: RiskPath, query: RiskQuery) -> Response:
    """One key result's risk

    Without `as_of`: the risk stored latest. With `as_of`: the risk stored for exactly that
    as-of, or, if none was, computed now by the champion and not stored (`stored: false`).
    404 for an unknown key result or one not open at the as-of (no risk then); 503
    `no_champion` when the risk must be computed and there is no champion."""
    risk = jobs.key_result_risk(settings(), path.key_result_id, query.as_of)
    return json_response(KeyResultRisk.model_validate(risk))


# --- feature rows in, risks out -----------------------------------------------------------------


class DataFrameSplit(Model):
    """Rows as pandas' `split` orientation: column names, then one array of values per row."""

    columns: list[str] = Field(min_length=1)
    data: list[Any] = Field(min_length=1)
    index: list[Any] | None = Field(None, description="ignored: the answers follow `data`")


class PredictRequest(Model):
    """Feature rows as MLflow's scoring server takes a DataFrame (give one of the two); each
    row is checked against the champion's MLflow signature."""

    dataframe_records: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="one object per row, by column name"
    )
    dataframe_split: DataFrameSplit | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> PredictRequest:
        if (self.dataframe_records is None) == (self.dataframe_split is None):
            raise ValueError("give the rows as dataframe_records or as dataframe_split")
        return self


class Predictions(Model):
    predictions: list[float] = Field(description="per row in order: the probability of missing")
    statuses: list[Status] = Field(description="per row: the risk's status by the thresholds")
    model_version: str = Field(description="the champion's version that scored the rows")


@area.post("/predict", responses={200: Predictions, 413: ErrorBody})
def predict(body: PredictRequest) -> Response:
    """Score feature rows with the champion

    The job `mlflow models serve` does for the same model: rows in MLflow's `dataframe_records`
    or `dataframe_split` shape, checked against the champion's signature, answered with
    `predictions` (the risk of each row) and the model version. 422 names each bad row and
    column; 413 beyond `api.predict_max_rows` rows; 503 `no_champion` without a champion."""
    split = body.dataframe_split
    try:
        scored = jobs.score_rows(
            settings(),
            records=body.dataframe_records,
            columns=split.columns if split else None,
            data=split.data if split else None,
        )
    except jobs.RowsRejected as exc:
        problems = [Problem(loc=list(p.loc), msg=p.message, type=p.type) for p in exc.problems]
        return error_response(422, problems)
    return json_response(Predictions.model_validate(scored.as_dict()))
