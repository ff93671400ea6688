"""Kill the consumer with SIGKILL again and again while it works through a stream, then check
that the warehouse holds what it must: nothing lost, nothing twice.

`--mix realistic` (the default): the stream bench's mix of the contract's five event types (bad
rows of every rule, updates of stored rows, parents after their children, redeliveries); the
warehouse must then hold exactly what one consumer that was never killed stores from the same
stream (rows, versions, processed events, dead letters, parked events). `--mix check-ins`:
objectives and key results, then check-ins among which 1 % are garbage and 2 % redeliveries;
the warehouse must hold the unique valid events and the dead letters reconcile with the garbage.

    uv run python bench/chaos_stream.py [--mix realistic|check-ins] [--scale 5] [--events 100000]
        [--kills 5] [--backend sqlite|kafka] [--bootstrap HOST:PORT] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select

from mixes import KEY_RESULTS, Keyed, realistic_mix, stream_of
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.stream.backends import open_event_log
from okr_pipeline.stream.producer import publish
from okr_pipeline.warehouse.engine import open_warehouse
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    VERSION_TABLES,
    dead_letters,
    parked_events,
    processed_events,
)

# the consumer as an operator runs it
COMMAND = [sys.executable, "-m", "okr_pipeline", "consume", "--no-rescore", "--json"]


def run(
    data_dir: Path,
    kills: int,
    env: dict[str, str],
    *,
    events: int = 100_000,
    mix: str = "check-ins",
    scale: float = 5.0,
    seed: int = 7,
) -> dict[str, Any]:
    """Publish the mix, kill consumers `kills` times, let a last one finish, and compare."""
    if mix == "realistic":
        messages, _ = realistic_mix(data_dir / "mix", scale, seed)
        sent: dict[str, Any] = {"messages": len(messages)}
    else:
        messages, sent = stream_of(events, seed)
    settings, env = _published(data_dir / "chaos", messages, env)
    rng = random.Random(seed)
    started = time.monotonic()
    killed = 0
    for _ in range(kills):
        consumer = subprocess.Popen(
            [*COMMAND, "--until-idle", "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(2.5, 5.0))  # past start-up (about 2 s): mid-stream, mid-batch
        if consumer.poll() is None:
            consumer.send_signal(signal.SIGKILL)
            killed += 1
        consumer.wait()
    summary = _finish(env)
    seconds = time.monotonic() - started
    engine = create_engine(settings.warehouse_url)
    stored = _counts(engine)
    if mix == "realistic":  # the oracle: one consumer, never killed
        reference_settings, reference_env = _published(data_dir / "reference", messages, env)
        _finish(reference_env)
        reference = create_engine(reference_settings.warehouse_url)
        ok = _contents(engine) == _contents(reference) and _counts(reference) == stored
    else:
        ok = (
            stored["check_ins"] == sent["check_ins"]
            and stored["key_results"] == KEY_RESULTS
            and stored["dead_letters"] == sent["garbage"]
            and stored["processed_events"] == sent["processed_events"]
        )
    return {
        "ok": ok and summary["lag"] == 0,
        "mix": mix,
        "sent": sent,
        "stored": stored,
        "killed": killed,
        "seconds": round(seconds, 1),
        "final_run": summary,
    }


def _published(
    data_dir: Path, messages: list[Keyed], env: dict[str, str]
) -> tuple[Settings, dict[str, str]]:
    """The settings and environment of a data directory whose log holds the messages, and
    whose warehouse is migrated (before consumers race to do it)."""
    env = {**os.environ, **env, "OKR_DATA_DIR": str(data_dir)}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:  # the consumers get `env`; this process keeps its own
        os.environ.clear()
        os.environ.update(saved)
    event_log = open_event_log(settings)
    publish(event_log, settings.stream.topics.events, messages)
    event_log.close()
    open_warehouse(settings).dispose()
    return settings, env


def _finish(env: dict[str, str]) -> dict[str, Any]:
    """A consumer that runs until the stream is idle: its summary."""
    done = subprocess.run(
        [*COMMAND, "--until-idle", "3"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _counts(engine: Engine) -> dict[str, int]:
    tables = {
        "check_ins": ENTITY_TABLES["check_ins"],
        "key_results": ENTITY_TABLES["key_results"],
        "dead_letters": dead_letters,
        "processed_events": processed_events,
        "parked_events": parked_events,
    }
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in tables.items()
        }


def _contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """What the stream left in the warehouse, without what depends on when or in which run
    (run ids, version numbers, times of storage)."""
    skipped = {"run_id", "version_id", "valid_from", "processed_at", "created_at", "id"}
    skipped |= {"published_at", "parked_at", "attempts"}
    tables = [
        *ENTITY_TABLES.values(),
        *VERSION_TABLES.values(),
        processed_events,
        dead_letters,
        parked_events,
    ]
    with engine.connect() as conn:
        return {
            table.name: sorted(
                map(tuple, conn.execute(select(*(c for c in table.c if c.name not in skipped)))),
                key=repr,
            )
            for table in tables
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=["realistic", "check-ins"], default="realistic")
    parser.add_argument("--scale", type=float, default=5.0, help="of the realistic mix's bundle")
    parser.add_argument("--events", type=int, default=100_000, help="of the check-ins mix")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "kafka"], default="sqlite")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {"OKR_STREAM__BACKEND": args.backend}
    if args.backend == "kafka":
        env["OKR_STREAM__BOOTSTRAP_SERVERS"] = args.bootstrap
    with tempfile.TemporaryDirectory(prefix="okr-chaos-") as tmp:
        result = run(Path(tmp), args.kills, env, events=args.events, mix=args.mix, scale=args.scale)
    print(
        json.dumps(result, indent=2)
        if args.json
        else f"{'OK' if result['ok'] else 'MISMATCH'}: {result['mix']} mix, sent {result['sent']}, "
        f"stored {result['stored']}, killed {result['killed']} times, {result['seconds']} s"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
