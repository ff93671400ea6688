"""The pipelines of okr-pipeline as Airflow 3 DAGs: `okr_etl`, `okr_training`, `okr_monitoring`.

Each DAG is built from the pipeline's definition (`okr_pipeline.jobs.pipelines`): an Airflow
task per task, the same dependencies, the cron schedule (UTC) and retries of the configuration.
Airflow orders the tasks, hands each one's output to the tasks after it (XCom) and retries them;
every attempt runs `jobs.run_task`, which records it in the warehouse as `okr run` records its
own (trigger "airflow"). The ETL's last task updates the asset `okr_warehouse`, which also
triggers the training. Workers need the same OKR_* environment (data directory, warehouse,
config file) as the `okr` command. The model stack is imported by the tasks, not when this file
is parsed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    dag,
    get_current_context,
    task,
)

from okr_pipeline.config import load_settings
from okr_pipeline.core import now_utc
from okr_pipeline.jobs.pipelines import PIPELINES, Pipeline, pipeline

# what the ETL's last task changes (the warehouse may be PostgreSQL: a URI of our own)
WAREHOUSE = Asset(name="okr_warehouse", uri="okr://warehouse/entities")
PRODUCES = {"etl": WAREHOUSE}
TRIGGERED_BY = {"training": WAREHOUSE}  # besides its schedule


def _run_id(definition: Pipeline, context: Any) -> str:
    """The pipeline run's id (at most 36 characters), the same for every task and attempt of
    the DAG run: the pipeline, the run's logical date (else when it was due, as for a manual
    or asset-triggered run) and a digest of Airflow's run id, unique per DAG."""
    dag_run = context["dag_run"]
    moment = (dag_run.logical_date or dag_run.run_after).astimezone(UTC)
    digest = hashlib.sha256(f"{dag_run.dag_id}/{dag_run.run_id}".encode()).hexdigest()[:8]
    return f"{definition.name}-{moment:%Y%m%dT%H%M%S}-{digest}"


def _as_of(context: Any) -> datetime:
    """The end of the run's data interval, else its logical date, else when it was due (a
    manual or asset-triggered run has neither): naive UTC, never in the future."""
    dag_run = context["dag_run"]
    moment = dag_run.data_interval_end or dag_run.logical_date or dag_run.run_after
    return min(moment.astimezone(UTC).replace(tzinfo=None), now_utc())


def _airflow_task(definition: Pipeline, name: str, last: bool) -> Any:
    """The TaskFlow task running one attempt of the task `name` of the pipeline."""
    outlets = [PRODUCES[definition.name]] if last and definition.name in PRODUCES else []

    @task(task_id=name, outlets=outlets, multiple_outputs=False)
    def run(inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        from okr_pipeline import jobs

        context = get_current_context()
        run_context = jobs.RunContext(
            _run_id(definition, context), definition.name, _as_of(context)
        )
        attempt = context["ti"].try_number  # 1, then 2 for the first retry, ...
        settings = load_settings()  # the worker's
        return jobs.run_task(
            settings, run_context, name, inputs, attempt=attempt, trigger="airflow", last=last
        )

    return run


def _dag(definition: Pipeline) -> Any:
    schedule: Any = CronTriggerTimetable(definition.schedule.schedule, timezone="UTC")
    if definition.name in TRIGGERED_BY:
        schedule = AssetOrTimeSchedule(timetable=schedule, assets=[TRIGGERED_BY[definition.name]])

    @dag(
        dag_id=f"okr_{definition.name}",
        schedule=schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": definition.schedule.retries,
            "retry_delay": timedelta(seconds=definition.schedule.retry_delay_seconds),
        },
        tags=["okr"],
        doc_md=f"The `{definition.name}` pipeline of okr-pipeline (`okr run {definition.name}`).",
    )
    def build() -> None:
        outputs: dict[str, Any] = {}
        for step in definition.tasks:
            last = step is definition.tasks[-1]
            inputs = {upstream: outputs[upstream] for upstream in step.upstream}
            outputs[step.name] = _airflow_task(definition, step.name, last)(inputs)

    return build()


settings = load_settings()
for pipeline_name in PIPELINES:
    globals()[f"okr_{pipeline_name}"] = _dag(pipeline(settings, pipeline_name))
