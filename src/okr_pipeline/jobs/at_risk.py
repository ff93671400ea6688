"""What the dashboard's list of key results at risk adds to the API's key results: why each is
at risk (the reasons of its latest stored risk) and the departments and owners it filters by."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, union

from okr_pipeline.config import Settings
from okr_pipeline.warehouse import ENTITY_TABLES, latest_predictions, open_warehouse, predictions

__all__ = ["filter_choices", "risk_reasons"]


def risk_reasons(
    settings: Settings, key_result_ids: Sequence[str], as_of: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Per key result of `key_result_ids`, the reasons of the risk stored latest for an as-of
    at or before `as_of` (its strongest actionable drivers, in points of the risk; see
    model.reasons)."""
    if not key_result_ids:
        return {}
    latest = latest_predictions(
        predictions.c.as_of <= as_of,
        predictions.c.key_result_id.in_(key_result_ids),
        columns=(predictions.c.key_result_id, predictions.c.reasons),
    )
    with open_warehouse(settings).connect() as conn:
        rows = conn.execute(latest)
        return {row.key_result_id: json.loads(row.reasons) for row in rows}


def filter_choices(settings: Settings) -> dict[str, list[str]]:
    """The departments and the owners (of key results, else of their objectives) there are,
    each sorted: what the list offers to filter by."""
    krs, objectives = ENTITY_TABLES["key_results"], ENTITY_TABLES["objectives"]
    owners = union(
        select(krs.c.owner_id.label("owner")).where(krs.c.owner_id.is_not(None)),
        select(objectives.c.owner_id.label("owner"))
        .join(krs, krs.c.objective_id == objectives.c.objective_id)
        .where(krs.c.owner_id.is_(None), objectives.c.owner_id.is_not(None)),
    ).subquery()
    with open_warehouse(settings).connect() as conn:
        departments = conn.execute(
            select(objectives.c.department)
            .where(objectives.c.department.is_not(None))
            .distinct()
            .order_by(objectives.c.department)
        ).scalars()
        found = {"departments": list(departments)}
        found["owners"] = list(
            conn.execute(select(owners.c.owner).order_by(owners.c.owner)).scalars()
        )
    return found
