"""Pipelines as data: each is a list of tasks (plain functions of the use cases, with explicit
inputs and outputs), their dependencies, and a schedule with retries from the configuration
(`pipelines.etl`, `pipelines.training`, `pipelines.monitoring`). The embedded runner
(`runner.py`, `okr run`, `okr scheduler`) and Airflow's DAGs (`dags/`) run the same ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okr_pipeline.config import Schedule, Settings
from okr_pipeline.errors import InputError

__all__ = ["PIPELINES", "Output", "Pipeline", "RunContext", "Task", "pipeline"]

# What a task produced (counts, paths, versions): JSON-ready, handed to the tasks after it and
# kept with its task run.
Output = dict[str, Any]


@dataclass(frozen=True)
class RunContext:
    """The run a task belongs to: its id (names the archive folder of ETL) and its as-of."""

    run_id: str
    pipeline: str
    as_of: datetime


# A task: the settings, its run, and the outputs of the tasks it depends on, by task name.
TaskFunction = Callable[[Settings, RunContext, Mapping[str, Output]], Output]


@dataclass(frozen=True)
class Task:
    name: str
    run: TaskFunction
    upstream: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pipeline:
    name: str
    tasks: tuple[Task, ...]  # in an order that runs every task after its upstream ones
    schedule: Schedule


def _tasks(name: str) -> tuple[Task, ...]:
    """The tasks of a pipeline; only its own modules load (training's load the model stack)."""
    if name == "etl":
        from okr_pipeline.jobs import etl

        return (
            Task("extract", etl.extract),
            Task("validate", etl.validate, ("extract",)),
            Task("load", etl.load, ("extract", "validate")),
            Task("check", etl.check, ("load",)),
        )
    if name == "training":
        from okr_pipeline.jobs import training

        return (
            Task("ensure_champion", training.ensure_champion),
            Task("collect_closed", training.collect_closed, ("ensure_champion",)),
            Task("update_or_retrain", training.update_or_retrain, ("collect_closed",)),
            Task("score_open", training.score_open, ("update_or_retrain",)),
        )
    from okr_pipeline.jobs import monitoring

    return (Task("snapshot", monitoring.snapshot),)


PIPELINES = ("etl", "training", "monitoring")


def pipeline(settings: Settings, name: str) -> Pipeline:
    """The pipeline `name` with its schedule and retries from the settings."""
    if name not in PIPELINES:
        raise InputError(f"no pipeline {name!r}: choose one of {', '.join(PIPELINES)}")
    return Pipeline(name, _tasks(name), getattr(settings.pipelines, name))
