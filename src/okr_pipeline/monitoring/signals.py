"""Operational signals as alert problems: failed pipeline runs, the stream consumer's lag, and
spikes of quarantined rows or dead letters.

Each check returns its problems; the conditions it evaluated are in `CHECKED` (give them to
`alerts.clear_absent` with the problems). These read operational records written at the time
they happened, so `now` is the real clock (`core.now_utc()`), not a monitoring as-of date.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.functions import coalesce

from okr_pipeline.config import SPIKE_BASELINE_DAYS, Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.monitoring.problems import Problem, problem
from okr_pipeline.stream import warehouse_group_lag
from okr_pipeline.warehouse import (
    dead_letters,
    ingest_runs,
    pipeline_runs,
    processed_events,
    quarantine,
    task_runs,
)

__all__ = [
    "BASELINE_DAYS",
    "CHECKED",
    "consumer_lag_problems",
    "pipeline_problems",
    "spike_problems",
]

BASELINE_DAYS = SPIKE_BASELINE_DAYS  # the usual day: the median of these before the last 24 hours
DAY = timedelta(days=1)

# the conditions each check evaluates: its alerts absent from its problems are cleared
CHECKED: Mapping[str, tuple[str, ...]] = {
    "pipelines": ("pipeline.task_failed",),
    "consumer_lag": ("stream.consumer_lag", "stream.unavailable"),
    "spikes": ("ingest.quarantine_spike", "stream.dead_letter_spike"),
}


def pipeline_problems(settings: Settings, engine: Engine, since: datetime | None) -> list[Problem]:
    """One problem per pipeline and task that failed since `since` (None: ever), and for a
    pipeline whose latest finished run failed (still failing: critical, else a warning)."""
    ended = coalesce(pipeline_runs.c.finished_at, pipeline_runs.c.started_at)
    finished = pipeline_runs.c.status.in_(("succeeded", "failed"))
    with engine.connect() as conn:
        latest = {}
        for name in conn.scalars(select(pipeline_runs.c.pipeline).distinct()):
            row = conn.execute(
                select(pipeline_runs)
                .where(pipeline_runs.c.pipeline == name, finished)
                .order_by(pipeline_runs.c.started_at.desc())
                .limit(1)
            ).mappings()
            last = row.first()
            if last is not None:
                latest[name] = last
        query = select(pipeline_runs).where(pipeline_runs.c.status == "failed")
        if since is not None:
            query = query.where(ended > since)
        failed = list(conn.execute(query.order_by(pipeline_runs.c.started_at)).mappings())
        seen = {run["run_id"] for run in failed}
        still_failed = [run for run in latest.values() if run["status"] == "failed"]
        failed += [run for run in still_failed if run["run_id"] not in seen]
        by_task: dict[tuple[str, str], list[tuple[RowMapping, str | None]]] = {}
        for run in failed:
            task, error = _failed_task(conn, run["run_id"])
            by_task.setdefault((run["pipeline"], task), []).append((run, error or run["error"]))
    problems = []
    for (name, task), runs in by_task.items():
        last_run, last_error = runs[-1]
        still = latest.get(name) is not None and latest[name]["status"] == "failed"
        many = f"{len(runs)} runs of {name} failed" if len(runs) > 1 else f"{name} failed"
        problems.append(
            problem(
                "pipeline.task_failed",
                f"{name}.{task}",
                "critical" if still else "warning",
                f"{many} at {task} (run {last_run['run_id']}): {last_error}",
                len(runs),
                None,
                run_ids=[run["run_id"] for run, _ in runs],
                still_failing=still,
            )
        )
    return problems


def _failed_task(conn: Any, run_id: str) -> tuple[str, str | None]:
    """The task a failed run stopped at, and its error: its last failed task run, else its last
    task run (a run abandoned mid-task), else `run` (it failed before any task)."""
    rows = conn.execute(
        select(task_runs.c.task, task_runs.c.status, task_runs.c.error)
        .where(task_runs.c.run_id == run_id)
        .order_by(task_runs.c.id.desc())
    ).all()
    failed = [row for row in rows if row.status == "failed"]
    if failed:
        return failed[0].task, failed[0].error
    return (rows[0].task, None) if rows else ("run", None)


def consumer_lag_problems(settings: Settings) -> list[Problem]:
    """The warehouse consumer group's lag on the events topic above `max_consumer_lag`, read
    without joining the group; an event log that cannot be read is a problem of its own."""
    group, topic = settings.stream.group, settings.stream.topics.events
    limit = settings.monitoring.alerts.max_consumer_lag
    try:
        lag = warehouse_group_lag(settings)
    except OkrError as exc:
        message = f"cannot read the lag of consumer group {group}: {exc}"
        return [
            problem("stream.unavailable", settings.stream.backend, "critical", message, None, None)
        ]
    total = sum(lag.values())
    if total <= limit:
        return []
    return [
        problem(
            "stream.consumer_lag",
            group,
            "warning",
            f"consumer group {group} is {total} events behind on {topic} (more than {limit})",
            total,
            limit,
            partitions={f"{t}[{p}]": n for (t, p), n in sorted(lag.items())},
        )
    ]


def spike_problems(settings: Settings, engine: Engine, now: datetime) -> list[Problem]:
    """Quarantined rows (first seen) and dead letters of the last 24 hours: a spike above
    `spike_factor` times the median of the 14 days before, and at least `spike_min_count`.
    Only once there was a day before: files ingested (for the quarantine) or events consumed
    (for the dead letters) before the last 24 hours; the first load is no spike (its rates are
    the quality check's)."""
    sources = (
        (
            "ingest.quarantine_spike",
            "quarantine",
            "rows quarantined",
            quarantine.c.first_seen_at,
            ingest_runs.c.started_at,
        ),
        (
            "stream.dead_letter_spike",
            "dead_letters",
            "dead letters",
            dead_letters.c.created_at,
            processed_events.c.processed_at,
        ),
    )
    problems = []
    for condition, subject, noun, column, activity in sources:
        with engine.connect() as conn:
            first = conn.scalar(select(func.min(activity)))
        if first is None or first > now - DAY:
            continue  # no usual day to compare with
        counts = _daily_counts(engine, column.table, column, now)
        last, usual = counts[-1], statistics.median(counts[:-1])
        problem = _spike(settings, condition, subject, noun, last, usual)
        if problem is not None:
            problems.append(problem)
    return problems


def _daily_counts(engine: Engine, table: Any, column: Column[Any], now: datetime) -> list[int]:
    """Rows per 24 hours ending at `now`, the oldest of BASELINE_DAYS + 1 first."""
    counts = []
    with engine.connect() as conn:
        for back in range(BASELINE_DAYS, -1, -1):
            end = now - back * DAY
            query = select(func.count()).select_from(table)
            counts.append(conn.scalar(query.where(column > end - DAY, column <= end)) or 0)
    return counts


def _spike(
    settings: Settings, condition: str, subject: str, noun: str, last: int, usual: float
) -> Problem | None:
    config = settings.monitoring.alerts
    if last <= config.spike_factor * usual or last < config.spike_min_count:
        return None
    return problem(
        condition,
        subject,
        "warning",
        f"{last} {noun} in the last 24 hours, against a median of {usual:g} a day over the "
        f"{BASELINE_DAYS} days before",
        last,
        max(config.spike_factor * usual, config.spike_min_count),
        usual=usual,
    )
