"""Ingesting a large bundle with a forked child process that parses and validates: the same
outcome as doing it all in one process, and a child that fails or dies is a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from okr_pipeline.contract.columns import Validated, validate_rows
from okr_pipeline.contract.raw import RawBatch
from okr_pipeline.errors import OkrError
from okr_pipeline.ingest import _forked_parser as child_process
from okr_pipeline.ingest._forked_parser import ChildChunks, can_fork
from okr_pipeline.ingest.chunk_bytes import decode_chunk, encode_chunk
from okr_pipeline.ingest.chunks import validated_chunks
from okr_pipeline.ingest.files import PARALLEL_BYTES, ingest_path
from okr_pipeline.sources.files import load_bundle
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.tables import ENTITY_TABLES, quarantine

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs fork")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """A thread an earlier test left running would make ingestion parse in this process."""
    assert can_fork(), f"threads left running: {threading.enumerate()}"


@pytest.fixture(scope="module")
def messy_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("messy")
    generate_bundle(out, seed=5, scale=0.2, messy=True, as_of=date(2026, 5, 20))
    return out


def _engine(path: Path) -> Engine:
    engine = create_warehouse_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


def _outcome(engine: Engine, report: dict) -> tuple:
    report.pop("run_id")
    with engine.connect() as conn:
        stored = {
            name: [tuple(row)[:-1] for row in conn.execute(select(table).order_by(*table.c))]
            for name, table in ENTITY_TABLES.items()
        }
        # ids follow the order of insertion, which on PostgreSQL is the key order of the upsert
        bad = [
            {k: v for k, v in row.items() if k != "id" and not k.endswith(("_at", "run_id"))}
            for row in conn.execute(
                select(quarantine).order_by(quarantine.c.fingerprint)
            ).mappings()
        ]
    return report, stored, bad


@pytest.mark.parametrize("chunk_rows", [20000, 97])
def test_child_process_ingests_as_one_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, messy_bundle: Path, chunk_rows: int
):
    monkeypatch.setattr("okr_pipeline.ingest.store.CHUNK_ROWS", chunk_rows)
    outcomes = []
    for name, threshold in (("alone", 1 << 40), ("forked", 0)):
        monkeypatch.setattr("okr_pipeline.ingest.files.PARALLEL_BYTES", threshold)
        engine = _engine(tmp_path / f"{name}.db")
        first = ingest_path(engine, messy_bundle).as_dict()
        again = ingest_path(engine, messy_bundle).as_dict()  # everything stored is unchanged
        outcomes.append((_outcome(engine, first), again["entities"]))
        engine.dispose()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][0]["warnings"]  # unknown columns, in file order


@pytest.mark.postgres
def test_child_process_ingests_as_one_process_on_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, messy_bundle: Path, postgres_url: str
):
    """There the children's dates come back as date and datetime objects."""
    monkeypatch.setattr("okr_pipeline.ingest.files.PARALLEL_BYTES", 1 << 40)
    alone = _engine(tmp_path / "alone.db")
    expected = _outcome(alone, ingest_path(alone, messy_bundle).as_dict())
    alone.dispose()
    monkeypatch.setattr("okr_pipeline.ingest.files.PARALLEL_BYTES", 0)
    forked = create_warehouse_engine(postgres_url)
    migrate(forked)
    assert _outcome(forked, ingest_path(forked, messy_bundle).as_dict()) == expected
    assert ingest_path(forked, messy_bundle).totals.stored == 0
    forked.dispose()


def test_small_input_stays_in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, contract_bundle: Path
):
    def no_child(*args: object) -> None:
        raise AssertionError("a child process was started")

    monkeypatch.setattr("okr_pipeline.ingest.files.ChildChunks", no_child)
    engine = _engine(tmp_path / "w.db")
    assert ingest_path(engine, contract_bundle).totals.read > 0


def test_chunks_cross_the_pipe_unchanged(messy_bundle: Path):
    for chunk in validated_chunks(load_bundle(messy_bundle).files, 500):
        copy = decode_chunk(*encode_chunk(chunk))
        assert (copy.entity, copy.read, copy.rows, copy.origins, copy.warnings) == (
            chunk.entity,
            chunk.read,
            chunk.rows,
            chunk.origins,
            chunk.warnings,
        )
        assert [vars(r) for r in copy.rejected] == [vars(r) for r in chunk.rejected]


def test_a_failing_child_is_an_error_and_the_run_is_rolled_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, messy_bundle: Path
):
    def broken(batch: RawBatch) -> Validated:
        if batch.entity == "tasks":  # one a child validates
            raise ValueError("broken on purpose")
        return validate_rows(batch)

    monkeypatch.setattr("okr_pipeline.ingest.files.PARALLEL_BYTES", 0)
    monkeypatch.setattr("okr_pipeline.ingest.chunks.validate_rows", broken)
    engine = _engine(tmp_path / "w.db")
    with pytest.raises(OkrError, match="broken on purpose"):
        ingest_path(engine, messy_bundle)
    with engine.connect() as conn:
        for table in ENTITY_TABLES.values():
            assert conn.execute(select(table)).first() is None


def test_a_killed_child_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch):
    def stuck(warnings: dict) -> object:
        os.kill(os.getpid(), signal.SIGKILL)  # as if the OOM killer came by
        yield

    with ChildChunks(stuck, {}) as chunks, pytest.raises(OkrError, match="stopped before the end"):
        list(chunks)


def test_closing_early_stops_the_child(messy_bundle: Path):
    files = load_bundle(messy_bundle).files
    chunks = ChildChunks(lambda warnings: validated_chunks(files, 50, warnings=warnings), {})
    next(iter(chunks))
    chunks.close()
    assert not chunks._child.is_alive()


def test_no_fork_beside_other_threads(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(child_process.threading, "active_count", lambda: 2)
    assert not can_fork()


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(child) for child in path.read_text().split()} if path.exists() else set()


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def large_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Over PARALLEL_BYTES, so that `okr ingest` forks its readers."""
    out = tmp_path_factory.mktemp("large")
    generate_bundle(out, seed=3, scale=1.5, messy=False, as_of=date(2026, 5, 20))
    assert sum(f.stat().st_size for f in out.iterdir()) >= PARALLEL_BYTES
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_readers_die_with_a_killed_ingest(tmp_path: Path, large_bundle: Path, signum: int):
    environment = os.environ | {"OKR_DATA_DIR": str(tmp_path / "data")}
    ingest = subprocess.Popen(
        [sys.executable, "-m", "okr_pipeline", "ingest", str(large_bundle)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait(lambda: len(_children(ingest.pid)) == 2, 60), "no readers were forked"
        readers = _children(ingest.pid)
        ingest.send_signal(signum)
        ingest.wait(10)
        assert _wait(lambda: not any(map(_alive, readers)), 5), "a reader outlived its parent"
    finally:
        ingest.kill()


def test_a_child_stops_once_nobody_reads():
    def endless(warnings: dict) -> Iterator[Validated]:
        while True:
            time.sleep(0.005)
            yield Validated("objectives", 0, [], [], [])

    chunks = ChildChunks(endless, {})
    next(iter(chunks))
    os.close(chunks._pipe)  # the reader goes away without killing the child
    chunks._child.join(5)
    assert chunks._child.exitcode == 0
    chunks._pipe = -1
    chunks.close()


def test_children_stop_once_nobody_reads_even_where_the_kernel_does_not_kill_them(
    monkeypatch: pytest.MonkeyPatch,
):
    """Off Linux no signal comes with the parent's death: each child must see its pipe close,
    so the second child must not keep the first one's reading end open."""
    monkeypatch.setattr(child_process.sys, "platform", "darwin")

    def endless(warnings: dict) -> Iterator[Validated]:
        while True:
            time.sleep(0.005)
            yield Validated("objectives", 0, [], [], [])

    first, second = ChildChunks(endless, {}), ChildChunks(endless, {})
    next(iter(first))
    for chunks in (first, second):  # the parent lets go of both pipes, as if it had died
        child_process._READING_ENDS.discard(chunks._pipe)
        os.close(chunks._pipe)
        chunks._pipe = -1
    for chunks in (first, second):
        chunks._child.join(5)
        assert chunks._child.exitcode == 0
        chunks.close()
