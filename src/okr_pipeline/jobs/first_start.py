"""What `okr up` does before the system serves: whether the main job must fill the warehouse
first, and the admin token it makes on its first start (shown that once)."""

from __future__ import annotations

from sqlalchemy import exists, select

from okr_pipeline.config import Settings
from okr_pipeline.errors import ConflictError
from okr_pipeline.jobs.tokens import NewToken, create_token
from okr_pipeline.warehouse import ENTITY_TABLES, open_warehouse, predictions

__all__ = ["FIRST_ADMIN", "first_admin_token", "main_job_needed"]

FIRST_ADMIN = "admin"  # the name of the token `okr up` makes on its first start


def main_job_needed(settings: Settings) -> bool:
    """Whether the main job has yet to run: no key results, or no risk ever stored (the main
    job ends by storing risks; afterwards the training pipeline keeps them fresh)."""
    with open_warehouse(settings).connect() as conn:
        key_results = conn.execute(select(exists().select_from(ENTITY_TABLES["key_results"])))
        if not key_results.scalar_one():
            return True
        return not conn.execute(select(exists().select_from(predictions))).scalar_one()


def first_admin_token(settings: Settings) -> NewToken | None:
    """An admin token named FIRST_ADMIN, made if no token of that name was ever made (revoked
    ones count: a revoked first token is not made again); None otherwise. Two starts at once
    make one token: the other gets None."""
    try:
        return create_token(settings, FIRST_ADMIN, "admin")
    except ConflictError:
        return None
