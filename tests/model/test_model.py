"""The risk model end to end: training with the registry flow and the promotion gate,
evaluation, predictions with reasons and lineage; determinism; the gate refusing worse models."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from okr_pipeline.cli import main
from okr_pipeline.features import FEATURES, MONOTONE, load_history
from okr_pipeline.model.dataset import split_by_time, training_snapshots
from okr_pipeline.model.reasons import ACTIONABLE, CONTEXT
from okr_pipeline.model.risk import RiskModel
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.tables import predictions

AS_OF = "2026-05-16"


def _run(*args: str) -> dict | list:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output + str(result.exception)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One data directory: a generated bundle ingested and a first model trained."""
    root = tmp_path_factory.mktemp("model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OKR_DATA_DIR", str(root / "data"))
        generate_bundle(root / "bundle", seed=4, scale=0.6, as_of=date(2026, 7, 1))
        _run("ingest", str(root / "bundle"))
        first = _run("train", "--as-of", AS_OF)
    return {"root": root, "first": first}


@pytest.fixture
def data_dir(trained: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OKR_DATA_DIR", str(trained["root"] / "data"))
    return trained["root"] / "data"


def test_first_training_registers_a_champion(trained: dict, data_dir: Path):
    first = trained["first"]
    assert first["model_version"] == "1" and first["alias"] == "champion" and first["promoted"]
    for metrics in (first["metrics"], *first["baseline_metrics"].values()):
        assert {"auc", "brier", "log_loss", "auc_early", "auc_middle", "auc_late"} <= set(metrics)
    assert set(first["baseline_metrics"]) == {
        "pace rule",
        "pace + confidence",
        "pace + elapsed + confidence",
    }
    assert first["metrics"]["auc_weighted"] > max(
        m["auc_weighted"] for m in first["baseline_metrics"].values()
    )
    # the gate's differences, with intervals grouped by key result, against every baseline
    assert set(first["differences"]) == set(first["baseline_metrics"])
    for d in first["differences"].values():
        assert d["auc_low"] <= d["auc"] <= d["auc_high"] and d["auc_low"] > 0
    assert set(first["settings"]) == {"num_leaves", "min_child_samples", "reg_lambda", "trees"}
    report = Path(first["report"]).read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", report)
    assert len(images) == 4 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    versions = _run("model", "list")
    assert versions[0]["version"] == "1" and "champion" in versions[0]["aliases"]


def test_predict_scores_open_key_results_with_reasons_and_lineage(trained: dict, data_dir: Path):
    out = data_dir / "predictions.json"
    items = _run("predict", "--as-of", AS_OF, "--output", str(out))
    assert items and json.loads(out.read_text()) == items
    for item in items:
        assert set(item) == {"key_result_id", "risk", "status", "reasons", "model_version", "as_of"}
        assert 0 <= item["risk"] <= 1 and item["model_version"] == "1"
        assert item["status"] in {"on_track", "at_risk", "off_track"}
        assert 1 <= len(item["reasons"]) <= 3  # fewer only when the others move nothing
        assert {r["direction"] for r in item["reasons"]} <= {"raises_risk", "lowers_risk"}
    assert {i["status"] for i in items} >= {"on_track", "off_track"}
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        stored = conn.execute(select(predictions)).mappings().all()
    assert len(stored) == len(items)
    for row in stored:  # the features seen, and their hash
        assert hashlib.sha256(row["features"].encode()).hexdigest() == row["feature_hash"]
        assert set(json.loads(row["features"])) == set(FEATURES)
    again = _run("predict", "--as-of", AS_OF)  # the same as-of and model: added, not replaced
    assert [i["risk"] for i in again] == [i["risk"] for i in items]
    with engine.connect() as conn:
        rows = conn.execute(select(predictions).order_by(predictions.c.id)).mappings().all()
    assert len(rows) == 2 * len(items)
    first, second = rows[: len(items)], rows[len(items) :]
    assert all(b["created_at"] > a["created_at"] for a, b in zip(first, second, strict=True))
    assert [r["feature_hash"] for r in first] == [r["feature_hash"] for r in second]


def test_readers_take_the_latest_of_reruns(trained: dict, data_dir: Path):
    """After an as-of is predicted twice, every reader answers one prediction per key result:
    the later one (here made different by hand, to tell them apart)."""
    from okr_pipeline import jobs
    from okr_pipeline.config import load_settings
    from okr_pipeline.core import as_of_instant

    _run("predict", "--as-of", AS_OF)
    _run("predict", "--as-of", AS_OF)
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.begin() as conn:
        latest = conn.execute(select(func.max(predictions.c.created_at))).scalar_one()
        conn.execute(
            predictions.update()
            .where(predictions.c.created_at == latest)
            .values(risk=0.999, status="off_track", reasons="[]")
        )
        later = dict(
            conn.execute(
                select(predictions.c.key_result_id, predictions.c.id).where(
                    predictions.c.created_at == latest
                )
            ).all()
        )
    settings, moment = load_settings(), as_of_instant(AS_OF)
    krs = jobs.key_results_as_of(settings, jobs.KeyResultFilters(as_of=moment))
    scored = [kr for kr in krs if kr["risk"] is not None]
    assert len(scored) == len(later) and {kr["risk"] for kr in scored} == {0.999}
    reasons = jobs.risk_reasons(settings, list(later), moment)
    assert set(reasons) == set(later) and all(r == [] for r in reasons.values())
    one = next(iter(later))
    assert jobs.key_result_risk(settings, one)["risk"] == 0.999
    assert jobs.key_result_risk(settings, one, moment)["risk"] == 0.999
    (day,) = [d for d in jobs.risk_trend(settings, moment) if d["day"] == AS_OF]
    assert day["scored"] == len(later) and day["mean_risk"] == pytest.approx(0.999)


def test_a_stored_prediction_is_rebuilt_from_its_features_and_model_version(
    trained: dict, data_dir: Path
):
    from okr_pipeline.config import load_settings
    from okr_pipeline.model import open_registry
    from okr_pipeline.model.predict import stored_features

    _run("predict", "--as-of", AS_OF)
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(predictions).order_by(predictions.c.id.desc()).limit(40))
        rows = rows.mappings().all()
    (version,) = {row["model_version"] for row in rows}
    model = open_registry(load_settings()).load(version)
    rebuilt = model.predict_proba(stored_features([row["features"] for row in rows]))[:, 1]
    np.testing.assert_allclose(rebuilt, [row["risk"] for row in rows], rtol=0, atol=1e-12)


def test_reasons_are_actionable_drivers_in_points_of_the_risk(trained: dict, data_dir: Path):
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    fit, valid = split_by_time(training_snapshots(history, datetime(2026, 5, 16), (0.3, 0.6)), 0.2)
    model = RiskModel(max_trees=60).fit(fit)
    rows = valid.features.iloc[:50]
    risk = model.predict_proba(rows)[:, 1]
    contributions = model.contributions(rows)
    raw = np.asarray(model.booster_.predict(model._prepare(rows), raw_score=True))
    for i, found in enumerate(model.reasons(rows)):
        assert len(found) == 3
        assert all(abs(reason["points"]) >= 0.05 for reason in found)
        for reason in found:
            keys = {"feature", "value", "direction", "contribution", "points", "text"}
            assert set(reason) == keys
            assert reason["feature"] in ACTIONABLE and reason["feature"] not in CONTEXT
            push = contributions.iloc[i][reason["feature"]]
            without = model.calibrator_.predict_proba([[raw[i] - push]])[0, 1]
            assert reason["points"] == pytest.approx(100 * (risk[i] - without), abs=0.01)
            assert reason["contribution"] == pytest.approx(push, abs=1e-4)
            assert (reason["direction"] == "raises_risk") == (reason["points"] > 0)
            assert f"{abs(reason['points']):.1f} pts" in reason["text"]
        points = [abs(r["points"]) for r in found]
        assert points == sorted(points, reverse=True)
        # no actionable driver left out moves the risk more than those named
        actionable = [c for c in contributions.columns if c in ACTIONABLE]
        moved = sorted(
            abs(risk[i] - model.calibrator_.predict_proba([[raw[i] - p]])[0, 1]) * 100
            for p in contributions.iloc[i][actionable]
        )
        assert points[-1] == pytest.approx(moved[-3], abs=0.01)


def test_known_directions_hold_and_a_retired_feature_does_not_stop_scoring(
    trained: dict, data_dir: Path
):
    """More progress, pace or confidence never raises a risk (MONOTONE); and a model trained
    with a column the features no longer have (as a champion from before a feature was
    retired) still scores rows without it."""
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    fit, valid = split_by_time(training_snapshots(history, datetime(2026, 5, 16), (0.3, 0.6)), 0.2)
    fit.features = fit.features.assign(retired=np.arange(len(fit)) % 7)
    model = RiskModel(max_trees=80).fit(fit)
    rows = valid.features.iloc[:200]
    risk = model.predict_proba(rows)[:, 1]  # no "retired" column: missing, not an error
    assert np.isfinite(risk).all()
    for name in ("progress", "pace", "last_confidence"):
        assert MONOTONE[name] == -1
        raised = model.predict_proba(rows.assign(**{name: rows[name] + 0.3}))[:, 1]
        assert (raised <= risk + 1e-12).all(), name
        assert (raised < risk - 1e-6).any(), name  # and it is used


def test_every_feature_is_either_actionable_or_context():
    """A new feature must be given a phrase and an action, or be declared context."""
    assert not set(ACTIONABLE) & CONTEXT
    missing = [name for name in FEATURES if name not in ACTIONABLE and name not in CONTEXT]
    assert missing == [], f"features neither actionable nor context: {missing}"


def test_the_served_model_learnt_every_closed_period(trained: dict, data_dir: Path):
    """The gate judges a model fitted on the earlier periods; the version registered is refit on
    the validation periods too."""
    from okr_pipeline.config import load_settings
    from okr_pipeline.model.registry import load_champion

    settings = load_settings()
    _, model = load_champion(settings)
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    from okr_pipeline.model import time_split

    fit, valid = time_split(settings, history, datetime(2026, 5, 16))
    assert model.trained_key_results_ == set(fit.groups) | set(valid.groups)
    assert trained["first"]["rows"]["validation_key_results"] == len(set(valid.groups)) >= 100


def test_gate_refuses_an_equal_model_then_promote_and_rollback(trained: dict, data_dir: Path):
    second = _run("train", "--as-of", AS_OF)
    assert second["model_version"] == "2" and second["alias"] == "challenger"
    # the champion learnt every validation key result: nothing left to judge it on
    assert not second["promoted"]
    assert (
        "not enough closed key results that the champion has not learnt from" in (second["reason"])
    )
    assert second["champion_metrics"] is None
    aliases = {v["version"]: v["aliases"] for v in _run("model", "list")}
    assert "champion" in aliases["1"] and aliases["2"] == ["challenger"]
    assert _run("model", "promote", "2")["version"] == "2"
    assert _run("model", "rollback")["version"] == "1"
    assert "champion" in {v["version"]: v["aliases"] for v in _run("model", "list")}["1"]


def test_gate_refuses_a_worse_model(trained: dict, data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_MODEL__PARAMS__MAX_TREES", "1")
    point = '[{"num_leaves": 2, "min_child_samples": 1000, "reg_lambda": 0}]'
    monkeypatch.setenv("OKR_MODEL__PARAMS__SEARCH", point)
    worse = _run("train", "--as-of", AS_OF)
    assert not worse["promoted"]
    assert worse["reason"].startswith("refused: early-weighted AUC over pace rule")


def test_evaluate_reports_the_champion_on_what_it_has_not_learnt(trained: dict, data_dir: Path):
    refused = CliRunner().invoke(main, ["evaluate", "--as-of", AS_OF])
    assert refused.exit_code == 1 and "evaluate it as of a later date" in refused.stderr
    result = _run("evaluate", "--as-of", "2026-07-01")  # the quarter closed since
    assert result["model_version"] == "1"
    assert Path(result["report"]).is_file()
    assert (
        100
        <= result["rows"]["validation_key_results"]
        < trained["first"]["rows"]["validation_key_results"]
    )
    assert 0.5 < result["metrics"]["auc"] < 0.99


def test_training_is_deterministic(trained: dict, data_dir: Path):
    engine = create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    fit, valid = split_by_time(training_snapshots(history, datetime(2026, 5, 16), (0.3, 0.6)), 0.2)
    runs = [RiskModel(random_state=7).fit(fit).predict_proba(valid.features) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_training_needs_enough_closed_key_results(tmp_path: Path, contract_bundle: Path):
    CliRunner().invoke(main, ["ingest", str(contract_bundle)])
    result = CliRunner().invoke(main, ["train", "--as-of", "2026-04-15"])
    assert result.exit_code == 1 and "key results" in result.stderr


def test_predict_without_a_champion_is_a_clear_error(tmp_path: Path, contract_bundle: Path):
    result = CliRunner().invoke(main, ["predict"])
    assert result.exit_code == 1 and "okr train" in result.stderr


def test_an_update_trains_again_on_what_closed_since(trained: dict, data_dir: Path):
    """Later, more key results have closed: a version trained on everything closed goes through
    the update's gate, and the result is announced on the model-updates topic."""
    from okr_pipeline.config import load_settings
    from okr_pipeline.stream.backends import open_event_log

    result = _run("model", "update", "--as-of", "2026-07-01")
    assert result["updated"] and result["kind"] == "update"
    assert result["alias"] in {"champion", "challenger"} and result["reason"]
    versions = {v["version"]: v for v in _run("model", "list")}
    assert result["model_version"] in versions
    event_log = open_event_log(load_settings())
    consumer = event_log.consumer("test-updates", ["okr.model-updates"])
    messages = consumer.poll(10, 2.0)
    consumer.close()
    event_log.close()
    assert [json.loads(m.value)["model_version"] for m in messages] == [result["model_version"]]
    nothing_new = _run("model", "update", "--as-of", "2026-05-16")
    assert nothing_new["updated"] is False
