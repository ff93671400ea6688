"""The same point of earlier periods: what "usual" means for a figure that moves through a quarter.

Volume of check-ins, progress, confidence, the counts of check-ins and tasks: all of them grow or
swing within a period, so the current value is compared with the values at the same point of
earlier periods of its kind, never with a mix of all points.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, func, select

from okr_pipeline.warehouse import ENTITY_TABLES

__all__ = ["Period", "SamePoint", "objective_periods", "same_point"]

# an earlier period is the same kind of period as the current one if its length is this close
SAME_LENGTH = timedelta(days=7)
Period = tuple[date, date]  # (period_start, period_end) of objectives


@dataclass(frozen=True)
class SamePoint:
    current: Period  # the period holding D with the most objectives
    earlier: list[tuple[Period, datetime]]  # oldest first, each with D's offset into it


def objective_periods(conn: Connection) -> Counter[Period]:
    """Objectives per (period_start, period_end)."""
    objectives = ENTITY_TABLES["objectives"]
    query = select(objectives.c.period_start, objectives.c.period_end, func.count()).group_by(
        objectives.c.period_start, objectives.c.period_end
    )
    return Counter({(start, end): n for start, end, n in conn.execute(query)})


def same_point(periods: Counter[Period], as_of: datetime) -> SamePoint | None:
    """The current period and the earlier periods of about its length that ended before it
    began, each with the instant as far from its start as `as_of` is from the current one's;
    None when no period holds `as_of`."""
    day = as_of.date()
    holding = [p for p in periods if p[0] <= day <= p[1]]
    if not holding:
        return None
    current = max(holding, key=lambda p: (periods[p], p))
    offset = as_of - datetime.combine(current[0], datetime.min.time())
    length = current[1] - current[0]
    starts: dict[date, Period] = {}
    for period in sorted(periods, key=lambda p: (periods[p], p)):  # the most common last: kept
        if period[1] < current[0] and abs((period[1] - period[0]) - length) <= SAME_LENGTH:
            starts[period[0]] = period
    earlier = [
        (starts[start], datetime.combine(start, datetime.min.time()) + offset)
        for start in sorted(starts)
    ]
    return SamePoint(current, earlier)
