"""The application layer: the use cases as plain functions with typed inputs and results. The
CLI parses arguments, calls one of them and prints its result; the scheduler, Airflow and the API
call the same functions.

A use case's module loads when the use case is first asked for, so that a command pays only for
what it uses (the model stack alone takes seconds to import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okr_pipeline.jobs.data import (
        generate_demo,
        ingest_path,
        key_results,
        quarantined_rows,
        retry_quarantined,
        status,
    )
    from okr_pipeline.jobs.main_job import (
        run_main_job,
    )
    from okr_pipeline.jobs.model import (
        ModelUpdate,
        evaluate_model,
        model_versions,
        predict_risks,
        promote_model,
        rollback_model,
        train_model,
        update_model,
    )
    from okr_pipeline.jobs.monitor_alerts import (
        acknowledge_alert,
        alerts,
        monitor,
    )
    from okr_pipeline.jobs.pipelines import (
        PIPELINES,
        Output,
        Pipeline,
        RunContext,
        Task,
        pipeline,
    )
    from okr_pipeline.jobs.progress import (
        Advance,
        Notify,
        ProgressBar,
        no_progress,
        quiet,
    )
    from okr_pipeline.jobs.runner import (
        PipelineRun,
        TaskFailedError,
        TaskRun,
        list_runs,
        run_pipeline,
        run_task,
    )
    from okr_pipeline.jobs.scheduler import (
        run_scheduler,
    )
    from okr_pipeline.jobs.stream import (
        Consumed,
        consume_events,
        drain_events,
        produce_events,
        simulate_activity,
    )

_MODULE_OF = {
    "acknowledge_alert": "monitor_alerts",
    "alerts": "monitor_alerts",
    "monitor": "monitor_alerts",
    "PIPELINES": "pipelines",
    "Output": "pipelines",
    "Pipeline": "pipelines",
    "RunContext": "pipelines",
    "Task": "pipelines",
    "pipeline": "pipelines",
    "PipelineRun": "runner",
    "TaskRun": "runner",
    "list_runs": "runner",
    "run_task": "runner",
    "TaskFailedError": "runner",
    "run_pipeline": "runner",
    "run_scheduler": "scheduler",
    "drain_events": "stream",
    "generate_demo": "data",
    "ingest_path": "data",
    "key_results": "data",
    "quarantined_rows": "data",
    "retry_quarantined": "data",
    "status": "data",
    "run_main_job": "main_job",
    "ModelUpdate": "model",
    "evaluate_model": "model",
    "model_versions": "model",
    "predict_risks": "model",
    "promote_model": "model",
    "rollback_model": "model",
    "train_model": "model",
    "update_model": "model",
    "Advance": "progress",
    "Notify": "progress",
    "ProgressBar": "progress",
    "no_progress": "progress",
    "quiet": "progress",
    "Consumed": "stream",
    "consume_events": "stream",
    "produce_events": "stream",
    "simulate_activity": "stream",
}
__all__ = [
    "PIPELINES",
    "Advance",
    "Consumed",
    "ModelUpdate",
    "Notify",
    "Output",
    "Pipeline",
    "PipelineRun",
    "ProgressBar",
    "RunContext",
    "Task",
    "TaskFailedError",
    "TaskRun",
    "acknowledge_alert",
    "alerts",
    "consume_events",
    "drain_events",
    "evaluate_model",
    "generate_demo",
    "ingest_path",
    "key_results",
    "list_runs",
    "model_versions",
    "monitor",
    "no_progress",
    "pipeline",
    "predict_risks",
    "produce_events",
    "promote_model",
    "quarantined_rows",
    "quiet",
    "retry_quarantined",
    "rollback_model",
    "run_main_job",
    "run_pipeline",
    "run_scheduler",
    "run_task",
    "simulate_activity",
    "status",
    "train_model",
    "update_model",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked for once
    return value
