"""The dashboard's pages about objectives and key results (a viewer's): the overview of the
quarter, the key results at risk, and one key result with its chart."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.context import page_limit, settings
from okr_pipeline.api.dashboard.charts import Axis, Series, time_chart
from okr_pipeline.api.dashboard.site import site
from okr_pipeline.api.dashboard.view import PageQuery, as_of, query, render
from okr_pipeline.api.models import Text, sort_order

__all__: list[str] = []

KeyResultSort = sort_order(jobs.KEY_RESULT_SORTS)
Shown = Literal["at_risk", "off_track", "on_track", "all"]  # which open key results are listed


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)


@site.page("/", role="viewer")
def overview() -> str:
    """The quarter by department: attainment and key results at risk; the trend of risk."""
    page = query(PageQuery)
    moment = as_of(page)
    quarter = jobs.quarter_of(moment)
    departments = jobs.department_overview(settings(), moment)
    trend = jobs.risk_trend(settings(), moment)
    chart = None
    if trend:
        start = datetime.combine(quarter.start, time.min)
        end = datetime.combine(quarter.end, time.max)
        days = [(datetime.combine(date.fromisoformat(t["day"]), time(12)), t) for t in trend]
        chart = time_chart(
            "risk-trend",
            f"Risk over {quarter.name}",
            "Mean stored risk of the key results scored each day, and the share of them at "
            "risk or off track.",
            [
                Series("mean risk", [(at, t["mean_risk"]) for at, t in days], "risk"),
                Series(
                    "share at risk",
                    [(at, t["at_risk"] / t["scored"]) for at, t in days],
                    "share",
                ),
            ],
            start=start,
            end=end,
            left=Axis("risk", 0.0, 1.0),
            marker=(min(moment, end), "as of"),
        )
    totals = {
        key: sum(d[key] for d in departments)
        for key in ("key_results", "achieved", "missed", "open", "at_risk", "off_track")
    }
    return render(
        "overview.html",
        as_of=moment,
        quarter=quarter,
        departments=departments,
        no_department=jobs.NO_DEPARTMENT,
        totals=totals,
        trend=trend,
        chart=chart,
    )


class KeyResultListQuery(PageQuery):
    department: Text | None = None
    owner: Text | None = None
    status: Shown = Field("at_risk", description="at_risk: at risk or off track")
    sort: KeyResultSort = "-risk"  # type: ignore[valid-type]
    cursor: str | None = Field(None, min_length=1, max_length=1024)
    limit: int | None = Field(None, ge=1)


@site.page("/key-results", role="viewer")
def key_results() -> str:
    """The open key results at risk (or of another status), filtered, sorted, a page at a time,
    each with the reasons of its risk."""
    page = query(KeyResultListQuery)
    moment = as_of(page)
    thresholds = settings().model.risk_thresholds
    filters = jobs.KeyResultFilters(
        as_of=moment,
        department=page.department,
        owner=page.owner,
        state="open",
        status=None if page.status in ("at_risk", "all") else page.status,
        min_risk=thresholds.at_risk if page.status == "at_risk" else None,
    )
    found = jobs.key_results_page(
        settings(), filters, sort=page.sort, cursor=page.cursor, limit=page_limit(page.limit)
    )
    ids = [item["key_result_id"] for item in found.items]
    return render(
        "key_results.html",
        as_of=moment,
        page=page,
        items=found.items,
        next_cursor=found.next_cursor,
        reasons=jobs.risk_reasons(settings(), ids, moment),
        choices=jobs.filter_choices(settings()),
        sorts=list(jobs.KEY_RESULT_SORTS),
    )


@site.page("/key-results/<key_result_id>", role="viewer")
def key_result(key_result_id: str) -> str:
    """One key result: progress against the ideal pace and its risk over time in one chart,
    its check-ins with confidence, milestones and tasks."""
    page = query(PageQuery)
    moment = as_of(page)
    record = jobs.key_result_timeline(settings(), key_result_id, moment)
    shown = [r for r in record["risk_history"] if r["as_of"] <= moment.isoformat()]
    return render(
        "key_result.html",
        as_of=moment,
        kr=record,
        chart=_progress_chart(record, moment),
        reasons=shown[-1]["reasons"] if shown else [],
    )


def _progress_chart(record: dict[str, Any], moment: datetime) -> Any:
    progress = [(_instant(p["at"]), p["progress"]) for p in record["progress_series"]]
    pace = [(_instant(p["at"]), p["progress"]) for p in record["pace_series"]]
    risk = [(_instant(r["at"]), r["risk"]) for r in record["risk_series"]]
    values = [value for _, value in progress]
    return time_chart(
        "key-result-chart",
        f"Progress and risk of {record['title']}",
        "Progress at each check-in against the ideal pace from the period's start to the due "
        "date, and the risk stored for the key result over time (right axis).",
        [
            Series("ideal pace", pace, "pace", markers=False),
            Series("progress", progress, "progress"),
            Series("risk", risk, "risk", right=True),
        ],
        start=pace[0][0],
        end=pace[-1][0],
        left=Axis("progress", min([0.0, *values]), max([1.0, *values])),
        right=Axis("risk", 0.0, 1.0),
        marker=(moment, "as of") if pace[0][0] <= moment <= pace[-1][0] else None,
    )
