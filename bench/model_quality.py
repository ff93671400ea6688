"""Risk model quality on generated data, next to the pace-rule baselines, following the
held-out protocol: data up to the end of a quarter, train as of D in the middle of that quarter
(only key results closed before D), predict at D for the key results open then, score against
their outcomes at the due date.

Prints AUC and Brier of the model and the baselines at 25 / 50 / 75 % elapsed (snapshots of the
open key results at those points) and at D itself, and the training time; `--timing` also trains
at ten times the size and prints how the time grows.

    uv run python bench/model_quality.py [--scale 5] [--seed 1] [--timing] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np

from okr_pipeline.features import features_at, load_history, open_at, snapshot_instant
from okr_pipeline.ingest.store import ingest
from okr_pipeline.model.baseline import BASELINES
from okr_pipeline.model.dataset import split_by_time, training_snapshots
from okr_pipeline.model.metrics import score_metrics
from okr_pipeline.model.risk import RiskModel
from okr_pipeline.sources.files import read_path
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

DATA_END = date(2026, 7, 1)  # the last quarter (Q2 2026) has closed
D = datetime(2026, 5, 16)  # the middle of that quarter
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def load(scale: float, seed: int, work: Path):
    bundle = work / f"bundle-{scale}"
    generate_bundle(bundle, seed=seed, scale=scale, as_of=DATA_END)
    engine = create_warehouse_engine(f"sqlite:///{work / f'w-{scale}.db'}")
    migrate(engine)
    ingest(engine, read_path(bundle).records, source=str(bundle))
    with engine.connect() as conn:
        return load_history(conn, 0.7)


def fit_models(history, as_of: datetime):
    """Train as `okr train --as-of D` does; returns the models and the time it took."""
    start = time.perf_counter()
    snapshots = training_snapshots(history, as_of, FRACTIONS)
    fit, _ = split_by_time(snapshots, 0.2)
    model = RiskModel().fit(fit.features, fit.missed, fit.groups)
    seconds = time.perf_counter() - start
    rules = {name: rule().fit(fit.features, fit.missed) for name, rule in BASELINES.items()}
    return {"model": model, **rules}, seconds, len(np.unique(snapshots.groups))


def quality(history, scorers) -> dict[str, dict[str, dict[str, float]]]:
    """Per evaluation point: scorer -> AUC, Brier on the key results open at D."""
    open_ids = [k for k in open_at(history, D) if history.outcome(k) is not None]
    missed = np.array([history.outcome(k) for k in open_ids], dtype=int)
    points = {
        f"{int(f * 100)}% elapsed": [(k, snapshot_instant(history, k, f)) for k in open_ids]
        for f in (0.25, 0.5, 0.75)
    }
    points["at D"] = [(k, D) for k in open_ids]
    table = {}
    for point, pairs in points.items():
        features = features_at(history, pairs)
        table[point] = {}
        for name, scorer in scorers.items():
            m = score_metrics(
                missed, scorer.predict_proba(features)[:, 1], features["elapsed"].to_numpy()
            )
            table[point][name] = {"auc": round(m["auc"], 4), "brier": round(m["brier"], 4)}
        table[point]["n"] = {
            "key_results": len(open_ids),
            "miss_rate": round(float(missed.mean()), 3),
        }
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=5.0, help="5: about 10,000 key results")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timing", action="store_true", help="also train at 10x the scale")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="okr-quality-") as tmp:
        history = load(args.scale, args.seed, Path(tmp))
        scorers, seconds, trained_on = fit_models(history, D)
        result = {
            "quality": quality(history, scorers),
            "training": {"key_results": trained_on, "seconds": round(seconds, 2)},
        }
        if args.timing:
            big = load(args.scale * 10, args.seed, Path(tmp))
            _, big_seconds, big_on = fit_models(big, D)
            result["training_10x"] = {
                "key_results": big_on,
                "seconds": round(big_seconds, 2),
                "growth": round(big_seconds / seconds, 1),
            }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'point':<14}{'scorer':<20}{'AUC':>8}{'Brier':>8}")
    for point, scores in result["quality"].items():
        for name, m in scores.items():
            if name != "n":
                print(f"{point:<14}{name:<20}{m['auc']:>8.3f}{m['brier']:>8.3f}")
        best = max(m["auc"] for n, m in scores.items() if n in BASELINES)
        verdict = "beats" if scores["model"]["auc"] > best else "DOES NOT beat"
        print(f"{'':<14}model {verdict} the best baseline; {scores['n']}")
    for key in ("training", "training_10x"):
        if key in result:
            print(f"{key}: {result[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
