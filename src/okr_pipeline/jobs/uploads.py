"""A bundle uploaded to the API, ingested as `okr ingest` ingests a folder (jobs.ingest_path).

The upload is written (sources.uploads: contract files only, names and sizes checked) into a
folder of its own under `raw/uploads/`, which no pipeline reads, then moved whole into the
archive, `archive/<upload id>/`, and ingested from there, as the ETL archives a bundle before
it loads it: the ingest run and every quarantined row name the file and line they came from,
and the archive keeps that file to read, correct and send again. An upload that is refused
(unsafe, too large, no contract file) leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError
from okr_pipeline.ingest import IngestReport
from okr_pipeline.jobs.data import ingest_path
from okr_pipeline.sources import write_upload

__all__ = ["IngestedUpload", "ingest_upload", "upload_folder"]

log = logging.getLogger(__name__)
CONTRACT_FILES = "ENTITY.csv, ENTITY.jsonl or plan_tasks.json"


@dataclass(frozen=True)
class IngestedUpload:
    report: IngestReport
    files: list[str]  # the contract files ingested
    ignored: list[str]  # names in the upload that are no contract file (not written)
    archived: Path

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report.as_dict(),
            "files": self.files,
            "ignored": self.ignored,
            "archived": str(self.archived),
        }


def upload_folder(settings: Settings) -> Path:
    """Where uploads are written before they are archived (no pipeline reads it)."""
    return settings.path("raw") / "uploads"


def ingest_upload(
    settings: Settings, parts: Sequence[tuple[str | None, IO[bytes]]]
) -> IngestedUpload:
    """Ingest an upload: one zip, or the bundle's files, as (file name, content) pairs.
    InputError for an unsafe or unreadable upload or one without a contract file,
    TooLargeError beyond `api.upload_max_files` or `api.upload_max_bytes`."""
    upload_id = f"api-{now_utc():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    staging = upload_folder(settings) / upload_id
    try:
        unpacked = write_upload(
            parts,
            staging,
            max_files=settings.api.upload_max_files,
            max_bytes=settings.api.upload_max_bytes,
        )
        if not unpacked.files:
            ignored = f": {', '.join(unpacked.ignored)}" if unpacked.ignored else ""
            raise InputError(f"the upload holds no contract file ({CONTRACT_FILES}){ignored}")
        archived = settings.path("archive") / upload_id
        archived.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(archived)  # one file system: whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # from here the archive keeps the files, even if the ingestion fails part-way: what it
    # stored names them
    report = ingest_path(settings, archived)
    log.info("upload %s: %s", upload_id, report.totals.as_dict())
    return IngestedUpload(report, unpacked.files, unpacked.ignored, archived)
