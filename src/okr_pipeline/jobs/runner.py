"""Running a pipeline in this process (`okr run`, `okr scheduler`): its tasks in order, each
retried as configured, every pipeline run and task run recorded in the warehouse (start, end,
status, attempt, duration, error, output). Two runs of one pipeline never overlap: a run that
finds another in progress is recorded as skipped. A task that still fails after its retries
fails its run, and its error is kept."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError, OkrError
from okr_pipeline.jobs.pipelines import Output, Pipeline, RunContext, Task, pipeline
from okr_pipeline.jobs.progress import Notify, quiet
from okr_pipeline.warehouse import open_warehouse, pipeline_lock, pipeline_runs, task_runs

__all__ = [
    "PipelineRun",
    "TaskFailedError",
    "TaskRun",
    "list_runs",
    "new_run_id",
    "run_pipeline",
    "run_task",
]

log = logging.getLogger(__name__)


@dataclass
class TaskRun:
    task: str
    attempt: int
    status: str  # running | succeeded | failed
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    error: str | None = None
    output: Output | None = None

    def as_dict(self) -> dict[str, Any]:
        return _iso(asdict(self))


@dataclass
class PipelineRun:
    run_id: str
    pipeline: str
    trigger: str  # manual | schedule | airflow
    as_of: datetime
    status: str  # running | succeeded | failed | skipped | stopped
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    tasks: list[TaskRun] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return _iso(asdict(self))


def _iso(data: dict[str, Any]) -> dict[str, Any]:
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
        elif isinstance(value, list):
            data[key] = [_iso(item) if isinstance(item, dict) else item for item in value]
    return data


class TaskFailedError(OkrError):
    """A task failed after its retries (its error is in the message and in its task run)."""


class TaskStoppedError(OkrError):
    """A stop request came while a failed task waited to be tried again."""


def new_run_id(name: str, as_of: datetime) -> str:
    """A new run id for a run of the pipeline `name` as of `as_of`."""
    # ISO 8601's basic form: its year has four digits (strftime's %Y may have fewer)
    moment = as_of.replace(microsecond=0, tzinfo=None).isoformat().replace("-", "").replace(":", "")
    return f"{name}-{moment}-{uuid.uuid4().hex[:8]}"


_RUN_ID = re.compile(r"[a-z]+-[0-9]{8}T[0-9]{6}-[0-9a-f]{8}")


def is_run_id(text: str) -> bool:
    """Whether `text` has the form of the ids `new_run_id` makes."""
    return _RUN_ID.fullmatch(text) is not None


def run_pipeline(
    settings: Settings,
    name: str,
    *,
    as_of: datetime | None = None,
    trigger: str = "manual",
    stop: threading.Event | None = None,
    notify: Notify = quiet,
    run_id: str | None = None,
) -> PipelineRun:
    """Run the pipeline `name` as of `as_of` (now by default) and return its record. A stop
    request lets the task in hand finish, then ends the run as stopped. `run_id` is the id the
    run is recorded under (one of `new_run_id`'s, made ahead by whoever started the process and
    told where to find the run); a new one by default."""
    definition = pipeline(settings, name)
    moment = as_of or now_utc()
    if run_id is not None and not (is_run_id(run_id) and run_id.startswith(f"{name}-")):
        raise InputError(f"run id {run_id!r} is not one of a run of {name}")
    context = RunContext(run_id or new_run_id(name, moment), name, moment)
    engine = open_warehouse(settings)
    stop = stop or threading.Event()
    with pipeline_lock(engine, name, settings.data_dir / "locks") as turn:
        run = PipelineRun(context.run_id, name, trigger, moment, "running", now_utc())
        if not turn:
            run.status, run.error = "skipped", f"a run of {name} is in progress"
            run.finished_at = run.started_at
            _record_run(engine, run, new=True)
            return run
        _abandon_unfinished(engine, name)
        _record_run(engine, run, new=True)
        notify(f"{name}: run {run.run_id}")
        try:
            _run_tasks(settings, engine, definition, context, run, stop, notify)
        except BaseException as exc:  # the run's record must not stay "running"
            run.status, run.error = "failed", f"the run broke off: {_describe(exc)}"
            raise
        finally:
            run.finished_at = now_utc()
            _record_run(engine, run)
    return run


def _abandon_unfinished(engine: Engine, name: str) -> None:
    """Runs of the pipeline still marked running, though none runs here (this one holds its
    turn): their process ended without finishing them. Airflow's runs are Airflow's to end."""
    with engine.begin() as conn:
        conn.execute(
            update(pipeline_runs)
            .where(
                pipeline_runs.c.pipeline == name,
                pipeline_runs.c.status == "running",
                pipeline_runs.c.trigger != "airflow",
            )
            .values(status="failed", error="abandoned: its process ended before it finished")
        )


def _run_tasks(
    settings: Settings,
    engine: Engine,
    definition: Pipeline,
    context: RunContext,
    run: PipelineRun,
    stop: threading.Event,
    notify: Notify,
) -> None:
    outputs: dict[str, Output] = {}
    for task in definition.tasks:
        if stop.is_set():
            run.status, run.error = "stopped", f"stopped before {task.name}"
            return
        inputs = {upstream: outputs[upstream] for upstream in task.upstream}
        try:
            outputs[task.name] = _attempts(
                settings, engine, definition, context, task, inputs, run, stop, notify
            )
        except TaskFailedError as exc:
            run.status, run.error = "failed", str(exc)
            return
        except TaskStoppedError as exc:
            run.status, run.error = "stopped", str(exc)
            return
    run.status = "succeeded"


def _attempts(
    settings: Settings,
    engine: Engine,
    definition: Pipeline,
    context: RunContext,
    task: Task,
    inputs: dict[str, Output],
    run: PipelineRun,
    stop: threading.Event,
    notify: Notify,
) -> Output:
    """The task's output, after as many attempts as its retries allow."""
    retries, delay = definition.schedule.retries, definition.schedule.retry_delay_seconds
    for attempt in range(1, retries + 2):
        record, final = _attempt(settings, engine, context, task, inputs, attempt)
        run.tasks.append(record)
        notify(f"{definition.name}.{task.name} (attempt {attempt}): {record.status}")
        if record.status == "succeeded":
            return record.output or {}
        if final or attempt > retries:
            break
        notify(f"{definition.name}.{task.name}: {record.error}; retrying in {delay:g} s")
        if stop.wait(delay):
            raise TaskStoppedError(f"stopped while {task.name} waited to be tried again")
    raise TaskFailedError(f"{task.name} failed (attempt {record.attempt}): {record.error}")


def _attempt(
    settings: Settings,
    engine: Engine,
    context: RunContext,
    task: Task,
    inputs: Mapping[str, Output],
    attempt: int,
) -> tuple[TaskRun, bool]:
    """One attempt at a task, recorded as it starts and as it ends, and whether its failure
    is final (trying again cannot help)."""
    record = TaskRun(task.name, attempt, "running", now_utc())
    row_id = _record_task(engine, context.run_id, record)
    started = time.perf_counter()
    final = False
    try:
        output = task.run(settings, context, inputs)
    except Exception as exc:  # any failure of a task is its run's to record and retry
        record.status, record.error = "failed", _describe(exc)
        final = isinstance(exc, OkrError) and not exc.retry
    else:
        try:
            json.dumps(output)  # JSON-ready, as Airflow's hand-over between tasks wants it
        except (TypeError, ValueError) as exc:  # a bug: its side effects must not repeat
            record.status, record.error, final = "failed", f"output is not JSON: {exc}", True
        else:
            record.status, record.output = "succeeded", output
    record.finished_at = now_utc()
    record.duration_seconds = round(time.perf_counter() - started, 3)
    _record_task(engine, context.run_id, record, row_id)
    return record, final


def run_task(
    settings: Settings,
    context: RunContext,
    task_name: str,
    inputs: Mapping[str, Output],
    *,
    attempt: int,
    trigger: str,
    last: bool,
) -> Output:
    """One attempt at one task of a run that another orchestrator drives (Airflow: it orders
    the tasks, hands outputs over and retries). The run and the attempt are recorded as here;
    the run succeeds with its `last` task and fails with any failed attempt (a retry that
    succeeds sets it running again). A failed attempt raises TaskFailedError."""
    definition = pipeline(settings, context.pipeline)
    task = next((t for t in definition.tasks if t.name == task_name), None)
    if task is None:
        raise InputError(f"pipeline {context.pipeline} has no task {task_name!r}")
    engine = open_warehouse(settings)
    run = PipelineRun(
        context.run_id, context.pipeline, trigger, context.as_of, "running", now_utc()
    )
    new = not _recorded(engine, run.run_id)
    _record_run(engine, run, new=new, started=new)
    record, _ = _attempt(settings, engine, context, task, inputs, attempt)
    if record.status != "succeeded":
        run.status, run.error = "failed", f"{task.name} failed (attempt {attempt}): {record.error}"
    elif last:
        run.status = "succeeded"
    if run.status != "running":
        run.finished_at = now_utc()
    _record_run(engine, run, started=False)
    if record.status != "succeeded":
        raise TaskFailedError(run.error or "")
    return record.output or {}


def _recorded(engine: Engine, run_id: str) -> bool:
    with engine.connect() as conn:
        query = select(pipeline_runs.c.run_id).where(pipeline_runs.c.run_id == run_id)
        return conn.execute(query).first() is not None


def _describe(exc: BaseException) -> str:
    """The error as the run keeps it: a project error's message is meant for users; anything
    else is a bug or an outage, logged with its traceback and kept with its type."""
    if isinstance(exc, OkrError):
        return str(exc)
    log.error("task failed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def _record_run(engine: Engine, run: PipelineRun, new: bool = False, started: bool = True) -> None:
    """Insert (`new`) or update the run's row; `started=False` keeps its recorded start."""
    values = {
        "pipeline": run.pipeline,
        "trigger": run.trigger,
        "as_of": run.as_of,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
    }
    if not (new or started):
        del values["started_at"]
    with engine.begin() as conn:
        if new:
            conn.execute(insert(pipeline_runs).values(run_id=run.run_id, **values))
        else:
            conn.execute(
                update(pipeline_runs).where(pipeline_runs.c.run_id == run.run_id).values(**values)
            )


def _record_task(engine: Engine, run_id: str, task: TaskRun, row_id: int | None = None) -> int:
    values = {
        "task": task.task,
        "attempt": task.attempt,
        "status": task.status,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "duration_seconds": task.duration_seconds,
        "error": task.error,
        "output": None if task.output is None else json.dumps(task.output, default=str),
    }
    with engine.begin() as conn:
        if row_id is None:
            query = insert(task_runs).values(run_id=run_id, **values).returning(task_runs.c.id)
            return int(conn.execute(query).scalar_one())
        conn.execute(update(task_runs).where(task_runs.c.id == row_id).values(**values))
        return row_id


def list_runs(
    settings: Settings,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    limit: int = 20,
    after: tuple[datetime, str] | None = None,
    run_id: str | None = None,
) -> list[PipelineRun]:
    """The latest pipeline runs, newest first (by start, then id), each with its task runs;
    only those after `after` (a run's start and id) in that order, or the run `run_id`, if
    given."""
    started = pipeline_runs.c.started_at
    query = (
        select(pipeline_runs).order_by(started.desc(), pipeline_runs.c.run_id.desc()).limit(limit)
    )
    if pipeline is not None:
        query = query.where(pipeline_runs.c.pipeline == pipeline)
    if status is not None:
        query = query.where(pipeline_runs.c.status == status)
    if after is not None:
        moment, last = after
        query = query.where(
            or_(started < moment, and_(started == moment, pipeline_runs.c.run_id < last))
        )
    if run_id is not None:
        query = query.where(pipeline_runs.c.run_id == run_id)
    with open_warehouse(settings).connect() as conn:
        runs = [PipelineRun(**row._asdict()) for row in conn.execute(query)]
        ids = [run.run_id for run in runs]
        tasks = conn.execute(
            select(task_runs).where(task_runs.c.run_id.in_(ids)).order_by(task_runs.c.id)
        ).all()
    by_id = {run.run_id: run for run in runs}
    for row in tasks:
        values = row._asdict()
        values.pop("id")
        run_id = values.pop("run_id")
        values["output"] = json.loads(values["output"]) if values["output"] else None
        by_id[run_id].tasks.append(TaskRun(**values))
    return runs
