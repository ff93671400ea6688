"""Consumers of one group on Kafka (a Tansu broker) into a PostgreSQL warehouse: events per second
from the first commit to the last with one `okr consume` process and with two, on the realistic
mix of bench/stream.py. On PostgreSQL the batches take turns at the writers' lock, so what a second
consumer adds is the work done outside it: polling, parsing, publishing dead letters, committing.

    uv run python bench/parallel_consumers.py [--scale 1.0] [--batch 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

from confluent_kafka import Consumer, TopicPartition  # noqa: E402

from broker import running_tansu  # noqa: E402
from mixes import Keyed, realistic_mix  # noqa: E402
from okr_pipeline.config import load_settings  # noqa: E402
from okr_pipeline.stream.kafka import KafkaEventLog, client_config  # noqa: E402
from okr_pipeline.stream.producer import publish  # noqa: E402
from okr_pipeline.warehouse.engine import open_warehouse  # noqa: E402
from scratch_postgres import scratch_database  # noqa: E402

PARTITIONS = 4


def measure(consumers: int, messages: list[Keyed], address: str, batch: int) -> dict[str, Any]:
    """One run in a new database with topics of its own: `consumers` processes at once."""
    with scratch_database() as url:
        return _measure(consumers, messages, address, batch, url)


def _measure(
    consumers: int, messages: list[Keyed], address: str, batch: int, url: str
) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "OKR_WAREHOUSE__URL": url,
        "OKR_STREAM__BACKEND": "kafka",
        "OKR_STREAM__BOOTSTRAP_SERVERS": address,
        "OKR_STREAM__PARTITIONS": str(PARTITIONS),
        "OKR_STREAM__BATCH_SIZE": str(batch),
        "OKR_STREAM__GROUP": f"bench-{suffix}",
        **{
            f"OKR_STREAM__TOPICS__{name.upper()}": f"{name}-{suffix}"
            for name in ("events", "dead_letters", "alerts", "model_updates")
        },
    }
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    topic = settings.stream.topics.events
    event_log = KafkaEventLog(settings)
    publish(event_log, topic, messages, batch_size=batch)
    event_log.close()
    open_warehouse(settings).dispose()  # migrated before the consumers start
    offsets = Consumer(client_config(settings, 10.0) | {"group.id": settings.stream.group})
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    def committed() -> int:
        return sum(max(tp.offset, 0) for tp in offsets.committed(partitions, timeout=10.0))

    command = [sys.executable, "-m", "okr_pipeline", "consume", "--no-rescore", "--json"]
    processes = [
        subprocess.Popen([*command, "--until-idle", "5"], env=env, stdout=subprocess.PIPE)
        for _ in range(consumers)
    ]
    try:
        while (first := committed()) == 0:
            time.sleep(0.02)
        started = time.monotonic()
        while (done := committed()) < len(messages):
            time.sleep(0.02)
        seconds = time.monotonic() - started
        summaries = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    finally:
        for process in processes:
            process.kill()
        offsets.close()
    return {
        "consumers": consumers,
        "messages": done,
        "events_per_second": round((done - first) / seconds),
        "stored": sum(s["stored"] for s in summaries),
        "parked_on_the_way": sum(s["parked"] for s in summaries),
        "messages_per_consumer": [s["messages"] for s in summaries],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of the realistic mix's bundle")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="okr-parallel-") as tmp:
        messages, _ = realistic_mix(Path(tmp), args.scale, seed=3)
        with running_tansu(Path(tmp) / "tansu.log") as address:
            results = [measure(n, messages, address, args.batch) for n in (1, 2)]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    one = results[0]["events_per_second"]
    for r in results:
        print(
            f"{r['consumers']} consumer(s): {r['events_per_second']:,} events/s "
            f"({r['events_per_second'] / one:.0%} of one), {r['messages']:,} messages, "
            f"stored {r['stored']:,}, parked on the way {r['parked_on_the_way']:,}, "
            f"messages per consumer {r['messages_per_consumer']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
