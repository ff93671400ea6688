"""Stream throughput: events per second from the topic to committed warehouse rows through
`okr consume` (a process of its own, as users run it; its rate from its first message polled to
its last commit), on each backend, next to figures measured in the same run:

- the naive consumer a team would write first: the plain client's poll (confluent-kafka, or the
  embedded log's), `json.loads`, insert-or-replace of each payload's contract columns by
  `executemany` into tables keyed by id, commit; no validation, no deduplication, no dead letters,
  no parking (a message it cannot parse is skipped);
- the raw read rate of the same messages with no processing: the plain confluent-kafka client
  (consume and commit) on Kafka, the embedded log's own poll and commit on SQLite;
- the storage floor: SQLite inserting the rows the run stored (entity rows, processed event ids,
  dead letters) by plain executemany, with no Python work per event.

`--mix realistic` (the default): the contract's five event types as an OKR backend sends them,
from a generated messy bundle (bad rows of every rule, older versions of rows): parents when their
period starts, check-ins, milestones and tasks at their own times (so a child may come before its
parent, which sits in another partition), then changed copies of stored key results and tasks
(updates), and 2 % of all events redelivered. `--mix check-ins`: the chaos bench's check-ins with
1 % garbage and 2 % redeliveries.

    uv run python bench/stream.py [--mix realistic|check-ins] [--scale 2.5] [--events 100000]
        [--batch N] [--backend sqlite kafka] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

from confluent_kafka import Consumer  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from broker import running_tansu  # noqa: E402
from floors import sqlite_insert_seconds  # noqa: E402
from mixes import Keyed, realistic_mix, stream_of  # noqa: E402
from okr_pipeline.config import Settings, Stream, load_settings  # noqa: E402
from okr_pipeline.contract import ENTITIES  # noqa: E402
from okr_pipeline.stream.backends import open_event_log  # noqa: E402
from okr_pipeline.stream.kafka import client_config  # noqa: E402
from okr_pipeline.stream.log import EventLog  # noqa: E402
from okr_pipeline.stream.producer import publish  # noqa: E402
from okr_pipeline.warehouse.engine import open_warehouse  # noqa: E402
from okr_pipeline.warehouse.tables import ENTITY_TABLES, dead_letters  # noqa: E402


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


def naive_consume(
    settings: Settings, event_log: EventLog, topic: str, batch: int, total: int, work: Path
) -> float:
    """Messages/s through the naive consumer (see the module's docstring), into a SQLite file
    of its own."""
    work.mkdir(parents=True, exist_ok=True)
    database = sqlite3.connect(work / "naive.db")
    columns = {name: [f.name for f in spec.fields] for name, spec in ENTITIES.items()}
    for name, spec in ENTITIES.items():
        listed = ", ".join(f"{c} TEXT" for c in columns[name])
        database.execute(f"CREATE TABLE {name} ({listed}, PRIMARY KEY ({spec.key}))")
    statements = {
        name: f"INSERT OR REPLACE INTO {name} VALUES ({', '.join('?' * len(cols))})"
        for name, cols in columns.items()
    }
    entity_of = {
        "objective.upserted": "objectives",
        "key_result.upserted": "key_results",
        "check_in.recorded": "check_ins",
        "milestone.upserted": "milestones",
        "task.upserted": "tasks",
    }  # the contract's event types

    def store(values: list[Any]) -> None:
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in ENTITIES}
        for value in values:
            try:
                event = json.loads(value)
                entity = entity_of[event["event_type"]]
                payload = event["payload"]
                rows[entity].append(tuple(_text(payload.get(c)) for c in columns[entity]))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        for entity, found in rows.items():
            if found:
                database.executemany(statements[entity], found)
        database.commit()

    try:
        return read_rate(settings, event_log, topic, batch, total, "naive", store)
    finally:
        database.close()


def _text(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _plain_reader(
    settings: Settings, event_log: EventLog, topic: str, batch: int, group: str
) -> tuple[Callable[[float, int], list[Any]], Callable[[], object], Callable[[], None]]:
    """(poll, commit, close) of the plain client: confluent-kafka on Kafka, the embedded log's
    own consumer on SQLite; poll(timeout, n) gives the values of up to `n` messages
    (confluent-kafka's consume waits for all n until the timeout)."""
    if settings.stream.backend == "kafka":
        client = Consumer(
            client_config(settings, 10.0)
            | {"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
        )
        client.subscribe([topic])

        def poll(timeout: float, count: int) -> list[Any]:
            return [m.value() for m in client.consume(count, timeout) if m.error() is None]

        return poll, lambda: client.commit(asynchronous=False), client.close
    reader = event_log.consumer(group, [topic])
    polled: list[Any] = []

    def poll_log(timeout: float, count: int) -> list[Any]:
        polled[:] = reader.poll(count, timeout)
        return [m.value for m in polled]

    return poll_log, lambda: reader.commit(polled), reader.close


def read_rate(
    settings: Settings,
    event_log: EventLog,
    topic: str,
    batch: int,
    total: int,
    group: str,
    handle: Callable[[list[Any]], None] = lambda values: None,
) -> float:
    """Messages/s of the plain client reading as `group`, handing each batch's values to
    `handle` (by default: nothing, the raw read rate) before committing: from its first message
    polled (on Kafka the group join comes before) to its last commit, as the consumer's rate."""
    poll, commit, close = _plain_reader(settings, event_log, topic, batch, group)

    def step(got: list[Any]) -> int:
        handle(got)
        if got:
            commit()
        return len(got)

    try:
        first = poll(30.0, min(batch, total))
        started = time.perf_counter()
        done = step(first)
        # never asking for messages that are not there: the client would wait for them
        while done < total and (got := step(poll(5.0, min(batch, total - done)))):
            done += got
        return done / (time.perf_counter() - started)
    finally:
        close()


def okr_consume() -> dict[str, Any]:
    """`okr consume` (as users run it, a process of its own) until the topic has been idle
    3 s: its summary."""
    command = ["consume", "--group", "bench", "--until-idle", "3", "--no-rescore", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "okr_pipeline", *command], capture_output=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"okr consume failed:\n{done.stderr.decode()}")
    return json.loads(done.stdout)


def measure(backend: str, messages: list[Keyed], batch: int, work: Path) -> dict[str, Any]:
    with backend_env(backend, work):
        os.environ["OKR_STREAM__BATCH_SIZE"] = str(batch)
        settings = load_settings()
        event_log = open_event_log(settings)
        topic = settings.stream.topics.events
        publish(event_log, topic, messages, batch_size=batch)
        raw = read_rate(settings, event_log, topic, batch, len(messages), "raw-read")
        mine = work / backend
        naive = naive_consume(settings, event_log, topic, batch, len(messages), mine)
        summary = okr_consume()
        engine = open_warehouse(settings)
        event_log.close()
        with engine.connect() as conn:  # what each event type left
            rows = {
                name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in ENTITY_TABLES.items()
            }
            letters = dict(
                conn.execute(
                    select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason)
                ).all()
            )
        warehouse = Path(engine.url.database or "")
        engine.dispose()
        stored = [*ENTITIES, "processed_events", "dead_letters"]
        floor_seconds, _ = sqlite_insert_seconds(warehouse, work, stored)
    rate = summary["events_per_second"]  # from its first message polled to its last commit
    return {
        "backend": backend,
        "events": summary["messages"],
        "stored": summary["stored"],
        "duplicates": summary["duplicates"],
        "dead_lettered": summary["dead_lettered"],
        "parked_on_the_way": summary["parked"],
        "rows_by_type": rows,
        "dead_letters_by_reason": letters,
        "events_per_second": round(rate),
        "naive_consumer_per_second": round(naive),
        "share_of_naive": round(rate / naive, 3),
        "raw_read_per_second": round(raw),
        "share_of_raw": round(rate / raw, 3),
        "storage_floor_events_per_second": round(summary["messages"] / floor_seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=["realistic", "check-ins"], default="realistic")
    parser.add_argument("--scale", type=float, default=2.5, help="of the realistic mix's bundle")
    parser.add_argument("--events", type=int, default=100_000, help="of the check-ins mix")
    parser.add_argument(
        "--batch", type=int, default=Stream().batch_size, help="default: stream.batch_size's"
    )
    parser.add_argument(
        "--backend", nargs="+", default=["sqlite", "kafka"], choices=["sqlite", "kafka"]
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="okr-stream-") as tmp:
        if args.mix == "realistic":
            messages, types = realistic_mix(Path(tmp), args.scale, seed=3)
        else:
            messages, _ = stream_of(args.events, seed=3)
            types = Counter({"check_ins": len(messages)})
        if len(messages) < 2 * args.batch:  # a rate of batches that follow one another
            parser.error(f"{len(messages)} events: fewer than twice --batch")
        results = [measure(b, messages, args.batch, Path(tmp)) for b in args.backend]
    if args.json:
        print(json.dumps({"mix": args.mix, "event_types": types, "results": results}, indent=2))
        return 0
    print(f"{args.mix} mix, {len(messages):,} messages; before redelivery: {dict(types)}")
    for r in results:
        print(
            f"{r['backend']:<7} {r['events_per_second']:>8,} events/s to the warehouse; "
            f"naive consumer {r['naive_consumer_per_second']:,}/s ({r['share_of_naive']:.1%}); "
            f"raw read {r['raw_read_per_second']:,}/s ({r['share_of_raw']:.1%}); "
            f"stored {r['stored']}, duplicates {r['duplicates']}, "
            f"dead letters {r['dead_lettered']}, parked on the way {r['parked_on_the_way']}; "
            f"storage floor {r['storage_floor_events_per_second']:,} events/s"
        )
        sent = ", ".join(f"{t} {types[t]:,} sent, {r['rows_by_type'][t]:,} rows" for t in types)
        print(f"        by type: {sent}; dead letters by reason {r['dead_letters_by_reason']}")
    if len(results) == 2:
        kafka, embedded = results[1]["events_per_second"], results[0]["events_per_second"]
        print(f"Kafka at {kafka / embedded:.1%} of the embedded log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
