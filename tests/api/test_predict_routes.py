"""POST /predict: feature rows in MLflow's DataFrame shapes scored by the champion. The risks are
those of the champion's predict_proba, of MLflow's pyfunc and of MLflow's own scoring server
(`mlflow models serve`) on the same rows and bodies; rows that break the champion's signature
are 422 naming the row and column; the row cap is 413; the champion is loaded once per process
and reloaded when its alias moves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from flask.testing import FlaskClient
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server

from api_calls import (
    ON_BOTH,
    bearer,
    error_detail,
    feature_frame,
    feature_records,
    feature_split,
)
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings
from okr_pipeline.model import InputSchema, Registry, RowsRejected, open_registry
from okr_pipeline.model.predict import risk_status


def _post(client: FlaskClient, token: str, body: Any) -> Any:
    return client.post("/api/v1/predict", json=body, headers=bearer(token))


def _champion_files(settings: Settings, tmp_path: Path) -> str:
    """The champion's MLflow model, downloaded: what `mlflow models serve` serves."""
    registry = open_registry(settings)
    champion = registry.version("champion")
    assert champion is not None
    uri = registry._client.get_model_version_download_uri(
        registry.registered_name, champion.version
    )
    return str(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri,
            dst_path=str(tmp_path / "champion"),
            tracking_uri=settings.tracking_uri,
        )
    )


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_risks_are_the_champions_and_mlflows_on_the_same_rows(
    client: FlaskClient, settings: Settings, tokens: Any, tmp_path: Path
):
    frame = feature_frame(settings)
    records = feature_records(settings)
    assert len(records) == len(frame) > 50
    answer = _post(client, tokens.viewer, {"dataframe_records": records})
    assert answer.status_code == 200, answer.get_data(True)
    body = answer.get_json()

    registry = open_registry(settings)
    champion = registry.version("champion")
    assert champion is not None and body["model_version"] == champion.version
    expected = registry.load(champion.version).predict_proba(frame)[:, 1]
    assert body["predictions"] == expected.tolist()
    thresholds = settings.model.risk_thresholds
    assert body["statuses"] == [
        risk_status(risk, thresholds.at_risk, thresholds.off_track) for risk in expected
    ]
    pyfunc = mlflow.pyfunc.load_model(_champion_files(settings, tmp_path))
    assert (
        np.asarray(pyfunc.predict(frame.reset_index(drop=True)))[:, 1].tolist() == expected.tolist()
    )

    split = _post(client, tokens.viewer, {"dataframe_split": feature_split(frame)})
    assert split.status_code == 200 and split.get_json() == body


def test_the_same_bodies_as_mlflows_scoring_server(
    client: FlaskClient, settings: Settings, tokens: Any, tmp_path: Path
):
    """What `mlflow models serve` answers at /invocations (its app, in this process) to the same
    bodies: the same risks, as its probability of the second class."""
    server = TestClient(
        scoring_server.init(mlflow.pyfunc.load_model(_champion_files(settings, tmp_path)))
    )
    frame = feature_frame(settings, 20)
    for body in (
        {"dataframe_records": feature_records(settings, 20)},
        {"dataframe_split": feature_split(frame)},
        {"dataframe_split": feature_split(frame) | {"index": list(range(100, 120))}},
    ):
        theirs = server.post("/invocations", json=body)
        assert theirs.status_code == 200, theirs.text
        ours = _post(client, tokens.viewer, body)
        assert ours.status_code == 200, ours.get_data(True)
        assert ours.get_json()["predictions"] == [p[1] for p in theirs.json()["predictions"]]


def test_a_bad_row_is_422_naming_the_row_and_column(
    client: FlaskClient, settings: Settings, tokens: Any
):
    records = feature_records(settings, 4)
    records[1]["elapsed"] = "half"
    records[2]["pace"] = None  # null is missing for a number: fine
    records[2]["metric_type"] = 3
    records[3]["colour"] = "red"
    del records[3]["progress"]
    problems = error_detail(
        _post(client, tokens.viewer, {"dataframe_records": records}), 422, "invalid_request"
    )
    places = {tuple(p["loc"]): p["type"] for p in problems}
    assert places == {
        ("dataframe_records", 3, "colour"): "unknown_column",
        ("dataframe_records", 1, "elapsed"): "type",
        ("dataframe_records", 3, "progress"): "missing",
        ("dataframe_records", 2, "metric_type"): "type",
    }

    split = feature_split(feature_frame(settings, 3))
    split["data"][2][0] = True
    split["data"][1] = split["data"][1][:-1]
    problems = error_detail(
        _post(client, tokens.viewer, {"dataframe_split": split}), 422, "invalid_request"
    )
    assert [p["loc"] for p in problems] == [["dataframe_split", "data", 1]]  # its shape first
    split["data"][1] = list(split["data"][0])
    split["columns"][1] = "colour"
    problems = error_detail(
        _post(client, tokens.viewer, {"dataframe_split": split}), 422, "invalid_request"
    )
    assert {(tuple(p["loc"]), p["type"]) for p in problems} == {
        (("dataframe_split", "columns", 1), "unknown_column"),
        (("dataframe_split", "columns"), "missing"),  # the column "colour" replaced
        (("dataframe_split", "data", 2, "elapsed"), "type"),
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"dataframe_records": []},
        {"dataframe_records": [1, 2]},
        {"dataframe_records": {"elapsed": 0.5}},
        {"dataframe_split": {"columns": [], "data": [[1]]}},
        {"dataframe_split": {"columns": ["elapsed"]}},
        {"dataframe_split": {"columns": [1], "data": [[1]]}},
        {"dataframe_records": [{}], "dataframe_split": {"columns": ["a"], "data": [[1]]}},
        {"instances": [{"elapsed": 0.5}]},
        [{"elapsed": 0.5}],
        "rows",
        None,
    ],
)
def test_a_body_of_another_shape_is_422(client: FlaskClient, tokens: Any, body: Any):
    error_detail(_post(client, tokens.viewer, body), 422, "invalid_request")


def test_more_rows_than_the_cap_is_413(settings: Settings, tokens: Any):
    capped = settings.model_copy(
        update={"api": settings.api.model_copy(update={"predict_max_rows": 3})}
    )
    client = create_app(capped).test_client()
    assert (
        _post(
            client, tokens.viewer, {"dataframe_records": feature_records(settings, 3)}
        ).status_code
        == 200
    )
    detail = error_detail(
        _post(client, tokens.viewer, {"dataframe_records": feature_records(settings, 4)}),
        413,
        "too_large",
    )
    assert "api.predict_max_rows" in detail


def test_no_champion_is_503(client: FlaskClient, settings: Settings, tokens: Any):
    registry = open_registry(settings)
    registry._client.delete_registered_model_alias(registry.registered_name, "champion")
    body = {"dataframe_records": feature_records(settings, 1)}
    error_detail(_post(client, tokens.viewer, body), 503, "no_champion")


def _register_again(settings: Settings) -> str:
    """The champion's model logged and registered once more: a new version (not yet
    champion), as a training run would register it."""
    registry = open_registry(settings)
    model = registry.load("champion")
    example = feature_frame(settings, 5).reset_index(drop=True)
    return registry.log_training(
        model=model, params={"kind": "copy"}, metrics={"auc": 0.5}, input_example=example
    ).version


def test_the_champion_is_loaded_once_and_again_when_its_alias_moves(
    settings: Settings, tokens: Any, monkeypatch: pytest.MonkeyPatch
):
    loads: list[str] = []
    load = Registry.load_with_signature

    def counted(self: Registry, version: str) -> Any:
        loads.append(version)
        return load(self, version)

    monkeypatch.setattr(Registry, "load_with_signature", counted)
    always = settings.model_copy(
        update={"api": settings.api.model_copy(update={"champion_check_seconds": 0})}
    )
    client = create_app(always).test_client()
    body = {"dataframe_records": feature_records(settings, 2)}
    for _ in range(3):
        assert _post(client, tokens.viewer, body).get_json()["model_version"] == "1"
    assert loads == ["1"]

    new = _register_again(settings)
    loads.clear()  # registering loaded the champion too
    open_registry(settings).promote(new, "test")
    assert _post(client, tokens.viewer, body).get_json()["model_version"] == new
    open_registry(settings).rollback()
    assert _post(client, tokens.viewer, body).get_json()["model_version"] == "1"
    assert loads == [new, "1"]

    # looked at at most every champion_check_seconds: a promotion is seen once that passed
    slow = settings.model_copy(
        update={"api": settings.api.model_copy(update={"champion_check_seconds": 3600})}
    )
    client = create_app(slow).test_client()
    assert _post(client, tokens.viewer, body).get_json()["model_version"] == "1"
    open_registry(settings).promote(new, "test")
    assert _post(client, tokens.viewer, body).get_json()["model_version"] == "1"


# --- the signature's checks, on a signature made here -------------------------------------------


def _schema() -> InputSchema:
    example = pd.DataFrame(
        {
            "share": [0.5, None],  # a null in the example: optional
            "level": [1.0, 2.0],
            "count": [1, 2],
            "flag": [True, False],
            "kind": ["a", "b"],
        }
    )
    return InputSchema.of(infer_signature(example))


def test_the_schema_reads_the_signature():
    schema = _schema()
    assert [(c.name, c.kind, c.required) for c in schema.columns] == [
        ("share", "double", False),
        ("level", "double", True),
        ("count", "long", True),
        ("flag", "boolean", True),
        ("kind", "string", True),
    ]


def test_an_optional_column_left_out_is_missing_and_nulls_are_missing():
    schema = _schema()
    columns = schema.records(
        [
            {"level": 1, "count": 2, "flag": True, "kind": None},
            {"share": 0.25, "level": None, "count": 3, "flag": False, "kind": "x"},
        ],
        "rows",
    )
    frame = schema.frame(columns)
    assert list(frame.columns) == ["share", "level", "count", "flag", "kind"]
    assert math.isnan(frame["share"][0]) and frame["share"][1] == 0.25
    assert frame["level"].tolist()[0] == 1.0 and math.isnan(frame["level"][1])
    assert pd.isna(frame["kind"][0]) and frame["kind"][1] == "x"
    assert frame["level"].dtype == float and frame["count"].dtype == np.int64
    assert frame["kind"].dtype == object  # as the feature table holds text


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("level", "1.5", "type"),
        ("level", True, "type"),
        ("level", float("inf"), "type"),
        ("level", float("nan"), "type"),  # Python's JSON reader takes NaN: JSON has none
        ("level", 10**400, "type"),
        ("level", [1.0], "type"),
        ("count", 1.5, "type"),
        ("count", None, "type"),
        ("count", 2**70, "type"),
        ("flag", 1, "type"),
        ("kind", 1, "type"),
        ("kind", {"a": 1}, "type"),
    ],
)
def test_a_value_of_the_wrong_type_is_named(column: str, value: Any, kind: str):
    row = {"share": 0.5, "level": 1.0, "count": 1, "flag": True, "kind": "a"}
    with pytest.raises(RowsRejected) as refused:
        _schema().records([dict(row), row | {column: value}], "rows")
    assert [(p.loc, p.type) for p in refused.value.problems] == [(("rows", 1, column), kind)]


def test_problems_are_told_up_to_a_bound():
    rows = [{"level": "x", "count": "y", "flag": 1, "kind": 2} for _ in range(1000)]
    with pytest.raises(RowsRejected) as refused:
        _schema().records(rows, "rows")
    assert len(refused.value.problems) == 100


def test_the_columns_path_scores_as_lightgbm_and_scikit_learn_score_a_dataframe(
    settings: Settings,
):
    """RiskModel.predict_proba_columns (what POST /predict runs) against predict_proba (the
    libraries' own path: LightGBM's predict of the DataFrame with its categories, then the
    calibrator's predict_proba; what MLflow's pyfunc runs), on real rows and on rows with
    unseen categories and missing values."""
    model = open_registry(settings).load("champion")
    frame = feature_frame(settings)
    odd = frame.head(6).copy()
    odd["metric_type"] = ["Nowhere", None, float("nan"), "number", "NUMBER", "percentage"]
    odd["priority"] = [None, "urgent", "high", "low", None, "medium"]
    odd.iloc[0, 0] = float("nan")
    for rows in (frame, odd):
        columns = {name: rows[name].tolist() for name in rows.columns}
        assert np.array_equal(model.predict_proba_columns(columns), model.predict_proba(rows))
