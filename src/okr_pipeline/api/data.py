"""Objectives and key results (a viewer token): lists with filters, sorting and cursor pages,
and one key result whole."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, page_limit, settings
from okr_pipeline.api.models import AsOf, ErrorBody, Instant, Model, PageQuery, Text, sort_order
from okr_pipeline.core import now_utc

__all__ = ["area"]

area = Area("data", __name__, role="viewer", tag="Objectives and key results")

Risk = float  # a probability of missing, 0 to 1
RiskBound = Annotated[float, Field(ge=0, le=1)]
KeyResultSort = sort_order(jobs.KEY_RESULT_SORTS)
ObjectiveSort = sort_order(jobs.OBJECTIVE_SORTS)

# --- key results --------------------------------------------------------------------------------


class KeyResultQuery(PageQuery):
    as_of: AsOf | None = None
    department: Text | None = Field(None, description="the objective's department")
    owner: Text | None = Field(None, description="the key result's owner, else its objective's")
    objective_id: Text | None = None
    state: Literal["open", "closed"] | None = Field(None, description="due date not yet passed")
    status: Literal["on_track", "at_risk", "off_track"] | None = Field(
        None, description="the status of the latest stored risk"
    )
    min_risk: RiskBound | None = None
    max_risk: RiskBound | None = None
    sort: KeyResultSort = "key_result_id"  # type: ignore[valid-type]


class KeyResult(Model):
    """A key result as of a date, with the latest risk stored for it by then."""

    key_result_id: str
    objective_id: str
    title: str
    metric_type: str
    start_value: float
    target_value: float
    unit: str | None
    weight: float
    owner_id: str | None
    department: str | None
    due_date: date
    state: Literal["open", "closed"]
    progress: float
    score: float
    last_check_in_at: Instant | None
    final_score: float | None
    outcome: Literal["achieved", "missed"] | None
    cancelled: bool
    risk: Risk | None
    risk_status: Literal["on_track", "at_risk", "off_track"] | None
    risk_as_of: Instant | None
    model_version: str | None


class KeyResultPage(Model):
    items: list[KeyResult]
    next_cursor: str | None


class CheckIn(Model):
    check_in_id: str
    checked_in_at: Instant
    value: float
    confidence: float | None
    note: str | None
    author_id: str | None


class Milestone(Model):
    milestone_id: str
    title: str
    due_date: date | None
    completed_at: Instant | None
    weight: float


class Task(Model):
    task_id: str
    title: str
    plan_id: str | None
    parent_task_id: str | None
    weight: float
    priority: str | None
    status: str
    planned_for: date | None
    completed_at: Instant | None
    updated_at: Instant | None


class StoredRisk(Model):
    as_of: Instant
    risk: Risk
    status: Literal["on_track", "at_risk", "off_track"]
    reasons: list[dict[str, Any]]
    model_version: str
    created_at: Instant


class KeyResultRecord(KeyResult):
    """A key result as of a date and everything stored about it."""

    check_ins: list[CheckIn]
    milestones: list[Milestone]
    tasks: list[Task]
    risk_history: list[StoredRisk]


class KeyResultPath(Model):
    key_result_id: Text


class AsOfQuery(Model):
    as_of: AsOf | None = None


@area.get("/key-results", responses={200: KeyResultPage})
def list_key_results(query: KeyResultQuery) -> Response:
    """Key results as of a date

    Progress, score, state and outcome as of `as_of` (default now), with the latest risk stored
    by then; filtered, sorted (`-field`: descending) and a page at a time: pass `next_cursor`
    back as `cursor` for the next page."""
    filters = jobs.KeyResultFilters(
        as_of=query.as_of or now_utc(),
        department=query.department,
        owner=query.owner,
        objective_id=query.objective_id,
        state=query.state,
        status=query.status,
        min_risk=query.min_risk,
        max_risk=query.max_risk,
    )
    page = jobs.key_results_page(
        settings(), filters, sort=query.sort, cursor=query.cursor, limit=page_limit(query.limit)
    )
    return json_response(KeyResultPage.model_validate(page.as_dict()))


@area.get("/key-results/<key_result_id>", responses={200: KeyResultRecord, 404: ErrorBody})
def get_key_result(path: KeyResultPath, query: AsOfQuery) -> Response:
    """One key result

    As of `as_of` (default now), with its check-ins, milestones, tasks and every risk stored
    for it."""
    record = jobs.key_result_record(settings(), path.key_result_id, query.as_of or now_utc())
    return json_response(KeyResultRecord.model_validate(record))


# --- objectives ---------------------------------------------------------------------------------


class ObjectiveQuery(PageQuery):
    as_of: AsOf | None = None
    department: Text | None = None
    owner: Text | None = None
    status: Literal["active", "completed", "cancelled", "on_hold"] | None = None
    min_risk: RiskBound | None = Field(None, description="of its riskiest open key result")
    max_risk: RiskBound | None = None
    sort: ObjectiveSort = "objective_id"  # type: ignore[valid-type]


class Objective(Model):
    """An objective with the progress of its key results as of a date and its risk: that of
    its riskiest open key result."""

    objective_id: str
    title: str
    department: str | None
    owner_id: str | None
    period_start: date
    period_end: date
    status: str
    priority: str | None
    parent_objective_id: str | None
    updated_at: Instant | None
    key_results: int
    open_key_results: int
    progress: float | None
    risk: Risk | None


class ObjectivePage(Model):
    items: list[Objective]
    next_cursor: str | None


@area.get("/objectives", responses={200: ObjectivePage})
def list_objectives(query: ObjectiveQuery) -> Response:
    """Objectives as of a date

    Each with the weighted progress of its key results as of `as_of` (default now) and its
    risk; filtered, sorted (`-field`: descending) and a page at a time."""
    filters = jobs.ObjectiveFilters(
        as_of=query.as_of or now_utc(),
        department=query.department,
        owner=query.owner,
        status=query.status,
        min_risk=query.min_risk,
        max_risk=query.max_risk,
    )
    page = jobs.objectives_page(
        settings(), filters, sort=query.sort, cursor=query.cursor, limit=page_limit(query.limit)
    )
    return json_response(ObjectivePage.model_validate(page.as_dict()))
