"""Use cases about data: demo bundles, ingesting a path, the quarantine, what the warehouse
holds."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError
from okr_pipeline.features import KeyResultState, key_result_states
from okr_pipeline.ingest import (
    IngestReport,
    ingest_loaded,
    list_quarantine,
    retry_quarantine,
    warehouse_status,
)
from okr_pipeline.jobs.progress import ProgressBar, no_progress
from okr_pipeline.sources import load_bundle
from okr_pipeline.warehouse import open_warehouse

__all__ = [
    "generate_demo",
    "ingest_path",
    "key_results",
    "quarantined_rows",
    "retry_quarantined",
    "status",
]

ROWS_PER_SCALE = 30_000  # about what one unit of demo scale writes: enough for a bar


def generate_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    scale: float = 1.0,
    messy: bool = False,
    as_of: date | None = None,
    progress_bar: ProgressBar = no_progress,
) -> dict[str, Any]:
    """Write a realistic demo bundle and return its manifest (rows per entity, expected report)."""
    from okr_pipeline.sources.synthetic import generate_bundle  # only demos need the generator

    day = as_of or now_utc().date()
    # the generated periods reach years around the as-of date: they must stay in 1..9999
    if not 1900 <= day.year <= 9000:
        raise InputError(f"as-of {day}: demo data needs a year between 1900 and 9000")
    with progress_bar(int(ROWS_PER_SCALE * scale), "generating") as progress:
        manifest: dict[str, Any] = generate_bundle(
            out_dir, seed=seed, scale=scale, messy=messy, as_of=day, progress=progress
        )
    return manifest


def ingest_path(
    settings: Settings, path: Path, *, progress_bar: ProgressBar = no_progress
) -> IngestReport:
    """Ingest an export bundle directory or one entity file into the warehouse."""
    bundle = load_bundle(path)
    engine = open_warehouse(settings)
    with progress_bar(bundle.estimated_rows, "ingesting") as progress:
        return ingest_loaded(engine, bundle, progress=progress, limits=settings.limits)


def quarantined_rows(
    settings: Settings,
    *,
    reason: str | None = None,
    entity: str | None = None,
    include_resolved: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Quarantined rows with reason, origin and raw content (open ones unless asked)."""
    with open_warehouse(settings).connect() as conn:
        return list_quarantine(
            conn, reason=reason, entity=entity, include_resolved=include_resolved, limit=limit
        )


def retry_quarantined(settings: Settings) -> IngestReport:
    """Validate the open quarantined rows again and store those that now pass."""
    return retry_quarantine(open_warehouse(settings))


def status(settings: Settings) -> dict[str, Any]:
    """Rows per entity, the open quarantine by reason and entity, the last ingest runs."""
    with open_warehouse(settings).connect() as conn:
        return warehouse_status(conn)


def key_results(
    settings: Settings, as_of: datetime, state: str | None = None
) -> list[KeyResultState]:
    """Every key result as of `as_of` (open or closed ones only, if `state` says)."""
    with open_warehouse(settings).connect() as conn:
        return key_result_states(conn, as_of, settings.model.achievement_threshold, state)
