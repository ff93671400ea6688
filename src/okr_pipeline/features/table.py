"""The feature table: one row per (key result, instant), from its history as of that instant.
The columns are documented in docs/features.md."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from okr_pipeline.core import days
from okr_pipeline.features.history import (
    History,
    KeyResultHistory,
    OutcomeRecord,
    clip,
    elapsed_share,
    pace_at,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CATEGORICAL", "FEATURES", "NUMERIC", "features_at"]

PRIOR_WEIGHT = 3.0  # pseudo-observations pulling a short attainment record toward the overall

NUMERIC = [
    "elapsed",
    "period_days",
    "days_left",
    "progress",
    "score",
    "pace",
    "gap",
    "velocity_14d",
    "velocity_28d",
    "projected_score",
    "checkin_count",
    "checkins_per_week",
    "days_since_checkin",
    "mean_checkin_gap_days",
    "last_confidence",
    "confidence_change",
    "mean_confidence",
    "milestones_known",
    "milestone_done_share",
    "milestones_overdue",
    "tasks_planned",
    "task_done_share",
    "tasks_done_last_14d",
    "weight",
    "decrease",
    "owner_attainment",
    "department_attainment",
    "sibling_count",
    "sibling_mean_score",
    "sibling_min_pace",
    "period_pace",
    "department_period_pace",
]
CATEGORICAL = ["metric_type", "priority", "department"]
FEATURES = NUMERIC + CATEGORICAL


def _attainment(record: OutcomeRecord | None, moment: float, prior: float) -> float:
    """Share achieved among key results closed before `moment`, shrunk toward `prior`. (How
    many closed is no feature: it only grows with time, so it tells the period, not the owner.)"""
    n, achieved = record.at(moment) if record else (0, 0)
    return (achieved + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)


def _row(history: History, kr: KeyResultHistory, now: float) -> dict[str, object]:
    kr = kr.as_of(now)  # its attributes as they were then
    span = max(kr.end - kr.begin, 1.0)
    elapsed = elapsed_share(kr, now)
    n = bisect_right(kr.checkin_times, now)
    progress = kr.progress_at(now)
    score = clip(progress, 0.0, 1.0)
    pace = pace_at(kr, now)
    v14 = (progress - kr.progress_at(now - 14)) / 2.0  # per week
    v28 = (progress - kr.progress_at(now - 28)) / 4.0
    days_left = max(kr.end - now, 0.0)
    times = kr.checkin_times[:n]
    confidences = [c for c in kr.checkin_confidence[:n] if not math.isnan(c)]

    # a milestone is known at D once it is due or done by D (rows carry no creation time)
    known = [(due, done, w) for due, done, w in kr.milestones_at(now) if due <= now or done <= now]
    milestone_weight = sum(w for _, _, w in known)
    done_weight = sum(w for _, done, w in known if done <= now)
    overdue = sum(1 for due, done, _ in known if due < now and done > now)
    planned = [
        (done, w) for planned_at, done, w in kr.tasks_at(now) if planned_at <= now or done <= now
    ]
    planned_weight = sum(w for _, w in planned)
    tasks_done = sum(w for done, w in planned if done <= now)

    prior = _attainment(history.overall, now, 0.6)
    owner_rate = _attainment(history.owners.get(kr.owner or ""), now, prior)
    dept_rate = _attainment(history.departments.get(kr.department or ""), now, prior)
    others = [
        history.key_results[s].as_of(now)
        for s in history.siblings[history.key_results[kr.id].objective_id]
        if s != kr.id
    ]
    other_progress = [o.progress_at(now) for o in others]
    other_pace = [pace_at(o, now) for o in others]
    return {
        "elapsed": elapsed,
        "period_days": span,
        "days_left": days_left,
        "progress": progress,
        "score": score,
        "pace": pace,
        "gap": progress - elapsed,
        "velocity_14d": v14,
        "velocity_28d": v28,
        "projected_score": clip(progress + v28 / 7.0 * days_left, -1.0, 2.0),
        "checkin_count": n,
        "checkins_per_week": n / max((now - kr.begin) / 7.0, 1.0),
        "days_since_checkin": now - times[-1] if n else now - kr.begin,
        "mean_checkin_gap_days": (times[-1] - times[0]) / (n - 1) if n > 1 else math.nan,
        "last_confidence": confidences[-1] if confidences else math.nan,
        "confidence_change": confidences[-1] - confidences[0] if confidences else math.nan,
        "mean_confidence": sum(confidences) / len(confidences) if confidences else math.nan,
        "milestones_known": len(known),
        "milestone_done_share": done_weight / milestone_weight if milestone_weight else math.nan,
        "milestones_overdue": overdue,
        "tasks_planned": len(planned),
        "task_done_share": tasks_done / planned_weight if planned_weight else math.nan,
        "tasks_done_last_14d": sum(1 for done, _ in planned if now - 14 < done <= now),
        "weight": kr.weight,
        "decrease": float(kr.target_value < kr.start_value),
        "owner_attainment": owner_rate,
        "department_attainment": dept_rate,
        "sibling_count": len(others),
        "sibling_mean_score": sum(clip(p, 0.0, 1.0) for p in other_progress) / len(others)
        if others
        else math.nan,
        "sibling_min_pace": min(other_pace) if others else math.nan,
        "period_pace": history.cohort_pace(kr.begin, "*", now),
        "department_period_pace": history.cohort_pace(kr.begin, kr.department or "", now),
        "metric_type": kr.metric_type,
        "priority": kr.priority,
        "department": kr.department,
    }


def features_at(history: History, pairs: Iterable[tuple[str, datetime]]) -> pd.DataFrame:
    """One row of features per (key result, instant), indexed by key_result_id and as_of."""
    import pandas as pd  # here: the CLI's data commands read history without it

    rows, index = [], []
    for kr_id, moment in pairs:
        rows.append(_row(history, history.key_results[kr_id], days(moment)))
        index.append((kr_id, moment))
    frame = pd.DataFrame(
        rows,
        columns=FEATURES,
        index=pd.MultiIndex.from_tuples(index, names=["key_result_id", "as_of"]),
    )
    frame[NUMERIC] = frame[NUMERIC].astype(float)  # counts too: any value may be missing
    for name in CATEGORICAL:
        frame[name] = frame[name].astype("object")
    return frame
