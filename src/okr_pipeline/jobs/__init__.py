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
    from okr_pipeline.jobs.audit import (
        OUTCOMES,
        AuditEntry,
        audit_entries,
        outcome_of,
        record_audit,
    )
    from okr_pipeline.jobs.data import (
        generate_demo,
        ingest_path,
        key_results,
        quarantined_rows,
        retry_quarantined,
        status,
    )
    from okr_pipeline.jobs.first_start import (
        FIRST_ADMIN,
        first_admin_token,
        main_job_needed,
    )
    from okr_pipeline.jobs.health import (
        readiness,
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
    from okr_pipeline.jobs.okrs import (
        KEY_RESULT_SORTS,
        OBJECTIVE_SORTS,
        KeyResultFilters,
        ObjectiveFilters,
        key_result_record,
        key_results_page,
        objectives_page,
    )
    from okr_pipeline.jobs.pages import (
        Page,
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
    from okr_pipeline.jobs.supervisor import (
        Backoff,
        Child,
        run_to_end,
        supervise,
    )
    from okr_pipeline.jobs.tokens import (
        ROLES,
        TOKEN_NAME,
        NewToken,
        TokenInfo,
        authenticate,
        create_token,
        list_tokens,
        revoke_token,
        role_allows,
    )

_MODULE_OF = {
    "OUTCOMES": "audit",
    "AuditEntry": "audit",
    "audit_entries": "audit",
    "outcome_of": "audit",
    "record_audit": "audit",
    "readiness": "health",
    "FIRST_ADMIN": "first_start",
    "first_admin_token": "first_start",
    "main_job_needed": "first_start",
    "Backoff": "supervisor",
    "Child": "supervisor",
    "run_to_end": "supervisor",
    "supervise": "supervisor",
    "KEY_RESULT_SORTS": "okrs",
    "OBJECTIVE_SORTS": "okrs",
    "KeyResultFilters": "okrs",
    "ObjectiveFilters": "okrs",
    "key_result_record": "okrs",
    "key_results_page": "okrs",
    "objectives_page": "okrs",
    "Page": "pages",
    "ROLES": "tokens",
    "TOKEN_NAME": "tokens",
    "NewToken": "tokens",
    "TokenInfo": "tokens",
    "authenticate": "tokens",
    "create_token": "tokens",
    "list_tokens": "tokens",
    "revoke_token": "tokens",
    "role_allows": "tokens",
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
    "FIRST_ADMIN",
    "KEY_RESULT_SORTS",
    "OBJECTIVE_SORTS",
    "OUTCOMES",
    "PIPELINES",
    "ROLES",
    "TOKEN_NAME",
    "Advance",
    "AuditEntry",
    "Backoff",
    "Child",
    "Consumed",
    "KeyResultFilters",
    "ModelUpdate",
    "NewToken",
    "Notify",
    "ObjectiveFilters",
    "Output",
    "Page",
    "Pipeline",
    "PipelineRun",
    "ProgressBar",
    "RunContext",
    "Task",
    "TaskFailedError",
    "TaskRun",
    "TokenInfo",
    "acknowledge_alert",
    "alerts",
    "audit_entries",
    "authenticate",
    "consume_events",
    "create_token",
    "drain_events",
    "evaluate_model",
    "first_admin_token",
    "generate_demo",
    "ingest_path",
    "key_result_record",
    "key_results",
    "key_results_page",
    "list_runs",
    "list_tokens",
    "main_job_needed",
    "model_versions",
    "monitor",
    "no_progress",
    "objectives_page",
    "outcome_of",
    "pipeline",
    "predict_risks",
    "produce_events",
    "promote_model",
    "quarantined_rows",
    "quiet",
    "readiness",
    "record_audit",
    "retry_quarantined",
    "revoke_token",
    "role_allows",
    "rollback_model",
    "run_main_job",
    "run_pipeline",
    "run_scheduler",
    "run_task",
    "run_to_end",
    "simulate_activity",
    "status",
    "supervise",
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
