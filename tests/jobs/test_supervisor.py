"""The supervisor of `okr up` with real child processes: a child that exits is started again
after pauses that double up to their cap, a child that ran long enough starts over from the
first pause, a stop ends every child (SIGKILL for one that ignores SIGTERM), each child has a
session of its own, and children die with their supervisor even when it is SIGKILLed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from okr_pipeline.jobs import Backoff, Child, run_to_end, supervise


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _pid(note: str) -> int:
    found = re.search(r"pid (\d+)", note)
    assert found, note
    return int(found.group(1))


def _wait_for(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _supervise_in_thread(
    children: list[Child], **options: Any
) -> tuple[threading.Event, list[str], dict[str, list[int]], threading.Thread]:
    stop = threading.Event()
    notes: list[str] = []
    result: dict[str, list[int]] = {}
    thread = threading.Thread(
        target=lambda: result.update(supervise(children, stop, notify=notes.append, **options))
    )
    thread.start()
    return stop, notes, result, thread


def test_a_dying_child_is_restarted_with_doubling_pauses_up_to_the_cap():
    crashing = Child("crasher", _python("import sys; sys.exit(3)"))
    backoff = Backoff(first=0.1, factor=2, cap=0.4, stable_after=60)
    stop, notes, result, thread = _supervise_in_thread(
        [crashing], backoff=backoff, poll_seconds=0.02
    )
    _wait_for(lambda: sum("exited with status 3" in n for n in notes) >= 5)
    stop.set()
    thread.join(timeout=30)
    pauses = [float(m) for n in notes for m in re.findall(r"again in ([\d.]+) s", n)]
    assert pauses[:5] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert len(result["crasher"]) >= 5 and len(set(result["crasher"])) == len(result["crasher"])
    assert not any(_alive(pid) for pid in result["crasher"])


def test_a_child_that_ran_long_enough_starts_over_from_the_first_pause():
    steady = Child("steady", _python("import sys, time; time.sleep(0.3); sys.exit(1)"))
    backoff = Backoff(first=0.05, factor=10, cap=5, stable_after=0.2)
    stop, notes, _, thread = _supervise_in_thread([steady], backoff=backoff, poll_seconds=0.02)
    _wait_for(lambda: sum("exited" in n for n in notes) >= 3)
    stop.set()
    thread.join(timeout=30)
    exits = [n for n in notes if "exited" in n]
    assert all("again in 0.05 s (exit 1 in a row)" in n for n in exits), exits


def test_a_stop_ends_every_child_and_kills_one_that_ignores_sigterm(tmp_path: Path):
    ready = tmp_path / "ignoring"
    obedient = Child("obedient", _python("import time; time.sleep(120)"))
    stubborn = Child(
        "stubborn",
        _python(
            f"""
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            open({str(ready)!r}, "w").close()
            time.sleep(120)
            """
        ),
    )
    stop, notes, result, thread = _supervise_in_thread([obedient, stubborn], stop_timeout=1.0)
    _wait_for(ready.exists)
    pids = {n: _pid(n) for n in notes if "started" in n}
    assert len(pids) == 2
    for pid in pids.values():  # a session of its own: a terminal's Ctrl-C does not reach it
        assert os.getsid(pid) == pid != os.getsid(0)
    started = time.monotonic()
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert any("stubborn: still running after 1 s: killed" in n for n in notes)
    assert not any("obedient: still running" in n for n in notes)
    assert not any(_alive(pid) for pids_of in result.values() for pid in pids_of)


def test_run_to_end_returns_the_status_or_none_when_stopped():
    stop = threading.Event()
    assert run_to_end(Child("once", _python("import sys; sys.exit(7)")), stop) == 7
    notes: list[str] = []
    sleeper = Child("sleeper", _python("import time; time.sleep(120)"))
    threading.Timer(0.5, stop.set).start()
    assert run_to_end(sleeper, stop, notify=notes.append) is None
    pid = _pid(notes[0])
    assert not _alive(pid)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_children_die_with_a_killed_supervisor(tmp_path: Path):
    marker = tmp_path / "child.pid"
    child = _python(
        f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )
    supervisor = subprocess.Popen(
        _python(
            f"""
            import threading
            from okr_pipeline.jobs import Child, supervise
            supervise([Child("sleeper", {child!r})], threading.Event())
            """
        )
    )
    try:
        _wait_for(lambda: marker.exists() and marker.read_text())
        pid = int(marker.read_text())
        assert _alive(pid)
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=30)
        _wait_for(lambda: not _alive(pid), timeout=10)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
