"""versions of mutable rows: objectives, key results, milestones and tasks as they were

Each version table holds its entity's columns, `valid_from` (when the version became true: the
row's updated_at, else the time it was ingested) and the run that wrote it. The upgrade backfills
one version per existing row, valid from its updated_at, else its ingest run's start.

Revision ID: 0009
Revises: 0008
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle")

# version table -> (entity table, its key)
ENTITIES = {
    "objective_versions": ("objectives", "objective_id"),
    "key_result_versions": ("key_results", "key_result_id"),
    "milestone_versions": ("milestones", "milestone_id"),
    "task_versions": ("tasks", "task_id"),
}
# version table -> (column, type, nullable), in order; then valid_from and run_id
COLUMNS: dict[str, tuple[tuple[str, Any, bool], ...]] = {
    "objective_versions": (
        ("objective_id", sa.String(length=255), False),
        ("title", sa.Text(), False),
        ("department", sa.String(length=255), True),
        ("owner_id", sa.String(length=255), True),
        ("period_start", sa.Date(), False),
        ("period_end", sa.Date(), False),
        ("status", sa.String(length=32), False),
        ("priority", sa.String(length=32), True),
        ("parent_objective_id", sa.String(length=255), True),
        ("updated_at", TIMESTAMP, True),
        ("valid_from", TIMESTAMP, False),
        ("run_id", sa.String(length=36), False),
    ),
    "key_result_versions": (
        ("key_result_id", sa.String(length=255), False),
        ("objective_id", sa.String(length=255), False),
        ("title", sa.Text(), False),
        ("metric_type", sa.String(length=32), False),
        ("start_value", sa.Double(), False),
        ("target_value", sa.Double(), False),
        ("unit", sa.String(length=255), True),
        ("weight", sa.Double(), False),
        ("owner_id", sa.String(length=255), True),
        ("due_date", sa.Date(), False),
        ("updated_at", TIMESTAMP, True),
        ("valid_from", TIMESTAMP, False),
        ("run_id", sa.String(length=36), False),
    ),
    "milestone_versions": (
        ("milestone_id", sa.String(length=255), False),
        ("key_result_id", sa.String(length=255), False),
        ("title", sa.Text(), False),
        ("due_date", sa.Date(), True),
        ("completed_at", TIMESTAMP, True),
        ("weight", sa.Double(), False),
        ("valid_from", TIMESTAMP, False),
        ("run_id", sa.String(length=36), False),
    ),
    "task_versions": (
        ("task_id", sa.String(length=255), False),
        ("title", sa.Text(), False),
        ("plan_id", sa.String(length=255), True),
        ("parent_task_id", sa.String(length=255), True),
        ("key_result_id", sa.String(length=255), True),
        ("weight", sa.Double(), False),
        ("priority", sa.String(length=32), True),
        ("status", sa.String(length=32), False),
        ("planned_for", sa.Date(), True),
        ("completed_at", TIMESTAMP, True),
        ("updated_at", TIMESTAMP, True),
        ("valid_from", TIMESTAMP, False),
        ("run_id", sa.String(length=36), False),
    ),
}


def upgrade() -> None:
    for name, columns in COLUMNS.items():
        entity, key = ENTITIES[name]
        op.create_table(
            name,
            sa.Column("version_id", sa.Integer(), autoincrement=True, nullable=False),
            *(sa.Column(column, kind, nullable=nullable) for column, kind, nullable in columns),
            sa.ForeignKeyConstraint(
                ["run_id"], ["ingest_runs.run_id"], name=op.f(f"fk_{name}_run_id")
            ),
            sa.PrimaryKeyConstraint("version_id", name=op.f(f"pk_{name}")),
        )
        op.create_index(op.f(f"ix_{name}_{key}"), name, [key, "valid_from"])
        # one version per existing row, in key order (so version ids follow it)
        fields = [column for column, _, _ in columns if column not in ("valid_from", "run_id")]
        started = "(SELECT r.started_at FROM ingest_runs r WHERE r.run_id = e.run_id)"
        since = f"COALESCE(e.updated_at, {started})" if "updated_at" in fields else started
        listed = ", ".join(fields)
        op.execute(
            f"INSERT INTO {name} ({listed}, valid_from, run_id) "
            f"SELECT {', '.join('e.' + f for f in fields)}, {since}, e.run_id "
            f"FROM {entity} e ORDER BY e.{key}"
        )


def downgrade() -> None:
    for name, (_, key) in reversed(ENTITIES.items()):
        op.drop_index(op.f(f"ix_{name}_{key}"), table_name=name)
        op.drop_table(name)
