"""Key results: metric, start and target, due date, and the hidden path their progress follows.

The path's end point comes from owner skill, department, quarter, objective, priority, ambition
and weight plus noise; shocks and late pushes bend it. Everything observed later (check-ins,
milestones, tasks) is a noisy reading of this path.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from .context import Context, midnight, num
from .draws import clamp
from .schema import Row
from .vocabulary import KR_TEMPLATES
from .world import Objective, Owner, World

_METRICS = ("percentage", "number", "currency", "boolean", "milestone")
_METRIC_WEIGHTS = (0.25, 0.3, 0.14, 0.12, 0.19)
_PRIORITY_EFFECT = {"critical": 0.06, "high": 0.03, "medium": 0.0, "low": -0.05, None: 0.0}


@dataclass(slots=True)
class Path:
    """Latent progress (0 = start, 1 = target) as a function of the elapsed share t."""

    f0: float  # baseline execution: progress reached at t = 1 without shock or push
    k: float  # shape: > 1 back-loaded
    shock: float  # sudden gain or loss, phased in after ts
    ts: float
    push: float  # late-quarter push when behind

    def at(self, t: float) -> float:
        p = self.f0 * t**self.k if t > 0 else 0.0
        if self.shock and t > self.ts:
            p += self.shock * min(1.0, (t - self.ts) / 0.15)
        if self.push and t > 0.75:
            p += self.push * min(1.0, (t - 0.75) / 0.25) ** 1.5
        return p


@dataclass(slots=True)
class KeyResult:
    id: str
    obj: Objective
    actor: Owner  # whose habits drive check-ins and tasks (always the owner, for now)
    metric: str
    start: float
    target: float
    decimals: int
    cumulative: bool  # the value never goes back (counts, booked revenue)
    begin: dt.datetime
    end: dt.datetime  # end of the due day
    path: Path
    milestone_levels: tuple[float, ...]
    row: Row  # as exported, plus "_updated": the instant behind updated_at
    done_at: dt.datetime | None = None  # boolean KRs: when the value became 1
    ms_done: list[dt.datetime] = field(default_factory=list)  # milestone KRs

    @property
    def span(self) -> dt.timedelta:
        return self.end - self.begin

    def frac(self, instant: dt.datetime) -> float:
        """Elapsed share of the period at instant."""
        return (instant - self.begin) / self.span

    def stop(self, cutoff: dt.datetime) -> dt.datetime:
        """Nothing about a key result happens after its due day, the cutoff or cancellation."""
        stop = min(self.end, cutoff)
        cancel = self.obj.cancel_at
        return stop if cancel is None or cancel > stop else cancel


def build_key_results(ctx: Context, world: World) -> list[KeyResult]:
    rng = ctx.rng
    krs = []
    for obj in world.objectives:
        for _ in range(rng.choices((2, 3, 4, 5), (0.2, 0.35, 0.3, 0.15))[0]):
            krs.append(_new_key_result(ctx, world, obj))
    return krs


def _show(x: float) -> str:
    """A number as people write it in a title (thousands separators are fine in free text)."""
    return f"{x:,.0f}" if abs(x) >= 10000 else f"{x:g}"


def _new_key_result(ctx: Context, world: World, obj: Objective) -> KeyResult:
    rng = ctx.rng
    metric = rng.choices(_METRICS, _METRIC_WEIGHTS)[0]
    down = metric in ("percentage", "number", "currency") and rng.random() < 0.23
    template, unit = rng.choice(KR_TEMPLATES[(metric, "down" if down else "up")])
    ambition = rng.gauss(0, 1)
    cumulative = metric in ("number", "currency") and not down and "{s}" not in template
    start, target, decimals = _values(ctx, metric, down, cumulative, ambition)
    owner = _owner(ctx, world, obj)
    weight = rng.choices((1, 2, 3, 0.5, 1.5), (0.6, 0.2, 0.07, 0.06, 0.07))[0]
    q_start, q_end = world.quarters[obj.quarter]
    due = _due_date(ctx, q_start, q_end)
    kid = ctx.next_id("kr-", 6)
    row: Row = {
        "key_result_id": kid,
        "objective_id": obj.id,
        "title": template.format(s=_show(start), t=_show(target)),
        "metric_type": ctx.enum(metric),
        # An omitted start means 0 (contract default), so some exports leave it out.
        "start_value": None if start == 0 and rng.random() < 0.35 else start,
        "target_value": target,
        "unit": unit or None,
        "weight": None if weight == 1 and rng.random() < 0.3 else weight,
        "owner_id": owner.id if rng.random() > 0.05 else None,
        "due_date": due.isoformat() if due is not None else None,
    }
    begin = midnight(q_start)
    end = midnight((due or q_end) + dt.timedelta(days=1))
    updated = _updated(ctx, begin, end)
    row["updated_at"] = ctx.ts(updated, owner.zone) if rng.random() > 0.08 else None
    row["_updated"] = updated if row["updated_at"] else None
    path = _path(ctx, world, obj, owner, ambition, weight)
    levels: tuple[float, ...] = ()
    if metric == "milestone":
        levels = tuple((i + 1) / target for i in range(int(target)))
    elif rng.random() < 0.12:  # checkpoints on other key results
        levels = (0.5, 1.0)
    return KeyResult(
        id=kid,
        obj=obj,
        actor=owner,
        metric=metric,
        start=start,
        target=target,
        decimals=decimals,
        cumulative=cumulative,
        begin=begin,
        end=end,
        path=path,
        milestone_levels=levels,
        row=row,
    )


def _owner(ctx: Context, world: World, obj: Objective) -> Owner:
    rng = ctx.rng
    if rng.random() < 0.1:  # cross-department ownership
        return rng.choice(world.owners)
    return rng.choice(world.dept_owners[obj.dept])


def _values(
    ctx: Context, metric: str, down: bool, cumulative: bool, a: float
) -> tuple[float, float, int]:
    """start, target, decimals; the target's size reflects (noisily) the hidden ambition a."""
    rng = ctx.rng
    if metric == "boolean":
        return 0, 1, 0
    if metric == "milestone":
        return 0, rng.randint(3, 5) + (a > 0.8), 0
    stretch = math.exp(0.35 * a)
    if metric == "percentage":
        if down:
            s = round(rng.uniform(3, 30), 1)
            t = round(s * (1 - clamp(0.25 + 0.1 * a + rng.gauss(0, 0.05), 0.08, 0.75)), 1)
        else:
            s = round(rng.uniform(10, 75), 1)
            t = round(min(99.5, s + (4 + 12 * rng.random()) * stretch), 1)
        return num(s, 1), num(t if t != s else s + (-0.5 if down else 0.5), 1), 1
    # Numbers and currency: negative decimals round currency to hundreds or thousands.
    is_number = metric == "number"
    if cumulative:
        nd = 0 if is_number else -3
        t = max(2.0, (15.0 if is_number else 250000.0) * math.exp(rng.gauss(0, 0.8) + 0.25 * a))
        return 0, num(max(t, 10**-nd), nd), nd
    if down:
        nd = 0 if is_number else -2
        s = max(8.0, (40.0 if is_number else 80000.0) * math.exp(rng.gauss(0, 0.7)))
        t = s * (1 - clamp(0.28 + 0.1 * a + rng.gauss(0, 0.05), 0.1, 0.8))
        s, t = num(s, nd), num(t, nd)
        return s, (t if t < s else s - 10**-nd), nd
    nd = 0 if is_number else -3
    s = max(5.0, (120.0 if is_number else 400000.0) * math.exp(rng.gauss(0, 0.9)))
    t = s * (1 + (0.1 + 0.12 * rng.random()) * stretch * 1.5)
    s, t = num(s, nd), num(t, nd)
    return s, (t if t > s else s + 10**-nd), nd


def _due_date(ctx: Context, start: dt.date, end: dt.date) -> dt.date | None:
    r = ctx.rng.random()
    if r < 0.72:  # empty: the objective's period_end
        return None
    if r < 0.85:
        return end
    if r < 0.95:  # end of the quarter's second month
        return dt.date(start.year, start.month + 2, 1) - dt.timedelta(days=1)
    return start + dt.timedelta(days=ctx.rng.randint(40, 80))


def _updated(ctx: Context, begin: dt.datetime, end: dt.datetime) -> dt.datetime:
    rng = ctx.rng
    created = begin - dt.timedelta(days=rng.uniform(0, 10))
    if rng.random() < 0.3:  # revised during the period
        created += (min(end, ctx.cutoff) - begin) * rng.uniform(0, 0.5)
    return ctx.before_cutoff(created)


def _path(
    ctx: Context, world: World, obj: Objective, owner: Owner, ambition: float, weight: float
) -> Path:
    rng = ctx.rng
    f0 = (
        0.88
        + 0.17 * owner.skill
        + world.dept_effect[obj.dept]
        + world.quarter_effect[obj.quarter]
        + obj.effect
        + _PRIORITY_EFFECT[obj.priority]
        - 0.11 * ambition
        + 0.03 * (weight - 1)
        + rng.gauss(0, 0.2)
    )
    if obj.status == "on_hold":
        f0 *= 0.7
    k = owner.backload * math.exp(rng.gauss(0, 0.2))
    shock = rng.gauss(-0.1, 0.22) if rng.random() < 0.3 else 0.0
    path = Path(f0, k, shock, rng.uniform(0.25, 0.85), 0.0)
    behind = path.at(0.7) < 0.5
    if rng.random() < (0.25 + 0.1 * owner.skill if behind else 0.08):
        path.push = rng.uniform(0.05, 0.3)
    return path
