"""Starting a pipeline run without running it here: `okr run NAME` in a process of its own.

The API must not hold a request for a run that takes minutes, and a thread in the API's process
would go with that process (gunicorn recycles and stops its workers): so the run is a detached
process (a session of its own, so no signal meant for the server reaches it), doing exactly what
`okr run` does, recorded and locked as every run is. The caller waits only until the run is
recorded: the runner alone decides whether it may run (its pipeline lock, on every dialect and
whoever started the other run), and records a run that finds another in progress as skipped,
which is the answer's 409. The run's id is made here, so that the answer says where to watch it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import ConflictError, OkrError
from okr_pipeline.jobs.pipelines import pipeline
from okr_pipeline.jobs.runner import list_runs, new_run_id

__all__ = ["StartedRun", "start_pipeline_run"]

# how long a start waits for its run to be recorded (the process imports and opens the
# warehouse first); past it the answer says "starting"
RECORDED_WITHIN_SECONDS = 20.0
_POLL_SECONDS = 0.1
_started: list[subprocess.Popen[bytes]] = []  # this process's runs, until they are reaped


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    pipeline: str
    status: str  # as recorded (running, or already ended), or "starting": not recorded yet
    log: Path  # the process's output

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "status": self.status,
            "log": str(self.log),
        }


def run_log(settings: Settings, run_id: str) -> Path:
    return settings.data_dir.resolve() / "logs" / "runs" / f"{run_id}.log"


def _environment(settings: Settings) -> dict[str, str]:
    """This process's environment, with the data directory, warehouse and model store of
    `settings` (the API's may have been given to it, not read from the environment)."""
    env = {**os.environ, "OKR_DATA_DIR": str(settings.data_dir.resolve())}
    if settings.warehouse.url:
        env["OKR_WAREHOUSE__URL"] = settings.warehouse.url
    if settings.model.tracking_uri:
        env["OKR_MODEL__TRACKING_URI"] = settings.model.tracking_uri
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server's metrics are not the run's
    return env


def _reap() -> None:
    """Forget the runs that ended (polling one that ended collects its exit status)."""
    _started[:] = [process for process in _started if process.poll() is None]


def start_pipeline_run(
    settings: Settings,
    name: str,
    as_of: datetime | None = None,
    *,
    wait_seconds: float = RECORDED_WITHIN_SECONDS,
) -> StartedRun:
    """Start a run of the pipeline `name` (as of `as_of`, default: when it starts) in a
    detached process and return it once recorded. ConflictError if the runner found a run of
    the pipeline in progress (this one is then recorded as skipped); OkrError if the process
    ended without recording its run (its log says why)."""
    pipeline(settings, name)  # an unknown pipeline is refused here, not in the process
    run_id = new_run_id(name, as_of or now_utc())
    command = [sys.executable, "-m", "okr_pipeline", "run", name, "--run-id", run_id, "--json"]
    if as_of is not None:
        command += ["--as-of", as_of.isoformat()]
    log = run_log(settings, run_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    _reap()
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=_environment(settings),
            start_new_session=True,
        )
    _started.append(process)
    deadline = time.monotonic() + wait_seconds
    while True:
        ended = process.poll() is not None  # before looking: a run recorded, then ended
        recorded = list_runs(settings, run_id=run_id, limit=1)
        if recorded:
            run = recorded[0]
            if run.status == "skipped":
                raise ConflictError(f"{run.error}: this run ({run_id}) was recorded as skipped")
            return StartedRun(run_id, name, run.status, log)
        if ended:
            raise OkrError(
                f"okr run {name} ended before it recorded its run (exit status "
                f"{process.returncode}): {_last_line(log)}"
            )
        if time.monotonic() >= deadline:
            return StartedRun(run_id, name, "starting", log)
        time.sleep(_POLL_SECONDS)


def _last_line(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "it wrote nothing"
