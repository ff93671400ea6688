"""indexes for the stream's retention

Pruning finds processed event ids and dead letters by age, and keeps a processed id while a dead
letter of its event is kept: indexes on processed_events.processed_at, dead_letters.created_at
and dead_letters.event_id (monitoring's daily counts use the first two as well).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_processed_events_processed_at"), "processed_events", ["processed_at"])
    op.create_index(op.f("ix_dead_letters_created_at"), "dead_letters", ["created_at"])
    op.create_index(op.f("ix_dead_letters_event_id"), "dead_letters", ["event_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dead_letters_event_id"), table_name="dead_letters")
    op.drop_index(op.f("ix_dead_letters_created_at"), table_name="dead_letters")
    op.drop_index(op.f("ix_processed_events_processed_at"), table_name="processed_events")
