"""Tasks: a few weekly tasks per key result, each with daily tasks, whose completion follows the
key result's execution. Owners on the planning API have them in plan_tasks.json, the others in
tasks.csv (grouped into weekly plans by ``plan_id`` there as well).
"""

from __future__ import annotations

import datetime as dt

from . import mess
from .context import Context, midnight
from .draws import clamp, cumulative, int_between, one_of, weighted
from .key_results import KeyResult
from .plans import PlanExport
from .schema import PRIORITIES, Row
from .vocabulary import TASK_TITLES
from .writer import Output

_WEEKLY_TASKS = cumulative((1, 2, 3), (0.3, 0.4, 0.3))
_DAILY_TASKS = cumulative((0, 1, 2, 3), (0.2, 0.3, 0.3, 0.2))
_WEIGHTS = cumulative((1, 2, 3, 0.5), (0.55, 0.25, 0.1, 0.1))
_PRIORITIES = cumulative((None, *PRIORITIES), (0.1, 0.2, 0.4, 0.22, 0.08))
# Status of a task not done, by cumulative share.
_NOT_DONE = (("in_progress", 0.35), ("blocked", 0.6), ("cancelled", 0.75))


class Tasks:
    def __init__(self, ctx: Context, output: Output, plans: PlanExport) -> None:
        self.ctx, self.output, self.plans = ctx, output, plans
        self._csv_plans: dict[tuple[str, dt.date], str] = {}  # plan_id by (owner, week)

    def add(self, kr: KeyResult, slot: int) -> None:
        """The tasks of key result number ``slot``."""
        rng = self.ctx.rng
        weeks = self._weeks(kr)
        if not weeks:
            return
        n = weighted(rng, _WEEKLY_TASKS)
        for monday in sorted(one_of(rng, weeks) for _ in range(n)):
            weekly = self._row(kr, monday, None)
            dailies = [
                self._row(kr, monday + dt.timedelta(days=int_between(rng, 0, 4)), weekly)
                for _ in range(weighted(rng, _DAILY_TASKS))
            ]
            key = (kr.actor.id, monday)
            if kr.actor.plan_api:
                self.plans.add(key, weekly, dailies)
            else:
                self._write_csv(key, slot, weekly, dailies)

    def _weeks(self, kr: KeyResult) -> list[dt.date]:
        """Mondays of the key result's weeks, planned up to two weeks ahead of as_of."""
        first = kr.begin.date() - dt.timedelta(days=kr.begin.weekday())
        last = min(kr.end.date() - dt.timedelta(days=1), self.ctx.as_of + dt.timedelta(days=14))
        return [first + dt.timedelta(days=7 * w) for w in range((last - first).days // 7 + 1)]

    def _row(self, kr: KeyResult, day: dt.date, parent: Row | None) -> Row:
        ctx, rng = self.ctx, self.ctx.rng
        status, completed, updated = self._state(kr, day, parent)
        return {
            "task_id": ctx.next_id("t-", 7),
            "title": one_of(rng, TASK_TITLES),
            "parent_task_id": parent["task_id"] if parent else None,
            "key_result_id": kr.id,
            "weight": weighted(rng, _WEIGHTS),
            "priority": weighted(rng, _PRIORITIES),
            "status": status,
            "planned_for": day.isoformat(),
            "completed_at": ctx.ts(completed, kr.actor.zone) if completed else None,
            "updated_at": ctx.ts(updated, kr.actor.zone) if rng.random() > 0.05 else None,
            "_updated": updated,
        }

    def _state(
        self, kr: KeyResult, day: dt.date, parent: Row | None
    ) -> tuple[str, dt.datetime | None, dt.datetime]:
        """status, completed_at, updated_at; done-ness follows the key result's execution."""
        ctx, rng = self.ctx, self.ctx.rng
        start = midnight(day)
        cancel = kr.obj.cancel_at
        if cancel is not None and cancel <= start + dt.timedelta(days=3):
            cancelled = ctx.before_cutoff(cancel + dt.timedelta(hours=rng.uniform(1, 72)))
            return "cancelled", None, cancelled
        if start >= ctx.cutoff:  # planned ahead
            created = start - dt.timedelta(days=rng.uniform(1, 6))
            return "todo", None, ctx.before_cutoff(created)
        if parent is not None and parent["status"] in ("todo", "cancelled"):
            return parent["status"], None, parent["_updated"]
        t = kr.frac(start + dt.timedelta(days=3.5))
        health = kr.path.f0 + (kr.path.shock if t > kr.path.ts else 0.0)
        p_done = clamp(0.2 + 0.6 * health, 0.05, 0.95)
        if parent is not None and parent["status"] == "done":
            p_done = max(p_done, 0.85)
        status = self._status(p_done)
        if status == "done":
            completed = start + dt.timedelta(hours=rng.uniform(4, 24 * (1 if parent else 6)))
            if completed < ctx.cutoff:
                return "done", completed, completed + dt.timedelta(minutes=int_between(rng, 0, 90))
            status = "in_progress"  # would be done only after the snapshot
        return status, None, ctx.before_cutoff(start + dt.timedelta(hours=rng.uniform(1, 160)))

    def _status(self, p_done: float) -> str:
        r = self.ctx.rng.random()
        if r < p_done:
            return "done"
        rest = (r - p_done) / (1 - p_done)
        return next((status for status, below in _NOT_DONE if rest < below), "todo")

    def _write_csv(
        self, key: tuple[str, dt.date], slot: int, weekly: Row, dailies: list[Row]
    ) -> None:
        ctx, rng = self.ctx, self.ctx.rng
        plan_id = self._csv_plans.get(key)
        if plan_id is None:
            plan_id = self._csv_plans[key] = ctx.next_id("wp-", 6)
        for row in (weekly, *dailies):
            row["plan_id"] = plan_id
            if row is not weekly and rng.random() < 0.2:
                row["key_result_id"] = None  # daily tasks often only point at their parent
            row["status"] = ctx.enum(row["status"])
            row["priority"] = ctx.enum(row["priority"])
            mess.emit_task(ctx, self.output, slot, row)
