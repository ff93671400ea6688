"""raw content: long content keeps its start, with the length and sha256 of the whole

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("quarantine", "dead_letters", "parked_events")


def upgrade() -> None:
    # rows stored before this revision hold their raw content whole: both stay empty
    for table in TABLES:
        op.add_column(table, sa.Column("raw_length", sa.BigInteger(), nullable=True))
        op.add_column(table, sa.Column("raw_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("raw_sha256")
            batch.drop_column("raw_length")
