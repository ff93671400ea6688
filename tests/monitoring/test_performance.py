"""Model performance: the estimator on synthetic calibrated risks, realized metrics, and on
generated data an open quarter's estimate next to what its outcomes turned out to be; estimates
recorded and settled on each dialect."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, select

from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.monitoring.performance import (
    MIN_OUTCOMES,
    Estimate,
    _average_ranks,
    _sampled_metrics,
    _stored_predictions,
    estimate_metrics,
    expected_auc,
    performance,
    realized_metrics,
    record_estimate,
    settle_estimates,
)
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse import open_warehouse, performance_estimates, predictions

TRAINED = datetime(2026, 4, 1)  # seven closed quarters to learn from
ESTIMATED = datetime(2026, 5, 15)  # inside the second quarter of 2026, its outcomes unknown
SETTLED = datetime(2026, 7, 1, 23, 59)  # every key result of that quarter has closed


# --- the estimator on synthetic calibrated risks ----------------------------------------------


def _risks(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).beta(1.5, 3.0, n)


def test_average_ranks_match_scipy_with_ties():
    values = np.round(_risks(500, 1), 2)  # many ties
    assert np.array_equal(_average_ranks(values), rankdata(values))


def test_sampled_auc_is_the_rank_statistic_of_each_draw():
    p = np.round(_risks(200, 2), 2)
    draws = _sampled_metrics(p, 20, seed=3)
    labels = np.random.default_rng(3).random((20, p.size)) < p
    for auc, y in zip(draws["auc"], labels, strict=True):
        assert auc == pytest.approx(roc_auc_score(y, p))
    assert np.allclose(draws["miss_rate"], labels.mean(axis=1))


def test_labels_are_drawn_a_block_at_a_time_in_bounded_memory(monkeypatch: pytest.MonkeyPatch):
    import tracemalloc

    from okr_pipeline.monitoring import performance as module

    p = np.round(_risks(300, 5), 2)
    whole = _sampled_metrics(p, 50, seed=4)
    monkeypatch.setattr(module, "DRAWN_AT_ONCE", 7 * p.size)  # blocks of 7 draws, the last of 1
    blocks = _sampled_metrics(p, 50, seed=4)
    for name in whole:
        assert np.allclose(whole[name], blocks[name], equal_nan=True), name
    monkeypatch.undo()
    many = _risks(50_000, 6)  # all at once: 2000 x 50,000 labels, gigabytes of floats
    tracemalloc.start()
    try:
        estimate_metrics(many, 0.9, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200e6, f"{peak / 1e6:.0f} MB"


def test_expected_auc_on_sure_and_uninformative_risks():
    assert expected_auc(np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert expected_auc(np.full(50, 0.3)) == pytest.approx(0.5)
    assert np.isnan(expected_auc(np.zeros(5)))


def test_estimates_agree_with_labels_drawn_from_the_risks():
    """Expected values against the mean over many label draws: within Monte Carlo error (the
    expected AUC is the area under the expected ROC curve, not E[AUC], which differs by O(1/n))."""
    p = _risks(300, 4)
    estimated = estimate_metrics(p, 0.9, seed=5)
    draws = _sampled_metrics(p, 20000, seed=6)
    for name in ("auc", "brier", "miss_rate"):
        sample = draws[name]
        standard_error = sample.std() / np.sqrt(sample.size)
        assert abs(estimated[name]["value"] - sample.mean()) < max(4 * standard_error, 0.003), name
        assert estimated[name]["low"] < estimated[name]["value"] < estimated[name]["high"]


def test_the_interval_covers_realized_values_at_its_confidence():
    """Independent label draws from calibrated risks land in the 90 % interval about 90 % of
    the time (200 trials: a binomial standard deviation of 2 points)."""
    rng = np.random.default_rng(7)
    covered = {"auc": 0, "brier": 0, "miss_rate": 0}
    trials = 200
    for trial in range(trials):
        p = rng.beta(1.5, 3.0, 150)
        estimated = estimate_metrics(p, 0.9, seed=trial)
        y = (rng.random(p.size) < p).astype(float)
        realized = {
            "auc": roc_auc_score(y, p),
            "brier": np.mean((p - y) ** 2),
            "miss_rate": y.mean(),
        }
        for name, value in realized.items():
            covered[name] += estimated[name]["low"] <= value <= estimated[name]["high"]
    for name, count in covered.items():
        assert 0.84 <= count / trials <= 0.97, (name, count)


def test_estimates_need_enough_key_results():
    estimated = estimate_metrics(_risks(MIN_OUTCOMES - 1, 8), 0.9, seed=1)
    assert estimated["auc"] is None and estimated["miss_rate"] is None
    assert "open key results" in estimated["reason"]


def test_realized_metrics_by_bucket_with_reasons():
    rng = np.random.default_rng(9)
    risk = rng.random(90)
    y = (rng.random(90) < risk).astype(float)
    elapsed = np.r_[np.full(60, 0.1), np.full(30, 0.9)]
    y[60:] = 1.0  # the late bucket: one class only
    result = realized_metrics(y, risk, elapsed)
    assert result["overall"]["auc"] == pytest.approx(roc_auc_score(y, risk), abs=1e-6)
    assert result["overall"]["brier"] == pytest.approx(np.mean((risk - y) ** 2), abs=1e-6)
    assert sum(row["count"] for row in result["overall"]["calibration"]) == 90
    assert result["by_bucket"]["early"]["n"] == 60 and result["by_bucket"]["early"]["auc"]
    assert result["by_bucket"]["middle"] == {
        "n": 0,
        "miss_rate": None,
        "auc": None,
        "brier": None,
        "reason": f"0 outcomes (need {MIN_OUTCOMES}+)",
    }
    assert result["by_bucket"]["late"]["auc"] is None
    assert "one outcome class" in result["by_bucket"]["late"]["reason"]


# --- recording and settling, on each dialect --------------------------------------------------


def _estimate(as_of: datetime, risks: dict[str, float]) -> Estimate:
    summary = estimate_metrics(np.fromiter(risks.values(), float), 0.9, seed=1)
    return Estimate(as_of, summary | {"key_results": len(risks), "model_version": "3"}, risks)


def test_record_and_settle_round_trip(warehouse: Engine, settings: Settings):
    """Key results the warehouse does not hold count as closed without an outcome."""
    risks = {f"kr-{i}": i / 40 for i in range(30)}
    made = _estimate(datetime(2026, 5, 1), risks)
    with warehouse.begin() as conn:
        assert record_estimate(conn, made) is not None
        assert record_estimate(conn, made) is None  # the same risks again: not repeated
        later = _estimate(datetime(2026, 5, 2), risks | {"kr-0": 0.5})
        assert record_estimate(conn, later) is not None
        assert record_estimate(conn, made) is None  # as of the past date again: not repeated
        conn.execute(
            performance_estimates.delete().where(performance_estimates.c.as_of == later.as_of)
        )
        assert settle_estimates(conn, settings, datetime(2026, 4, 1)) == 0  # made later
        assert settle_estimates(conn, settings, datetime(2026, 7, 1)) == 1
        assert settle_estimates(conn, settings, datetime(2026, 7, 2)) == 0  # settled once
    with warehouse.connect() as conn:
        row = conn.execute(select(performance_estimates)).mappings().one()
    assert row["cohort"] == made.cohort and len(row["cohort"]) == 64
    assert row["model_version"] == "3" and row["key_results"] == 30
    assert json.loads(row["estimated"])["risks"] == risks
    realized = json.loads(row["realized"])
    assert realized["key_results"] == 0 and realized["without_outcome"] == 30
    assert realized["auc"] is None and row["realized_at"] is not None


# --- on generated data: an open quarter estimated, then realized ------------------------------


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated bundle ingested, a champion trained on what closed before April 2026, and
    the second quarter's key results scored in mid-May, six weeks before they close."""
    root = tmp_path_factory.mktemp("performance")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OKR_DATA_DIR", str(root / "data"))
        settings = load_settings()
        generate_bundle(root / "bundle", seed=4, scale=0.6, as_of=date(2026, 7, 1))
        jobs.ingest_path(settings, root / "bundle")
        jobs.train_model(settings, TRAINED)
        jobs.predict_risks(settings, ESTIMATED)
    return root / "data"


@pytest.fixture
def data_settings(predicted: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OKR_DATA_DIR", str(predicted))
    return load_settings()


def test_an_open_quarter_estimated_then_realized(data_settings: Settings):
    """The estimate made in mid-May against the same key results' outcomes at the start of July.

    Tolerance: the estimate's own 90 % interval (the spread of the realized values if the risks
    are calibrated: about ±0.065 on AUC and ±0.055 on the miss rate for these 140 key results),
    so this fails if the stored risks are miscalibrated beyond sampling noise on this quarter.
    """
    engine = open_warehouse(data_settings)
    early = performance(data_settings, engine, ESTIMATED, record=True)
    estimated = early["estimated"]
    assert estimated["key_results"] >= 100 and estimated["model_version"] == "1"
    assert early["realized"]["overall"]["n"] == 0  # nothing scored has closed yet
    assert early["realized"]["overall"]["auc"] is None
    assert [past["as_of"] for past in early["history"]] == [ESTIMATED.isoformat()]

    late = performance(data_settings, engine, SETTLED, record=True)
    settled = late["history"][0]
    assert settled["cohort"] == estimated["cohort"] and settled["realized_at"]
    realized = settled["realized"]
    assert realized["key_results"] == estimated["key_results"]
    for name in ("auc", "brier", "miss_rate"):
        interval = estimated[name]
        assert interval["low"] <= realized[name] <= interval["high"], (name, interval, realized)
    # the realized metrics of the stored predictions: the same risks, by elapsed bucket
    overall = late["realized"]["overall"]
    assert overall["auc"] == pytest.approx(realized["auc"])
    assert overall["n"] == estimated["key_results"]
    # one prediction per key result: in mid-May a quarter's key result is in the middle of its
    # period, one due at the end of May late in it
    assert sum(bucket["n"] for bucket in late["realized"]["by_bucket"].values()) == overall["n"]
    assert sum(row["count"] for row in overall["calibration"]) == overall["n"]
    assert realized["known_at"] == "2026-06-30T23:59:59.999999"  # the last due on June 30
    # looked at again as of mid-May: the outcomes were not known then, and nothing is repeated
    again = performance(data_settings, engine, ESTIMATED, record=True)
    assert [(h["as_of"], h["realized"]) for h in again["history"]] == [
        (ESTIMATED.isoformat(), None)
    ]
    assert late["estimated"]["key_results"] == 0  # nothing scored is open in July
    assert late["estimated"]["reason"].startswith("0 of the ")  # though key results are open
    assert "open key results have a stored prediction" in late["estimated"]["reason"]
    assert late["problems"] == []


def test_problems_name_the_metric_and_the_limit(
    data_settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OKR_MONITORING__PERFORMANCE__MIN_AUC", "0.99")
    monkeypatch.setenv("OKR_MONITORING__PERFORMANCE__MAX_BRIER", "0.01")
    strict = load_settings()
    engine = open_warehouse(strict)
    found = performance(strict, engine, ESTIMATED)["problems"]
    assert {(p["condition"], p["subject"]) for p in found} == {
        ("performance.estimated", "auc"),
        ("performance.estimated", "brier"),
    }
    found = performance(strict, engine, SETTLED)["problems"]
    assert {(p["condition"], p["subject"], p["severity"]) for p in found} == {
        ("performance.realized", "auc", "critical"),
        ("performance.realized", "brier", "critical"),
    }
    problem = found[0]
    assert set(problem) == {"condition", "subject", "severity", "message", "value", "threshold"}
    assert problem["threshold"] == 0.99 and problem["value"] < 0.99
    json.dumps(found, allow_nan=False)


def test_an_estimate_whose_interval_holds_the_limit_raises_nothing(
    data_settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    """Early in a period the risks are mild: the estimate may dip below the limit while its
    interval still holds it, and that is no evidence the model got worse."""
    engine = open_warehouse(data_settings)
    auc = performance(data_settings, engine, ESTIMATED)["estimated"]["auc"]
    monkeypatch.setenv(
        "OKR_MONITORING__PERFORMANCE__MIN_AUC", str((auc["value"] + auc["high"]) / 2)
    )
    found = performance(load_settings(), engine, ESTIMATED)["problems"]
    assert [p for p in found if p["condition"] == "performance.estimated"] == []
    monkeypatch.setenv("OKR_MONITORING__PERFORMANCE__MIN_AUC", str(auc["high"] + 0.01))
    [estimated] = performance(load_settings(), engine, ESTIMATED)["problems"]
    assert estimated["severity"] == "warning" and "interval" in estimated["message"]
    assert estimated["value"] == auc["value"]


def test_too_few_key_results_are_not_recorded(warehouse: Engine):
    made = _estimate(datetime(2026, 5, 1), {f"kr-{i}": 0.5 for i in range(MIN_OUTCOMES - 1)})
    with warehouse.begin() as conn:
        assert record_estimate(conn, made) is None
        assert conn.execute(select(performance_estimates.c.id)).first() is None


def test_a_rerun_of_an_as_of_is_read_after_the_earlier_prediction(warehouse: Engine):
    """Stored predictions are read oldest first, so that the later of two rows for the same
    as-of (a rerun) is the one kept, per key result or per bucket."""
    as_of = datetime(2026, 5, 1)
    rows = [
        (as_of, datetime(2026, 5, 3), 0.3),  # the rerun, written first here
        (as_of, datetime(2026, 5, 2), 0.1),
        (datetime(2026, 4, 1), datetime(2026, 5, 4), 0.9),  # an earlier as-of, written last
    ]
    with warehouse.begin() as conn:
        for at, created, risk in rows:
            conn.execute(
                predictions.insert().values(
                    key_result_id="KR-1",
                    as_of=at,
                    risk=risk,
                    status="at_risk",
                    reasons="[]",
                    model_version="1",
                    feature_hash="0" * 64,
                    created_at=created,
                )
            )
    with warehouse.connect() as conn:
        stored = _stored_predictions(conn, as_of)
    assert [p.risk for p in stored] == [0.9, 0.1, 0.3]
