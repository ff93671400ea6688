"""`okr up` as a real process on an empty data directory and a free port: the main job fills
the warehouse first, the first line is {"url", "token"}, the API answers with that token, a
killed part (the consumer) is started again, SIGTERM stops every process of the system (none is
left: checked by pid) with exit status 0, and a second start (with the simulator) serves at once
and shows no token."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

from api_calls import bearer
from okr_pipeline.cli import main
from served import free_port, get, wait_until_up

FIRST_LINE_TIMEOUT = 300  # the first start generates, ingests and trains on a shared machine


def _proc_children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    return children


def _descendants(pid: int) -> dict[int, str]:
    """The processes under `pid`, with their command lines."""
    tree, found, todo = _proc_children(), {}, [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            try:
                found[child] = (
                    Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                ).decode()
            except OSError:
                continue
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _part(pid: int, word: str) -> int | None:
    """The pid of the direct child of `pid` whose command line (or title) holds `word`."""
    for child in _proc_children().get(pid, []):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if word.encode() in command.split(b"\0") or f"[{word}]".encode() in command:
            return child
    return None


def _wait_for(condition: Any, what: str, log: Path, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    return value


def _first_line(stream: IO[str], process: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    ready, _, _ = select.select([stream], [], [], FIRST_LINE_TIMEOUT)
    if not ready:
        process.kill()
        pytest.fail(f"okr up printed nothing:\n{log.read_text(errors='replace')}")
    line = stream.readline()
    if not line:
        pytest.fail(f"okr up ended:\n{log.read_text(errors='replace')}")
    parsed: dict[str, Any] = json.loads(line)
    return parsed


@contextmanager
def _okr_up(
    data: Path, port: int, log: Path, *options: str
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    env = {**os.environ, "OKR_DATA_DIR": str(data)}
    with log.open("a") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "okr_pipeline", "up", "--json", "--port", str(port), *options],
            env=env,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
    try:
        assert process.stdout is not None
        yield process, _first_line(process.stdout, process, log)
    finally:
        if process.poll() is None:
            for pid in _descendants(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()


def test_once_takes_no_serving_options():
    result = CliRunner().invoke(main, ["up", "--once", "--simulate"])
    assert result.exit_code == 2 and "--once runs the main job only" in result.output


def test_okr_up_serves_restarts_a_dead_part_and_stops_cleanly(tmp_path: Path):
    data, log = tmp_path / "data", tmp_path / "up.log"
    port = free_port()
    with _okr_up(data, port, log) as (process, first):
        url = f"http://127.0.0.1:{port}/"
        assert first["url"] == url and first["token"].startswith("okr_")
        wait_until_up(f"{url}health", process, log)
        assert "the main job first" in log.read_text()

        # the URL printed is the dashboard's: a browser without a session is sent to sign in
        status, _, body = get(url)
        assert status == 200 and b'name="token"' in body, body[:500]

        # the token is an admin's, and the warehouse holds the demo data and its risks
        status, _, body = get(f"{url}api/v1/tokens", bearer(first["token"]))
        assert status == 200
        assert [(t["name"], t["role"]) for t in json.loads(body)["items"]] == [("admin", "admin")]
        status, _, body = get(f"{url}api/v1/key-results?state=open&limit=5", bearer(first["token"]))
        assert status == 200
        assert [kr["risk"] is not None for kr in json.loads(body)["items"]] == [True] * 5

        # every part runs in a process of its own; a killed one is started again
        parts = {
            word: _wait_for(lambda w=word: _part(process.pid, w), f"{word} started", log)
            for word in ("okr-api", "consume", "scheduler")  # gunicorn titles itself
        }
        consumer = parts["consume"]
        os.kill(consumer, signal.SIGKILL)
        restarted = _wait_for(
            lambda: (p := _part(process.pid, "consume")) != consumer and p,
            "the consumer's restart",
            log,
        )
        assert f"consumer: pid {consumer} was killed by SIGKILL" in log.read_text()
        assert _alive(restarted)

        # SIGTERM stops every process of the system, gunicorn's workers included
        _wait_for(lambda: len(_descendants(process.pid)) >= 5, "gunicorn's workers", log)
        system = _descendants(process.pid)
        assert sum("okr-api" in c for c in system.values()) >= 3, system  # master, 2 workers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=180) == 0
        left = {pid: command for pid, command in system.items() if _alive(pid)}
        assert left == {}
        assert "okr up: stopped" in log.read_text()

    # a second start, with live activity: no main job, no token shown again
    port = free_port()
    with _okr_up(data, port, log, "--simulate") as (process, again):
        assert again == {"url": f"http://127.0.0.1:{port}/", "token": None}
        wait_until_up(f"{again['url']}health", process, log)
        assert log.read_text().count("the main job first") == 1
        simulator = _wait_for(lambda: _part(process.pid, "simulate"), "the simulator", log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=180) == 0
        assert not _alive(simulator)
