"""Rows that each break exactly one contract rule, with fresh ids (never parents of valid rows).

Each rule can be broken in a few ways (a ``Breaks`` table); the k-th row for a rule uses them in
turn. A bad row refers to real rows unless the rule it breaks is unknown_reference, which points
at ids of a series nobody has (``obj-missing-…``, ``kr-missing-…``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from .context import Context, midnight
from .key_results import KeyResult
from .schema import APPLICABLE, PRIORITIES, Row
from .vocabulary import DEPARTMENTS, MILESTONE_TITLES, OBJECTIVE_TITLES, TASK_TITLES
from .world import World

Breaks = dict[str, Sequence[Row]]  # rule -> ways to break it, as fields to overwrite
Build = Callable[[str, int], Row]  # (rule, k) -> a row breaking that rule

_BAD_TIMESTAMPS = ("yesterday", "31/03/2026 09:00", "last Friday")


def _nulls(*fields: str) -> list[Row]:
    return [{f: None} for f in fields]


def _each(field: str, values: Sequence[object]) -> list[Row]:
    return [{field: v} for v in values]


def _bad_dates(day: dt.date) -> tuple[str, str, str]:
    return (f"{day.year}-02-30", f"{day.day:02d}/{day.month:02d}/{day.year}", f"{day.year}-13-01")


_OBJECTIVE: Breaks = {
    "missing_field": _nulls("objective_id", "title", "period_start", "period_end"),
    "invalid_timestamp": _each("updated_at", _BAD_TIMESTAMPS),
    "invalid_enum": ({"status": "paused"}, {"priority": "urgent"}, {"status": "done"}),
}
_KEY_RESULT: Breaks = {
    "missing_field": _nulls(
        "key_result_id", "objective_id", "title", "metric_type", "target_value"
    ),
    "invalid_number": (
        {"target_value": "ten"}, {"start_value": "N/A"}, {"target_value": "1,000"},
        {"weight": "N/A"},
    ),
    "invalid_timestamp": _each("updated_at", _BAD_TIMESTAMPS),
    "invalid_enum": _each("metric_type", ("ratio", "KPI", "okr")),
    "out_of_range": _each("weight", (0, -1, -0.5)),
    # an absent start means 0
    "target_equals_start": (
        {"start_value": 5, "target_value": 5}, {"start_value": None, "target_value": 0},
        {"start_value": 12.5, "target_value": 12.5},
    ),
}  # fmt: skip
_CHECK_IN: Breaks = {
    "missing_field": _nulls("check_in_id", "key_result_id", "checked_in_at", "value"),
    "invalid_number": (
        {"value": "N/A"}, {"value": "1,000"}, {"value": "ten"}, {"confidence": "high"},
    ),
    "invalid_timestamp": _each("checked_in_at", _BAD_TIMESTAMPS),
    "out_of_range": _each("confidence", (14, -1, 11)),
}  # fmt: skip
_MILESTONE: Breaks = {
    "missing_field": _nulls("milestone_id", "key_result_id", "title"),
    "invalid_number": _each("weight", ("N/A", "one", "1,5")),
    "invalid_timestamp": _each("completed_at", _BAD_TIMESTAMPS),
    "out_of_range": _each("weight", (0, -1)),
}
_TASK: Breaks = {
    "missing_field": _nulls("task_id", "title"),
    "invalid_number": _each("weight", ("ten", "N/A", "2,5")),
    "invalid_enum": ({"status": "finished"}, {"priority": "urgent"}, {"status": "wip"}),
    "out_of_range": _each("weight", (0, -2)),
}


def _broken(row: Row, ways: Sequence[Row], k: int) -> Row:
    row.update(ways[k % len(ways)])
    return row


class BadRows:
    """Builders of bad rows per entity, drawing real references from the world and key results."""

    def __init__(self, ctx: Context, world: World, krs: list[KeyResult]) -> None:
        self.ctx, self.world, self.krs = ctx, world, krs
        self.builders: dict[str, Build] = {
            "objectives": self.objective,
            "key_results": self.key_result,
            "check_ins": self.check_in,
            "milestones": self.milestone,
            "tasks": self.task,
        }

    def many(self, entity: str, size: int) -> list[tuple[float, Row, str]]:
        """A few rows per applicable rule, proportional to the entity's size (valid rows).

        Each comes with a random position among the valid rows and the rule it breaks.
        """
        build = self.builders[entity]
        n = max(1, round(0.003 * size))
        out = []
        for reason in APPLICABLE[entity]:
            for k in range(n):
                out.append((self.ctx.rng.uniform(0, size), build(reason, k), reason))
        return out

    def _valid_instant(self) -> tuple[KeyResult, dt.datetime]:
        """A key result that has started and an instant inside its period, before the cutoff."""
        rng = self.ctx.rng
        while True:
            kr = rng.choice(self.krs)
            stop = min(kr.end, self.ctx.cutoff)
            if kr.begin < stop:
                return kr, kr.begin + (stop - kr.begin) * rng.random()

    def objective(self, reason: str, k: int) -> Row:
        ctx, rng, world = self.ctx, self.ctx.rng, self.world
        dept = rng.randrange(len(DEPARTMENTS))
        start, end = world.quarters[rng.randrange(len(world.quarters) - 1)]  # a past quarter
        row: Row = {
            "objective_id": ctx.next_id("obj-x", 4),
            "title": rng.choice(OBJECTIVE_TITLES[dept]),
            "department": DEPARTMENTS[dept],
            "owner_id": rng.choice(world.owners).id,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "status": "active",
            "priority": rng.choice(PRIORITIES),
            "updated_at": ctx.ts(midnight(start), 0),
        }
        if reason == "invalid_date":
            name, day = (("period_start", start), ("period_end", end))[k % 2]
            row[name] = _bad_dates(day)[k % 3]
            return row
        if reason == "period_order":
            row["period_start"], row["period_end"] = end.isoformat(), start.isoformat()
            return row
        return _broken(row, _OBJECTIVE[reason], k)

    def key_result(self, reason: str, k: int) -> Row:
        ctx, rng = self.ctx, self.ctx.rng
        obj = rng.choice(self.world.objectives)
        row: Row = {
            "key_result_id": ctx.next_id("kr-x", 5),
            "objective_id": obj.id,
            "title": rng.choice(("Imported KR", "Close 12 deals", "Legacy metric, please map")),
            "metric_type": "number",
            "start_value": 0,
            "target_value": 12,
            "weight": 1,
            "owner_id": rng.choice(self.world.owners).id,
        }
        if reason == "invalid_date":
            row["due_date"] = _bad_dates(self.world.quarters[obj.quarter][1])[k % 3]
            return row
        if reason == "unknown_reference":
            row["objective_id"] = self.ctx.next_id("obj-missing-", 4)
            return row
        return _broken(row, _KEY_RESULT[reason], k)

    def check_in(self, reason: str, k: int) -> Row:
        kr, instant = self._valid_instant()
        row: Row = {
            "check_in_id": self.ctx.next_id("ci-x", 6),
            "key_result_id": kr.id,
            "checked_in_at": self.ctx.ts(instant, kr.actor.zone),
            "value": kr.start,
            "confidence": 5,
            "author_id": kr.actor.id,
        }
        if reason == "unknown_reference":
            row["key_result_id"] = self.ctx.next_id("kr-missing-", 5)
            return row
        return _broken(row, _CHECK_IN[reason], k)

    def milestone(self, reason: str, k: int) -> Row:
        kr, instant = self._valid_instant()
        due = kr.end.date() - dt.timedelta(days=1)
        row: Row = {
            "milestone_id": self.ctx.next_id("ms-x", 5),
            "key_result_id": kr.id,
            "title": self.ctx.rng.choice(MILESTONE_TITLES),
            "due_date": due.isoformat(),
            "completed_at": self.ctx.ts(instant, kr.actor.zone) if k % 2 else None,
            "weight": 1,
        }
        if reason == "invalid_date":
            row["due_date"] = _bad_dates(due)[k % 3]
            return row
        if reason == "unknown_reference":
            row["key_result_id"] = self.ctx.next_id("kr-missing-", 5)
            return row
        return _broken(row, _MILESTONE[reason], k)

    def task(self, reason: str, k: int) -> Row:
        kr, instant = self._valid_instant()
        row: Row = {
            "task_id": self.ctx.next_id("t-x", 6),
            "title": self.ctx.rng.choice(TASK_TITLES),
            "key_result_id": kr.id,
            "weight": 1,
            "priority": "medium",
            "status": "todo",
            "planned_for": instant.date().isoformat(),
            "updated_at": self.ctx.ts(instant, kr.actor.zone),
        }
        if reason == "invalid_date":
            row["planned_for"] = _bad_dates(instant.date())[k % 3]
            return row
        if reason == "invalid_timestamp":
            row[("completed_at", "updated_at")[k % 2]] = _BAD_TIMESTAMPS[k % 3]
            return row
        if reason == "unknown_reference":
            row["key_result_id"] = self.ctx.next_id("kr-missing-", 5)
            return row
        return _broken(row, _TASK[reason], k)
