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

__all__ = ["CATEGORICAL", "FEATURES", "MONOTONE", "NUMERIC", "features_at"]

PRIOR_WEIGHT = 3.0  # pseudo-observations pulling a short record toward the overall
MIN_WINDOW = 1.0  # days: a rate over a shorter stretch (the first hours of a period) uses this
RECENT = 4  # the latest check-ins (and confidences) the slopes are fitted to
SLACK = 0.01  # progress per week added to both rates of required_vs_velocity
UNIFORM_SURGE = 0.25  # the late share of a straight line: owner_late_surge with no closures yet

NUMERIC = [
    "elapsed",
    "period_days",
    "days_left",
    "progress",
    "score",
    "pace",
    "gap",
    "pace_vs_cohort",
    "velocity_14d",
    "velocity_28d",
    "projected_score",
    "required_vs_velocity",
    "checkin_slope",
    "days_since_progress_rose",
    "checkin_count",
    "checkins_per_week",
    "days_since_checkin",
    "mean_checkin_gap_days",
    "last_confidence",
    "confidence_change",
    "mean_confidence",
    "confidence_trend",
    "confidence_vs_owner",
    "milestones_known",
    "milestone_done_share",
    "milestones_overdue",
    "milestones_done_vs_due",
    "tasks_planned",
    "task_done_share",
    "tasks_done_last_14d",
    "weight",
    "decrease",
    "owner_attainment",
    "owner_late_surge",
    "department_attainment",
    "sibling_count",
    "sibling_mean_score",
    "sibling_min_pace",
    "period_pace",
    "department_period_pace",
]
# no department: its names are those of one organisation (numeric department aggregates stay)
CATEGORICAL = ["metric_type", "priority"]
FEATURES = NUMERIC + CATEGORICAL

# The direction a feature can only move the risk of a miss in, the others held (+1: a higher
# value only raises it, -1: only lowers it), for the model's monotone constraints; only where
# that is certain by construction (velocities, slopes, trends and the owner's record are not:
# a stalled key result may be done, a confident owner may be over-confident).
MONOTONE: dict[str, int] = {
    "progress": -1,
    "score": -1,
    "pace": -1,
    "gap": -1,
    "projected_score": -1,
    "last_confidence": -1,
    "milestones_done_vs_due": -1,
    "milestones_overdue": +1,
    "required_vs_velocity": +1,
}


def _shrunk(count: float, total: float, prior: float) -> float:
    """The mean of `count` values summing to `total`, with PRIOR_WEIGHT more at `prior`."""
    return (total + PRIOR_WEIGHT * prior) / (count + PRIOR_WEIGHT)


def _attainment(record: OutcomeRecord | None, moment: float, prior: float) -> float:
    """Share achieved among key results closed before `moment`, shrunk toward `prior`. (How
    many closed is no feature: it only grows with time, so it tells the period, not the owner.)"""
    n, achieved = record.at(moment) if record else (0, 0)
    return _shrunk(n, achieved, prior)


def _slope(times: list[float], values: list[float], stop: int) -> float:
    """Least-squares slope per week of the RECENT values before `stop` over their times (in
    days); NaN with fewer than two distinct times."""
    start = max(stop - RECENT, 0)
    n = stop - start
    if n < 2:
        return math.nan
    ts, vs = times[start:stop], values[start:stop]
    mean_t, mean_v = sum(ts) / n, sum(vs) / n
    spread = covariance = 0.0
    for t, v in zip(ts, vs, strict=True):
        spread += (t - mean_t) ** 2
        covariance += (t - mean_t) * (v - mean_v)
    return 7.0 * covariance / spread if spread > 0.0 else math.nan


def _velocity(kr: KeyResultHistory, now: float, progress: float, window: float) -> float:
    """Progress gained per week over the last `window` days, or over the part of them since the
    period start (at least MIN_WINDOW days): early in a period the rate is over what passed."""
    since = min(max(now - window, kr.begin), now)
    return (progress - kr.progress_at(since)) / (max(now - since, MIN_WINDOW) / 7.0)


def _required_vs_velocity(kr: KeyResultHistory, now: float, progress: float) -> float:
    """Log of the weekly progress still required to reach the target by the due date (none once
    reached; at least a day left) over the weekly progress made since the period start (none if
    it fell), each plus SLACK: 0 on course, above 0 behind (a stalled key result
    log((required + SLACK) / SLACK)), bounded to [-5, 5]."""
    required = max(1.0 - progress, 0.0) / (max(kr.end - now, MIN_WINDOW) / 7.0)
    made = max(_velocity(kr, now, progress, math.inf), 0.0)
    return clip(math.log((required + SLACK) / (made + SLACK)), -5.0, 5.0)


def _days_since_progress_rose(kr: KeyResultHistory, now: float, n: int) -> float:
    """Days since the latest check-in at or before `now` that raised progress (the first one
    raises it from 0 when its progress is above 0); since the period start if none did."""
    rises = kr.rise_times if kr.target_value > kr.start_value else kr.fall_times
    i = bisect_right(rises, now)
    if i:
        return now - rises[i - 1]
    if n and kr.progress_of(kr.checkin_values[0]) > 0.0:
        return now - kr.checkin_times[0]
    return now - kr.begin


def _confidence_vs_owner(history: History, owner: str | None, given: float, at: float) -> float:
    """A confidence given at `at` minus the owner's mean confidence over the check-ins before
    it (of any key result), shrunk toward the mean of everyone's then (PRIOR_WEIGHT
    pseudo-observations); NaN when nobody gave one before."""
    n, total = history.overall_confidence.before(at)
    if not n:
        return math.nan
    record = history.owner_confidence.get(owner) if owner else None
    mine, mine_total = record.before(at) if record else (0, 0.0)
    return given - _shrunk(mine, mine_total, total / n)


def _late_surge(history: History, owner: str | None, now: float) -> float:
    """The owner's mean late share (of the final score, gained in the last quarter of the
    period) over their key results closed by `now`, shrunk toward everyone's (PRIOR_WEIGHT
    pseudo-observations; UNIFORM_SURGE before any closed)."""
    n, total = history.overall_surge.through(now)
    prior = total / n if n else UNIFORM_SURGE
    record = history.owner_surge.get(owner) if owner else None
    mine, mine_total = record.through(now) if record else (0, 0.0)
    return _shrunk(mine, mine_total, prior)


def _row(history: History, kr: KeyResultHistory, now: float) -> dict[str, object]:
    kr = kr.as_of(now)  # its attributes as they were then (the check-in lists are the same)
    span = max(kr.end - kr.begin, 1.0)
    elapsed = elapsed_share(kr, now)
    n = bisect_right(kr.checkin_times, now)
    progress = kr.progress_at(now)
    score = clip(progress, 0.0, 1.0)
    pace = pace_at(kr, now)
    v14 = _velocity(kr, now, progress, 14.0)  # per week
    v28 = _velocity(kr, now, progress, 28.0)
    days_left = max(kr.end - now, 0.0)
    times = kr.checkin_times
    c = bisect_right(kr.confidence_times, now)  # confidences given by now
    confidences = kr.confidence_values
    period_pace = history.cohort_pace(kr.begin, "*", now)

    # a milestone is known at D once it is due or done by D (rows carry no creation time)
    known = [(due, done, w) for due, done, w in kr.milestones_at(now) if due <= now or done <= now]
    milestone_weight = sum(w for _, _, w in known)
    done_weight = sum(w for _, done, w in known if done <= now)
    due_weight = sum(w for due, _, w in known if due <= now)
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
        "pace_vs_cohort": pace - period_pace,
        "velocity_14d": v14,
        "velocity_28d": v28,
        "projected_score": clip(progress + v28 / 7.0 * days_left, -1.0, 2.0),
        "required_vs_velocity": _required_vs_velocity(kr, now, progress),
        "checkin_slope": clip(  # progress is linear in the value
            _slope(times, kr.checkin_values, n) / (kr.target_value - kr.start_value), -5.0, 5.0
        )
        if n > 1
        else math.nan,
        "days_since_progress_rose": _days_since_progress_rose(kr, now, n),
        "checkin_count": n,
        "checkins_per_week": n / max((now - kr.begin) / 7.0, 1.0),
        "days_since_checkin": now - times[n - 1] if n else now - kr.begin,
        "mean_checkin_gap_days": (times[n - 1] - times[0]) / (n - 1) if n > 1 else math.nan,
        "last_confidence": confidences[c - 1] if c else math.nan,
        "confidence_change": confidences[c - 1] - confidences[0] if c else math.nan,
        "mean_confidence": kr.confidence_sums[c] / c if c else math.nan,
        "confidence_trend": clip(_slope(kr.confidence_times, confidences, c), -10.0, 10.0),
        "confidence_vs_owner": _confidence_vs_owner(
            history, kr.owner, confidences[c - 1], kr.confidence_times[c - 1]
        )
        if c
        else math.nan,
        "milestones_known": len(known),
        "milestone_done_share": done_weight / milestone_weight if milestone_weight else math.nan,
        "milestones_overdue": overdue,
        "milestones_done_vs_due": (done_weight - due_weight) / milestone_weight
        if milestone_weight
        else math.nan,
        "tasks_planned": len(planned),
        "task_done_share": tasks_done / planned_weight if planned_weight else math.nan,
        "tasks_done_last_14d": sum(1 for done, _ in planned if now - 14 < done <= now),
        "weight": kr.weight,
        "decrease": float(kr.target_value < kr.start_value),
        "owner_attainment": owner_rate,
        "owner_late_surge": _late_surge(history, kr.owner, now),
        "department_attainment": dept_rate,
        "sibling_count": len(others),
        "sibling_mean_score": sum(clip(p, 0.0, 1.0) for p in other_progress) / len(others)
        if others
        else math.nan,
        "sibling_min_pace": min(other_pace) if others else math.nan,
        "period_pace": period_pace,
        "department_period_pace": history.cohort_pace(kr.begin, kr.department or "", now),
        "metric_type": kr.metric_type,
        "priority": kr.priority,
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
