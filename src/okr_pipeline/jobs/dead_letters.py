"""Use cases about the stream's dead letters: list them a page at a time, and apply the open ones
again (see `stream.redelivery` for why there and how nothing is lost or doubled)."""

from __future__ import annotations

from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.jobs.pages import Page, decode_id_cursor, id_page
from okr_pipeline.stream import (
    DEAD_LETTER_REASONS,
    Redelivery,
    dead_letters_after,
    retry_dead_letters,
)
from okr_pipeline.warehouse import open_warehouse

__all__ = ["DEAD_LETTER_REASONS", "dead_letters_page", "retry_dead_lettered"]

_SORT = "dead_letters"  # the one order of the pages (by id), named in their cursors


def dead_letters_page(
    settings: Settings,
    *,
    reason: str | None = None,
    include_resolved: bool = False,
    cursor: str | None = None,
    limit: int,
) -> Page[dict[str, Any]]:
    """A page of the dead letters in the order they were made, after `cursor`: open ones
    (those whose event is not stored; resolved ones too if asked), for `reason` if given."""
    with open_warehouse(settings).connect() as conn:
        letters = dead_letters_after(
            conn,
            decode_id_cursor(cursor, _SORT) if cursor is not None else 0,
            limit + 1,
            reason=reason,
            include_resolved=include_resolved,
        )
    return id_page(letters, limit, _SORT)


def retry_dead_lettered(settings: Settings, reason: str | None = None) -> Redelivery:
    """Apply the open dead letters (for `reason` if given) again, a stream batch at a time."""
    return retry_dead_letters(
        open_warehouse(settings),
        reason=reason,
        limits=settings.limits,
        batch_size=settings.stream.batch_size,
    )
