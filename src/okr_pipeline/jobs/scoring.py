"""Feature rows scored by the champion, as `mlflow models serve` scores them: the same model,
its input checked against the same signature (model.signature), the rows given as MLflow's
scoring server takes a DataFrame (`dataframe_records` or `dataframe_split`). The champion is
held by the process (model.serving), so a request pays only for its own rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import TooLargeError
from okr_pipeline.model import RowsRejected, risk_status, served_champion

__all__ = ["RowsRejected", "Scored", "score_rows"]


@dataclass(frozen=True)
class Scored:
    model_version: str
    risks: list[float]  # the probability of missing, per row in order
    statuses: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.risks,
            "statuses": self.statuses,
            "model_version": self.model_version,
        }


def score_rows(
    settings: Settings,
    *,
    records: Sequence[Any] | None = None,
    columns: Sequence[Any] | None = None,
    data: Sequence[Any] | None = None,
) -> Scored:
    """The risk of each row, given as `records` (objects) or as `columns` and `data`; at most
    `api.predict_max_rows` rows (else TooLargeError). RowsRejected names each problem's
    place: the shape (`dataframe_records` or `dataframe_split`), then the row and column."""
    shape = "dataframe_records" if records is not None else "dataframe_split"
    rows = records if records is not None else data
    if rows is None or (records is None and columns is None):
        raise ValueError("give records, or columns and data")
    limit = settings.api.predict_max_rows
    if len(rows) > limit:
        raise TooLargeError(f"{len(rows)} rows: at most {limit} per request (api.predict_max_rows)")
    champion = served_champion(settings)
    if records is not None:
        given = champion.schema.records(records, shape)
    else:
        given = champion.schema.split(columns or [], rows, shape)
    risks = champion.model.predict_proba_columns(given)[:, 1].tolist()
    thresholds = settings.model.risk_thresholds
    return Scored(
        champion.version.version,
        risks,
        [risk_status(risk, thresholds.at_risk, thresholds.off_track) for risk in risks],
    )
