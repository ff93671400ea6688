"""Risk model quality on organisations the model was not developed on, following the held-out
protocol: an organisation's data up to the end of a quarter; the model trained as of D, the
middle of that quarter, as `okr train --as-of D` trains it (key results closed before D only,
settings chosen by rolling folds, refit on every closed period); the key results open at D
scored at 10, 25, 50 and 75 % of their period against their outcomes.

Beside the model: the pace rule, the elapsed-aware baseline (pace + elapsed + confidence), and
the previous version's recipe (fixed settings, calibration folds by key result, snapshots at
10-90 %, trained on the earlier periods only). Targets, at mid-quarter: AUC >= 0.92 and
Brier <= 0.11; at 25 %: AUC >= the pace rule's + 0.15.

And a reference no model can be: an oracle that knows each key result's hidden progress path up
to that point (the generator's baseline execution, shape, a shock already begun) but not what
comes after (a shock not yet begun, the late push), scored against the same recorded outcomes
(which also depend on whether the owner kept checking in). The model's distance to it is what
reading the hidden state from check-ins, milestones and tasks costs; its distance to 1 is what
the future holds.

The organisations differ from the development data (seed 4, scale 0.6, data to 2026-07-01) in
seed, size, calendar and mess.

    uv run python bench/model_quality.py [--orgs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from okr_pipeline.config import Settings
from okr_pipeline.features import (
    FEATURES,
    History,
    features_at,
    load_history,
    open_at,
    snapshot_instant,
)
from okr_pipeline.ingest.store import ingest
from okr_pipeline.model.baseline import BASELINES
from okr_pipeline.model.dataset import Snapshots, split_by_time, training_snapshots
from okr_pipeline.model.metrics import auc, score_metrics
from okr_pipeline.model.train import risk_model
from okr_pipeline.sources.files import read_path
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.sources.synthetic.context import Context
from okr_pipeline.sources.synthetic.key_results import KeyResult, build_key_results
from okr_pipeline.sources.synthetic.key_results import Path as HiddenPath
from okr_pipeline.sources.synthetic.world import build_world
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

POINTS = (0.10, 0.25, 0.50, 0.75)
MID, EARLY = "50%", "25%"
SHOWN = ("model", "previous version", "pace rule", "pace + elapsed + confidence", "oracle")
ACHIEVED = 0.7  # model.achievement_threshold
DRAWS = 200  # futures drawn per key result by the oracle


@dataclass(frozen=True)
class Organisation:
    seed: int
    scale: float
    data_end: date  # the first day after the last quarter
    messy: bool

    @property
    def name(self) -> str:
        mess = ", messy" if self.messy else ""
        return f"seed {self.seed}, scale {self.scale}, to {self.data_end}{mess}"


ORGANISATIONS = (
    Organisation(101, 0.5, date(2026, 7, 1), False),
    Organisation(202, 1.0, date(2025, 10, 1), True),
    Organisation(303, 1.5, date(2026, 4, 1), False),
    Organisation(404, 0.8, date(2025, 7, 1), True),
)

# The previous version's recipe: its features (those still computed: its `department` category
# is gone, so this is the previous version less that column), fixed settings, calibration by key
# result, snapshots at 10-90 %.
PREVIOUS_FEATURES = [
    "elapsed", "period_days", "days_left", "progress", "score", "pace", "gap", "velocity_14d",
    "velocity_28d", "projected_score", "checkin_count", "checkins_per_week", "days_since_checkin",
    "mean_checkin_gap_days", "last_confidence", "confidence_change", "mean_confidence",
    "milestones_known", "milestone_done_share", "milestones_overdue", "tasks_planned",
    "task_done_share", "tasks_done_last_14d", "weight", "decrease", "owner_attainment",
    "department_attainment", "sibling_count", "sibling_mean_score", "sibling_min_pace",
    "period_pace", "department_period_pace", "metric_type", "priority",
]  # fmt: skip
PREVIOUS_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class PreviousVersion:
    """The risk model as it was before this version: one fixed LightGBM setting, Platt
    calibration on out-of-fold scores from folds grouped by key result."""

    def fit(self, snapshots: Snapshots) -> PreviousVersion:
        self.columns = [c for c in PREVIOUS_FEATURES if c in FEATURES]
        self.categories = {
            c: sorted(snapshots.features[c].dropna().astype(str).unique())
            for c in self.columns
            if snapshots.features[c].dtype == object
        }
        data, missed = self._prepare(snapshots.features), snapshots.missed
        raw = np.zeros(len(missed))
        for fitted, scored in GroupKFold(4).split(data, missed, snapshots.groups):
            booster = self._booster().fit(data.iloc[fitted], missed[fitted])
            raw[scored] = booster.predict(data.iloc[scored], raw_score=True)
        self.calibrator = LogisticRegression().fit(raw.reshape(-1, 1), missed)
        self.booster = self._booster().fit(data, missed)
        return self

    def _booster(self) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            learning_rate=0.05, n_estimators=300, num_leaves=15, min_child_samples=40,
            random_state=42, deterministic=True, force_row_wise=True, n_jobs=1, verbose=-1,
        )  # fmt: skip

    def _prepare(self, features: pd.DataFrame) -> pd.DataFrame:
        data = features[self.columns].copy()
        for name, learned in self.categories.items():
            data[name] = pd.Categorical(data[name], categories=learned)
        return data

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        raw = self.booster.predict(self._prepare(features), raw_score=True)
        return self.calibrator.predict_proba(np.asarray(raw).reshape(-1, 1))


def load(org: Organisation, work: Path) -> History:
    bundle = work / f"bundle-{org.seed}"
    generate_bundle(bundle, seed=org.seed, scale=org.scale, as_of=org.data_end, messy=org.messy)
    engine = create_warehouse_engine(f"sqlite:///{work / f'w-{org.seed}.db'}")
    migrate(engine)
    ingest(engine, read_path(bundle).records, source=str(bundle))
    with engine.connect() as conn:
        return load_history(conn, 0.7)


def fit_scorers(settings: Settings, history: History, as_of: datetime) -> tuple[dict, dict]:
    """The scorers trained as of `as_of`, and the training's figures."""
    started = time.perf_counter()
    snapshots = training_snapshots(history, as_of, settings.model.snapshot_fractions)
    fit, valid = split_by_time(snapshots, settings.model.validation_share)
    model = risk_model(settings).fit(fit).refit(fit.join(valid))
    seconds = time.perf_counter() - started
    previous_fit, _ = split_by_time(
        training_snapshots(history, as_of, PREVIOUS_FRACTIONS), settings.model.validation_share
    )
    closed = fit.join(valid)
    scorers = {
        "model": model,
        "previous version": PreviousVersion().fit(previous_fit),
        **{name: rule().fit(closed.features, closed.missed) for name, rule in BASELINES.items()},
    }
    figures = {
        "key_results": len(np.unique(closed.groups)),
        "snapshots": len(closed),
        "seconds": round(seconds, 2),
        "settings": {**vars(model.tuned_), "trees": model.trees_},
    }
    return scorers, figures


def chance_of_missing(kr: KeyResult, t: float, rng: random.Random) -> float:
    """The share of futures drawn from the generator's own rules in which `kr` misses, knowing
    its path up to `t`."""
    path = kr.path
    begun = path.shock if path.ts < t else 0.0
    misses = 0
    for _ in range(DRAWS):
        future = HiddenPath(path.f0, path.k, begun, path.ts, 0.0)
        if not begun and rng.random() < 0.3 and (ts := rng.uniform(0.25, 0.85)) >= t:
            future.shock, future.ts = rng.gauss(-0.1, 0.22), ts
        behind = future.at(0.7) < 0.5
        if rng.random() < (0.25 + 0.1 * kr.actor.skill if behind else 0.08):
            future.push = rng.uniform(0.05, 0.3)
        misses += future.at(1.0) < ACHIEVED
    return misses / DRAWS


def oracle(org: Organisation, open_ids: list[str]) -> dict[float, np.ndarray]:
    """Per point of the period, the oracle's risk of each of `open_ids`."""
    ctx = Context(seed=org.seed, scale=org.scale, messy=org.messy, as_of=org.data_end)
    hidden = {kr.id: kr for kr in build_key_results(ctx, build_world(ctx))}
    rng = random.Random(0)
    return {t: np.array([chance_of_missing(hidden[k], t, rng) for k in open_ids]) for t in POINTS}


def quality(org: Organisation, history: History, as_of: datetime, scorers: dict) -> dict:
    """Per point of the period: scorer -> AUC and Brier on the key results open at `as_of`."""
    open_ids = [k for k in open_at(history, as_of) if history.outcome(k) is not None]
    missed = np.array([history.outcome(k) for k in open_ids], dtype=int)
    oracle_risks = oracle(org, open_ids)
    table: dict = {"key_results": len(open_ids), "miss_rate": round(float(missed.mean()), 3)}
    for fraction in POINTS:
        pairs = [(k, snapshot_instant(history, k, fraction)) for k in open_ids]
        features = features_at(history, pairs)
        elapsed = features["elapsed"].to_numpy()
        table[f"{round(fraction * 100)}%"] = {
            name: {
                key: round(
                    score_metrics(missed, scorer.predict_proba(features)[:, 1], elapsed)[key], 4
                )
                for key in ("auc", "brier")
            }
            for name, scorer in scorers.items()
        }
        risk = oracle_risks[fraction]
        table[f"{round(fraction * 100)}%"]["oracle"] = {
            "auc": round(auc(missed, risk), 4),
            "brier": round(float(np.mean((risk - missed) ** 2)), 4),
        }
    return table


def targets(table: dict) -> dict[str, bool]:
    mid, early = table[MID]["model"], table[EARLY]
    return {
        "mid AUC >= 0.92": mid["auc"] >= 0.92,
        "mid Brier <= 0.11": mid["brier"] <= 0.11,
        "25% AUC >= pace rule + 0.15": early["model"]["auc"] >= early["pace rule"]["auc"] + 0.15,
    }


def captured(table: dict, point: str) -> float:
    """The share of the oracle's AUC lift over the pace rule that the model reaches at `point`:
    a measure that does not depend on how predictable an organisation is."""
    row = table[point]
    lift = row["oracle"]["auc"] - row["pace rule"]["auc"]
    return round((row["model"]["auc"] - row["pace rule"]["auc"]) / lift, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=len(ORGANISATIONS), help="how many to run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    results = []
    with tempfile.TemporaryDirectory(prefix="okr-quality-") as tmp:
        for org in ORGANISATIONS[: args.orgs]:
            print(f"{org.name}: generating and ingesting", file=sys.stderr, flush=True)
            history = load(org, Path(tmp))
            as_of = datetime.combine(org.data_end - timedelta(days=45), datetime.min.time())
            print(f"{org.name}: training as of {as_of:%Y-%m-%d}", file=sys.stderr, flush=True)
            scorers, training = fit_scorers(settings, history, as_of)
            table = quality(org, history, as_of, scorers)
            results.append(
                {
                    "organisation": org.name,
                    "as_of": as_of.date().isoformat(),
                    "training": training,
                    "quality": table,
                    "targets": targets(table),
                    "captured": {p: captured(table, p) for p in (EARLY, MID)},
                }
            )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        table = result["quality"]
        print(
            f"\n{result['organisation']}, as of {result['as_of']}: {table['key_results']} open "
            f"key results, miss rate {table['miss_rate']}; training {result['training']}"
        )
        print(f"{'point':<7}" + "".join(f"{name[:27]:>30}" for name in SHOWN))
        for point in (f"{round(f * 100)}%" for f in POINTS):
            cells = (
                f"AUC {table[point][n]['auc']:.3f} B {table[point][n]['brier']:.3f}" for n in SHOWN
            )
            print(f"{point:<7}" + "".join(f"{cell:>30}" for cell in cells))
        met = ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in result["targets"].items())
        print(f"targets: {met}")
        print(f"share of the oracle's lift over the pace rule reached: {result['captured']}")
    print("\nmean over the organisations, AUC:")
    for point in (f"{round(f * 100)}%" for f in POINTS):
        means = (np.mean([r["quality"][point][n]["auc"] for r in results]) for n in SHOWN)
        print(f"{point:<7}" + "".join(f"{name[:18]} {m:.3f}  " for name, m in zip(SHOWN, means)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
