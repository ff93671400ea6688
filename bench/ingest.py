"""Ingestion speed: a generated bundle of >= 500k rows into a fresh SQLite warehouse.

Prints rows/s end to end on the path `okr ingest` takes (`ingest_path`: load the files, then
parse and validate in a child process while this one stores), and for parsing alone
(`read_path`, in this process), next to two floors measured in the same run on the same files:
plain `pandas.read_csv` (reading only, no validation) and SQLite's own executemany of the stored
rows (storage only, no Python work per row).

    uv run python bench/ingest.py [--scale 18] [--bundle DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from floors import sqlite_insert_seconds
from okr_pipeline.ingest.files import ingest_path
from okr_pipeline.sources.files import read_path
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.tables import ENTITY_TABLES


def pandas_floor(bundle: Path) -> float:
    """Seconds for pandas to read every file of the bundle (CSV, JSONL and plan_tasks.json)."""
    start = time.perf_counter()
    for path in sorted(bundle.iterdir()):
        if path.suffix == ".csv":
            pd.read_csv(path, dtype=str, keep_default_na=False)
        elif path.suffix == ".jsonl":
            pd.read_json(path, lines=True, dtype=False)
        elif path.name == "plan_tasks.json":
            pd.json_normalize(json.loads(path.read_text()))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=18.0, help="generator scale (18: ~520k rows)"
    )
    parser.add_argument("--bundle", type=Path, help="use this bundle instead of generating one")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="okr-bench-") as tmp:
        work = Path(tmp)
        bundle = args.bundle
        if bundle is None:
            bundle = work / "bundle"
            print(f"generating a bundle at scale {args.scale} ...", file=sys.stderr)
            generate_bundle(bundle, seed=1, scale=args.scale, messy=True, as_of=date(2026, 11, 26))
        floor_read = pandas_floor(bundle)

        start = time.perf_counter()
        parsed = read_path(bundle).size
        read_seconds = time.perf_counter() - start

        engine = create_warehouse_engine(f"sqlite:///{work / 'warehouse.db'}")
        migrate(engine)
        start = time.perf_counter()
        report = ingest_path(engine, bundle)
        seconds = time.perf_counter() - start
        engine.dispose()
        floor_store, stored_rows = sqlite_insert_seconds(
            work / "warehouse.db", work, list(ENTITY_TABLES)
        )

    rows = report.totals.read
    figures = {
        "rows": rows,
        "stored": report.totals.stored,
        "quarantined": report.totals.quarantined,
        "end_to_end_rows_per_s": round(rows / seconds),
        "end_to_end_seconds": round(seconds, 2),
        "read_rows_per_s": round(parsed / read_seconds),
        "pandas_read_rows_per_s": round(rows / floor_read),
        "sqlite_executemany_rows_per_s": round(stored_rows / floor_store),
        "target_rows_per_s": 100_000,
    }
    figures["end_to_end_vs_pandas_read"] = round(
        figures["end_to_end_rows_per_s"] / figures["pandas_read_rows_per_s"], 3
    )
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:<32} {value:>12,}" if isinstance(value, int) else f"{key:<32} {value:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
