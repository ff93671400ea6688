"""Batches prepared in a worker process (stream.read_ahead): the same as prepared in the
consumer's own process, and a worker that dies is a clear error, never a silent loss."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from okr_pipeline.config import Limits, load_settings
from okr_pipeline.errors import OkrError
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.stream import read_ahead as read_ahead_module
from okr_pipeline.stream.applier import Prepared, apply_batch, prepare
from okr_pipeline.stream.consumer import consume
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.producer import events_from_path, publish
from okr_pipeline.stream.read_ahead import IN_PROCESS_BELOW, ReadAhead
from okr_pipeline.stream.sqlite_log import SqliteEventLog
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate, open_warehouse
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    VERSION_TABLES,
    dead_letters,
    parked_events,
)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> list[Message]:
    """A messy bundle's events with garbage, a repeat and text beyond ASCII: over the size that
    goes to the worker."""
    out = tmp_path_factory.mktemp("bundle")
    generate_bundle(out, seed=11, scale=0.05, messy=True, as_of=date(2026, 5, 20))
    values = [value for _, value in events_from_path(out)[0]]
    values += [b"{oops", b"[1]", json.dumps({"event_id": "\u00e9t\u00e9"}).encode(), values[3]]
    assert len(values) > IN_PROCESS_BELOW
    return [Message("okr.events", i % 3, i, None, v, 0) for i, v in enumerate(values)]


def _started(limits: Limits) -> ReadAhead:
    """A read-ahead whose worker has started (until then batches are prepared here)."""
    read_ahead = ReadAhead(limits)
    read_ahead._start()
    deadline = time.monotonic() + 30
    while not read_ahead._worker_ready():
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.02)
    return read_ahead


def _shape(prepared: Prepared) -> tuple:
    return (
        prepared.events,
        prepared.problems,
        prepared.repeats,
        [
            (v.entity, v.rows, v.origins, [(r.reason, r.record.line) for r in v.rejected])
            for v in prepared.validated
        ],
    )


def test_the_worker_prepares_what_this_process_would(batch):
    read_ahead = _started(Limits())
    try:
        read_ahead.submit(batch)
        assert read_ahead._here is None  # the worker does it
        assert _shape(read_ahead.result()) == _shape(prepare(batch, Limits()))
    finally:
        read_ahead.close()


def test_a_batch_goes_to_a_starting_worker_unless_nothing_else_would_run(batch):
    read_ahead = ReadAhead(Limits())
    try:
        read_ahead.start()
        read_ahead.submit(batch, alone=True)  # the worker is still importing: done here
        assert read_ahead._here is not None
        read_ahead.result()
        read_ahead.submit(batch)  # while this process writes the last batch: sent at once
        assert read_ahead._here is None
        assert _shape(read_ahead.result()) == _shape(prepare(batch, Limits()))
    finally:
        read_ahead.close()


def test_small_batches_stay_in_this_process(batch):
    read_ahead = ReadAhead(Limits())
    small = batch[: IN_PROCESS_BELOW - 1]
    read_ahead.submit(small)
    assert read_ahead._worker is None
    assert _shape(read_ahead.result()) == _shape(prepare(small, Limits()))
    read_ahead.close()


def test_a_worker_that_dies_is_a_clear_error_and_close_ends_it(batch):
    read_ahead = _started(Limits())
    read_ahead.submit(batch)
    assert read_ahead.result().events
    worker = read_ahead._worker
    assert worker is not None
    worker.kill()
    worker.wait(5)
    with pytest.raises(OkrError, match=r"process preparing the stream's batches ended \(exit"):
        read_ahead.submit(batch)  # or, had it died meanwhile, its result
        read_ahead.result()
    read_ahead.close()

    healthy = _started(Limits())
    healthy.submit(batch)
    healthy.result()
    worker = healthy._worker
    healthy.close()
    assert worker is not None and worker.returncode == 0  # it left when its input ended


def _tables(engine: Engine) -> dict[str, list]:
    """The stored rows and versions (without run ids), the dead letters, the parked events."""
    found = {}
    with engine.connect() as conn:
        tables = [*ENTITY_TABLES.values(), *VERSION_TABLES.values()]
        for table in tables:  # versions without their time of storage where no updated_at
            columns = [c for c in table.c if c.name not in ("run_id", "version_id", "valid_from")]
            found[table.name] = sorted(map(tuple, conn.execute(select(*columns))), key=repr)
        found["dead_letters"] = sorted(
            conn.execute(select(dead_letters.c.reason, dead_letters.c.offset)).all()
        )
        found["parked"] = sorted(conn.execute(select(parked_events.c.event_id)).scalars())
    return found


@pytest.mark.parametrize("dates_as_text", [True, False])
def test_rows_prepared_by_the_worker_are_stored_as_this_process_stores_them(
    batch, tmp_path: Path, dates_as_text: bool
):
    here, there = (create_warehouse_engine(f"sqlite:///{tmp_path / n}") for n in ("a.db", "b.db"))
    migrate(here)
    migrate(there)
    read_ahead = _started(Limits())
    try:
        for part in (batch[: len(batch) // 2], batch[len(batch) // 2 :], batch):  # and again
            expected = apply_batch(here, part, source="okr.events", park_timeout=600)
            read_ahead.submit(part)
            got = apply_batch(
                there,
                part,
                source="okr.events",
                park_timeout=600,
                prepared=read_ahead.result(dates_as_text),
            )
            assert (got.stored, got.duplicates, got.dead_lettered, got.parked) == (
                expected.stored,
                expected.duplicates,
                expected.dead_lettered,
                expected.parked,
            )
            assert got.touched_key_results == expected.touched_key_results
    finally:
        read_ahead.close()
    assert _tables(there) == _tables(here)


def test_the_consumer_reads_ahead_and_stores_each_event_once(
    batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OKR_STREAM__BATCH_SIZE", str(IN_PROCESS_BELOW + 100))
    monkeypatch.setenv("OKR_STREAM__POLL_TIMEOUT_SECONDS", "0.2")
    settings = load_settings()
    log = SqliteEventLog(tmp_path / "events.db", settings.stream.partitions)
    publish(log, settings.stream.topics.events, [(None, m.value) for m in batch] * 2)
    engine = open_warehouse(settings)
    summary = consume(settings, engine, log, group="g", until_idle=0.5)
    log.close()
    assert summary.messages == 2 * len(batch) and summary.batches >= 3 and summary.lag == 0
    assert summary.stored + summary.duplicates + summary.dead_lettered == summary.consumed

    expected = create_warehouse_engine(f"sqlite:///{tmp_path / 'expected.db'}")
    migrate(expected)
    once = apply_batch(expected, batch, source=settings.stream.topics.events, park_timeout=600)
    stored, wanted = _tables(engine), _tables(expected)
    # the second copy's garbage sits at other offsets: dead letters again, the rest duplicates
    assert stored.pop("dead_letters") != [] and wanted.pop("dead_letters") != []
    assert stored == wanted
    assert summary.stored == once.stored
    garbage = 3  # "{oops", "[1]", the event with no type: not events, a copy is known by its place
    assert summary.dead_lettered == once.dead_lettered + garbage


def test_a_worker_that_dies_starting_is_a_clear_error(batch, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(read_ahead_module, "WORKER", "okr_pipeline.no_such_module")
    read_ahead = ReadAhead(Limits())
    read_ahead._start()
    assert read_ahead._worker is not None
    read_ahead._worker.wait(30)
    with pytest.raises(OkrError, match=r"process preparing the stream's batches ended \(exit"):
        read_ahead.submit(
            batch, alone=True
        )  # it would be prepared here if the worker were starting
    read_ahead.close()
    with pytest.raises(OkrError, match=r"process preparing the stream's batches ended \(exit"):
        dead = ReadAhead(Limits())
        dead._start()
        dead.submit(batch)  # sent at once: the worker's end is found by its result
        dead.result()
    dead.close()
