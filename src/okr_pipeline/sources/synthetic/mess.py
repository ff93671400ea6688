"""Messy mode's row-level mess and where it goes in the files.

Besides the rows from ``bad_rows``, messy bundles repeat valid rows: older versions (same id, an
older updated_at, another title) before or after the current one, and check-ins re-sent later in
other words. Ingestion must count each repeat as unchanged.
"""

from __future__ import annotations

import datetime as dt

from .bad_rows import BadRows
from .context import ZONES, Context
from .plans import PlanExport
from .schema import PLAN_REASONS, Row
from .vocabulary import OLD_TITLES
from .writer import Output


def older(ctx: Context, row: Row) -> Row:
    """An older version of row: other title, updated some hours to a month earlier."""
    rng = ctx.rng
    old = dict(row)
    old["title"] = rng.choice(OLD_TITLES).format(row["title"])
    instant = row["_updated"] - dt.timedelta(hours=rng.uniform(6, 24 * 30))
    old["updated_at"] = ctx.ts(instant, rng.randrange(len(ZONES)))
    old["_updated"] = instant
    return old


def older_versions(ctx: Context, rows: list[Row], share: float) -> list[tuple[float, Row, str]]:
    """Older versions of a share of rows, each at a position before or after its row."""
    rng = ctx.rng
    candidates = [i for i, r in enumerate(rows) if r["_updated"] is not None]
    n = min(len(candidates), max(2, round(share * len(rows))))
    out = []
    for j, i in enumerate(rng.sample(candidates, n)):
        old = older(ctx, rows[i])
        key = rng.uniform(0, i) if j % 2 == 0 else rng.uniform(i + 0.01, len(rows))
        out.append((key, old, "unchanged"))
    return out


def emit_check_in(ctx: Context, output: Output, slot: int, row: Row) -> None:
    """A check-in; in messy mode rarely re-sent after one of the next key results."""
    output.emit("check_ins", row)
    if ctx.messy and ctx.rng.random() < 0.006:
        output.defer(slot + ctx.rng.randint(0, 40), "check_ins", row, "unchanged", resend=True)


def emit_task(ctx: Context, output: Output, slot: int, row: Row) -> None:
    """A task for tasks.csv; in messy mode rarely with an older version just before it or later."""
    rng = ctx.rng
    if not (ctx.messy and row["updated_at"] and rng.random() < 0.005):
        output.emit("tasks", row)
    elif rng.random() < 0.5:
        output.emit("tasks", _older_task(ctx, row), "unchanged")
        output.emit("tasks", row)
    else:
        output.emit("tasks", row)
        later = slot + rng.randint(0, 30)
        output.defer(later, "tasks", _older_task(ctx, row), "unchanged")


def _older_task(ctx: Context, row: Row) -> Row:
    old = older(ctx, row)
    old["status"], old["completed_at"] = "todo", None
    return old


def schedule_bad_children(
    ctx: Context, bad: BadRows, n_krs: int, output: Output, plans: PlanExport
) -> None:
    """Spread bad check-ins, milestones and tasks over the files (after a random key result).

    Some bad tasks go to plan_tasks.json instead, if that shape can carry their fault.
    """
    rng = ctx.rng
    sizes = (("check_ins", 7 * n_krs), ("milestones", n_krs // 3), ("tasks", 5 * n_krs))
    for entity, size in sizes:
        # The position drawn with each row is not used here: a key result index is drawn instead.
        for _, row, reason in bad.many(entity, size):
            if entity == "tasks" and reason in PLAN_REASONS and rng.random() < 0.3:
                plans.add_bad(row, reason)
            else:
                output.defer(rng.randrange(n_krs), entity, row, reason)
