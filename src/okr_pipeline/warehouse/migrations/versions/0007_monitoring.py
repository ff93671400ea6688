"""monitoring: runs, alerts, performance estimates

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(oracle.TIMESTAMP(), "oracle")


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    op.create_index(op.f("ix_monitor_runs_as_of"), "monitor_runs", ["as_of"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_raised_at", TIMESTAMP, nullable=False),
        sa.Column("last_raised_at", TIMESTAMP, nullable=False),
        sa.Column("last_notified_at", TIMESTAMP, nullable=True),
        sa.Column("times_raised", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", TIMESTAMP, nullable=True),
        sa.Column("cleared_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_fingerprint"), "alerts", ["fingerprint"])
    op.create_index(op.f("ix_alerts_status"), "alerts", ["status"])
    op.create_table(
        "performance_estimates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", TIMESTAMP, nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("cohort", sa.String(length=64), nullable=False),
        sa.Column("key_results", sa.Integer(), nullable=False),
        sa.Column("estimated", sa.Text(), nullable=False),
        sa.Column("realized", sa.Text(), nullable=True),
        sa.Column("realized_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_estimates")),
    )
    op.create_index(op.f("ix_performance_estimates_as_of"), "performance_estimates", ["as_of"])


def downgrade() -> None:
    op.drop_index(op.f("ix_performance_estimates_as_of"), table_name="performance_estimates")
    op.drop_table("performance_estimates")
    op.drop_index(op.f("ix_alerts_status"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_fingerprint"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_monitor_runs_as_of"), table_name="monitor_runs")
    op.drop_table("monitor_runs")
