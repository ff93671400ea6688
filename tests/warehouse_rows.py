"""The warehouse's entity rows, for tests that compare what two ways of loading stored."""

from __future__ import annotations

from sqlalchemy import Engine, select

from okr_pipeline.contract.rules import ENTITIES
from okr_pipeline.warehouse.tables import ENTITY_TABLES


def entity_rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every entity row without its lineage (run_id), by key."""
    rows = {}
    with engine.connect() as conn:
        for name, spec in ENTITIES.items():
            table = ENTITY_TABLES[name]
            columns = [table.c[field] for field in spec.field_names]
            rows[name] = [
                tuple(row) for row in conn.execute(select(*columns).order_by(table.c[spec.key]))
            ]
    return rows
