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
    from okr_pipeline.jobs.alert_pages import (
        acknowledge_alert_by_id,
        alerts_page,
    )
    from okr_pipeline.jobs.at_risk import (
        filter_choices,
        risk_reasons,
    )
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
    from okr_pipeline.jobs.dead_letters import (
        DEAD_LETTER_REASONS,
        dead_letters_page,
        retry_dead_lettered,
    )
    from okr_pipeline.jobs.events import (
        PostedEvents,
        Rejection,
        post_events,
    )
    from okr_pipeline.jobs.first_start import (
        FIRST_ADMIN,
        first_admin_token,
        main_job_needed,
    )
    from okr_pipeline.jobs.health import (
        readiness,
    )
    from okr_pipeline.jobs.key_result_history import (
        key_result_timeline,
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
    from okr_pipeline.jobs.model_registry import (
        model_version,
        registered_versions,
    )
    from okr_pipeline.jobs.model_scores import (
        COMPARED_METRICS,
        model_calibration,
        model_comparison,
    )
    from okr_pipeline.jobs.monitor_alerts import (
        acknowledge_alert,
        alerts,
        monitor,
    )
    from okr_pipeline.jobs.monitoring_runs import (
        latest_monitoring,
        monitoring_run,
        monitoring_runs_page,
    )
    from okr_pipeline.jobs.okrs import (
        KEY_RESULT_SORTS,
        OBJECTIVE_SORTS,
        KeyResultFilters,
        ObjectiveFilters,
        key_result_record,
        key_results_as_of,
        key_results_page,
        objectives_page,
    )
    from okr_pipeline.jobs.overview import (
        NO_DEPARTMENT,
        Quarter,
        department_overview,
        quarter_of,
        risk_trend,
    )
    from okr_pipeline.jobs.pages import (
        Page,
    )
    from okr_pipeline.jobs.pipeline_runs import (
        RUN_STATUSES,
        pipeline_definitions,
        pipeline_run,
        pipeline_runs_page,
    )
    from okr_pipeline.jobs.pipeline_start import (
        StartedRun,
        start_pipeline_run,
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
    from okr_pipeline.jobs.quarantine_pages import (
        QUARANTINE_ENTITIES,
        QUARANTINE_REASONS,
        quarantine_page,
    )
    from okr_pipeline.jobs.risk import (
        key_result_risk,
    )
    from okr_pipeline.jobs.runner import (
        PipelineRun,
        TaskFailedError,
        TaskRun,
        list_runs,
        new_run_id,
        run_pipeline,
        run_task,
    )
    from okr_pipeline.jobs.scheduler import (
        run_scheduler,
    )
    from okr_pipeline.jobs.scoring import (
        RowsRejected,
        Scored,
        score_rows,
    )
    from okr_pipeline.jobs.stream import (
        Consumed,
        consume_events,
        drain_events,
        produce_events,
        prune_stream,
        simulate_activity,
    )
    from okr_pipeline.jobs.stream_state import (
        stream_lag,
        stream_status,
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
        authenticate_digest,
        create_token,
        list_tokens,
        revoke_token,
        role_allows,
        token_digest,
    )
    from okr_pipeline.jobs.uploads import (
        IngestedUpload,
        ingest_upload,
        upload_folder,
    )

_MODULE_OF = {
    "filter_choices": "at_risk",
    "risk_reasons": "at_risk",
    "key_result_timeline": "key_result_history",
    "COMPARED_METRICS": "model_scores",
    "model_calibration": "model_scores",
    "model_comparison": "model_scores",
    "NO_DEPARTMENT": "overview",
    "Quarter": "overview",
    "department_overview": "overview",
    "quarter_of": "overview",
    "risk_trend": "overview",
    "stream_lag": "stream_state",
    "stream_status": "stream_state",
    "key_results_as_of": "okrs",
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
    "authenticate_digest": "tokens",
    "token_digest": "tokens",
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
    "prune_stream": "stream",
    "simulate_activity": "stream",
    "acknowledge_alert_by_id": "alert_pages",
    "alerts_page": "alert_pages",
    "DEAD_LETTER_REASONS": "dead_letters",
    "dead_letters_page": "dead_letters",
    "retry_dead_lettered": "dead_letters",
    "model_version": "model_registry",
    "registered_versions": "model_registry",
    "latest_monitoring": "monitoring_runs",
    "monitoring_run": "monitoring_runs",
    "monitoring_runs_page": "monitoring_runs",
    "RUN_STATUSES": "pipeline_runs",
    "pipeline_definitions": "pipeline_runs",
    "pipeline_run": "pipeline_runs",
    "pipeline_runs_page": "pipeline_runs",
    "StartedRun": "pipeline_start",
    "start_pipeline_run": "pipeline_start",
    "QUARANTINE_ENTITIES": "quarantine_pages",
    "QUARANTINE_REASONS": "quarantine_pages",
    "quarantine_page": "quarantine_pages",
    "new_run_id": "runner",
    "key_result_risk": "risk",
    "RowsRejected": "scoring",
    "Scored": "scoring",
    "score_rows": "scoring",
    "PostedEvents": "events",
    "Rejection": "events",
    "post_events": "events",
    "IngestedUpload": "uploads",
    "ingest_upload": "uploads",
    "upload_folder": "uploads",
}
__all__ = [
    "COMPARED_METRICS",
    "DEAD_LETTER_REASONS",
    "FIRST_ADMIN",
    "KEY_RESULT_SORTS",
    "NO_DEPARTMENT",
    "OBJECTIVE_SORTS",
    "OUTCOMES",
    "PIPELINES",
    "QUARANTINE_ENTITIES",
    "QUARANTINE_REASONS",
    "ROLES",
    "RUN_STATUSES",
    "TOKEN_NAME",
    "Advance",
    "AuditEntry",
    "Backoff",
    "Child",
    "Consumed",
    "IngestedUpload",
    "KeyResultFilters",
    "ModelUpdate",
    "NewToken",
    "Notify",
    "ObjectiveFilters",
    "Output",
    "Page",
    "Pipeline",
    "PipelineRun",
    "PostedEvents",
    "ProgressBar",
    "Quarter",
    "Rejection",
    "RowsRejected",
    "RunContext",
    "Scored",
    "StartedRun",
    "Task",
    "TaskFailedError",
    "TaskRun",
    "TokenInfo",
    "acknowledge_alert",
    "acknowledge_alert_by_id",
    "alerts",
    "alerts_page",
    "audit_entries",
    "authenticate",
    "authenticate_digest",
    "consume_events",
    "create_token",
    "dead_letters_page",
    "department_overview",
    "drain_events",
    "evaluate_model",
    "filter_choices",
    "first_admin_token",
    "generate_demo",
    "ingest_path",
    "ingest_upload",
    "key_result_record",
    "key_result_risk",
    "key_result_timeline",
    "key_results",
    "key_results_as_of",
    "key_results_page",
    "latest_monitoring",
    "list_runs",
    "list_tokens",
    "main_job_needed",
    "model_calibration",
    "model_comparison",
    "model_version",
    "model_versions",
    "monitor",
    "monitoring_run",
    "monitoring_runs_page",
    "new_run_id",
    "no_progress",
    "objectives_page",
    "outcome_of",
    "pipeline",
    "pipeline_definitions",
    "pipeline_run",
    "pipeline_runs_page",
    "post_events",
    "predict_risks",
    "produce_events",
    "promote_model",
    "prune_stream",
    "quarantine_page",
    "quarantined_rows",
    "quarter_of",
    "quiet",
    "readiness",
    "record_audit",
    "registered_versions",
    "retry_dead_lettered",
    "retry_quarantined",
    "revoke_token",
    "risk_reasons",
    "risk_trend",
    "role_allows",
    "rollback_model",
    "run_main_job",
    "run_pipeline",
    "run_scheduler",
    "run_task",
    "run_to_end",
    "score_rows",
    "simulate_activity",
    "start_pipeline_run",
    "status",
    "stream_lag",
    "stream_status",
    "supervise",
    "token_digest",
    "train_model",
    "update_model",
    "upload_folder",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked for once
    return value
