"""Data in (an editor token): events onto the stream, and bundles uploaded for ingestion."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Response
from flask_openapi3 import FileStorage
from pydantic import Field, RootModel

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, settings
from okr_pipeline.api.models import ErrorBody, IngestReport, Model

__all__ = ["area"]

area = Area("intake", __name__, role="editor", tag="Data intake")

# --- events -------------------------------------------------------------------------------------


class EventsBody(RootModel[dict[str, Any] | Annotated[list[Any], Field(min_length=1)]]):
    """One event (an object, contract section 4) or a batch of them (an array). Each is taken
    as it comes: one that breaks the contract is published too and dead-lettered by the
    consumer, and the answer says which and why."""


class EventRejection(Model):
    index: int = Field(description="the event's place in the batch (0 for a single event)")
    reason: str = Field(description="what the consumer dead-letters it as")
    detail: str


class PostedEvents(Model):
    topic: str
    accepted: int = Field(description="events the consumer will take (or park for a parent)")
    rejected: int = Field(description="events the consumer will dead-letter")
    rejections: list[EventRejection]


@area.post("/events", responses={202: PostedEvents, 413: ErrorBody})
def post_events(body: EventsBody) -> Response:
    """Publish events onto the stream

    Every event goes onto the events topic in order, keyed by its entity id, as `okr produce`
    publishes an events file; `okr consume` applies them. Those that break the contract (the
    envelope or the payload's row rules) are counted as rejected with their index and reason:
    the consumer dead-letters them (dead letters and the dead-letter topic), so none is lost.
    An event whose parent has not arrived is accepted: the consumer waits for the parent. 413
    beyond `api.events_max` events (nothing is published then)."""
    events = body.root if isinstance(body.root, list) else [body.root]
    posted = jobs.post_events(settings(), events)
    return json_response(PostedEvents.model_validate(posted.as_dict()), 202)


# --- bundle uploads -----------------------------------------------------------------------------


class UploadForm(Model):
    files: list[FileStorage] = Field(
        min_length=1,
        description="one zip of the bundle, or its files (ENTITY.csv, ENTITY.jsonl, "
        "plan_tasks.json), each under its bare name",
    )


class IngestedUpload(IngestReport):
    """The ingestion's report, as `okr ingest --json` prints it, and what became of the files."""

    files: list[str] = Field(description="the contract files ingested")
    ignored: list[str] = Field(description="names in the upload that are no contract file")
    archived: str = Field(description="where the files are kept (the quarantine names them)")


@area.post("/ingest", responses={200: IngestedUpload, 413: ErrorBody})
def ingest(form: UploadForm) -> Response:
    """Ingest an uploaded bundle

    multipart/form-data with `files`: one zip of the bundle (its files at its top or in one
    folder) or the files themselves. They go through the same ingestion as `okr ingest` and
    are kept in the archive, as the ETL keeps what it loads. 400 for an unsafe upload (a name
    reaching outside its folder, a link, an encrypted or damaged zip) or one without a contract
    file; 413 beyond `api.upload_max_files` files or `api.upload_max_bytes` unpacked, or a body
    over `api.max_body_bytes`."""
    parts = [(file.filename, file.stream) for file in form.files]
    uploaded = jobs.ingest_upload(settings(), parts)
    return json_response(IngestedUpload.model_validate(uploaded.as_dict()))
