"""Drift: the comparison raises the dataset problem on injected drift and stays quiet on the same
distribution (statistically: 20 seeded repeats), single features, missing shares, the large-sample
distances; and end to end against a trained champion and its stored predictions.

The statistical tests compare feature frames built directly from generated bundles: one row per
closed key result at the middle of its period. The same distribution is two random halves of
one bundle's key results; the injected drift is the same bundle with two check-ins in three
removed before ingesting (the current half's key results read from that warehouse).
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.features import (
    FEATURES,
    closed_before,
    features_at,
    load_history,
    snapshot_instant,
)
from okr_pipeline.jobs import ingest_path, predict_risks, train_model
from okr_pipeline.monitoring.drift import (
    _problem,
    _stored_risks,
    compare,
    compare_column,
    drift,
    feature_drift,
)
from okr_pipeline.monitoring.periods import objective_periods, same_point
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse import close_warehouses, open_warehouse, predictions

AS_OF = date(2026, 7, 1)
REPEATS = 20


def _thin_checkins(bundle: Path, files: list[str], since: str = "") -> None:
    """Keep one check-in in three of those on or after the day `since` (all by default; CSV
    or JSON lines, as the generator wrote them)."""

    def thinned(rows: list, days: list[str]) -> list:
        late = [row for row, day in zip(rows, days, strict=True) if day >= since]
        return [row for row, day in zip(rows, days, strict=True) if day < since] + late[::3]

    for name in files:
        path = bundle / name
        if name.endswith(".csv"):
            with path.open(newline="", encoding="utf-8") as handle:
                header, *rows = list(csv.reader(handle))
            days = [row[header.index("checked_in_at")][:10] for row in rows]
            with path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows([header, *thinned(rows, days)])
        else:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            days = [json.loads(line)["checked_in_at"][:10] for line in lines]
            kept = thinned(lines, days)
            path.write_text("".join(kept), encoding="utf-8")


def _mid_period_features(settings: Settings, bundle: Path) -> pd.DataFrame:
    ingest_path(settings, bundle)
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    closed = sorted(closed_before(history, datetime(2026, 7, 1)))
    frame = features_at(history, [(kr, snapshot_instant(history, kr, 0.5)) for kr in closed])
    return frame.reset_index(level="as_of", drop=True)  # one row per key result


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """Mid-period features of one generated bundle, and of it with check-ins thinned."""
    root = tmp_path_factory.mktemp("drift-frames")
    original, thinned = root / "original", root / "thinned"
    manifest = generate_bundle(original, seed=7, scale=0.6, as_of=AS_OF)
    shutil.copytree(original, thinned)
    _thin_checkins(thinned, manifest["files"]["check_ins"])
    built = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OKR_DATA_DIR", str(root / "data"))
        for name, bundle in (("original", original), ("thinned", thinned)):
            patch.setenv("OKR_WAREHOUSE__URL", f"sqlite:///{root / f'{name}.db'}")
            built[name] = _mid_period_features(load_settings(), bundle)
            close_warehouses()
    return built


def _halves(frame: pd.DataFrame, seed: int) -> tuple[pd.Index, pd.Index]:
    order = np.random.default_rng(seed).permutation(frame.index)
    return pd.Index(order[: len(order) // 2]), pd.Index(order[len(order) // 2 :])


def _conditions(result: dict) -> set[str]:
    return {p["condition"] for p in result["problems"]}


def test_the_same_distribution_raises_no_dataset_problem(frames: dict, settings: Settings):
    original = frames["original"]
    raised = 0
    for seed in range(REPEATS):
        reference, current = _halves(original, seed)
        result = compare(original.loc[reference], original.loc[current], settings)
        raised += "drift.dataset" in _conditions(result)
    assert raised <= 1, f"{raised} of {REPEATS} repeats raised the dataset problem"


def test_thinned_checkins_raise_the_dataset_problem(frames: dict, settings: Settings):
    original, thinned = frames["original"], frames["thinned"]
    raised = 0
    for seed in range(REPEATS):
        reference, current = _halves(original, seed)
        result = compare(original.loc[reference], thinned.loc[current], settings)
        raised += "drift.dataset" in _conditions(result)
    assert raised >= REPEATS - 1, f"only {raised} of {REPEATS} repeats raised it"
    drifted = {n for n, f in result["features"].items() if f["drifted"]}
    assert {"checkin_count", "checkins_per_week", "days_since_checkin"} <= drifted
    dataset = next(p for p in result["problems"] if p["condition"] == "drift.dataset")
    assert dataset["severity"] == "warning" and dataset["subject"] == "features"
    assert "its natural variation is unknown" in dataset["message"]  # no earlier periods given
    assert dataset["value"] == result["drifted_share"] > dataset["threshold"]


def test_one_shifted_feature_or_category_is_a_feature_problem_only(
    frames: dict, settings: Settings
):
    original = frames["original"]
    reference, current = _halves(original, 0)
    shifted = original.loc[current].copy()
    shifted["progress"] *= 0.6
    kinds = sorted(shifted["metric_type"].dropna().unique())
    shifted["metric_type"] = shifted["metric_type"].map(dict(zip(kinds, kinds[1:] + kinds[:1])))
    result = compare(original.loc[reference], shifted, settings)
    drifted = {n for n, f in result["features"].items() if f["drifted"]}
    assert {"progress", "metric_type"} <= drifted and len(drifted) <= 4
    assert "drift.dataset" not in _conditions(result)
    progress = result["features"]["progress"]
    assert progress["test"] == "ks" and progress["p_value"] < settings.monitoring.drift.p_value
    assert result["features"]["metric_type"]["test"] == "chi2"
    problems = {p["subject"]: p for p in result["problems"] if p["condition"] == "drift.feature"}
    assert problems["progress"]["severity"] in {"warning", "critical"}
    assert problems["progress"]["threshold"] == settings.monitoring.drift.p_value
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN, no numpy types


def test_a_feature_that_becomes_mostly_missing_has_drifted(settings: Settings):
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.normal(size=400))
    current = pd.Series(rng.normal(size=200))
    current[current.index % 5 != 0] = np.nan  # 80% missing, the values present unchanged
    result = compare_column(reference, current, settings)
    assert result["drifted"] and result["missing_drifted"] and not result["values_drifted"]
    assert result["missing_share"] == {"reference": 0.0, "current": 0.8}


def test_rare_categories_are_merged_and_fisher_decides_two_columns(settings: Settings):
    reference = pd.Series(["a"] * 60 + ["b"] * 3 + ["c"] * 1)
    same = pd.Series(["a"] * 30 + ["b"] * 2)
    swapped = pd.Series(["c"] * 20 + ["a"] * 2)
    quiet = compare_column(reference, same, settings, categorical=True)
    assert quiet["test"] == "fisher" and not quiet["drifted"]
    loud = compare_column(reference, swapped, settings, categorical=True)
    assert loud["drifted"] and loud["psi"] > settings.monitoring.drift.psi_alert


def test_a_period_level_feature_is_critical_only_beyond_its_natural_psi(settings: Settings):
    """One value per period (as `period_pace`): any two periods are far apart in PSI, so a PSI
    over `psi_alert` says nothing more than that the quarter is another one."""
    rng = np.random.default_rng(2)
    periods = np.repeat(np.arange(4), 150)
    levels = np.repeat([0.48, 0.50, 0.52, 0.47], 150)
    reference = pd.Series(levels + rng.normal(0, 0.001, 600))
    current = pd.Series(0.70 + rng.normal(0, 0.001, 150))
    result = compare_column(reference, current, settings, periods=periods)
    assert result["drifted"] and result["psi"] > settings.monitoring.drift.psi_alert
    assert result["psi"] <= settings.monitoring.drift.period_margin * result["natural"]["psi"]
    assert _problem("drift.feature", "period_pace", result, settings)["severity"] == "warning"

    # values spread within each period: a shift moves PSI far beyond the periods' own
    reference = pd.Series(rng.normal(0, 1, 600) + levels)
    shifted = compare_column(reference, pd.Series(rng.normal(2, 1, 150)), settings, periods=periods)
    assert shifted["drifted"]
    assert _problem("drift.feature", "progress", shifted, settings)["severity"] == "critical"


def test_large_samples_use_scaled_distances(frames: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_MONITORING__DRIFT__LARGE_SAMPLE", "100")
    settings = load_settings()
    original, thinned = frames["original"], frames["thinned"]
    reference, current = _halves(original, 3)
    # four random parts of the reference stand for its periods: their natural variation is
    # what sampling alone moves a distance by
    periods = np.arange(len(reference)) % 4
    same = compare(original.loc[reference], original.loc[current], settings, periods)
    assert same["features"]["progress"]["test"] == "wasserstein"
    assert same["features"]["priority"]["test"] == "jensen_shannon"
    assert all(f["p_value"] is None for f in same["features"].values())
    assert "drift.dataset" not in _conditions(same)
    moved = compare(original.loc[reference], thinned.loc[current], settings, periods)
    assert "drift.dataset" in _conditions(moved)
    assert moved["features"]["checkin_count"]["distance"] > settings.monitoring.drift.max_distance


# As `drift` compares, on 20 generated bundles (seeds): the quarter open at D against the same
# point of the four quarters before it, as generated and with two check-ins in three removed from
# its start on (the cadence features always move; progress, pace and confidence in most seeds)


SEEDS = 20
LEARNT_BEFORE = date(2026, 4, 1)  # a champion trained at the start of the open quarter


def _drift_at(settings: Settings, when: datetime) -> dict:
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
        found = same_point(objective_periods(conn), when)
    result, _, _ = feature_drift(settings, history, found, when, LEARNT_BEFORE)
    close_warehouses()
    return result


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, dict]]:
    """Per seed, the drift at D of the bundle as generated (`same`) and thinned (`thinned`)."""
    results = []
    for seed in range(SEEDS):
        root = tmp_path_factory.mktemp(f"seed-{seed}")
        manifest = generate_bundle(root / "same", seed=100 + seed, scale=0.6, as_of=AS_OF)
        shutil.copytree(root / "same", root / "thinned")
        _thin_checkins(root / "thinned", manifest["files"]["check_ins"], "2026-04-01")
        compared = {}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OKR_DATA_DIR", str(root / "data"))
            for name in ("same", "thinned"):
                patch.setenv("OKR_WAREHOUSE__URL", f"sqlite:///{root / f'{name}.db'}")
                settings = load_settings()
                ingest_path(settings, root / name)
                compared[name] = _drift_at(settings, D)
        results.append(compared)
    return results


def test_an_ordinary_quarter_raises_no_dataset_problem_in_19_of_20_seeds(seeded: list) -> None:
    raised = [i for i, r in enumerate(seeded) if "drift.dataset" in _conditions(r["same"])]
    assert len(raised) <= 1, [seeded[i]["same"]["drifted_share"] for i in raised]
    assert all(len(r["same"]["reference"]["moments"]) == 4 for r in seeded)


def test_thinned_check_ins_raise_the_dataset_problem_in_19_of_20_seeds(seeded: list) -> None:
    missed = [i for i, r in enumerate(seeded) if "drift.dataset" not in _conditions(r["thinned"])]
    assert len(missed) <= 1, [seeded[i]["thinned"]["drifted_share"] for i in missed]
    cadence = {"checkin_count", "checkins_per_week"}
    for compared in seeded:
        features = compared["thinned"]["features"]
        assert cadence <= {name for name, f in features.items() if f["drifted"]}


# End to end: a champion trained on a generated bundle, its predictions stored at D


TRAINED_AS_OF = datetime(2026, 5, 16)
D = datetime(2026, 6, 1)


def _trained(root: Path, thin_since: str | None = None) -> Path:
    """A data directory: a generated bundle (its check-ins thinned from a day on, if given)
    ingested, a champion trained, predictions at D."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OKR_DATA_DIR", str(root / "data"))
        settings = load_settings()
        manifest = generate_bundle(root / "bundle", seed=4, scale=0.6, as_of=AS_OF)
        if thin_since is not None:
            _thin_checkins(root / "bundle", manifest["files"]["check_ins"], thin_since)
        ingest_path(settings, root / "bundle")
        train_model(settings, TRAINED_AS_OF)
        predict_risks(settings, D)
        close_warehouses()
    return root / "data"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory.mktemp("drift-model"))


def test_drift_against_the_champion(trained: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_DATA_DIR", str(trained))
    settings = load_settings()
    result = drift(settings, open_warehouse(settings), D)
    json.dumps(result, allow_nan=False)
    assert result["reference"]["model_version"] == "1"
    assert result["reference"]["as_of"] == TRAINED_AS_OF.isoformat()
    assert result["reference"]["rows"] >= settings.model.min_training_key_results
    # the reference: the key results open at D's point of the quarters before the champion's
    assert result["reference"]["moments"] == [  # D is 61 days into Q2 2026: so into each
        "2025-06-01T00:00:00",
        "2025-08-31T00:00:00",
        "2025-12-01T00:00:00",
        "2026-03-03T00:00:00",
    ]  # the four latest (`reference_periods`); the champion's as-of, 2026-05-16, ends Q1 2026
    assert result["current"]["period"] == {"start": "2026-04-01", "end": "2026-06-30"}
    assert result["current"]["rows"] > 50
    assert list(result["features"]) == FEATURES
    for feature in result["features"].values():
        assert {"kind", "test", "statistic", "p_value", "distance", "psi", "drifted"} <= set(
            feature
        )
        assert set(feature["natural"]) == {"distance", "psi", "missing_gap"}
    prediction = result["prediction"]
    assert prediction["test"] == "ks" and 0 <= prediction["p_value"] <= 1
    assert prediction["rows"]["current"] == result["current"]["rows"]  # one stored risk each
    assert prediction["predicted_as_of"] == {"oldest": D.isoformat(), "newest": D.isoformat()}
    later = drift(settings, open_warehouse(settings), datetime(2026, 6, 10))
    assert later["prediction"]["predicted_as_of"]["newest"] == D.isoformat()  # the latest before
    assert 0 <= result["drifted_share"] <= 1
    for problem in result["problems"]:
        assert set(problem) == {
            "condition",
            "subject",
            "severity",
            "message",
            "value",
            "threshold",
        }
        assert problem["condition"] in {"drift.feature", "drift.dataset", "drift.prediction"}
        assert problem["severity"] in {"info", "warning", "critical"}


def test_drift_without_stored_predictions_says_so(trained: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_DATA_DIR", str(trained))
    settings = load_settings()
    # predictions are read at or before D: before the ones stored at D there are none
    result = drift(settings, open_warehouse(settings), datetime(2026, 5, 25))
    assert "no stored predictions" in result["prediction"]["skipped"]
    assert result["features"]


def test_drift_without_a_champion_is_skipped(settings: Settings):
    assert drift(settings, open_warehouse(settings), D) == {"skipped": "no champion model"}


@pytest.mark.parametrize("day", ["2026-04-20", "2026-05-10", "2026-06-01", "2026-06-20"])
def test_an_ordinary_quarter_raises_no_dataset_problem(
    trained: Path, monkeypatch: pytest.MonkeyPatch, day: str
):
    """Features that grow through a quarter, take one value per quarter or swing from quarter
    to quarter drift by construction against a mix of points or a pool of rows: the reference at
    the same point of earlier quarters and their natural variation keep them quiet."""
    monkeypatch.setenv("OKR_DATA_DIR", str(trained))
    settings = load_settings()
    result = drift(settings, open_warehouse(settings), datetime.fromisoformat(day))
    drifted = [name for name, f in result["features"].items() if f["drifted"]]
    assert "drift.dataset" not in _conditions(result), drifted
    assert len(drifted) <= 3, drifted


def test_a_quarter_with_few_check_ins_raises_the_dataset_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same bundle with two check-ins in three removed from the open quarter on."""
    monkeypatch.setenv("OKR_DATA_DIR", str(_trained(tmp_path, thin_since="2026-04-01")))
    settings = load_settings()
    result = drift(settings, open_warehouse(settings), D)
    assert "drift.dataset" in _conditions(result)
    drifted = {n for n, f in result["features"].items() if f["drifted"]}
    assert {"checkin_count", "checkins_per_week", "days_since_checkin"} <= drifted
    checkins = result["features"]["checkins_per_week"]
    assert (
        checkins["distance"]
        > settings.monitoring.drift.period_margin * (checkins["natural"]["distance"])
    )
    # and `okr monitor` raises it as an alert, critical
    raised = {a["condition"]: a for a in jobs.monitor(settings, D)["alerts"]}
    assert raised["drift.dataset"]["severity"] == "critical"


def test_the_served_risks_are_the_latest_of_the_champion_version(warehouse):
    """Per key result, the latest risk the version stored at or before D: a rerun of an as-of
    is the one taken; another version's risks and later as-ofs are not."""
    d = datetime(2026, 5, 1)
    rows = [  # key result, as-of, version, written, risk
        ("KR-1", d, "1", datetime(2026, 5, 1, 6), 0.1),
        ("KR-1", d, "1", datetime(2026, 5, 1, 9), 0.2),  # rerun
        ("KR-1", d, "2", datetime(2026, 5, 1, 12), 0.8),  # another version
        ("KR-2", datetime(2026, 4, 30), "1", datetime(2026, 5, 1, 6), 0.3),
        ("KR-2", datetime(2026, 5, 2), "1", datetime(2026, 5, 2, 6), 0.9),  # after D
    ]
    with warehouse.begin() as conn:
        for kr, at, version, created, risk in rows:
            conn.execute(
                predictions.insert().values(
                    key_result_id=kr,
                    as_of=at,
                    risk=risk,
                    status="at_risk",
                    reasons="[]",
                    model_version=version,
                    feature_hash="0" * 64,
                    created_at=created,
                )
            )
    with warehouse.connect() as conn:
        stored = _stored_risks(conn, ["KR-1", "KR-2", "KR-3"], d, "1")
    assert stored["risk"].to_dict() == {"KR-1": 0.2, "KR-2": 0.3}
    assert stored.loc["KR-2", "as_of"] == datetime(2026, 4, 30)
