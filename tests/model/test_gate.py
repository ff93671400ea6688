"""The promotion gate on constructed validation sets: too few key results, the margin over the
baselines with an interval grouped by key result, the champion judged only on key results it
has not learnt from, and an update's rules; and the rolling folds the settings are chosen by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from okr_pipeline.config import Model
from okr_pipeline.model.dataset import Snapshots, split_by_time
from okr_pipeline.model.gate import differences, judge
from okr_pipeline.model.tuning import rolling_folds

ELAPSED = (0.1, 0.5, 0.9)  # one snapshot per bucket


def _snapshots(key_results: int, miss_rate: float = 0.4, periods: int = 2, seed: int = 0):
    """Validation rows: each key result snapshotted early, mid and late; its period by id."""
    rng = np.random.default_rng(seed)
    missed = (rng.random(key_results) < miss_rate).astype(int)
    ids = np.repeat([f"kr{i}" for i in range(key_results)], len(ELAPSED))
    period = np.repeat(np.arange(key_results) % periods, len(ELAPSED)).astype(float)
    return Snapshots(
        features=pd.DataFrame({"elapsed": np.tile(ELAPSED, key_results)}),
        missed=np.repeat(missed, len(ELAPSED)),
        elapsed=np.tile(ELAPSED, key_results),
        groups=ids,
        periods=period * 100,
        period_starts=period * 100,
        period_ends=period * 100 + 90,
    ), rng


def _scorer(rows: Snapshots, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Risks that rank misses first, blurred by `noise`."""
    return 1 / (1 + np.exp(-(rows.missed * 2 - 1 + rng.normal(0, noise, len(rows)))))


def _judge(rows, scores, *, kind="training", champion=None, unseen=None, **settings):
    return judge(Model(**settings), kind, rows, scores, ["rule"], champion, unseen)


def test_too_few_key_results_or_misses_is_a_clear_refusal():
    rows, rng = _snapshots(80)
    verdict = _judge(rows, {"model": _scorer(rows, rng, 0.5), "rule": _scorer(rows, rng, 3)})
    assert not verdict.promoted
    assert verdict.reason.startswith("refused: not enough closed key results to judge: 80 ")
    assert "(100 needed, model.min_validation_key_results)" in verdict.reason
    rows, rng = _snapshots(300, miss_rate=0.03)
    verdict = _judge(rows, {"model": _scorer(rows, rng, 0.5), "rule": _scorer(rows, rng, 3)})
    assert not verdict.promoted and "(20 needed, model.min_validation_misses)" in verdict.reason


def test_the_margin_over_a_baseline_needs_an_interval_above_zero():
    rows, rng = _snapshots(200)
    good = _scorer(rows, rng, 1.0)
    verdict = _judge(rows, {"model": good, "rule": _scorer(rows, rng, 3.0)})
    assert verdict.promoted and verdict.reason.startswith("promoted: early-weighted AUC +")
    assert verdict.differences["rule"].auc_low > 0
    # a rule as good as the model: the difference's interval straddles zero
    twin = good + rng.normal(0, 0.01, len(good)).clip(-0.001, 0.001)
    verdict = _judge(rows, {"model": good, "rule": twin.clip(0, 1)})
    assert not verdict.promoted and "is not above the margin 0.005" in verdict.reason
    d = verdict.differences["rule"]
    assert d.auc_low < 0 < d.auc_high or abs(d.auc) < 0.005


def test_intervals_resample_key_results_not_snapshots():
    """With one key result's snapshots as copies of each other, resampling snapshots would
    treat them as independent and narrow the interval; resampling key results does not."""
    rows, rng = _snapshots(150)
    per_key_result = rows.subset(rows.elapsed == ELAPSED[0])
    model, rule = (np.repeat(_scorer(per_key_result, rng, n), len(ELAPSED)) for n in (1.0, 1.5))
    grouped = differences(rows, model, {"rule": rule}, 200, 1)["rule"]
    alone = Snapshots(
        rows.features,
        rows.missed,
        rows.elapsed,
        np.arange(len(rows)).astype(str),
        rows.periods,
        rows.period_starts,
        rows.period_ends,
    )
    ungrouped = differences(alone, model, {"rule": rule}, 200, 1)["rule"]
    assert grouped.auc == ungrouped.auc
    assert grouped.auc_high - grouped.auc_low > ungrouped.auc_high - ungrouped.auc_low


def test_the_champion_is_judged_on_key_results_it_has_not_learnt_from():
    rows, rng = _snapshots(400)
    model, champion = _scorer(rows, rng, 1.0), _scorer(rows, rng, 1.0)
    scores = {"model": model, "rule": _scorer(rows, rng, 3.0), "champion v1": champion}
    seen_all = np.zeros(len(rows), dtype=bool)
    verdict = _judge(rows, scores, champion="champion v1", unseen=seen_all)
    assert not verdict.promoted
    assert "that the champion has not learnt from to judge: 0 " in verdict.reason
    # a champion that learnt half of them answers perfectly there: only the rest count
    unseen = rows.periods == 100
    scores["champion v1"] = np.where(unseen, champion, rows.missed.astype(float))
    verdict = _judge(rows, scores, champion="champion v1", unseen=unseen)
    assert "not better than the champion by 0.005" in verdict.reason  # equal skill, not worse
    better = np.where(unseen, _scorer(rows, rng, 3.0), rows.missed.astype(float))
    scores["champion v1"] = better
    verdict = _judge(rows, scores, champion="champion v1", unseen=unseen)
    assert verdict.promoted and "over champion v1: AUC +" in verdict.reason


def test_a_worse_brier_beyond_the_interval_is_refused():
    rows, rng = _snapshots(300)
    model = _scorer(rows, rng, 1.0)
    # the champion's ranking pushed to the extremes: no better ranking, much worse probabilities
    overconfident = np.where(model > 0.5, 0.999, 0.001)
    unseen = np.ones(len(rows), dtype=bool)
    scores = {"model": overconfident, "rule": _scorer(rows, rng, 3.0), "champion v1": model}
    verdict = _judge(rows, scores, champion="champion v1", unseen=unseen)
    assert not verdict.promoted and "refused: Brier worse than the champion's" in verdict.reason


def test_an_update_no_worse_within_the_interval_and_better_on_the_newest_period_is_promoted():
    rows, rng = _snapshots(400)
    unseen = np.ones(len(rows), dtype=bool)
    newest = rows.periods == rows.period_order()[-1]
    champion = _scorer(rows, rng, 1.0)
    nudged = (champion + 0.002 * (rows.missed * 2 - 1)).clip(0, 1)  # a little better everywhere
    model = np.where(newest, nudged, champion)  # but only on the newest period
    scores = {"model": model, "rule": _scorer(rows, rng, 3.0), "champion v1": champion}
    verdict = _judge(rows, scores, kind="update", champion="champion v1", unseen=unseen)
    assert verdict.promoted, verdict.reason
    # the same change as a training: not better than the champion by the margin
    assert not _judge(rows, scores, champion="champion v1", unseen=unseen).promoted
    older = np.where(newest, champion, nudged)  # better, but not on the newest
    scores["model"] = older
    verdict = _judge(rows, scores, kind="update", champion="champion v1", unseen=unseen)
    assert not verdict.promoted and "on the newest period" in verdict.reason


@pytest.mark.parametrize("max_folds", [1, 2, 5])
def test_rolling_folds_score_each_period_with_those_that_had_ended_when_it_began(max_folds: int):
    """A year and four quarters: the quarters ordered by end, each fitted on the quarters that
    had ended when it began; the year (ending last) on every quarter, and never the other way."""
    bounds = {"Q1": (0, 90), "Q2": (91, 181), "Q3": (182, 273), "Q4": (274, 364), "Y": (0, 365)}
    names = np.repeat(list(bounds), 10)
    rows = Snapshots(
        features=pd.DataFrame(index=range(len(names))),
        missed=np.tile([0, 1], len(names) // 2),
        elapsed=np.full(len(names), 0.5),
        groups=np.arange(len(names)).astype(str),
        periods=names.astype(object),
        period_starts=np.array([bounds[n][0] for n in names], dtype=float),
        period_ends=np.array([bounds[n][1] + 0.99 for n in names], dtype=float),
    )
    assert list(rows.period_order()) == ["Q1", "Q2", "Q3", "Q4", "Y"]
    folds = rolling_folds(rows, max_folds)
    expected = [("Q2", {"Q1"}), ("Q3", {"Q1", "Q2"}), ("Q4", {"Q1", "Q2", "Q3"})][-max_folds:]
    assert [(names[s][0], set(names[f])) for f, s in folds] == expected  # the year: never


def test_validation_takes_the_periods_that_ended_last():
    """A year that started first but ends last goes to validation before the quarters."""
    names = np.repeat(["Y", "Q1", "Q2", "Q3"], 10)
    bounds = {"Y": (0, 364), "Q1": (0, 90), "Q2": (91, 181), "Q3": (182, 273)}
    rows = Snapshots(
        features=pd.DataFrame(index=range(40)),
        missed=np.tile([0, 1], 20),
        elapsed=np.full(40, 0.5),
        groups=np.arange(40).astype(str),
        periods=names.astype(object),
        period_starts=np.array([bounds[n][0] for n in names], dtype=float),
        period_ends=np.array([bounds[n][1] for n in names], dtype=float),
    )
    fit, valid = split_by_time(rows, 0.2)
    assert set(valid.periods) == {"Y"} and set(fit.periods) == {"Q1", "Q2", "Q3"}
    fit, valid = split_by_time(rows, 0.3)
    assert set(valid.periods) == {"Y", "Q3"}
