"""Ingestion: files loaded and parsed into validated chunks (large bundles in forked
child processes), stored with references, repeats and quarantine in one transaction; the REST
source's cursors, advanced once its rows are stored."""

from okr_pipeline.ingest.chunk_bytes import decode_chunk, encode_chunk
from okr_pipeline.ingest.cursors import commit_cursors, pull_rest_bundle, stored_cursors
from okr_pipeline.ingest.files import ingest_loaded, ingest_path
from okr_pipeline.ingest.quarantine import list_quarantine, quarantine_after, retry_quarantine
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
    "commit_cursors",
    "decode_chunk",
    "encode_chunk",
    "ingest",
    "ingest_loaded",
    "ingest_path",
    "list_quarantine",
    "pull_rest_bundle",
    "quarantine_after",
    "retry_quarantine",
    "storable_text",
    "stored_cursors",
    "warehouse_status",
]
