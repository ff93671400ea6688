"""Writers at once: `okr ingest` twice and `okr consume` of the same entities on PostgreSQL end
as one ingest does, each run's report reconciling; first commands on an empty database all
create the schema without failing; one consumer per group on the embedded log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text

from okr_pipeline.contract.raw import RawRecord
from okr_pipeline.contract.rules import ENTITIES
from okr_pipeline.ingest.store import IngestReport, ingest
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.locks import writers_lock
from okr_pipeline.warehouse.tables import ENTITY_TABLES, ingest_runs, quarantine
from processes import okr
from samples import OBJECTIVE
from warehouse_rows import entity_rows

pytestmark = pytest.mark.postgres


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return process.returncode, out, err


def _quarantine_seen(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(quarantine.c.fingerprint, quarantine.c.times_seen)).all())


def _wait_for_a_stream_batch(url: str, consumer: subprocess.Popen[str]) -> None:
    engine = create_warehouse_engine(url)
    deadline = time.monotonic() + 120
    try:
        while consumer.poll() is None and time.monotonic() < deadline:
            with engine.connect() as conn:
                tables = conn.execute(text("SELECT to_regclass('ingest_runs')")).scalar()
                if (
                    tables
                    and conn.execute(
                        select(ingest_runs.c.run_id).where(ingest_runs.c.kind == "stream")
                    ).first()
                ):
                    return
            time.sleep(0.05)
    finally:
        engine.dispose()
    pytest.fail(f"the consumer stored no batch (exit code {consumer.poll()})")


def test_two_ingests_and_a_consumer_at_once_end_as_one_ingest(
    tmp_path: Path, postgres_url: str, new_database: Callable[[], str]
):
    bundle = tmp_path / "bundle"
    base = {**os.environ, "OKR_DATA_DIR": str(tmp_path / "data")}
    code, _, err = _finish(
        okr("generate", "--out", str(bundle), "--seed", "1", "--scale", "1", "--messy", env=base)
    )
    assert code == 0, err
    code, _, err = _finish(okr("produce", "--from", str(bundle), env=base))
    assert code == 0, err

    # the reference: one ingest into a fresh database, alone
    alone_url = new_database()
    code, out, err = _finish(
        okr("ingest", str(bundle), "--json", env=base | {"OKR_WAREHOUSE__URL": alone_url})
    )
    assert code == 0, err
    alone = json.loads(out)

    # at once: a consumer, and two ingests started once it stores its first batch (so that
    # it is still at work while they run, however fast this machine starts it)
    env = base | {"OKR_WAREHOUSE__URL": postgres_url, "OKR_STREAM__BATCH_SIZE": "300"}
    consumer = okr("consume", "--json", "--no-rescore", "--until-idle", "2", env=env)
    _wait_for_a_stream_batch(postgres_url, consumer)
    writers = [
        okr("ingest", str(bundle), "--json", env=env),
        okr("ingest", str(bundle), "--json", env=env),
        consumer,
    ]
    results = [_finish(writer) for writer in writers]
    for code, _, err in results:
        assert code == 0, err
    reports = [json.loads(out) for _, out, _ in results[:2]]
    consumed = json.loads(results[2][1])

    for report in reports:
        for name, counts in report["entities"].items():
            expected = alone["entities"][name]
            assert counts["read"] == counts["stored"] + counts["unchanged"] + counts["quarantined"]
            assert (counts["read"], counts["quarantined"]) == (
                expected["read"],
                expected["quarantined"],
            ), name
    assert consumed["messages"] == alone["totals"]["read"]

    together_engine = create_warehouse_engine(postgres_url)
    alone_engine = create_warehouse_engine(alone_url)
    try:
        together, single = entity_rows(together_engine), entity_rows(alone_engine)
        for name in ENTITIES:
            assert len(together[name]) == alone["entities"][name]["stored"], name
            assert together[name] == single[name], name
        # each bad row was seen once by each ingest (the consumer dead-letters instead)
        seen_alone = _quarantine_seen(alone_engine)
        assert _quarantine_seen(together_engine) == {k: 2 * v for k, v in seen_alone.items()}
        with together_engine.connect() as conn:
            runs = conn.execute(
                select(ingest_runs.c.kind, ingest_runs.c.started_at, ingest_runs.c.finished_at)
            ).all()
        # the race took place: the ingests overlapped, and the consumer's batches ran between
        # them (writers take turns: warehouse.locks)
        (start_a, end_a), (start_b, end_b) = [(s, e) for kind, s, e in runs if kind == "files"]
        assert start_a < end_b and start_b < end_a
        batches = [(s, e) for kind, s, e in runs if kind == "stream"]
        first, last = min(start_a, start_b), max(end_a, end_b)
        assert any(s < last and e > first for s, e in batches)
    finally:
        together_engine.dispose()
        alone_engine.dispose()


def test_first_commands_on_an_empty_database_all_succeed(tmp_path: Path, postgres_url: str):
    env = {**os.environ, "OKR_DATA_DIR": str(tmp_path / "data"), "OKR_WAREHOUSE__URL": postgres_url}
    commands = [okr("status", "--json", env=env) for _ in range(4)]
    for code, out, err in map(_finish, commands):
        assert code == 0, err
        assert json.loads(out)["rows"]["objectives"] == 0


def _objective(updated_at: str, title: str) -> dict[str, list[RawRecord]]:
    fields = OBJECTIVE | {"updated_at": updated_at, "title": title}
    return {"objectives": [RawRecord("objectives", fields, "test", 1, json.dumps(fields))]}


def _ingest_while_a_writer_holds_the_row(
    engine: Engine, held_updated_at: datetime, records: dict[str, list[RawRecord]]
) -> IngestReport:
    """`records` ingested while another transaction has inserted O-1 and not yet committed:
    the ingest waits for it, then finds its row."""
    reports: list[IngestReport] = []
    with engine.connect() as holder:
        run_id = str(uuid.uuid4())
        holder.execute(
            insert(ingest_runs).values(
                run_id=run_id,
                kind="files",
                source="holder",
                status="running",
                started_at=datetime.now(),
            )
        )
        holder.execute(
            insert(ENTITY_TABLES["objectives"]).values(
                objective_id="O-1",
                title="Held",
                period_start=datetime(2026, 1, 1).date(),
                period_end=datetime(2026, 3, 31).date(),
                status="active",
                updated_at=held_updated_at,
                run_id=run_id,
            )
        )
        writer = threading.Thread(
            target=lambda: reports.append(ingest(engine, records, source="t"))
        )
        writer.start()
        deadline = time.monotonic() + 20
        while not _waiting_for_a_lock(engine):
            assert time.monotonic() < deadline, "the ingest never waited for the holder"
            time.sleep(0.05)
        holder.commit()
        writer.join(timeout=30)
    assert reports, "the ingest failed"
    return reports[0]


def _waiting_for_a_lock(engine: Engine) -> int:
    # a new transaction each time: one keeps its first view of pg_stat_activity
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def _stored_title(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(select(ENTITY_TABLES["objectives"].c.title)).scalar_one()


# conftest's `warehouse`, on PostgreSQL only
on_postgresql = pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)


@on_postgresql
@pytest.mark.parametrize(
    ("updated_at", "title", "stored", "kept"),
    [
        ("2026-01-15T00:00:00Z", "Older", 0, "Held"),  # an older row loses to the held one
        ("2026-02-15T00:00:00Z", "Newer", 1, "Newer"),  # a newer one replaces it
    ],
)
def test_a_row_meets_a_concurrent_writer_of_it(
    warehouse: Engine, updated_at: str, title: str, stored: int, kept: str
):
    report = _ingest_while_a_writer_holds_the_row(
        warehouse, datetime(2026, 2, 1), _objective(updated_at, title)
    )
    counts = report.entities["objectives"]
    assert (counts.read, counts.stored, counts.unchanged) == (1, stored, 1 - stored)
    assert _stored_title(warehouse) == kept


def _wait_for(process: subprocess.Popen[str], text_in_stderr: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:  # start-up takes a second or two
        if text_in_stderr in line:
            return
    raise AssertionError(f"{text_in_stderr!r} never appeared; exit {process.wait()}")


def test_a_second_consumer_of_a_group_is_refused_until_the_first_is_gone(tmp_path: Path):
    env = {**os.environ, "OKR_DATA_DIR": str(tmp_path / "data")}
    first = okr("-v", "consume", "--no-rescore", env=env)
    try:
        _wait_for(first, "consuming")
        code, _, err = _finish(okr("consume", "--no-rescore", "--until-idle", "0.5", env=env))
        assert code == 1
        assert "okr-warehouse" in err and f"pid {first.pid}" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        # another group is another reader
        code, _, err = _finish(
            okr("consume", "--group", "audit", "--no-rescore", "--until-idle", "0.5", env=env)
        )
        assert code == 0, err
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    code, _, err = _finish(okr("consume", "--no-rescore", "--until-idle", "0.5", env=env))
    assert code == 0, err


def test_a_writer_waits_its_turn_beyond_the_statement_timeout(postgres_url: str):
    """Waiting for another writer is no runaway statement (warehouse.locks)."""
    engine = create_warehouse_engine(postgres_url, statement_timeout_seconds=0.5)
    migrate(engine)
    reports: list[IngestReport] = []
    with engine.connect() as other:
        writers_lock(other)  # another writer's turn, for longer than the statement timeout
        writer = threading.Thread(
            target=lambda: reports.append(ingest(engine, _objective("", "Waited"), source="t"))
        )
        writer.start()
        deadline = time.monotonic() + 20
        while not _waiting_for_a_lock(engine):
            assert time.monotonic() < deadline, "the ingest never waited for its turn"
            time.sleep(0.05)
        time.sleep(1.5)
        other.commit()
    writer.join(timeout=30)
    assert reports and reports[0].entities["objectives"].stored == 1
    with engine.connect() as conn:  # and the timeout still holds for the statements after it
        conn.execute(text("SELECT 1"))
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "500ms"
    engine.dispose()


@on_postgresql
def test_ingests_of_different_bundles_sharing_ids_both_succeed(
    monkeypatch: pytest.MonkeyPatch, warehouse: Engine
):
    """Chunk after chunk in opposite orders: writers holding row locks at once would deadlock."""
    monkeypatch.setattr("okr_pipeline.ingest.store.CHUNK_ROWS", 7)

    def bundle(stamp: str, ids: list[int]) -> dict[str, list[RawRecord]]:
        rows = []
        for n in ids:
            fields = OBJECTIVE | {"objective_id": f"O-{n:03}", "updated_at": stamp}
            rows.append(RawRecord("objectives", fields, "t", n, json.dumps(fields)))
        return {"objectives": rows}

    ids = list(range(200))
    inputs = [bundle("2026-01-01T00:00:00Z", ids), bundle("2026-02-01T00:00:00Z", ids[::-1])]
    reports: list[IngestReport] = []
    errors: list[BaseException] = []

    def run(records: dict[str, list[RawRecord]]) -> None:
        try:
            reports.append(ingest(warehouse, records, source="t"))
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=run, args=(records,)) for records in inputs]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert not errors and len(reports) == 2
    with warehouse.connect() as conn:
        stamps = conn.execute(select(ENTITY_TABLES["objectives"].c.updated_at)).scalars().all()
    assert len(stamps) == 200 and set(stamps) == {datetime(2026, 2, 1)}
