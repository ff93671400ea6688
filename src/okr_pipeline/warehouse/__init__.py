"""The warehouse: tables, the engine with its migrations, bulk writes and writers' turns."""

from okr_pipeline.warehouse.bulk import (
    LOOKUP_CHUNK,
    Excluded,
    bulk_page_cache,
    chunks,
    existing_values,
    from_sqlite_text,
    insert_rows,
    insert_tuples,
    sqlite_text,
    upsert,
    upserts,
)
from okr_pipeline.warehouse.engine import close_warehouses, open_warehouse
from okr_pipeline.warehouse.locks import pipeline_lock, writers_lock
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    dead_letters,
    ingest_runs,
    metadata,
    parked_events,
    pipeline_runs,
    predictions,
    processed_events,
    quarantine,
    source_cursors,
    task_runs,
)

__all__ = [
    "ENTITY_TABLES",
    "LOOKUP_CHUNK",
    "Excluded",
    "bulk_page_cache",
    "chunks",
    "close_warehouses",
    "dead_letters",
    "existing_values",
    "from_sqlite_text",
    "ingest_runs",
    "insert_rows",
    "insert_tuples",
    "metadata",
    "open_warehouse",
    "parked_events",
    "pipeline_lock",
    "pipeline_runs",
    "predictions",
    "processed_events",
    "quarantine",
    "source_cursors",
    "sqlite_text",
    "task_runs",
    "upsert",
    "upserts",
    "writers_lock",
]
