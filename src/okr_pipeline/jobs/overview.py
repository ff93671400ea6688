"""The dashboard's overview of a quarter: per department, how far its key results have come
(attainment) and how many are at risk as of a date; and the trend of the risk of the quarter's
key results, day by day, from the risks stored for them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from okr_pipeline.config import Settings
from okr_pipeline.jobs.okrs import KeyResultFilters, key_results_as_of
from okr_pipeline.warehouse import OLDEST_FIRST, open_warehouse, predictions

__all__ = ["NO_DEPARTMENT", "Quarter", "department_overview", "quarter_of", "risk_trend"]

NO_DEPARTMENT = "(no department)"
AT_RISK = ("at_risk", "off_track")


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter: the period the overview reads."""

    start: date
    end: date  # its last day

    @property
    def name(self) -> str:
        return f"{self.start.year} Q{(self.start.month - 1) // 3 + 1}"


def quarter_of(moment: datetime) -> Quarter:
    """The calendar quarter `moment` falls in."""
    first_month = (moment.month - 1) // 3 * 3 + 1
    start = date(moment.year, first_month, 1)
    if first_month == 10:  # not "next 1 January less a day": there is no year 10000
        return Quarter(start, date(start.year, 12, 31))
    return Quarter(start, date(start.year, first_month + 3, 1) - timedelta(days=1))


def department_overview(settings: Settings, as_of: datetime) -> list[dict[str, Any]]:
    """Per department (by name, those without one last), the key results due in the quarter of
    `as_of`: how many, their mean score (attainment), how many closed achieved or missed, how
    many are open, and of those how many the latest stored risk calls at risk or off track."""
    quarter = quarter_of(as_of)
    due = [
        item
        for item in key_results_as_of(settings, KeyResultFilters(as_of=as_of))
        if quarter.start.isoformat() <= item["due_date"] <= quarter.end.isoformat()
        and not item["cancelled"]
    ]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in due:
        groups[item["department"] or NO_DEPARTMENT].append(item)
    order = sorted(groups, key=lambda name: (name == NO_DEPARTMENT, name))
    return [_summary(name, groups[name]) for name in order]


def _summary(department: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    open_items = [item for item in items if item["state"] == "open"]
    return {
        "department": department,
        "key_results": len(items),
        "attainment": sum(item["score"] for item in items) / len(items),
        "achieved": sum(item["outcome"] == "achieved" for item in items),
        "missed": sum(item["outcome"] == "missed" for item in items),
        "open": len(open_items),
        "at_risk": sum(item["risk_status"] == "at_risk" for item in open_items),
        "off_track": sum(item["risk_status"] == "off_track" for item in open_items),
    }


def risk_trend(settings: Settings, as_of: datetime) -> list[dict[str, Any]]:
    """Per day of the quarter of `as_of` up to it on which risks were stored, the latest risk
    of each key result scored that day: their mean, and how many were at risk or off track."""
    quarter = quarter_of(as_of)
    start = datetime.combine(quarter.start, time.min)
    query = (
        select(
            predictions.c.key_result_id,
            predictions.c.as_of,
            predictions.c.risk,
            predictions.c.status,
        )
        .where(predictions.c.as_of >= start, predictions.c.as_of <= as_of)
        .order_by(*OLDEST_FIRST)
    )
    latest: dict[date, dict[str, Any]] = defaultdict(dict)
    with open_warehouse(settings).connect() as conn:
        for row in conn.execute(query):
            latest[row.as_of.date()][row.key_result_id] = row  # a later one replaces it
    trend = []
    for day in sorted(latest):
        rows = latest[day].values()
        trend.append(
            {
                "day": day.isoformat(),
                "mean_risk": sum(row.risk for row in rows) / len(rows),
                "at_risk": sum(row.status in AT_RISK for row in rows),
                "scored": len(rows),
            }
        )
    return trend
