"""plan_tasks.json: weekly plans as the planning tool's API returns them (contract section 3).

A plan holds weekly tasks, each with its daily tasks in ``planTask``. Tasks name their key result
in ``keyResultId``, or inherit it from the plan or their weekly task.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from .context import Context
from .schema import Row
from .vocabulary import PLAN_DESCRIPTIONS
from .writer import Output


class PlanExport:
    def __init__(self, ctx: Context, output: Output) -> None:
        self.ctx, self.output = ctx, output
        self._plans: dict[tuple[str, dt.date], Row] = {}  # by (owner, week)
        self._bad: list[tuple[Row, str]] = []  # task rows breaking a rule, and the rule

    def add(self, key: tuple[str, dt.date], weekly: Row, dailies: list[Row]) -> None:
        """A weekly task row and its daily task rows, into the plan of key (owner, Monday)."""
        ctx = self.ctx
        plan = self._plans.get(key)
        if plan is None:
            monday = key[1]
            plan = self._plans[key] = {
                "id": ctx.next_id("wp-", 6),
                "description": ctx.rng.choice(PLAN_DESCRIPTIONS).format(monday.isocalendar().week),
                "weekStart": monday.isoformat(),
                "tasks": [],
            }
        task = self._task(weekly)
        # Daily tasks often leave the key result to their weekly task.
        task["planTask"] = [self._task(d, explicit_kr=ctx.rng.random() < 0.3) for d in dailies]
        plan["tasks"].append(task)
        for _ in range(1 + len(dailies)):
            self.output.count_plan_task("stored")

    def add_bad(self, row: Row, reason: str) -> None:
        """A task row breaking a rule; placed (and booked) when the file is written."""
        self._bad.append((row, reason))

    def write(self, path: Path) -> None:
        plans = [self._hoist_key_result(plan) for plan in self._plans.values()]
        self._place_bad_tasks(plans)
        lines = ",\n".join(json.dumps(p, ensure_ascii=False) for p in plans)
        body = f"[\n{lines}\n]" if plans else "[]"
        if self.ctx.fmt_rng.random() < 0.5:  # the endpoint sometimes wraps the list
            body = '{"data": ' + body + "}"
        path.write_text(body + "\n", encoding="utf-8")

    def _task(self, row: Row, explicit_kr: bool = True) -> Row:
        enum = self.ctx.enum
        task: Row = {"id": row["task_id"], "task": row["title"], "weight": row["weight"]}
        if row.get("priority") is not None:
            task["priority"] = enum(row["priority"])
        if row.get("status") is not None:
            task["status"] = enum(row["status"])
        if explicit_kr and row.get("key_result_id") is not None:
            task["keyResultId"] = row["key_result_id"]
        return task

    def _hoist_key_result(self, plan: Row) -> Row:
        """Plans about one key result carry keyResultId at plan level; tasks inherit it."""
        rng = self.ctx.fmt_rng
        krs = {t.get("keyResultId") for t in plan["tasks"]}
        if len(krs) != 1 or None in krs or rng.random() < 0.25:
            return plan
        (kr_id,) = krs
        for task in plan["tasks"]:
            if rng.random() < 0.6:
                del task["keyResultId"]
        # A new dict, for the key order the endpoint uses.
        return {
            "id": plan["id"],
            "description": plan["description"],
            "keyResultId": kr_id,
            "weekStart": plan["weekStart"],
            "tasks": plan["tasks"],
        }

    def _place_bad_tasks(self, plans: list[Row]) -> None:
        rng = self.ctx.rng
        weeklies = [t for p in plans for t in p["tasks"]]  # valid ones only: taken up front
        for row, reason in self._bad:
            task = self._task(row)
            if reason == "missing_field":  # absent or null
                for name in ("id", "task"):
                    if name in task and task[name] is None and rng.random() < 0.5:
                        del task[name]
            if weeklies and rng.random() < 0.5:  # as a daily task of a valid weekly task
                rng.choice(weeklies)["planTask"].append(task)
            else:
                task["planTask"] = []  # a bad weekly task never has children
                if not plans:
                    plans.append(
                        {"id": self.ctx.next_id("wp-x", 4), "description": "Imported", "tasks": []}
                    )
                rng.choice(plans)["tasks"].append(task)
            self.output.count_plan_task(reason)
