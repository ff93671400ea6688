"""The quarantine as the API shows it: rejected rows with reason, origin and raw content, a page
at a time in the order they were first quarantined (by id)."""

from __future__ import annotations

from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.contract import ENTITIES, REASONS
from okr_pipeline.ingest import quarantine_after
from okr_pipeline.jobs.pages import Page, decode_id_cursor, id_page
from okr_pipeline.warehouse import open_warehouse

__all__ = ["QUARANTINE_ENTITIES", "QUARANTINE_REASONS", "quarantine_page"]

QUARANTINE_ENTITIES = tuple(ENTITIES)
QUARANTINE_REASONS = REASONS

_SORT = "quarantine"  # the one order of the pages (by id), named in their cursors


def quarantine_page(
    settings: Settings,
    *,
    entity: str | None = None,
    reason: str | None = None,
    include_resolved: bool = False,
    cursor: str | None = None,
    limit: int,
) -> Page[dict[str, Any]]:
    """A page of the quarantined rows after `cursor`: open ones (resolved ones too if asked),
    of `entity` and for `reason` if given."""
    with open_warehouse(settings).connect() as conn:
        rows = quarantine_after(
            conn,
            decode_id_cursor(cursor, _SORT) if cursor is not None else 0,
            limit + 1,
            reason=reason,
            entity=entity,
            include_resolved=include_resolved,
        )
    return id_page(rows, limit, _SORT)
