"""The API answers while `okr consume` and an ETL run write to the same SQLite warehouse: real
processes (`okr serve` with two gunicorn workers, `okr produce` publishing a bundle as events,
`okr consume`, `okr run etl` over a landing folder holding a generated bundle) and, while they
run, reads and audited calls (an admin read, a write to the model registry) from two clients.

Every call answers 2xx within BOUND seconds: not a measure of speed (calls take milliseconds
here) but short of how long the ETL's ingest holds SQLite's one write lock (its whole
transaction), which a call waiting for that lock (its token's last use, its audit entry) would
take. The test checks that the lock was held longer than BOUND while calls were answered, and
that every audited call's entry reaches the audit log once the writers are done."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api_calls import bearer
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.sources.synthetic import generate_bundle

BOUND = 4.0  # seconds for any one call
ETL_SCALE = 8  # the ETL bundle: its ingest holds the lock far longer than BOUND
EVENTS_SCALE = 0.3  # the bundle published as events, at EVENTS_RATE a second
EVENTS_RATE = 1500


@dataclass(frozen=True)
class Call:
    name: str
    started: float  # time.monotonic()
    seconds: float
    status: int
    audited: bool


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _request(url: str, token: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, headers=bearer(token))
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status


def _okr(env: dict[str, str], output: Path, *args: str) -> subprocess.Popen[bytes]:
    """`okr ARGS` in a process of its own: its standard output in `output`, its notes and
    errors beside it (`.log`)."""
    with output.open("wb") as out, output.with_suffix(".log").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "okr_pipeline", *args], env=env, stdout=out, stderr=err
        )


def _why(output: Path) -> str:
    return output.with_suffix(".log").read_text() + output.read_text()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "OKR_DATA_DIR": str(settings.data_dir)}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path, tokens: Any) -> Iterator[str]:
    port = _free_port()
    process = _okr(env, tmp_path / "serve.out", "serve", "--port", str(port), "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if _request(f"{url}/health", "") == 200:
                break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, _why(tmp_path / "serve.out")
        time.sleep(0.2)
    yield url
    _stop(process)
    assert '" 500 ' not in (tmp_path / "serve.out").read_text()  # gunicorn's access log


class _LockWatch:
    """Whether another writer holds SQLite's write lock, sampled: a write transaction begun
    and given up at once (it takes the lock for an instant when it is free)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.samples: list[tuple[float, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        probe = sqlite3.connect(self.database, timeout=0, isolation_level=None)
        try:
            while not self.stop.is_set():
                at = time.monotonic()
                try:
                    probe.execute("BEGIN IMMEDIATE")
                    probe.execute("ROLLBACK")
                    held = False
                except sqlite3.OperationalError:
                    held = True
                self.samples.append((at, held))
                time.sleep(0.05)
        finally:
            probe.close()

    def held_spans(self) -> list[tuple[float, float]]:
        """The spans the lock was seen held throughout."""
        spans: list[tuple[float, float]] = []
        start = None
        for at, held in self.samples:
            if held and start is None:
                start = at
            elif not held and start is not None:
                spans.append((start, at))
                start = None
        return spans


def test_the_api_answers_while_consume_and_an_etl_run_write(
    server: str, env: dict[str, str], settings: Settings, tokens: Any, tmp_path: Path
):
    generate_bundle(tmp_path / "events", seed=9, scale=EVENTS_SCALE, as_of=date(2026, 7, 1))
    landing = settings.path("raw") / "incoming"
    landing.mkdir(parents=True)
    generate_bundle(landing / ".etl", seed=5, scale=ETL_SCALE, as_of=date(2026, 7, 1))
    # calls whose own work does not grow with the warehouse (a list of every key result as of
    # a date does: after the ETL's ingest it has many times as many to read, on CPUs the
    # writers share)
    calls = [  # (name, path, method, token, audited)
        ("key result", "/api/v1/key-results/kr-000001", "GET", tokens.viewer, False),
        ("runs", "/api/v1/pipelines/runs?limit=5", "GET", tokens.viewer, False),
        ("alerts", "/api/v1/alerts?limit=5", "GET", tokens.viewer, False),
        ("models", "/api/v1/models", "GET", tokens.viewer, False),
        ("tokens", "/api/v1/tokens", "GET", tokens.admin, True),
        ("promote", "/api/v1/models/1/promote", "POST", tokens.admin, True),
    ]
    # each worker opens the warehouse and loads what each call needs before the writers start
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, path, method, token, _ in calls:
            statuses = pool.map(_request, [server + path] * 4, [token] * 4, [method] * 4)
            assert list(statuses) == [200] * 4, name

    producer = _okr(
        env, tmp_path / "produce.json", "produce", "--from", str(tmp_path / "events"),
        "--rate", str(EVENTS_RATE), "--json",
    )  # fmt: skip
    consumer = _okr(env, tmp_path / "consume.json", "consume", "--until-idle", "5", "--json")
    watch = _LockWatch(settings.data_dir / "warehouse.db")
    watcher = threading.Thread(target=watch.run)
    watcher.start()
    (landing / ".etl").rename(landing / "etl")  # complete: the run may take it
    etl = _okr(env, tmp_path / "etl.json", "run", "etl", "--json")

    answered: list[Call] = []

    def client(offset: int) -> None:
        turn = offset
        while etl.poll() is None:
            name, path, method, token, audited = calls[turn % len(calls)]
            turn += 1
            started = time.monotonic()
            status = _request(server + path, token, method)
            answered.append(Call(name, started, time.monotonic() - started, status, audited))

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(client, [0, 3]))
        assert etl.wait() == 0, _why(tmp_path / "etl.json")
        assert producer.wait(timeout=120) == 0, _why(tmp_path / "produce.json")
        assert consumer.wait(timeout=120) == 0, _why(tmp_path / "consume.json")
    finally:
        watch.stop.set()
        watcher.join()
        for process in (etl, producer, consumer):
            _stop(process)

    slow_or_failed = [c for c in answered if not (200 <= c.status < 300 and c.seconds < BOUND)]
    assert not slow_or_failed, slow_or_failed
    longest = max(watch.held_spans(), key=lambda span: span[1] - span[0])
    assert longest[1] - longest[0] > BOUND, ("no writer held the lock long enough to tell", longest)
    during = [
        c for c in answered if longest[0] <= c.started and c.started + c.seconds <= longest[1]
    ]
    assert {c.name for c in during} == {name for name, *_ in calls}, during

    run = json.loads((tmp_path / "etl.json").read_text())
    (loaded,) = next(t for t in run["tasks"] if t["task"] == "load")["output"]["loaded"]
    assert loaded["totals"]["read"] > 0
    consumed = json.loads((tmp_path / "consume.json").read_text())
    assert consumed["consumed"] > 0

    # every audited call is in the audit log once the writers are done
    audited = sum(c.audited for c in answered) + sum(a for *_, a in calls) * 4
    deadline = time.monotonic() + 60
    while (recorded := _recorded(settings)) < audited:
        assert time.monotonic() < deadline, (recorded, audited)
        time.sleep(0.5)
    assert recorded == audited


def _recorded(settings: Settings) -> int:
    """The audit log's entries of the calls made with the admin's token."""
    count, cursor = 0, None
    while True:
        page = jobs.audit_entries(settings, cursor=cursor, limit=500, token_name="test-admin")
        count += sum(e["operation_id"] in ("list_tokens", "promote_model") for e in page.items)
        if (cursor := page.next_cursor) is None:
            return count
