"""parked events: the parent each one waits for

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows parked before this revision have none: they are tried with every batch, as before
    op.add_column("parked_events", sa.Column("awaits", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_parked_events_awaits"), "parked_events", ["awaits"])


def downgrade() -> None:
    op.drop_index(op.f("ix_parked_events_awaits"), table_name="parked_events")
    op.drop_column("parked_events", "awaits")
