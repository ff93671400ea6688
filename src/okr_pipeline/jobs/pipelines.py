"""Pipelines as data: each is a list of tasks (plain functions of the use cases, with explicit
inputs and outputs), their dependencies, and a schedule with retries from the configuration
(`pipelines.etl`, `pipelines.training`, `pipelines.monitoring`). The embedded runner
(`runner.py`, `okr run`, `okr scheduler`) and Airflow's DAGs (`dags/`) run the same ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
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


def _deferred(module: str, name: str, *upstream: str) -> Task:
    """The task `name`, the function of that name in `okr_pipeline.jobs.<module>`, imported when
    the task first runs: reading the definitions costs no import of the model stack (Airflow
    parses its DAG files over and over, and the ETL never needs it)."""

    def run(settings: Settings, context: RunContext, inputs: Mapping[str, Output]) -> Output:
        function: TaskFunction = getattr(import_module(f"okr_pipeline.jobs.{module}"), name)
        return function(settings, context, inputs)

    run.__qualname__ = run.__name__ = f"{module}.{name}"
    return Task(name, run, upstream)


def _definitions() -> dict[str, tuple[Task, ...]]:
    return {
        "etl": (
            _deferred("etl", "extract"),
            _deferred("etl", "validate", "extract"),
            _deferred("etl", "load", "extract", "validate"),
            _deferred("etl", "check", "load"),
        ),
        "training": (
            _deferred("training", "ensure_champion"),
            _deferred("training", "collect_closed", "ensure_champion"),
            _deferred("training", "update_champion", "collect_closed"),
            _deferred("training", "score_open", "update_champion"),
        ),
        "monitoring": (_deferred("monitoring", "monitor"),),
    }


PIPELINES = ("etl", "training", "monitoring")


def pipeline(settings: Settings, name: str) -> Pipeline:
    """The pipeline `name` with its schedule and retries from the settings."""
    if name not in PIPELINES:
        raise InputError(f"no pipeline {name!r}: choose one of {', '.join(PIPELINES)}")
    return Pipeline(name, _definitions()[name], getattr(settings.pipelines, name))
