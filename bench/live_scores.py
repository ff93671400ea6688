"""Live re-scoring: the seconds one re-score of the key results a batch touched takes on a big
warehouse, as the consumer did before (`predict`, which loads the whole history) and from the
history the run keeps (`LiveScores`: the touched key results read again), with the history's
part of each (a whole `load_history`; `KeptHistory` after its first load).

`--data DIR`: a data directory holding a warehouse and a champion (kept between runs); made at
`--scale` (a generated bundle ingested, a model trained as of `--as-of`) when it has none.

    uv run python bench/live_scores.py [--data DIR] [--scale 9] [--touched 200] [--repeat 5]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from okr_pipeline import jobs
from okr_pipeline.config import load_settings
from okr_pipeline.core import as_of_instant
from okr_pipeline.features import load_history, open_at
from okr_pipeline.jobs.live_scores import KeptHistory, LiveScores
from okr_pipeline.model import predict
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse import open_warehouse


def seconds(action: Callable[[], Any], repeat: int) -> float:
    """The median wall time of `action` over `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="data directory (default: a temporary one)")
    parser.add_argument("--scale", type=float, default=9.0)
    parser.add_argument("--as-of", default="2026-11-26")
    parser.add_argument("--touched", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    data = args.data or Path(tempfile.mkdtemp(prefix="okr-bench-live-"))
    os.environ["OKR_DATA_DIR"] = str(data)
    settings = load_settings()
    as_of = as_of_instant(args.as_of)
    if not (data / "warehouse.db").exists():
        print(f"making a warehouse at scale {args.scale} in {data} ...", file=sys.stderr)
        bundle = data.parent / f"{data.name}-bundle"
        generate_bundle(bundle, seed=1, scale=args.scale, as_of=date.fromisoformat(args.as_of))
        jobs.ingest_path(settings, bundle)
        assert jobs.train_model(settings, as_of).promoted, "no champion to score with"

    engine = open_warehouse(settings)
    threshold = settings.model.achievement_threshold
    with engine.connect() as conn:
        history = load_history(conn, threshold)
    open_ids = [k for k in open_at(history, as_of) if not history.key_results[k].cancelled]
    touched = set(random.Random(1).sample(open_ids, min(args.touched, len(open_ids))))

    def whole_load() -> None:
        with engine.connect() as conn:
            load_history(conn, threshold)

    kept = KeptHistory(threshold, refresh=float("inf"))
    live = LiveScores(settings, engine, 0.0, now=lambda: as_of)
    start = time.perf_counter()
    assert live(touched, True) == len(touched), live.state  # its whole load
    first = time.perf_counter() - start
    with engine.connect() as conn:
        kept(conn, touched)  # its first load: whole

    def kept_update() -> None:
        with engine.connect() as conn:
            kept(conn, touched)

    figures = {
        "key_results": len(history.key_results),
        "check_ins": sum(len(kr.checkin_times) for kr in history.key_results.values()),
        "touched": len(touched),
        "before_rescore_s": seconds(lambda: predict(settings, engine, as_of, touched), args.repeat),
        "before_history_s": seconds(whole_load, args.repeat),
        "after_first_rescore_s": first,
        "after_rescore_s": seconds(lambda: live(touched, True), args.repeat),
        "after_history_s": seconds(kept_update, args.repeat),
    }
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
    else:
        for name, value in figures.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{name:>22}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
