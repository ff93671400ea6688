"""Stream throughput: events per second from the topic to committed warehouse rows, on each
backend, next to two figures measured in the same run:

- the raw read rate of the same messages with no processing: the plain confluent-kafka client
  (consume and commit) on Kafka, the embedded log's own poll and commit on SQLite;
- the storage floor: SQLite inserting the rows the run stored (entity rows, processed event ids,
  dead letters) by plain executemany, with no Python work per event.

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

from confluent_kafka import Consumer  # noqa: E402

from broker import running_tansu  # noqa: E402
from chaos_stream import stream_of  # noqa: E402
from floors import sqlite_insert_seconds  # noqa: E402
from okr_pipeline.config import Settings, load_settings  # noqa: E402
from okr_pipeline.stream.backends import open_event_log  # noqa: E402
from okr_pipeline.stream.consumer import consume  # noqa: E402
from okr_pipeline.stream.kafka import client_config  # noqa: E402
from okr_pipeline.stream.log import EventLog  # noqa: E402
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


def raw_read_rate(
    settings: Settings, event_log: EventLog, topic: str, batch: int, total: int
) -> float:
    """Messages/s read and committed with no processing, after the first batch (on Kafka the
    group join comes with it)."""
    if settings.stream.backend == "kafka":
        client = Consumer(
            client_config(settings, 10.0)
            | {"group.id": "raw-read", "enable.auto.commit": False, "auto.offset.reset": "earliest"}
        )
        client.subscribe([topic])

        def poll(timeout: float) -> int:
            got = client.consume(batch, timeout)
            for message in got:
                message.value()
            if got:
                client.commit(asynchronous=False)
            return len(got)

        close = client.close
    else:
        reader = event_log.consumer("raw-read", [topic])

        def poll(timeout: float) -> int:
            got = reader.poll(batch, timeout)
            reader.commit(got)
            return len(got)

        close = reader.close
    try:
        first = poll(30.0)  # not timed
        read, started = 0, time.perf_counter()
        while first + read < total and (got := poll(5.0)):
            read += got
        return read / (time.perf_counter() - started)
    finally:
        close()


def measure(backend: str, events: int, batch: int, work: Path) -> dict[str, Any]:
    with backend_env(backend, work):
        os.environ["OKR_STREAM__BATCH_SIZE"] = str(batch)
        settings = load_settings()
        messages, _ = stream_of(events, seed=3)
        event_log = open_event_log(settings)
        topic = settings.stream.topics.events
        publish(event_log, topic, messages, batch_size=batch)
        raw = raw_read_rate(settings, event_log, topic, batch, len(messages))
        engine = open_warehouse(settings)
        summary = consume(settings, engine, event_log, group="bench", until_idle=3.0)
        event_log.close()
        warehouse = Path(engine.url.database or "")
        engine.dispose()
        stored = ["objectives", "key_results", "check_ins", "processed_events", "dead_letters"]
        floor_seconds, _ = sqlite_insert_seconds(warehouse, work, stored)
    rate = summary.messages / summary.busy_seconds  # first message to last commit
    return {
        "backend": backend,
        "events": summary.messages,
        "stored": summary.stored,
        "duplicates": summary.duplicates,
        "dead_lettered": summary.dead_lettered,
        "parked_on_the_way": summary.parked,
        "events_per_second": round(rate),
        "raw_read_per_second": round(raw),
        "share_of_raw": round(rate / raw, 3),
        "storage_floor_events_per_second": round(summary.messages / floor_seconds),
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
    if args.events < 2 * args.batch:  # the raw read times what follows its first batch
        parser.error("--events must be at least twice --batch")
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
                f"dead letters {r['dead_lettered']}, parked on the way {r['parked_on_the_way']}; "
                f"storage floor {r['storage_floor_events_per_second']:,} events/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
