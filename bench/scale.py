"""Growth of each cost with the data: `okr ingest`, `okr train` and `okr predict` on generated
messy bundles of 1x, 10x and 30x a base size, on SQLite and on PostgreSQL.

Each step is the command users run, in a process of its own, measured for its wall time, its
rows per second (ingest: rows read from the files; train: the key-result snapshots it learns
from; predict: the key results it scores) and its peak memory (the largest resident set of the
process and of the children it waited for, as `wait4` gives it). Each size and backend starts
from an empty warehouse; the bundle is generated once per size (not timed). The last table
gives, per backend and step, each size's time and rows/s next to 1x's, and PostgreSQL's ingest
rows/s next to SQLite's.

    uv run python bench/scale.py [--base 3] [--sizes 1 10 30] [--backend sqlite postgresql]
        [--steps ingest train predict] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent)]

from okr_pipeline.sources.synthetic import generate_bundle  # noqa: E402
from scratch_postgres import scratch_database  # noqa: E402

AS_OF = "2026-11-26"  # the generated data's "now", and the as-of of training and prediction
STEPS = {
    "ingest": lambda bundle: ["ingest", str(bundle)],
    "train": lambda _: ["train", "--as-of", AS_OF],
    "predict": lambda _: ["predict", "--as-of", AS_OF],
}


def rows_of(step: str, answer: Any) -> int:
    """What the step went through, from its --json answer."""
    if step == "ingest":
        return int(answer["totals"]["read"])
    if step == "train":
        return int(answer["metrics"]["n"])
    return len(answer)


def run(step: str, bundle: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """One `okr` command: its answer's row count, wall seconds and peak memory."""
    argv = [sys.executable, "-m", "okr_pipeline", *STEPS[step](bundle), "--json"]
    with log.open("ab") as errors, tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)  # reaped here: its rusage comes with it
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"okr {step} failed (exit {process.returncode}): see {log}")
        out.seek(0)
        rows = rows_of(step, json.load(out))
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "peak_mb": round(usage.ru_maxrss / 1024),  # KiB on Linux
    }


@contextlib.contextmanager
def warehouse(backend: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """The environment of the commands: a data directory of their own, and on PostgreSQL a
    scratch database."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("OKR_") or k.startswith("OKR_TEST")
    }
    env["OKR_DATA_DIR"] = str(data_dir)
    if backend == "sqlite":
        yield env
        return
    with scratch_database("scale") as url:
        yield env | {"OKR_WAREHOUSE__URL": url}


def measure(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    results = []
    for size in args.sizes:
        bundle = work / f"bundle-{size}x"
        scale = args.base * size
        print(f"generating a bundle at scale {scale:g} ({size}x) ...", file=sys.stderr)
        generate_bundle(bundle, seed=1, scale=scale, messy=True, as_of=date.fromisoformat(AS_OF))
        for backend in args.backend:
            with warehouse(backend, work / f"data-{size}x-{backend}") as env:
                for step in args.steps:
                    print(f"  {size}x {backend}: okr {step} ...", file=sys.stderr)
                    found = run(step, bundle, env, work / "okr-stderr.log")
                    results.append({"size": size, "backend": backend, "step": step, **found})
                    print(f"    {found}", file=sys.stderr)
        subprocess.run(["rm", "-rf", str(bundle)], check=True)  # the next size needs the disk
    return results


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per backend and step, each size's seconds and rows/s next to the smallest size's; on
    PostgreSQL, rows/s next to SQLite's at the same size and step."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    sqlite = {(r["size"], r["step"]): r for r in results if r["backend"] == "sqlite"}
    rows = []
    for r in results:
        base = first.setdefault((r["backend"], r["step"]), r)
        peer = sqlite.get((r["size"], r["step"])) if r["backend"] != "sqlite" else None
        rows.append(
            {
                **r,
                "seconds_vs_first": round(r["seconds"] / base["seconds"], 2),
                "rows_per_second_vs_first": round(
                    r["rows_per_second"] / base["rows_per_second"], 2
                ),
                "rows_per_second_vs_sqlite": round(
                    r["rows_per_second"] / peer["rows_per_second"], 2
                )
                if peer
                else None,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", type=float, default=3.0, help="generator scale of 1x (3: ~90k rows)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument(
        "--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="okr-scale-") as tmp:
        table = growth(measure(args, Path(tmp)))
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(
        f"{'size':>5} {'backend':<10} {'step':<8} {'rows':>10} {'seconds':>8} {'rows/s':>9} "
        f"{'peak MB':>8} {'time x':>7} {'rows/s x':>8} {'vs SQLite':>9}"
    )
    for r in table:
        versus = (
            ""
            if r["rows_per_second_vs_sqlite"] is None
            else f"{r['rows_per_second_vs_sqlite']:.0%}"
        )
        print(
            f"{r['size']:>4}x {r['backend']:<10} {r['step']:<8} {r['rows']:>10,} "
            f"{r['seconds']:>8.1f} {r['rows_per_second']:>9,} {r['peak_mb']:>8,} "
            f"{r['seconds_vs_first']:>7.2f} {r['rows_per_second_vs_first']:>8.2f} {versus:>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
