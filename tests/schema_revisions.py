"""Moving a test warehouse to an older schema revision, as a deployment of that time left it."""

from __future__ import annotations

from sqlalchemy import Engine


def to_revision(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade (or with `down`, downgrade) the warehouse's schema to `revision`."""
    from alembic import command
    from alembic.config import Config

    from okr_pipeline.warehouse.engine import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
