"""The stream's dead letters (a viewer token): events the consumer could not store, with reason
and the message kept; applying them again (an editor token)."""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, page_limit, settings
from okr_pipeline.api.models import Instant, Model, PageQuery

__all__ = ["area"]

area = Area("dead_letters", __name__, role="viewer", tag="Quarantine and dead letters")


Reason = Literal[jobs.DEAD_LETTER_REASONS]  # type: ignore[valid-type]


class DeadLetterQuery(PageQuery):
    reason: Reason | None = None
    resolved: bool = Field(False, description="also the letters whose event is stored since")


class DeadLetter(Model):
    id: int
    topic: str = Field(description="where the message was read")
    partition: int
    offset: int
    event_id: str | None = Field(description="none: the message was no readable event")
    reason: str
    message: str = Field(description="why it was refused")
    raw: str = Field(description="the message (its start, if over 64 KiB)")
    raw_length: int | None = Field(description="the whole message's length, if cut")
    raw_sha256: str | None
    created_at: Instant
    published_at: Instant | None = Field(description="sent to the dead-letter topic")
    resolved: bool = Field(description="its event is stored (by a retry, or another copy)")


class DeadLetterPage(Model):
    items: list[DeadLetter]
    next_cursor: str | None


class RetryQuery(Model):
    reason: Reason | None = Field(None, description="only the open letters of this reason")


class Redelivery(Model):
    """What a retry did with the open dead letters it took."""

    retried: int = Field(description="letters applied again")
    stored: int = Field(description="stored now: resolved")
    duplicates: int = Field(description="their event was stored by another message: resolved")
    still_dead: int = Field(description="refused again: each keeps its one letter")
    not_retryable: int = Field(description="the message is not kept whole: left as they are")
    by_reason: dict[str, int] = Field(description="why those refused again fail now")


@area.get("/dead-letters", responses={200: DeadLetterPage})
def list_dead_letters(query: DeadLetterQuery) -> Response:
    """The dead letters

    Events the consumer could not store, with the reason and the message kept, in the order
    they were made, a page at a time: open ones (whose event is not stored), resolved ones
    too with `resolved=true`."""
    page = jobs.dead_letters_page(
        settings(),
        reason=query.reason,
        include_resolved=query.resolved,
        cursor=query.cursor,
        limit=page_limit(query.limit),
    )
    return json_response(DeadLetterPage.model_validate(page.as_dict()))


@area.post("/dead-letters/retry", role="editor", responses={200: Redelivery})
def retry_dead_letters(query: RetryQuery) -> Response:
    """Retry the dead letters

    Applies the open dead letters (of `reason`, if given) again, as the consumer applies
    events: an event stored now resolves its letter; one refused again keeps its one letter
    (none is added, none lost), and is not parked again. Nothing is published again."""
    done = jobs.retry_dead_lettered(settings(), query.reason)
    return json_response(Redelivery.model_validate(done.as_dict()))
