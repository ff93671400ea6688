"""Stream throughput: events per second from the topic to committed warehouse rows, on each
backend, next to the raw read rate of the same backend (plain polling of the same messages, no
processing) in the same run.

The events are the chaos bench's mix: check-ins with 1 % garbage and 2 % redeliveries.

    uv run python bench/stream.py [--events 100000] [--batch 5000] [--backend sqlite kafka] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

from broker import running_tansu  # noqa: E402
from chaos_stream import stream_of  # noqa: E402
from okr_pipeline.config import load_settings  # noqa: E402
from okr_pipeline.stream.backends import open_event_log  # noqa: E402
from okr_pipeline.stream.consumer import consume  # noqa: E402
from okr_pipeline.stream.producer import publish  # noqa: E402
from okr_pipeline.warehouse.engine import open_warehouse  # noqa: E402


@contextlib.contextmanager
def backend_env(backend: str, work: Path) -> Iterator[None]:
    """OKR_* variables for the backend, restored afterwards; Kafka gets a Tansu broker."""
    saved = dict(os.environ)
    os.environ.update({"OKR_DATA_DIR": str(work / backend), "OKR_STREAM__BACKEND": backend})
    try:
        if backend == "kafka":
            with running_tansu(work / "tansu.log") as address:
                os.environ["OKR_STREAM__BOOTSTRAP_SERVERS"] = address
                yield
        else:
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(backend: str, events: int, batch: int, work: Path) -> dict[str, Any]:
    with backend_env(backend, work):
        os.environ["OKR_STREAM__BATCH_SIZE"] = str(batch)
        settings = load_settings()
        messages, _ = stream_of(events, seed=3)
        event_log = open_event_log(settings)
        topic = settings.stream.topics.events
        publish(event_log, topic, messages, batch_size=batch)

        reader = event_log.consumer("raw-read", [topic])
        first = reader.poll(batch, 30.0)  # Kafka: the group join comes first, not timed
        read, started = len(first), time.perf_counter()
        reader.commit(first)
        while read < len(messages):
            got = reader.poll(batch, 5.0)
            if not got:
                break
            read += len(got)
            reader.commit(got)
        raw_seconds = time.perf_counter() - started
        read -= len(first)
        reader.close()

        engine = open_warehouse(settings)
        summary = consume(settings, engine, event_log, group="bench", until_idle=3.0, rescore=False)
        event_log.close()
    rate = round(summary.messages / summary.busy_seconds)  # first message to last commit
    raw = round(read / raw_seconds)
    return {
        "backend": backend,
        "events": summary.messages,
        "stored": summary.stored,
        "duplicates": summary.duplicates,
        "dead_lettered": summary.dead_lettered,
        "events_per_second": rate,
        "raw_read_per_second": raw,
        "share_of_raw": round(rate / raw, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument(
        "--backend", nargs="+", default=["sqlite", "kafka"], choices=["sqlite", "kafka"]
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="okr-stream-") as tmp:
        results = [measure(b, args.events, args.batch, Path(tmp)) for b in args.backend]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(
                f"{r['backend']:<7} {r['events_per_second']:>8,} events/s to the warehouse, "
                f"raw read {r['raw_read_per_second']:>9,}/s ({r['share_of_raw']:.1%}); "
                f"stored {r['stored']}, duplicates {r['duplicates']}, "
                f"dead letters {r['dead_lettered']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
