"""One key result's risk as of a date: the one stored, or computed on demand by the champion.

Without a date it is the risk stored latest (for an as-of up to now). With one it is the risk
stored for exactly that as-of (as `okr predict --as-of` and the training pipeline store them);
when none was, it is computed as `okr predict` would compute it, with the champion the process
holds (see model.serving), and not stored. A key result has a risk only while it is open: its
period has begun, its due date has not passed and its objective is not cancelled.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, select

from okr_pipeline.config import Settings
from okr_pipeline.core import instant, now_utc
from okr_pipeline.errors import InputError, NotFoundError
from okr_pipeline.features import load_history, open_at
from okr_pipeline.warehouse import ENTITY_TABLES, NEWEST_FIRST, open_warehouse, predictions

__all__ = ["key_result_risk"]


def _lookup(latest: bool) -> Select[Any]:
    """The statement finding a key result and the risk stored for it: the latest for an as-of
    up to `:as_of`, or the one for exactly `:as_of` (the latest written if several were, as
    warehouse.latest orders them), in one
    indexed query. A key result without one gives a row of nulls beside its id; an unknown id
    gives no row. Made once: building a statement costs more than running it."""
    krs = ENTITY_TABLES["key_results"]
    when = (
        predictions.c.as_of <= bindparam("as_of")
        if latest
        else predictions.c.as_of == bindparam("as_of")
    )
    joined = krs.outerjoin(
        predictions, and_(predictions.c.key_result_id == krs.c.key_result_id, when)
    )
    return (
        select(
            krs.c.key_result_id,
            predictions.c.as_of,
            predictions.c.risk,
            predictions.c.status,
            predictions.c.reasons,
            predictions.c.model_version,
            predictions.c.created_at,
        )
        .select_from(joined)
        .where(krs.c.key_result_id == bindparam("key_result_id"))
        .order_by(*NEWEST_FIRST)
        .limit(1)
    )


_LATEST, _EXACT = _lookup(latest=True), _lookup(latest=False)


def _stored(conn: Connection, key_result_id: str, as_of: datetime | None) -> dict[str, Any] | None:
    """The risk stored for exactly `as_of` (None: the latest for an as-of up to now); None if
    there is none; NotFoundError for an unknown key result."""
    statement = _LATEST if as_of is None else _EXACT
    row = conn.execute(
        statement, {"key_result_id": key_result_id, "as_of": as_of or now_utc()}
    ).first()
    if row is None:
        raise NotFoundError(f"no key result {key_result_id!r}")
    if row.as_of is None:
        return None
    return {
        "as_of": row.as_of,
        "risk": row.risk,
        "status": row.status,
        "reasons": json.loads(row.reasons),
        "model_version": row.model_version,
        "stored": True,
        "created_at": row.created_at,
    }


def key_result_risk(
    settings: Settings, key_result_id: str, as_of: datetime | None = None
) -> dict[str, Any]:
    """The risk of one key result as of `as_of` (None: the latest stored), stored or computed
    (`stored` says which); NotFoundError for an unknown key result or one not open then,
    NoChampionError when it must be computed and there is no champion."""
    with open_warehouse(settings).connect() as conn:
        found = _stored(conn, key_result_id, as_of)
        if found is not None:
            return {"key_result_id": key_result_id, **found}
        moment = as_of or now_utc()
        if moment > now_utc():
            raise InputError(
                f"as_of {moment.isoformat()} is in the future and no risk is stored for it: "
                "a risk is computed only from what is known by its as-of"
            )
        # every key result's history: the features compare it with its siblings, its owner's
        # and department's record, and the quarter of everyone who started with it
        history = load_history(conn, settings.model.achievement_threshold)
    kr = history.key_results[key_result_id]
    if kr.cancelled or key_result_id not in open_at(history, moment):
        why = "its objective is cancelled" if kr.cancelled else "it is not open then"
        raise NotFoundError(
            f"key result {key_result_id!r} has no risk as of {moment.isoformat()}: {why} "
            f"(its period runs from {instant(kr.begin).date()} to {kr.due_date})"
        )
    from okr_pipeline.model import score, served_champion  # the model stack: only to compute

    champion = served_champion(settings)
    scores = score(settings, history, moment, champion.version, champion.model, [key_result_id])
    return {
        "key_result_id": key_result_id,
        "as_of": moment,
        "risk": scores.risks[0],
        "status": scores.statuses[0],
        "reasons": scores.reasons[0],
        "model_version": champion.version.version,
        "stored": False,
        "created_at": None,
    }
