"""Helpers for tests of real servers: a free loopback port, HTTP calls that return errors as
answers, waiting until a process answers, and `okr serve` run as a process."""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Status, headers and body of a GET (an error status is an answer too; redirects are
    followed)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_until_up(url: str, process: subprocess.Popen[Any], log: Path, timeout: float = 90) -> None:
    """Until `url` answers 200; fails the test with the log if the process ends or never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            pytest.fail(f"{url} did not answer:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


@contextlib.contextmanager
def okr_serve(
    environment: Mapping[str, str], workers: int, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`okr serve` on a free port with `environment`, its output in `log`: its URL and process
    once /health answers; stopped with SIGTERM at the end (unless the test stopped it)."""
    port = free_port()
    command = [sys.executable, "-m", "okr_pipeline", "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=dict(environment),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process, log)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
