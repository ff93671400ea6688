"""The quarantine (a viewer token): rows of files and bundles the contract refused, with reason,
origin and raw content; retrying them (an editor token) once what they lacked has arrived."""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, page_limit, settings
from okr_pipeline.api.models import IngestReport, Instant, Model, PageQuery

__all__ = ["area"]

area = Area("quarantine", __name__, role="viewer", tag="Quarantine and dead letters")

Entity = Literal[jobs.QUARANTINE_ENTITIES]  # type: ignore[valid-type]
Reason = Literal[jobs.QUARANTINE_REASONS]  # type: ignore[valid-type]


class QuarantineQuery(PageQuery):
    entity: Entity | None = None
    reason: Reason | None = None
    resolved: bool = Field(False, description="also the rows stored since (by a retry)")


class QuarantinedRow(Model):
    id: int
    entity: str
    reason: str
    field: str | None = Field(description="the field at fault, if one is")
    message: str
    source: str = Field(description="the file (or topic) it came from")
    line: int | None = Field(description="its line in the file")
    raw: str = Field(description="the row as read (its start, if over 64 KiB)")
    raw_length: int | None = Field(description="the whole raw content's length, if cut")
    raw_sha256: str | None
    times_seen: int
    first_run_id: str
    last_run_id: str
    first_seen_at: Instant
    last_seen_at: Instant
    resolved_at: Instant | None
    resolved_run_id: str | None


class QuarantinePage(Model):
    items: list[QuarantinedRow]
    next_cursor: str | None


@area.get("/quarantine", responses={200: QuarantinePage})
def list_quarantine(query: QuarantineQuery) -> Response:
    """The quarantine

    Rows the contract refused, with reason, file and line and raw content, in the order they
    were quarantined, a page at a time: open ones, resolved ones too with `resolved=true`."""
    page = jobs.quarantine_page(
        settings(),
        entity=query.entity,
        reason=query.reason,
        include_resolved=query.resolved,
        cursor=query.cursor,
        limit=page_limit(query.limit),
    )
    return json_response(QuarantinePage.model_validate(page.as_dict()))


@area.post("/quarantine/retry", role="editor", responses={200: IngestReport})
def retry_quarantine() -> Response:
    """Retry the quarantine

    Validates every open quarantined row again (their parents may have arrived since) and
    stores those that pass, resolving them; the others stay, with the reason they fail for
    now. Answers the retry's ingest report."""
    report = jobs.retry_quarantined(settings())
    return json_response(IngestReport.model_validate(report.as_dict()))
