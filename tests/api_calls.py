"""What the API's tests share besides fixtures: the demo's as-of date, the headers that carry
a token, the warehouses a test may run on, and feature rows and events made from the demo."""

import secrets
from typing import Any

import pytest

from okr_pipeline.config import Settings
from okr_pipeline.core import as_of_instant
from okr_pipeline.features import features_at, load_history, open_at
from okr_pipeline.warehouse import open_warehouse

AS_OF = "2026-05-15"  # the demo's "now": its model is trained and its risks stored as of it


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# a test on both warehouses: @pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
ON_BOTH = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def feature_frame(settings: Settings, count: int | None = None, as_of: str = AS_OF) -> Any:
    """The features of the key results open at `as_of` (the first `count` of them), as the
    model scores them: a DataFrame, one row per key result."""
    moment = as_of_instant(as_of)
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    open_ids = [k for k in open_at(history, moment) if not history.key_results[k].cancelled]
    return features_at(history, [(k, moment) for k in open_ids[:count]])


def plain_rows(frame: Any) -> list[list[Any]]:
    """A frame's rows as lists of plain values, missing ones None (pandas' to_json would round
    the floats to 10 digits)."""
    return [
        [None if value is None or value != value else value for value in row]
        for row in frame.astype(object).itertuples(index=False, name=None)
    ]


def feature_records(settings: Settings, count: int | None = None) -> list[dict[str, Any]]:
    """Feature rows as `dataframe_records` (missing values as null)."""
    frame = feature_frame(settings, count)
    return [dict(zip(frame.columns, row)) for row in plain_rows(frame)]


def feature_split(frame: Any) -> dict[str, Any]:
    """Feature rows as `dataframe_split`."""
    return {"columns": list(frame.columns), "data": plain_rows(frame)}


def check_in_event(key_result_id: str, value: float = 1.0) -> dict[str, Any]:
    """A valid check-in event (contract section 4) for a stored key result."""
    check_in_id = f"api-{secrets.token_hex(6)}"
    return {
        "event_id": f"evt-{check_in_id}",
        "event_type": "check_in.recorded",
        "source": "api-test",
        "payload": {
            "check_in_id": check_in_id,
            "key_result_id": key_result_id,
            "checked_in_at": "2026-05-14T09:00:00Z",
            "value": value,
            "confidence": 6,
        },
    }


def error_detail(response: Any, status: int, code: str) -> Any:
    """The detail of an error response, checked to be `{"error": code, "detail": ...}` JSON
    with `status`."""
    assert response.status_code == status, response.get_data(True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "detail"} and body["error"] == code and body["detail"], body
    return body["detail"]
