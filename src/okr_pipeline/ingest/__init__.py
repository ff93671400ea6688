"""Ingestion: files loaded and parsed into validated chunks (large bundles in forked
child processes), stored with references, repeats and quarantine in one transaction."""

from okr_pipeline.ingest.files import ingest_loaded, ingest_path
from okr_pipeline.ingest.quarantine import list_quarantine, retry_quarantine
from okr_pipeline.ingest.status import warehouse_status
from okr_pipeline.ingest.store import (
    CHUNK_ROWS,
    EntityCounts,
    Ingestion,
    IngestReport,
    bounded_raw,
    ingest,
    storable_text,
)

__all__ = [
    "CHUNK_ROWS",
    "EntityCounts",
    "IngestReport",
    "Ingestion",
    "bounded_raw",
    "ingest",
    "ingest_loaded",
    "ingest_path",
    "list_quarantine",
    "retry_quarantine",
    "storable_text",
    "warehouse_status",
]
