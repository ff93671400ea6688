"""The pipelines as the API shows them: their definitions with schedules and retries, and their
recorded runs (with their task runs) newest first a page at a time, or one run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from croniter import croniter

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError, NotFoundError
from okr_pipeline.jobs.pages import Page, decode_cursor, encode_cursor
from okr_pipeline.jobs.pipelines import PIPELINES, pipeline
from okr_pipeline.jobs.runner import is_run_id, list_runs

__all__ = ["RUN_STATUSES", "pipeline_definitions", "pipeline_run", "pipeline_runs_page"]

RUN_STATUSES = ("running", "succeeded", "failed", "skipped", "stopped")
_SORT = "runs"  # the one order of the runs (newest first), named in their cursors


def pipeline_definitions(settings: Settings) -> list[dict[str, Any]]:
    """Each pipeline: its tasks in order with those they depend on, its schedule (cron, UTC),
    retries, retry delay, and when the schedule fires next."""
    now = now_utc()
    definitions = []
    for name in PIPELINES:
        definition = pipeline(settings, name)
        schedule = definition.schedule
        definitions.append(
            {
                "name": name,
                "tasks": [
                    {"name": task.name, "upstream": list(task.upstream)}
                    for task in definition.tasks
                ],
                "schedule": schedule.schedule,
                "retries": schedule.retries,
                "retry_delay_seconds": schedule.retry_delay_seconds,
                "next_scheduled_at": croniter(schedule.schedule, now).get_next(datetime),
            }
        )
    return definitions


def _after(cursor: str) -> tuple[datetime, str]:
    """The run (its start and id) a cursor names."""
    position = decode_cursor(cursor, _SORT)
    if (
        len(position) == 2
        and all(isinstance(value, str) for value in position)
        and is_run_id(position[1])  # a NUL in text is an error on PostgreSQL, not a miss
    ):
        try:
            started = datetime.fromisoformat(position[0])
        except ValueError:
            started = None
        if started is not None and started.tzinfo is None:
            return started, position[1]
    raise InputError(f"cursor {cursor!r} is not a cursor this API gave")


def pipeline_runs_page(
    settings: Settings,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int,
) -> Page[dict[str, Any]]:
    """A page of the recorded runs, newest first, each with its task runs, after `cursor`; only
    those of `pipeline` or with `status` if given."""
    if pipeline is not None and pipeline not in PIPELINES:
        raise InputError(f"no pipeline {pipeline!r}: choose one of {', '.join(PIPELINES)}")
    if status is not None and status not in RUN_STATUSES:
        raise InputError(f"no run status {status!r}: one of {', '.join(RUN_STATUSES)}")
    after = _after(cursor) if cursor is not None else None
    runs = list_runs(settings, pipeline=pipeline, status=status, limit=limit + 1, after=after)
    shown = runs[:limit]
    more = len(runs) > limit
    next_cursor = (
        encode_cursor(_SORT, [shown[-1].started_at.isoformat(), shown[-1].run_id]) if more else None
    )
    return Page([run.as_dict() for run in shown], next_cursor)


def pipeline_run(settings: Settings, run_id: str) -> dict[str, Any]:
    """The run `run_id` with its task runs; NotFoundError if none is recorded."""
    found = list_runs(settings, run_id=run_id, limit=1)
    if not found:
        raise NotFoundError(f"no pipeline run {run_id!r}")
    return found[0].as_dict()
