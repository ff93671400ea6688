"""While another writer holds the SQLite warehouse (as an ingest does for its whole transaction),
calls are answered without waiting for it: the token's last use is written at a later use, and
the audit entry of a call is kept by the process and written, in order, once the lock is free;
at the process's exit what still waits is written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask.testing import FlaskClient

from api_calls import bearer
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc

WAIT = 5.0  # far over an answer's time here, far under the 30 s the lock would make it wait


@contextmanager
def _writer_holding(settings: Settings) -> Iterator[None]:
    """Another process's long write: SQLite's write lock held until the block ends."""
    holder = sqlite3.connect(settings.data_dir / "warehouse.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _audited(settings: Settings) -> list[tuple[str, int]]:
    page = jobs.audit_entries(settings, limit=100)
    return [(entry["operation_id"], entry["status"]) for entry in reversed(page.items)]


def _timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_calls_answer_while_a_writer_holds_the_warehouse(
    client: FlaskClient, settings: Settings, tokens: Any
):
    with _writer_holding(settings):
        read, seconds = _timed(lambda: client.get("/api/v1/models", headers=bearer(tokens.viewer)))
        assert read.status_code == 200 and seconds < WAIT
        listed, seconds = _timed(lambda: client.get("/api/v1/tokens", headers=bearer(tokens.admin)))
        assert listed.status_code == 200 and seconds < WAIT  # an admin call: audited
        moved, seconds = _timed(
            lambda: client.post("/api/v1/models/1/promote", headers=bearer(tokens.admin))
        )
        assert moved.status_code == 200 and seconds < WAIT  # a write to the model registry
        refused, seconds = _timed(lambda: client.post("/api/v1/models/rollback"))
        assert refused.status_code == 401 and seconds < WAIT
        # nothing written meanwhile: the lock is held
        assert _audited(settings) == []
        assert {t.name: t.last_used_at for t in jobs.list_tokens(settings)}["test-viewer"] is None
    deadline = time.monotonic() + 30
    expected = [("list_tokens", 200), ("promote_model", 200), ("rollback_model", 401)]
    while _audited(settings) != expected:  # written by the process's backlog, in order
        assert time.monotonic() < deadline, _audited(settings)
        time.sleep(0.1)
    client.get("/api/v1/models", headers=bearer(tokens.viewer))  # the lock is free now
    used = {t.name: t.last_used_at for t in jobs.list_tokens(settings)}["test-viewer"]
    assert used is not None and (now_utc() - used).total_seconds() < 60


RECORD_AND_EXIT = """
from okr_pipeline import jobs
from okr_pipeline.config import load_settings
from okr_pipeline.core import now_utc

settings = load_settings()
jobs.record_audit(
    settings, jobs.AuditEntry(now_utc(), None, None, "10.0.0.1", "POST", "/x", "exiting", 401)
)
assert len(jobs.audit_entries(settings, limit=10).items) == 0  # it waits: the lock is held
print("recorded", flush=True)
"""


def test_what_waits_when_the_process_exits_is_written_before_it_ends(settings: Settings):
    with _writer_holding(settings):
        process = subprocess.Popen(
            [sys.executable, "-c", RECORD_AND_EXIT],
            env={**os.environ, "OKR_DATA_DIR": str(settings.data_dir)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "recorded\n"
        time.sleep(1)  # exiting now, its entry still waits for the lock
        assert process.poll() is None
    assert process.wait(timeout=60) == 0
    assert _audited(settings) == [("exiting", 401)]
