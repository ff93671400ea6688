"""Monitoring (a viewer token): the stored monitoring runs and their documents, and the alerts
they raised; acknowledging an alert (an admin token)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, page_limit, settings
from okr_pipeline.api.models import AsOf, ErrorBody, Instant, Model, PageQuery
from okr_pipeline.warehouse import MAX_ID

__all__ = ["area"]

area = Area("monitoring", __name__, role="viewer", tag="Monitoring and alerts")

# ids are 32-bit integers on PostgreSQL
StoredId = Annotated[int, Field(ge=1, le=MAX_ID)]

# --- monitoring runs ----------------------------------------------------------------------------


class MonitoringRun(Model):
    """A stored monitoring run and the document `okr monitor` printed."""

    id: int
    as_of: Instant
    created_at: Instant = Field(description="when it ran")
    report: str | None = Field(description="its HTML report, on the server")
    document: dict[str, Any] = Field(
        description="quality, drift, performance (realized and estimated), signals, the alerts "
        "it raised, report"
    )


class MonitoringRunSummary(Model):
    id: int
    as_of: Instant
    created_at: Instant
    report: str | None
    alerts: int = Field(description="how many alerts it raised")


class MonitoringRunPage(Model):
    items: list[MonitoringRunSummary]
    next_cursor: str | None


class LatestQuery(Model):
    as_of: AsOf | None = None


class MonitoringRunPath(Model):
    monitoring_run_id: StoredId


@area.get("/monitoring", responses={200: MonitoringRun, 404: ErrorBody})
def latest_monitoring(query: LatestQuery) -> Response:
    """The latest monitoring

    The stored monitoring run with the latest as-of at or before `as_of` (default now), with
    its whole document; 404 if there is none."""
    found = jobs.latest_monitoring(settings(), query.as_of)
    return json_response(MonitoringRun.model_validate(found))


@area.get("/monitoring/runs", responses={200: MonitoringRunPage})
def list_monitoring_runs(query: PageQuery) -> Response:
    """The monitoring runs

    Every stored run, newest first, a page at a time: its as-of, when it ran, its report and
    how many alerts it raised."""
    page = jobs.monitoring_runs_page(settings(), cursor=query.cursor, limit=page_limit(query.limit))
    return json_response(MonitoringRunPage.model_validate(page.as_dict()))


@area.get("/monitoring/runs/<monitoring_run_id>", responses={200: MonitoringRun, 404: ErrorBody})
def get_monitoring_run(path: MonitoringRunPath) -> Response:
    """One monitoring run

    With its whole document."""
    return json_response(
        MonitoringRun.model_validate(jobs.monitoring_run(settings(), path.monitoring_run_id))
    )


# --- alerts -------------------------------------------------------------------------------------


class Alert(Model):
    """One condition on one subject while it holds (see the README's Monitoring)."""

    id: int
    condition: str = Field(description="e.g. drift.dataset, quality.freshness")
    subject: str = Field(description="what it is about: a feature, a department, a pipeline")
    severity: Literal["info", "warning", "critical"]
    message: str
    details: dict[str, Any] = Field(description="the value, the threshold and the like")
    status: Literal["open", "acknowledged", "cleared"]
    first_raised_at: Instant
    last_raised_at: Instant
    last_notified_at: Instant | None
    times_raised: int
    acknowledged_at: Instant | None
    cleared_at: Instant | None
    undelivered: dict[str, str] = Field(description="channels that could not be told, and why")


class AlertPage(Model):
    items: list[Alert]
    next_cursor: str | None


class AlertQuery(PageQuery):
    open: bool = Field(False, description="only alerts still holding: open or acknowledged")


class AlertPath(Model):
    alert_id: StoredId


@area.get("/alerts", responses={200: AlertPage})
def list_alerts(query: AlertQuery) -> Response:
    """The alerts

    Latest raised first, a page at a time; `open=true`: only those still holding."""
    page = jobs.alerts_page(
        settings(), open_only=query.open, cursor=query.cursor, limit=page_limit(query.limit)
    )
    return json_response(AlertPage.model_validate(page.as_dict()))


@area.post(
    "/alerts/<alert_id>/ack",
    role="admin",
    responses={200: Alert, 404: ErrorBody, 409: ErrorBody},
)
def acknowledge_alert(path: AlertPath) -> Response:
    """Acknowledge an alert

    It stays quiet (no channel is told again) until its condition clears; one that returns
    then is a new alert. Acknowledging it again changes nothing; 409 if it has cleared."""
    return json_response(
        Alert.model_validate(jobs.acknowledge_alert_by_id(settings(), path.alert_id))
    )
