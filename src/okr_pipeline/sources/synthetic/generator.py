"""``generate_bundle``: the order in which a bundle is simulated and written.

The order is part of the output: every step draws from the same random stream, so moving a step
changes every row after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import mess
from .bad_rows import BadRows
from .context import Context
from .key_results import KeyResult, build_key_results
from .observations import check_ins, milestones
from .plans import PlanExport
from .schema import Row
from .tasks import Tasks
from .world import World, build_world
from .writer import Output


def generate_bundle(
    out_dir: Path,
    *,
    seed: int = 0,
    scale: float = 1.0,
    messy: bool = False,
    as_of: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write a synthetic export bundle to ``out_dir`` and return its manifest.

    The manifest is ``{"rows": {entity: rows written}, "expected": {entity: {"read", "stored",
    "unchanged", "quarantined", "by_reason"}}, "files": {entity: [file names]}, "as_of": iso}``;
    rows from plan_tasks.json count as tasks. ``progress`` is called with the number of rows
    written since its previous call (an increment, e.g. for a progress bar's ``update(n)``),
    every few thousand rows and once at the end for the rest; the increments add up to the total
    number of rows written.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(seed=seed, scale=scale, messy=messy, as_of=as_of or dt.date.today())
    world = build_world(ctx)
    krs = build_key_results(ctx, world)
    output = Output(out, ctx, progress)
    plans = PlanExport(ctx, output)
    try:
        bad = BadRows(ctx, world, krs)
        _write_parents(ctx, output, bad, "objectives", [o.row for o in world.objectives], 0.03)
        _write_parents(ctx, output, bad, "key_results", [kr.row for kr in krs], 0.015)
        if messy:
            mess.schedule_bad_children(ctx, bad, len(krs), output, plans)
        _write_children(ctx, world, krs, output, plans)
    finally:
        output.close()
    plans.write(out / "plan_tasks.json")
    return {
        "rows": output.finish(),
        "expected": output.books.expected(),
        "files": output.files,
        "as_of": ctx.as_of.isoformat(),
    }


def _write_parents(
    ctx: Context, output: Output, bad: BadRows, entity: str, rows: list[Row], older_share: float
) -> None:
    """Objectives or key results; in messy mode mixed with older versions and bad rows."""
    items = [(float(i), row, "stored") for i, row in enumerate(rows)]
    if ctx.messy:
        items += mess.older_versions(ctx, rows, older_share)
        items += bad.many(entity, len(rows))
    for _, row, outcome in sorted(items, key=lambda item: item[0]):
        output.emit(entity, row, outcome)


def _write_children(
    ctx: Context, world: World, krs: list[KeyResult], output: Output, plans: PlanExport
) -> None:
    """Milestones, check-ins and tasks key result by key result, with the rows held back."""
    tasks = Tasks(ctx, output, plans)
    for i, kr in enumerate(krs):
        for row in milestones(ctx, kr):  # first: check-in values follow them
            output.emit("milestones", row)
        for row in check_ins(ctx, kr, world.dept_owners[kr.obj.dept]):
            mess.emit_check_in(ctx, output, i, row)
        tasks.add(kr, i)
        output.release(i)
    output.release_all()
