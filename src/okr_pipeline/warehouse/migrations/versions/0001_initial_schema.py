"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "started_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=False
        ),
        sa.Column(
            "finished_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column("report", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_ingest_runs")),
    )
    op.create_table(
        "check_ins",
        sa.Column("check_in_id", sa.String(length=255), nullable=False),
        sa.Column("key_result_id", sa.String(length=255), nullable=False),
        sa.Column(
            "checked_in_at",
            sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"),
            nullable=False,
        ),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author_id", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ingest_runs.run_id"], name=op.f("fk_check_ins_run_id")
        ),
        sa.PrimaryKeyConstraint("check_in_id", name=op.f("pk_check_ins")),
    )
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_check_ins_key_result_id"),
            ["key_result_id", "checked_in_at"],
            unique=False,
        )

    op.create_table(
        "key_results",
        sa.Column("key_result_id", sa.String(length=255), nullable=False),
        sa.Column("objective_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("metric_type", sa.String(length=32), nullable=False),
        sa.Column("start_value", sa.Double(), nullable=False),
        sa.Column("target_value", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=True),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ingest_runs.run_id"], name=op.f("fk_key_results_run_id")
        ),
        sa.PrimaryKeyConstraint("key_result_id", name=op.f("pk_key_results")),
    )
    with op.batch_alter_table("key_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_key_results_objective_id"), ["objective_id"], unique=False
        )

    op.create_table(
        "milestones",
        sa.Column("milestone_id", sa.String(length=255), nullable=False),
        sa.Column("key_result_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column(
            "completed_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ingest_runs.run_id"], name=op.f("fk_milestones_run_id")
        ),
        sa.PrimaryKeyConstraint("milestone_id", name=op.f("pk_milestones")),
    )
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_milestones_key_result_id"), ["key_result_id"], unique=False
        )

    op.create_table(
        "objectives",
        sa.Column("objective_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=255), nullable=True),
        sa.Column("owner_id", sa.String(length=255), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=32), nullable=True),
        sa.Column("parent_objective_id", sa.String(length=255), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ingest_runs.run_id"], name=op.f("fk_objectives_run_id")
        ),
        sa.PrimaryKeyConstraint("objective_id", name=op.f("pk_objectives")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.Column("first_run_id", sa.String(length=36), nullable=False),
        sa.Column("last_run_id", sa.String(length=36), nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=False
        ),
        sa.Column(
            "resolved_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column("resolved_run_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["first_run_id"], ["ingest_runs.run_id"], name=op.f("fk_quarantine_first_run_id")
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"], ["ingest_runs.run_id"], name=op.f("fk_quarantine_last_run_id")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_run_id"], ["ingest_runs.run_id"], name=op.f("fk_quarantine_resolved_run_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_quarantine_fingerprint")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_reason"), ["reason"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("plan_id", sa.String(length=255), nullable=True),
        sa.Column("parent_task_id", sa.String(length=255), nullable=True),
        sa.Column("key_result_id", sa.String(length=255), nullable=True),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("priority", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("planned_for", sa.Date(), nullable=True),
        sa.Column(
            "completed_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column(
            "updated_at", sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle"), nullable=True
        ),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["ingest_runs.run_id"], name=op.f("fk_tasks_run_id")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_key_result_id"), ["key_result_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_key_result_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_reason"))

    op.drop_table("quarantine")
    op.drop_table("objectives")
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_milestones_key_result_id"))

    op.drop_table("milestones")
    with op.batch_alter_table("key_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_results_objective_id"))

    op.drop_table("key_results")
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_ins_key_result_id"))

    op.drop_table("check_ins")
    op.drop_table("ingest_runs")
