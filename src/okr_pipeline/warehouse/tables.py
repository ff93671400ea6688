"""Warehouse tables: one per contract entity, plus the quarantine, the ingest runs, the stream
consumer's bookkeeping, predictions, pipeline and task runs, the REST source's cursors, and the
API's tokens and audit log.

Entity columns mirror the contract field for field (docs/data-contract.md); timestamps are
stored naive in UTC. Every entity row remembers the ingest run that last wrote it (lineage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import SchemaItem
from sqlalchemy.types import TypeEngine

from okr_pipeline.contract import ENTITIES, EntitySpec

__all__ = [
    "ENTITY_TABLES",
    "MAX_ID",
    "VERSION_TABLES",
    "alerts",
    "api_tokens",
    "audit_log",
    "dead_letters",
    "ingest_runs",
    "metadata",
    "monitor_runs",
    "parked_events",
    "performance_estimates",
    "pipeline_runs",
    "predictions",
    "processed_events",
    "quarantine",
    "source_cursors",
    "task_runs",
]

# the largest id the tables' integer keys hold: 32-bit on PostgreSQL (64-bit on SQLite), which
# refuses to compare a larger number with one (an error, not a miss)
MAX_ID = 2**31 - 1

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(255)
RUN_ID = String(36)
# Oracle's DATE drops fractions of a second: use TIMESTAMP there.
TIMESTAMP = DateTime().with_variant(oracle.TIMESTAMP(), "oracle")
_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "number": Double,
    "date": Date,
    "timestamp": lambda: TIMESTAMP,
    "enum": lambda: String(32),
}


def raw_whole() -> tuple[Column[int], Column[str]]:
    """Beside a raw column that holds only the start of long content: the length (UTF-8 bytes)
    and sha256 of the whole; both empty where raw is whole (ingest.bounded_raw)."""
    return Column("raw_length", BigInteger), Column("raw_sha256", String(64))


ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("run_id", RUN_ID, primary_key=True),
    Column("kind", String(32), nullable=False),  # files | quarantine_retry | stream
    Column("source", Text, nullable=False),
    Column("status", String(16), nullable=False),  # running | completed | failed
    Column("started_at", TIMESTAMP, nullable=False),
    Column("finished_at", TIMESTAMP),
    Column("report", Text),  # the run's JSON report
)


def _entity_table(spec: EntitySpec) -> Table:
    columns: list[SchemaItem] = []
    for field in spec.fields:
        if field.name == spec.key:
            columns.append(Column(field.name, ID, primary_key=True))
        elif field.kind == "string":
            column_type = ID if field.max_length else Text
            columns.append(Column(field.name, column_type, nullable=not field.required))
        else:
            # a field with a default is never empty once stored
            not_null = field.required or field.default is not None
            columns.append(Column(field.name, _TYPES[field.kind](), nullable=not not_null))
    if spec.reference:
        # the reference is checked at ingest; the index serves joins to the parent (and, for
        # check-ins, finding the latest one before a date)
        time_column = ("checked_in_at",) if spec.name == "check_ins" else ()
        columns.append(Index(None, spec.reference[0], *time_column))
    columns.append(Column("run_id", RUN_ID, ForeignKey(ingest_runs.c.run_id), nullable=False))
    return Table(spec.name, metadata, *columns)


ENTITY_TABLES: dict[str, Table] = {name: _entity_table(spec) for name, spec in ENTITIES.items()}
# Key results always carry a due date once stored: the contract defaults it to the period end.
ENTITY_TABLES["key_results"].c.due_date.nullable = False

# --- versions: every state a mutable row has held, with the time it became true ---------------

VERSIONED = {
    "objectives": "objective_versions",
    "key_results": "key_result_versions",
    "milestones": "milestone_versions",
    "tasks": "task_versions",
}


def _version_table(entity: str, name: str) -> Table:
    """The entity's columns (its key no longer unique), the version's `valid_from` (the row's
    updated_at, else when it was ingested) and the run that wrote it. Among versions of one id
    with the same valid_from, the higher version_id is the later."""
    spec = ENTITIES[entity]
    source = ENTITY_TABLES[entity]
    columns: list[SchemaItem] = [
        Column("version_id", Integer, primary_key=True, autoincrement=True)
    ]
    for field in spec.fields:
        stored = source.c[field.name]
        columns.append(
            Column(field.name, stored.type, nullable=field.name != spec.key and stored.nullable)
        )
    columns += [
        Column("valid_from", TIMESTAMP, nullable=False),
        Column("run_id", RUN_ID, ForeignKey(ingest_runs.c.run_id), nullable=False),
        Index(None, spec.key, "valid_from"),
    ]
    return Table(name, metadata, *columns)


VERSION_TABLES: dict[str, Table] = {
    entity: _version_table(entity, name) for entity, name in VERSIONED.items()
}

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity", String(32), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("field", String(64)),
    Column("message", Text, nullable=False),
    Column("source", Text, nullable=False),  # file path or topic
    Column("line", Integer),  # line in the file (first line of a multi-line CSV row)
    Column("raw", Text, nullable=False),  # the original content (its start, if long)
    *raw_whole(),
    Column("fields", Text),  # the row as read (JSON), for retry; empty if unreadable
    Column("fingerprint", String(64), nullable=False),  # sha256 of entity + raw: one row each
    Column("times_seen", Integer, nullable=False),
    Column("first_run_id", RUN_ID, ForeignKey(ingest_runs.c.run_id), nullable=False),
    Column("last_run_id", RUN_ID, ForeignKey(ingest_runs.c.run_id), nullable=False),
    Column("first_seen_at", TIMESTAMP, nullable=False),
    Column("last_seen_at", TIMESTAMP, nullable=False),
    Column("resolved_at", TIMESTAMP),
    Column("resolved_run_id", RUN_ID, ForeignKey(ingest_runs.c.run_id)),
    UniqueConstraint("fingerprint"),
    Index(None, "reason"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_result_id", ID, nullable=False),
    Column("as_of", TIMESTAMP, nullable=False),
    Column("risk", Double, nullable=False),  # calibrated probability of missing
    Column("status", String(16), nullable=False),  # on_track | at_risk | off_track
    Column("reasons", Text, nullable=False),  # JSON: the top drivers with their direction
    Column("model_version", String(32), nullable=False),
    Column("feature_hash", String(64), nullable=False),  # sha256 of `features`
    # JSON: the feature values the model saw (lineage: the risk can be rebuilt from them and
    # the model version); empty on rows stored before they were kept (migration 0010)
    Column("features", Text),
    Column("created_at", TIMESTAMP, nullable=False),
    # added, never replaced: scoring an as-of again adds rows, the latest written is "the" one
    # (warehouse.latest); this index finds a key result's rows by as-of
    Index(None, "key_result_id", "as_of"),
    Index(None, "as_of"),
)

# --- the stream consumer's bookkeeping, written in the same transaction as the rows -----------

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", ID, primary_key=True),  # a redelivered event is found here: a no-op
    Column("outcome", String(16), nullable=False),  # stored | dead_lettered
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("processed_at", TIMESTAMP, nullable=False),
    Index(None, "processed_at"),  # retention and monitoring's counts go by it
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(255), nullable=False),  # where the message came from
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("event_id", ID),
    Column("reason", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("raw", Text, nullable=False),  # the original message, as text (its start, if long)
    *raw_whole(),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("published_at", TIMESTAMP),  # sent to the dead-letter topic (an outbox)
    UniqueConstraint("topic", "partition", "offset"),
    Index(None, "created_at"),  # retention and monitoring's counts go by it
    Index(None, "event_id"),  # a processed id stays while a letter of its event does
)

parked_events = Table(
    "parked_events",
    metadata,
    Column("event_id", ID, primary_key=True),  # waits for its parent to arrive
    Column("entity", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("raw", Text, nullable=False),
    *raw_whole(),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", TIMESTAMP, nullable=False),
    # the parent's id it waits for: it is tried again once that row exists
    Column("awaits", ID, index=True),
)

# --- pipeline runs (embedded scheduler, `okr run`, Airflow) and the REST source's cursors -------

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", RUN_ID, primary_key=True),
    Column("pipeline", String(64), nullable=False),  # etl | training | monitoring
    Column("trigger", String(16), nullable=False),  # manual | schedule | airflow
    Column("as_of", TIMESTAMP, nullable=False),
    Column("status", String(16), nullable=False),  # running | succeeded | failed | skipped
    Column("started_at", TIMESTAMP, nullable=False),
    Column("finished_at", TIMESTAMP),
    Column("error", Text),  # why it failed or was skipped
    Index(None, "pipeline", "started_at"),
)

task_runs = Table(
    "task_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, ForeignKey(pipeline_runs.c.run_id), nullable=False),
    Column("task", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),  # 1, then one more per retry
    Column("status", String(16), nullable=False),  # running | succeeded | failed
    Column("started_at", TIMESTAMP, nullable=False),
    Column("finished_at", TIMESTAMP),
    Column("duration_seconds", Double),
    Column("error", Text),
    Column("output", Text),  # JSON: what the task produced (counts, paths, versions)
    Index(None, "run_id"),
)

source_cursors = Table(
    "source_cursors",
    metadata,
    Column("source", String(255), primary_key=True),  # e.g. the REST source's base URL
    Column("entity", String(32), primary_key=True),
    Column("updated_since", String(64), nullable=False),  # as the source wrote it
    Column("pulled_at", TIMESTAMP, nullable=False),
)

# --- monitoring: its runs (the document each printed), alerts, performance estimates ----------

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", TIMESTAMP, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("document", Text, nullable=False),  # JSON: quality, drift, performance, alerts
    Column("report", Text),  # the HTML report's path
    Index(None, "as_of"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of condition and subject
    Column("condition", String(64), nullable=False),  # e.g. drift.dataset, pipeline.task_failed
    Column("subject", String(255), nullable=False),  # what it is about: a feature, a pipeline
    Column("severity", String(16), nullable=False),  # info | warning | critical
    Column("message", Text, nullable=False),
    Column("details", Text),  # JSON
    Column("status", String(16), nullable=False),  # open | acknowledged | cleared
    Column("first_raised_at", TIMESTAMP, nullable=False),
    Column("last_raised_at", TIMESTAMP, nullable=False),
    Column("last_notified_at", TIMESTAMP),  # channels are told again only after the window
    Column("times_raised", Integer, nullable=False),
    Column("acknowledged_at", TIMESTAMP),
    Column("cleared_at", TIMESTAMP),
    Index(None, "fingerprint"),
    Index(None, "status"),
)

performance_estimates = Table(
    "performance_estimates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", TIMESTAMP, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("cohort", String(64), nullable=False),  # the open key results it is about
    Column("key_results", Integer, nullable=False),
    Column("estimated", Text, nullable=False),  # JSON: miss_rate, auc, brier with intervals
    Column("realized", Text),  # JSON, once the cohort's outcomes are known
    Column("realized_at", TIMESTAMP),
    Index(None, "as_of"),
)

# --- the REST API: its bearer tokens and the audit log of writes and admin calls ---------------

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),  # viewer | editor | admin
    Column("token_hash", String(64), nullable=False),  # SHA-256 hex: the token itself is not kept
    Column("created_at", TIMESTAMP, nullable=False),
    Column("revoked_at", TIMESTAMP),
    Column("last_used_at", TIMESTAMP),
    UniqueConstraint("name"),
    UniqueConstraint("token_hash"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TIMESTAMP, nullable=False),
    Column("token_name", String(100)),  # None: no valid token was presented
    Column("role", String(16)),
    Column("remote_addr", String(64)),
    Column("method", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("operation_id", String(128), nullable=False),
    Column("status", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # allowed | refused | failed
    Index(None, "at"),
)
