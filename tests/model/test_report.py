"""Evaluation metrics on hand-made arrays, and the self-contained HTML report on synthetic data."""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from browser import CHROMIUM, screenshot
from okr_pipeline.model.metrics import BUCKETS, best_scorers, compare, score_metrics
from okr_pipeline.model.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
BUCKET_NAMES = [name for _, _, name in BUCKETS]


# --- metrics -----------------------------------------------------------------------------------


def test_known_values_on_hand_made_arrays():
    y = np.array([0, 0, 1, 1])
    risk = np.array([0.1, 0.4, 0.35, 0.8])
    m = score_metrics(y, risk, elapsed=np.array([0.1, 0.5, 0.6, 0.9]))
    assert m["auc"] == pytest.approx(0.75)  # 3 of the 4 (missed, achieved) pairs ranked right
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["log_loss"] == pytest.approx(log_loss(y, risk))
    assert m["n"] == 4.0
    assert m["miss_rate"] == 0.5
    assert [m[f"n_{b}"] for b in BUCKET_NAMES] == [1.0, 2.0, 1.0]
    assert m["auc_middle"] == 0.0  # the one missed KR of the bucket is ranked below the other
    assert m["auc_weighted"] == 0.0  # the middle bucket alone holds both outcomes
    assert all(type(v) is float for v in m.values())
    expected = {"auc", "auc_weighted", "brier", "log_loss", "n", "miss_rate"}
    expected |= {f"{k}_{b}" for k in ("auc", "n") for b in BUCKET_NAMES}
    assert set(m) == expected


def test_single_class_bucket_is_nan_and_perfect_scorer_has_auc_one():
    y = np.array([0, 0, 0, 1, 0, 1])
    elapsed = np.array([0.1, 0.2, 0.5, 0.6, 0.8, 1.0])  # 1.0 (the due date) counts as late
    m = score_metrics(y, y.astype(float), elapsed)
    assert math.isnan(m["auc_early"])  # only achieved KRs there
    assert m["n_early"] == 2.0
    assert m["auc"] == m["auc_middle"] == m["auc_late"] == m["auc_weighted"] == 1.0
    assert m["brier"] == 0.0
    assert m["log_loss"] == pytest.approx(-math.log(1 - 1e-6))  # clipped, not log(0)


def test_the_weighted_auc_weighs_early_buckets_most_and_ranks_within_each():
    """Early AUC 1, middle 0, late 1: 0.5 * 1 + 0.3 * 0 + 0.2 * 1; and pooling alone would
    reward ranking every late snapshot above every early one."""
    y = np.array([0, 1, 0, 1, 0, 1])
    risk = np.array([0.1, 0.2, 0.6, 0.5, 0.8, 0.9])
    m = score_metrics(y, risk, np.array([0.1, 0.1, 0.5, 0.5, 0.9, 0.9]))
    assert m["auc_weighted"] == pytest.approx(0.7)
    assert m["auc"] == pytest.approx(roc_auc_score(y, risk))


def test_log_loss_is_clipped_and_empty_input_is_nan():
    m = score_metrics(np.array([1, 0]), np.array([0.0, 0.0]), np.array([0.5, 0.5]))
    assert m["log_loss"] == pytest.approx((-math.log(1e-6) - math.log(1 - 1e-6)) / 2)
    empty = score_metrics(np.array([]), np.array([]), np.array([]))
    assert empty["n"] == 0.0
    assert all(math.isnan(v) for k, v in empty.items() if not k.startswith("n"))


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="length"):
        score_metrics(np.array([0, 1]), np.array([0.5]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="0"):
        score_metrics(np.array([0, 2]), np.array([0.5, 0.5]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="risk"):
        score_metrics(np.array([0, 1]), np.array([0.5, np.nan]), np.array([0.1, 0.2]))


def test_compare_rows_and_best_values():
    rows = compare(
        {
            "model": {"auc": 0.8, "brier": 0.15, "n": 10.0},
            "pace rule": {"auc": 0.7, "brier": 0.15, "n": 10.0},
        }
    )
    assert [r["metric"] for r in rows] == ["auc", "brier", "n"]
    assert rows[0] == {"metric": "auc", "model": 0.8, "pace rule": 0.7}
    assert best_scorers(rows[0]) == ["model"]
    assert best_scorers(rows[1]) == ["model", "pace rule"]  # a tie highlights both
    assert best_scorers(rows[2]) == []  # a count is not a score
    assert best_scorers({"metric": "auc_late", "a": math.nan, "b": 0.6}) == ["b"]


# --- report ------------------------------------------------------------------------------------

SCORERS = ("model", "pace rule", "pace + confidence")
CONTEXT = {
    "As-of date": "2025-03-31",
    "Model version": "risk-model v7 <candidate>",
    "Rows (train)": "12,480",
    "Rows (validation)": "800",
}


def _synthetic(n: int = 800, seed: int = 0) -> tuple[np.ndarray, dict, np.ndarray, pd.Series]:
    rng = np.random.default_rng(seed)
    elapsed = rng.uniform(0, 1, n)
    signal = rng.normal(size=n)
    truth = 1 / (1 + np.exp(-(2 * signal - 0.5)))
    y = rng.binomial(1, truth)
    weak = 1 / (1 + np.exp(-(0.4 * signal + rng.normal(size=n))))
    scores = {"model": truth, "pace rule": weak, "pace + confidence": (truth + weak) / 2}
    importance = pd.Series(rng.gamma(1.0, 100.0, 30), index=[f"feature_{i}" for i in range(30)])
    return y, scores, elapsed, importance


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    y, scores, elapsed, importance = _synthetic()
    path = tmp_path_factory.mktemp("report") / "nested" / "dir" / "evaluation.html"
    written = write_report(
        path,
        title="Risk model evaluation",
        y=y,
        scores=scores,
        elapsed=elapsed,
        importance=importance,
        context=CONTEXT,
    )
    assert written == path
    return path


def test_report_embeds_four_png_images(report: Path):
    text = report.read_text(encoding="utf-8")
    images = DATA_URI.findall(text)
    assert len(images) == 4
    assert text.count("data:image/") == 4  # nothing else is embedded
    for encoded in images:
        assert base64.b64decode(encoded, validate=True).startswith(PNG_MAGIC)


def test_report_holds_metrics_table_and_context(report: Path):
    text = report.read_text(encoding="utf-8")
    table = text[text.index("<table>") : text.index("</table>")]
    for name in SCORERS:
        assert f"<th>{html.escape(name)}</th>" in table
    assert '<td class="best">' in table
    for key, value in CONTEXT.items():
        assert html.escape(key) in text
        assert html.escape(value) in text
    for heading in ("ROC curve", "Calibration", "AUC by elapsed share", "feature importances"):
        assert heading in text


def test_report_has_no_external_references(report: Path):
    text = report.read_text(encoding="utf-8").lower()
    assert "http://" not in text
    assert "https://" not in text
    assert "<link" not in text
    assert "<script" not in text


def test_report_survives_degenerate_input(tmp_path: Path):
    # One outcome only and no importances: metrics are n/a, the report still has its 4 figures.
    path = write_report(
        tmp_path / "degenerate.html",
        title="Degenerate",
        y=np.zeros(5),
        scores={"model": np.full(5, 0.2), "pace rule": np.linspace(0, 1, 5)},
        elapsed=np.linspace(0, 1, 5),
        importance=pd.Series(dtype=float),
        context={},
    )
    text = path.read_text(encoding="utf-8")
    assert len(DATA_URI.findall(text)) == 4
    assert "n/a" in text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path):
    assert screenshot(report, tmp_path).read_bytes().startswith(PNG_MAGIC)
