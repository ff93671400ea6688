"""Why a risk is what it is: the drivers someone can act on, each in points of the risk served.

A driver's tree-SHAP contribution (`RiskModel.contributions`) is in log-odds before calibration.
Here it is turned into what it does to the served probability: `points` is
100 * (p(raw) - p(raw - contribution)), p the calibrator, raw the booster's score, i.e. how many
percentage points of the risk the feature adds (negative: takes away) beside the others' values.

Only actionable features are named (`ACTIONABLE`: a short phrase and what to do); the context
of a key result (`CONTEXT`: how far its period has gone, its length, the pace of its period and
cohort, its weight, metric type, priority, the attainment records of its owner and
department) still counts in the risk but is never a reason: nobody can act on the calendar.
Every feature is in exactly one of the two (a test checks).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["ACTIONABLE", "CONTEXT", "Action", "reasons_of"]


MIN_POINTS = 0.05  # a driver moving the risk less is no reason


class Action(NamedTuple):
    phrase: str  # what the feature is, for a reader
    action: str  # what to do about it when it raises the risk


ACTIONABLE: dict[str, Action] = {
    "progress": Action("progress", "update the current value or plan how to close the gap"),
    "score": Action("score so far", "update the current value or plan how to close the gap"),
    "pace": Action("pace against plan", "plan how to catch up with the time elapsed"),
    "gap": Action("progress behind time elapsed", "plan how to catch up"),
    "velocity_14d": Action("progress in the last 14 days", "move the key result forward"),
    "velocity_28d": Action("progress in the last 28 days", "move the key result forward"),
    "projected_score": Action("projected score at the due date", "speed up or rescope"),
    "checkin_count": Action("check-ins", "check in"),
    "checkins_per_week": Action("check-ins per week", "check in more often"),
    "days_since_checkin": Action("days since the last check-in", "check in"),
    "mean_checkin_gap_days": Action("days between check-ins", "check in more often"),
    "last_confidence": Action("last confidence", "update the confidence"),
    "confidence_change": Action("change of confidence", "update the confidence"),
    "mean_confidence": Action("mean confidence", "update the confidence"),
    "milestones_known": Action("milestones", "set milestones"),
    "milestone_done_share": Action("share of milestones done", "finish the milestones due"),
    "milestones_overdue": Action("overdue milestones", "finish overdue milestones"),
    "tasks_planned": Action("tasks planned", "plan tasks"),
    "task_done_share": Action("share of tasks done", "finish planned tasks"),
    "tasks_done_last_14d": Action("tasks done in the last 14 days", "finish planned tasks"),
    "pace_vs_cohort": Action("pace against the period's other key results", "plan how to catch up"),
    "required_vs_velocity": Action(
        "progress needed per week against progress made", "speed up or rescope"
    ),
    "checkin_slope": Action("trend of the latest check-ins", "move the key result forward"),
    "days_since_progress_rose": Action(
        "days since progress last rose", "move the key result forward"
    ),
    "confidence_trend": Action("trend of confidence", "update the confidence"),
    "confidence_vs_owner": Action("confidence against the owner's usual", "update the confidence"),
    "milestones_done_vs_due": Action("milestones done against due", "finish the milestones due"),
    "sibling_mean_score": Action(
        "score of the objective's other key results", "review the objective's key results"
    ),
    "sibling_min_pace": Action(
        "pace of the objective's slowest key result", "review the objective's key results"
    ),
}

# counted in the risk, never named as a reason
CONTEXT: frozenset[str] = frozenset(
    {
        "elapsed",
        "period_days",
        "days_left",
        "weight",
        "decrease",
        "metric_type",
        "priority",
        "owner_attainment",
        "department_attainment",
        "sibling_count",
        "period_pace",
        "department_period_pace",
        "owner_late_surge",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.2f}"
    return str(value)


def reason(feature: str, value: Any, push: float, points: float) -> dict[str, Any]:
    """One reason: the feature, its value, its direction, its push in log-odds
    (`contribution`), in percentage points of the risk (`points`), and a sentence."""
    value = _plain(value)
    points = round(points, 2)
    direction = "raises_risk" if points > 0 else "lowers_risk"
    known = ACTIONABLE.get(feature)
    phrase = known.phrase if known else feature.replace("_", " ")
    text = f"{phrase}: {_shown(value)}, {direction.replace('_', ' ')} by {abs(points):.1f} pts"
    if known and points > 0:
        text += f"; {known.action}"
    return {
        "feature": feature,
        "value": value,
        "direction": direction,
        "contribution": round(push, 4),
        "points": points,
        "text": text,
    }


def reasons_of(
    features: pd.DataFrame,
    contributions: pd.DataFrame,
    raw: np.ndarray,
    calibrated: Any,
    top: int = 3,
) -> list[list[dict[str, Any]]]:
    """The `top` actionable drivers of each row by the points they move the risk.

    `contributions`: per row and feature, the push in log-odds (tree SHAP); `raw`: the
    booster's score of each row; `calibrated(scores)`: the served probability of raw scores."""
    names = [name for name in contributions.columns if name in ACTIONABLE]
    pushes = contributions[names].to_numpy(dtype=float)
    raw = np.asarray(raw, dtype=float).reshape(-1, 1)
    served = np.asarray(calibrated(raw.ravel()), dtype=float).reshape(-1, 1)
    without = np.asarray(calibrated((raw - pushes).ravel()), dtype=float).reshape(pushes.shape)
    points = 100 * (served - without)
    found = []
    for i in range(len(features)):
        # strongest first; a tie keeps the order of the features
        order = np.argsort(-np.abs(points[i]), kind="stable")[:top]
        order = order[np.abs(points[i, order]) >= MIN_POINTS]  # a push that rounds to nothing
        found.append(
            [
                reason(
                    names[j], features.iloc[i][names[j]], float(pushes[i, j]), float(points[i, j])
                )
                for j in order
            ]
        )
    return found
