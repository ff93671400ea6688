"""The dashboard's pages about running the system (a viewer's): the model and how it compares,
monitoring with its alerts, and the pipelines with the stream, quarantine and dead letters.
The actions their forms post to are in `actions`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.context import page_limit, settings
from okr_pipeline.api.dashboard.actions import ACTION_ROLES
from okr_pipeline.api.dashboard.charts import calibration_plot
from okr_pipeline.api.dashboard.site import site
from okr_pipeline.api.dashboard.view import PageQuery, as_of, query, render
from okr_pipeline.api.dead_letters import Reason as DeadLetterReason
from okr_pipeline.api.pipelines import PipelineName
from okr_pipeline.api.quarantine import Entity
from okr_pipeline.api.quarantine import Reason as QuarantineReason
from okr_pipeline.errors import NotFoundError

__all__: list[str] = []

Cursor = Field(None, min_length=1, max_length=1024)


@site.page("/model", role="viewer")
def model() -> str:
    """The model's versions and aliases, the champion against the challenger and the pace
    baselines, and the calibration of the stored risks whose outcomes are known."""
    moment = as_of(query(PageQuery))
    comparison = jobs.model_comparison(settings())
    calibration = jobs.model_calibration(settings(), moment)
    plot = calibration_plot("calibration", calibration["calibration"])
    return render(
        "model.html",
        as_of=moment,
        comparison=comparison,
        calibration=calibration,
        plot=plot if calibration["calibration"] else None,
        roles=ACTION_ROLES,
    )


class MonitoringQuery(PageQuery):
    open: bool = Field(False, description="only the alerts still holding")
    cursor: str | None = Cursor


@site.page("/monitoring", role="viewer")
def monitoring() -> str:
    """The latest monitoring run as of the date (drift per feature, quality, realized and
    estimated performance) and the alerts, a page at a time, with acknowledge for admins."""
    page = query(MonitoringQuery)
    moment = as_of(page)
    try:
        run: dict[str, Any] | None = jobs.latest_monitoring(settings(), moment)
    except NotFoundError:
        run = None  # the page says there is none yet
    alerts = jobs.alerts_page(
        settings(), open_only=page.open, cursor=page.cursor, limit=page_limit(None)
    )
    return render(
        "monitoring.html",
        as_of=moment,
        page=page,
        run=run,
        alerts=alerts,
        roles=ACTION_ROLES,
    )


class PipelinesQuery(PageQuery):
    pipeline: PipelineName | None = None
    runs_cursor: str | None = Cursor
    entity: Entity | None = None
    quarantine_reason: QuarantineReason | None = None
    quarantine_cursor: str | None = Cursor
    letter_reason: DeadLetterReason | None = None
    letters_cursor: str | None = Cursor


@site.page("/pipelines", role="viewer")
def pipelines() -> str:
    """The pipelines' runs with their tasks, the stream's lag, and the quarantine and dead
    letters (each a page at a time), with the retries for those whose role allows them."""
    page = query(PipelinesQuery)
    limit = min(20, page_limit(None))
    runs = jobs.pipeline_runs_page(
        settings(), pipeline=page.pipeline, cursor=page.runs_cursor, limit=limit
    )
    quarantine = jobs.quarantine_page(
        settings(),
        entity=page.entity,
        reason=page.quarantine_reason,
        cursor=page.quarantine_cursor,
        limit=limit,
    )
    letters = jobs.dead_letters_page(
        settings(), reason=page.letter_reason, cursor=page.letters_cursor, limit=limit
    )
    return render(
        "pipelines.html",
        as_of=as_of(page),
        page=page,
        definitions=jobs.pipeline_definitions(settings()),
        runs=runs,
        lag=jobs.stream_lag(settings()),
        quarantine=quarantine,
        letters=letters,
        pipeline_names=list(jobs.PIPELINES),
        entities=list(jobs.QUARANTINE_ENTITIES),
        quarantine_reasons=list(jobs.QUARANTINE_REASONS),
        letter_reasons=list(jobs.DEAD_LETTER_REASONS),
        roles=ACTION_ROLES,
    )
