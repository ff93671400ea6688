"""predictions keep their features and are added, not replaced

Each prediction keeps the feature values it was computed from (`features`, JSON; empty on rows
stored before), and scoring an as-of again adds rows instead of replacing them: the unique
constraint on (key_result_id, as_of, model_version) becomes a plain index on
(key_result_id, as_of), which finds a key result's latest prediction.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("features", sa.Text(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_predictions_key_result_id"), type_="unique")
        batch_op.create_index(
            batch_op.f("ix_predictions_key_result_id"), ["key_result_id", "as_of"], unique=False
        )


def downgrade() -> None:
    # the unique constraint again: of the rows one key result has for one as-of and version,
    # the latest written stays
    predictions = sa.table(
        "predictions",
        sa.column("id", sa.Integer()),
        sa.column("key_result_id", sa.String()),
        sa.column("as_of", sa.DateTime()),
        sa.column("model_version", sa.String()),
    )
    kept = (
        sa.select(sa.func.max(predictions.c.id))
        .group_by(predictions.c.key_result_id, predictions.c.as_of, predictions.c.model_version)
        .scalar_subquery()
    )
    op.execute(predictions.delete().where(predictions.c.id.not_in(kept)))
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_key_result_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_predictions_key_result_id"),
            ["key_result_id", "as_of", "model_version"],
        )
        batch_op.drop_column("features")
