"""The MLflow model registry: versions, aliases, promotion and rollback, on real sqlite stores."""

from __future__ import annotations

import os
import socket
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from okr_pipeline.errors import InputError, OkrError
from okr_pipeline.model.registry import CHALLENGER, CHAMPION, Registry

NAME = "okr-risk"


class ProbaOnly:
    """Like the production RiskModel: predict_proba, no predict, not a scikit-learn estimator."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        risk = 1 / (1 + np.exp(-X.to_numpy() @ self.weights))
        return np.column_stack([1 - risk, risk])


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.normal(size=(60, 3)), columns=["progress", "pace", "age_days"])


@pytest.fixture(scope="module")
def pipeline(features: pd.DataFrame) -> Pipeline:
    missed = (features["progress"] + 0.5 * features["pace"] < 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(features, missed)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite database with its schema migrated and nothing else: migrating takes
    seconds, copying it milliseconds, so every test gets a store of its own."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation notes on its SQL schema
        MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def _clean_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """MLflow's defaults write to ./mlflow.db and ./mlruns: any use of them shows up here."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert os.listdir(cwd) == []


def new_registry(empty_store: Path, root: Path) -> Registry:
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(empty_store) as source, sqlite3.connect(root / "mlflow.db") as copy:
        source.backup(copy)
    return Registry(f"sqlite:///{root / 'mlflow.db'}", NAME)


@pytest.fixture
def registry(empty_store: Path, tmp_path: Path) -> Registry:
    return new_registry(empty_store, tmp_path / "store")


def log(registry: Registry, model: object, features: pd.DataFrame, auc: float, **kwargs):
    return registry.log_training(
        model=model,
        params={"model": type(model).__name__, "rows": len(features)},
        metrics={"auc": auc, "brier": 0.2},
        input_example=features,
        **kwargs,
    )


def test_train_promote_load_and_roll_back(
    registry: Registry, pipeline: Pipeline, features: pd.DataFrame, tmp_path: Path
):
    report = tmp_path / "evaluation.html"
    report.write_text("<html><body>AUC 0.83</body></html>")

    first = log(registry, pipeline, features, 0.83, artifacts=[report], tags={"data": "2024Q4"})
    assert (first.version, first.aliases) == ("1", (CHALLENGER,))
    assert first.metrics == {"auc": 0.83, "brier": 0.2}
    assert first.tags == {"data": "2024Q4"}
    client = MlflowClient(registry.tracking_uri)
    assert {a.path for a in client.list_artifacts(first.run_id)} >= {"evaluation.html"}
    assert client.get_run(first.run_id).data.params["model"] == "Pipeline"

    promoted = registry.promote("1", "first model")
    assert promoted.aliases == (CHALLENGER, CHAMPION)
    assert promoted.tags["okr.promotion_reason"] == "first model"
    assert registry.version(CHAMPION) == promoted
    loaded = registry.load(CHAMPION)
    np.testing.assert_array_equal(loaded.predict_proba(features), pipeline.predict_proba(features))

    proba_only = ProbaOnly(np.array([-1.0, -0.5, 0.0]))
    second = log(registry, proba_only, features, 0.85)
    assert (second.version, second.aliases) == ("2", (CHALLENGER,))
    assert registry.version("1").aliases == (CHAMPION,)
    assert registry.promote(CHALLENGER, "AUC 0.85 > 0.83").aliases == (CHALLENGER, CHAMPION)
    np.testing.assert_array_equal(
        registry.load(CHAMPION).predict_proba(features), proba_only.predict_proba(features)
    )

    restored = registry.rollback()
    assert (restored.version, restored.aliases) == ("1", (CHAMPION,))
    assert restored.tags["okr.promotion_reason"] == "rollback from version 2"
    assert registry.version(CHAMPION).version == "1"
    assert registry.version("2").aliases == (CHALLENGER,)
    with pytest.raises(OkrError, match="no previous champion"):
        registry.rollback()  # version 1 had no predecessor


def test_versions_newest_first_with_metrics_and_aliases(
    registry: Registry, pipeline: Pipeline, features: pd.DataFrame
):
    assert registry.versions() == []
    log(registry, pipeline, features, 0.81)
    registry.promote("1", "first model")
    log(registry, pipeline, features, 0.84)

    listed = registry.versions()
    assert [(v.version, v.aliases, v.metrics["auc"]) for v in listed] == [
        ("2", (CHALLENGER,), 0.84),
        ("1", (CHAMPION,), 0.81),
    ]
    assert listed[0].created_at >= listed[1].created_at
    assert listed[0].created_at.endswith("+00:00")


def test_refused_version_keeps_only_challenger(
    registry: Registry, pipeline: Pipeline, features: pd.DataFrame
):
    log(registry, pipeline, features, 0.83)
    registry.promote("1", "first model")
    registry.record_decision("1", True, "first model")
    refused = log(registry, pipeline, features, 0.81)
    reason = "refused: AUC 0.81 < champion 0.83 + margin 0.005"

    registry.record_decision(refused.version, False, reason)

    after = registry.version(refused.version)
    assert after.aliases == (CHALLENGER,)
    assert after.tags["okr.gate_decision"] == "refused"
    assert after.tags["okr.gate_reason"] == reason
    run_tags = MlflowClient(registry.tracking_uri).get_run(after.run_id).data.tags
    assert (run_tags["okr.gate_decision"], run_tags["okr.gate_reason"]) == ("refused", reason)
    assert registry.version("1").tags["okr.gate_decision"] == "promoted"
    assert registry.version(CHAMPION).version == "1"


def test_promoting_the_champion_again_changes_nothing(
    registry: Registry, pipeline: Pipeline, features: pd.DataFrame
):
    log(registry, pipeline, features, 0.83)
    first = registry.promote("1", "first model")
    assert registry.promote("1", "again") == first
    with pytest.raises(OkrError, match="no previous champion"):
        registry.rollback()


def test_unknown_versions_and_empty_history_are_errors(
    registry: Registry, pipeline: Pipeline, features: pd.DataFrame
):
    # Before the registered model exists.
    assert registry.version(CHAMPION) is None
    assert registry.version("1") is None
    with pytest.raises(OkrError, match="no previous champion"):
        registry.rollback()
    with pytest.raises(OkrError, match="no version or alias '1'"):
        registry.load("1")

    log(registry, pipeline, features, 0.83)
    assert registry.version("2") is None
    assert registry.version(CHAMPION) is None
    for call in (
        lambda: registry.load("2"),
        lambda: registry.promote("2", "typo"),
        lambda: registry.promote(CHAMPION, "no champion yet"),
        lambda: registry.record_decision("9", False, "typo"),
    ):
        with pytest.raises(OkrError, match="no version or alias"):
            call()


def test_log_training_refuses_bad_input(registry: Registry, features: pd.DataFrame, tmp_path):
    with pytest.raises(InputError, match="predict_proba"):
        log(registry, object(), features, 0.8)
    with pytest.raises(InputError, match="not found"):
        log(registry, ProbaOnly(np.zeros(3)), features, 0.8, artifacts=[tmp_path / "no.html"])
    assert registry.versions() == []


def test_two_registries_do_not_see_each_other(
    empty_store: Path,
    pipeline: Pipeline,
    features: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    # The fluent MLflow calls inside must neither use nor change the process-wide URI.
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    one = new_registry(empty_store, tmp_path / "one")
    two = new_registry(empty_store, tmp_path / "two")

    first = log(one, pipeline, features, 0.83)
    assert two.versions() == []
    assert two.version(CHALLENGER) is None
    other = log(two, ProbaOnly(np.ones(3)), features, 0.7)
    one.promote("1", "only in one")

    assert [v.run_id for v in one.versions()] == [first.run_id]
    assert [v.run_id for v in two.versions()] == [other.run_id]
    assert two.version(CHAMPION) is None
    assert (tmp_path / "one" / "mlartifacts").is_dir()
    assert (tmp_path / "two" / "mlartifacts").is_dir()
    assert os.environ["MLFLOW_TRACKING_URI"] == elsewhere
    assert not (tmp_path / "elsewhere.db").exists()


def test_unusable_tracking_uris_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail now, not after backoff
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(OkrError, match=rf"MLflow at http://127\.0\.0\.1:{port}"):
            Registry(f"http://127.0.0.1:{port}", NAME)
    with pytest.raises(OkrError, match="unsupported URI"):
        Registry("nosuchscheme://host/db", NAME)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OkrError, match="cannot create the MLflow database"):
        Registry(f"sqlite:///{blocker / 'mlflow.db'}", NAME)
