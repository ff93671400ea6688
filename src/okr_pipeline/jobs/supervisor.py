"""Child processes kept running (`okr up`): each part of the system runs as a process of its
own, one that dies is started again after an exponentially growing pause, and a stop ends them
all: SIGTERM to each, a wait, SIGKILL for those still running after the timeout.

Each child runs in a session of its own, so a Ctrl-C at the terminal reaches the supervisor
only and the children get one orderly SIGTERM from it. On Linux a child also gets SIGTERM when
the supervisor dies, however it dies (SIGKILL too): no part is left running on its own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from okr_pipeline.jobs.progress import Notify, quiet

__all__ = ["Backoff", "Child", "run_to_end", "supervise"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Child:
    """A part of the system: a name for the log and the command that runs it."""

    name: str
    argv: Sequence[str]


@dataclass(frozen=True)
class Backoff:
    """The pause before a child is started again: `first` seconds after its first exit,
    `factor` times longer after each further one, never more than `cap`. A child that ran
    for `stable_after` seconds before it exited counts as healthy: its pause starts over."""

    first: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    stable_after: float = 60.0

    def pause(self, exits: int) -> float:
        """The pause after the `exits`-th exit in a row (1 for the first)."""
        return float(min(self.cap, self.first * self.factor ** (exits - 1)))


@dataclass
class _Running:
    child: Child
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    exits: int = 0  # in a row, each after less than stable_after seconds
    restart_at: float = 0.0
    restarts: int = 0
    pids: list[int] = field(default_factory=list)


def _die_with_parent(parent: int) -> Callable[[], None]:
    """What the child runs before its command: SIGTERM to it when the supervisor dies."""

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before the request was made
            os._exit(1)

    return arrange


def _start(running: _Running, output: IO[bytes] | int | None, notify: Notify) -> None:
    preexec = _die_with_parent(os.getpid()) if sys.platform == "linux" else None
    process = subprocess.Popen(
        list(running.child.argv),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        start_new_session=True,
        preexec_fn=preexec,  # runs nothing but prctl between fork and exec
    )
    running.process = process
    running.started = time.monotonic()
    running.pids.append(process.pid)
    notify(f"{running.child.name}: started (pid {process.pid})")


def run_to_end(
    child: Child,
    stop: threading.Event,
    *,
    stop_timeout: float = 60.0,
    output: IO[bytes] | int | None = None,
    notify: Notify = quiet,
    poll_seconds: float = 0.2,
) -> int | None:
    """Run `child` once, as the supervised ones run; its exit status, or None if `stop` was
    set first (the child is then stopped as they are)."""
    running = _Running(child)
    try:
        _start(running, output, notify)
        assert running.process is not None
        while not stop.wait(poll_seconds):
            status = running.process.poll()
            if status is not None:
                return status
        return None
    finally:
        _stop([running], stop_timeout, notify)


def _stop(running: list[_Running], timeout: float, notify: Notify) -> None:
    """SIGTERM to every live child, then SIGKILL to those still running after `timeout`."""
    live = [r for r in running if r.process is not None and r.process.poll() is None]
    for r in live:
        assert r.process is not None
        notify(f"{r.child.name}: stopping (pid {r.process.pid})")
        r.process.terminate()
    deadline = time.monotonic() + timeout
    for r in live:
        assert r.process is not None
        try:
            r.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            notify(f"{r.child.name}: still running after {timeout:g} s: killed")
            r.process.kill()
            r.process.wait()


def supervise(
    children: Sequence[Child],
    stop: threading.Event,
    *,
    backoff: Backoff = Backoff(),  # frozen: one shared default is harmless
    stop_timeout: float = 60.0,
    output: IO[bytes] | int | None = None,
    notify: Notify = quiet,
    poll_seconds: float = 0.2,
) -> dict[str, list[int]]:
    """Run `children` until `stop` is set, starting again each one that exits (whatever its
    status: every part is meant to run until stopped), then stop them all. `output` takes
    their standard output and error (default: this process's). Returns the pids each child
    had, in order (its restarts are the pids after the first)."""
    running = [_Running(child) for child in children]
    try:
        for r in running:
            _start(r, output, notify)
        while not stop.wait(poll_seconds):
            now = time.monotonic()
            for r in running:
                if r.process is None:
                    if now >= r.restart_at:
                        r.restarts += 1
                        _start(r, output, notify)
                    continue
                status = r.process.poll()
                if status is None:
                    continue
                ran = now - r.started
                how = (
                    f"was killed by {signal.Signals(-status).name}"
                    if status < 0
                    else f"exited with status {status}"
                )
                r.exits = 1 if ran >= backoff.stable_after else r.exits + 1
                pause = backoff.pause(r.exits)
                notify(
                    f"{r.child.name}: pid {r.process.pid} {how} after {ran:.1f} s; starting it "
                    f"again in {pause:g} s (exit {r.exits} in a row)"
                )
                r.process = None
                r.restart_at = now + pause
    finally:
        _stop(running, stop_timeout, notify)
    return {r.child.name: r.pids for r in running}
