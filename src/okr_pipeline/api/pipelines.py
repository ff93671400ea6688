"""The pipelines (a viewer token): their definitions and schedules, their recorded runs with
their task runs; and starting a run now (an admin token)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, page_limit, settings
from okr_pipeline.api.models import AsOf, ErrorBody, Instant, Model, PageQuery

__all__ = ["area"]

area = Area("pipelines", __name__, role="viewer", tag="Pipelines")

PipelineName = Literal["etl", "training", "monitoring"]
RunStatus = Literal["running", "succeeded", "failed", "skipped", "stopped"]
RunId = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._:+-]+$")]


class TaskDefinition(Model):
    name: str
    upstream: list[str] = Field(description="the tasks whose outputs it takes")


class PipelineDefinition(Model):
    name: PipelineName
    tasks: list[TaskDefinition] = Field(description="in the order they run")
    schedule: str = Field(description="cron, UTC (a sixth field: seconds)")
    retries: int
    retry_delay_seconds: float
    next_scheduled_at: Instant = Field(description="when the schedule fires next")


class PipelineList(Model):
    items: list[PipelineDefinition]


class TaskRun(Model):
    task: str
    attempt: int
    status: Literal["running", "succeeded", "failed"]
    started_at: Instant
    finished_at: Instant | None
    duration_seconds: float | None
    error: str | None
    output: dict[str, Any] | None = Field(description="what the task produced")


class PipelineRun(Model):
    run_id: str
    pipeline: str
    trigger: str = Field(description="manual (okr run, the API), schedule or airflow")
    as_of: Instant
    status: RunStatus
    started_at: Instant
    finished_at: Instant | None
    error: str | None = Field(description="why it failed, stopped or was skipped")
    tasks: list[TaskRun] = Field(description="every attempt at each task, in order")


class RunPage(Model):
    items: list[PipelineRun]
    next_cursor: str | None


class RunQuery(PageQuery):
    pipeline: PipelineName | None = None
    status: RunStatus | None = None


class RunPath(Model):
    run_id: RunId


class PipelinePath(Model):
    pipeline: PipelineName


class StartQuery(Model):
    as_of: AsOf | None = Field(None, description="the run's as-of; default: when it starts")


class StartedRun(Model):
    """A run started in a process of its own: watch it at `location`."""

    run_id: str
    pipeline: PipelineName
    status: Literal["starting", "running", "succeeded", "failed", "stopped"] = Field(
        description="as recorded when answering; starting: not recorded yet"
    )
    location: str = Field(description="the run's record in this API")
    log: str = Field(description="the run's output, on the server")


@area.get("/pipelines", responses={200: PipelineList})
def list_pipelines() -> Response:
    """The pipelines

    Each with its tasks and their dependencies, its schedule (cron, UTC), retries and retry
    delay, and when the schedule fires next (when the embedded scheduler runs them)."""
    found = {"items": jobs.pipeline_definitions(settings())}
    return json_response(PipelineList.model_validate(found))


@area.get("/pipelines/runs", responses={200: RunPage})
def list_pipeline_runs(query: RunQuery) -> Response:
    """The pipeline runs

    Recorded runs of every trigger (the scheduler, okr run, this API, Airflow), newest first,
    each with its task runs; filtered by pipeline and status, a page at a time."""
    page = jobs.pipeline_runs_page(
        settings(),
        pipeline=query.pipeline,
        status=query.status,
        cursor=query.cursor,
        limit=page_limit(query.limit),
    )
    return json_response(RunPage.model_validate(page.as_dict()))


@area.get("/pipelines/runs/<run_id>", responses={200: PipelineRun, 404: ErrorBody})
def get_pipeline_run(path: RunPath) -> Response:
    """One pipeline run

    With every attempt at each of its tasks: status, duration, error and output."""
    return json_response(PipelineRun.model_validate(jobs.pipeline_run(settings(), path.run_id)))


@area.post(
    "/pipelines/<pipeline>/runs",
    role="admin",
    responses={202: StartedRun, 409: ErrorBody},
)
def start_pipeline_run(path: PipelinePath, query: StartQuery) -> Response:
    """Start a pipeline run

    Runs the pipeline now in a process of its own (as `okr run`), answering once the run is
    recorded, without waiting for it to end: 202 with where to watch it (also in the Location
    header). 409 if a run of the pipeline is in progress (this one is recorded as skipped)."""
    started = jobs.start_pipeline_run(settings(), path.pipeline, query.as_of)
    body = StartedRun.model_validate(
        {**started.as_dict(), "location": f"/api/v1/pipelines/runs/{started.run_id}"}
    )
    response = json_response(body, 202)
    response.headers["Location"] = body.location
    return response
