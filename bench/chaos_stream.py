"""Kill the consumer with SIGKILL again and again while it works through a stream, then check
that the warehouse holds exactly the unique valid events: nothing lost, nothing twice, and the
dead letters reconcile with the garbage that was sent.

The stream: objectives and key results, then check-in events among which 1 % are garbage (not
JSON, unknown event type, a bad value) and 2 % are redeliveries of earlier events (same event id).

    uv run python bench/chaos_stream.py [--events 100000] [--kills 5] [--backend sqlite|kafka]
                                        [--bootstrap HOST:PORT] [--json]
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

from sqlalchemy import create_engine, func, select

from okr_pipeline.config import load_settings
from okr_pipeline.stream.backends import open_event_log
from okr_pipeline.stream.events import make_event
from okr_pipeline.stream.producer import publish
from okr_pipeline.warehouse.engine import open_warehouse
from okr_pipeline.warehouse.tables import ENTITY_TABLES, dead_letters, processed_events

KEY_RESULTS = 50


def stream_of(events: int, seed: int) -> tuple[list[tuple[bytes | None, bytes]], dict[str, int]]:
    """The messages and what they must leave behind."""
    rng = random.Random(seed)
    messages = [
        make_event(
            "objectives",
            {
                "objective_id": "O-chaos",
                "title": "Chaos",
                "period_start": "2026-01-01",
                "period_end": "2026-03-31",
            },
        )
    ]
    messages += [
        make_event(
            "key_results",
            {
                "key_result_id": f"KR-{k}",
                "objective_id": "O-chaos",
                "title": f"KR {k}",
                "metric_type": "number",
                "target_value": 100,
            },
        )
        for k in range(KEY_RESULTS)
    ]
    check_ins = garbage = bad_values = redelivered = 0
    valid_at: list[int] = []  # positions of valid check-in events, for redelivery
    while len(messages) < events:
        roll = rng.random()
        if roll < 0.01:
            garbage += 1
            kind = rng.randrange(3)
            if kind == 0:
                messages.append((None, b"{not json"))
            elif kind == 1:
                body = {"event_id": f"g-{garbage}", "event_type": "kr.deleted", "payload": {}}
                messages.append((b"x", json.dumps(body).encode()))
            else:
                bad_values += 1
                messages.append(
                    make_event(
                        "check_ins",
                        {
                            "check_in_id": f"bad-{garbage}",
                            "key_result_id": "KR-1",
                            "checked_in_at": "2026-02-01T00:00:00Z",
                            "value": "N/A",
                        },
                    )
                )
        elif roll < 0.03 and valid_at:
            redelivered += 1
            messages.append(messages[rng.choice(valid_at)])
        else:
            check_ins += 1
            valid_at.append(len(messages))
            messages.append(
                make_event(
                    "check_ins",
                    {
                        "check_in_id": f"C-{check_ins}",
                        "key_result_id": f"KR-{rng.randrange(KEY_RESULTS)}",
                        "checked_in_at": f"2026-02-{1 + check_ins % 28:02d}T10:00:00Z",
                        "value": rng.randint(0, 100),
                        "confidence": rng.randint(0, 10),
                    },
                )
            )
    expected = {
        "messages": len(messages),
        "check_ins": check_ins,
        "garbage": garbage,
        "redelivered": redelivered,
        # events with a readable id that were stored or dead-lettered (a bad value)
        "processed_events": 1 + KEY_RESULTS + check_ins + bad_values,
    }
    return messages, expected


def run(
    data_dir: Path, events: int, kills: int, env: dict[str, str], seed: int = 7
) -> dict[str, Any]:
    env = {**os.environ, **env, "OKR_DATA_DIR": str(data_dir)}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:  # the consumers get `env`; this process keeps its own
        os.environ.clear()
        os.environ.update(saved)
    messages, sent = stream_of(events, seed)
    event_log = open_event_log(settings)
    publish(event_log, settings.stream.topics.events, messages)
    event_log.close()
    open_warehouse(settings).dispose()  # migrate once, before consumers race to do it

    rng = random.Random(seed)
    command = [
        sys.executable,
        "-m",
        "okr_pipeline",
        "consume",
        "--no-rescore",
        "--json",
        "--until-idle",
        "3",
    ]
    started = time.monotonic()
    killed = 0
    for _ in range(kills):
        consumer = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(2.5, 5.0))  # past start-up (about 2 s): mid-stream, mid-batch
        if consumer.poll() is None:
            consumer.send_signal(signal.SIGKILL)
            killed += 1
        consumer.wait()
    final = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    seconds = time.monotonic() - started
    summary = json.loads(final.stdout)

    engine = create_engine(settings.warehouse_url)
    with engine.connect() as conn:

        def count(table: Any) -> int:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

        stored = {
            "check_ins": count(ENTITY_TABLES["check_ins"]),
            "key_results": count(ENTITY_TABLES["key_results"]),
            "dead_letters": count(dead_letters),
            "processed_events": count(processed_events),
        }
        bad_values = conn.execute(
            select(func.count())
            .select_from(dead_letters)
            .where(dead_letters.c.reason == "invalid_number")
        ).scalar_one()
    ok = (
        stored["check_ins"] == sent["check_ins"]
        and stored["key_results"] == KEY_RESULTS
        and stored["dead_letters"] == sent["garbage"]
        and stored["processed_events"] == sent["processed_events"]
        and summary["lag"] == 0
    )
    return {
        "ok": ok,
        "sent": sent,
        "stored": stored,
        "dead_letters_bad_value": bad_values,
        "killed": killed,
        "seconds": round(seconds, 1),
        "final_run": summary,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "kafka"], default="sqlite")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {"OKR_STREAM__BACKEND": args.backend}
    if args.backend == "kafka":
        env["OKR_STREAM__BOOTSTRAP_SERVERS"] = args.bootstrap
    with tempfile.TemporaryDirectory(prefix="okr-chaos-") as tmp:
        result = run(Path(tmp), args.events, args.kills, env)
    print(
        json.dumps(result, indent=2)
        if args.json
        else f"{'OK' if result['ok'] else 'MISMATCH'}: sent {result['sent']}, "
        f"stored {result['stored']}, killed {result['killed']} times, {result['seconds']} s"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
