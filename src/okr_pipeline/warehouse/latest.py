"""The prediction of a key result: the latest of its stored rows.

Predictions are added, never replaced: scoring an as-of again (another run, the same model or
not) adds rows with a later `created_at`, and the earlier ones stay as lineage. Whoever wants
"the" prediction of a key result takes the latest row among those a query selects: the latest
as-of, then the latest written (then the higher id). Every reader orders by `NEWEST_FIRST` (or
its reverse, `OLDEST_FIRST`, when a later row replaces an earlier one as they are read) or
selects through `latest_predictions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.sql.elements import KeyedColumnElement

from okr_pipeline.warehouse.tables import predictions

__all__ = ["NEWEST_FIRST", "OLDEST_FIRST", "latest_predictions"]

NEWEST_FIRST = (
    predictions.c.as_of.desc(),
    predictions.c.created_at.desc(),
    predictions.c.id.desc(),
)
OLDEST_FIRST = (predictions.c.as_of, predictions.c.created_at, predictions.c.id)


def latest_predictions(
    *where: ColumnElement[bool],
    columns: Sequence[KeyedColumnElement[Any]] | None = None,
) -> Select[Any]:
    """The latest stored prediction of each key result among the rows meeting `where`: a
    statement selecting `columns` of `predictions` (all by default), one row per key result."""
    wanted = list(columns) if columns is not None else list(predictions.c)
    if not any(column.key == "key_result_id" for column in wanted):
        wanted.insert(0, predictions.c.key_result_id)
    rank = (
        func.row_number()
        .over(partition_by=predictions.c.key_result_id, order_by=NEWEST_FIRST)
        .label("latest_rank")
    )
    ranked = select(*wanted, rank).where(*where).subquery()
    return select(*(ranked.c[column.key] for column in wanted)).where(ranked.c.latest_rank == 1)
