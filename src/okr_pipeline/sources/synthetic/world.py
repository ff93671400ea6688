"""The organisation: departments, owners with hidden traits, and eight quarters of objectives.

Owners, departments, quarters and objectives carry hidden effects that later shape how their key
results progress; the effects are centred so that the overall miss rate does not swing with the
seed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from .context import ZONE_WEIGHTS, ZONES, Context, midnight
from .draws import clamp
from .schema import PRIORITIES, Row
from .vocabulary import DEPARTMENTS, OBJECTIVE_TITLES

Quarter = tuple[dt.date, dt.date]  # first and last day


@dataclass(slots=True)
class Owner:
    id: str
    dept: int
    skill: float  # execution: shifts the final progress of everything they own
    optimism: float  # bias added to every confidence they report
    diligence: float  # chance of a check-in in a given week
    silence: float  # weekly chance of going quiet for a few weeks
    backload: float  # > 1: progress comes late in the quarter
    blank_conf: float  # chance of leaving confidence empty
    zone: int  # index into ZONES: how their client writes timestamps
    weekday: int  # preferred check-in weekday
    hour: int  # preferred check-in hour (UTC)
    plan_api: bool  # their tasks come through plan_tasks.json rather than tasks.csv


@dataclass(slots=True)
class Objective:
    id: str
    dept: int
    quarter: int  # index into World.quarters
    status: str  # canonical lower-case
    priority: str | None
    effect: float  # hidden: shared execution shift of its key results
    cancel_at: dt.datetime | None
    row: Row  # as exported, plus "_updated": the instant behind updated_at


@dataclass(slots=True)
class World:
    quarters: list[Quarter]
    dept_effect: list[float] = field(default_factory=list)
    quarter_effect: list[float] = field(default_factory=list)
    owners: list[Owner] = field(default_factory=list)
    dept_owners: list[list[Owner]] = field(default_factory=list)
    objectives: list[Objective] = field(default_factory=list)


def quarters_up_to(as_of: dt.date, n: int = 8) -> list[Quarter]:
    """The n calendar quarters ending with the one that contains as_of, oldest first."""
    year, q = as_of.year, (as_of.month - 1) // 3
    out = []
    for _ in range(n):
        start = dt.date(year, 3 * q + 1, 1)
        nxt = dt.date(year + 1, 1, 1) if q == 3 else dt.date(year, 3 * q + 4, 1)
        out.append((start, nxt - dt.timedelta(days=1)))
        year, q = (year - 1, 3) if q == 0 else (year, q - 1)
    return out[::-1]


def build_world(ctx: Context) -> World:
    world = World(quarters_up_to(ctx.as_of))
    dept_size = _build_owners(ctx, world)
    _build_objectives(ctx, world, dept_size)
    return world


def _centred(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    return [v - mean for v in values]


def _build_owners(ctx: Context, world: World) -> list[float]:
    """Every department gets an owner, the rest go by department size (returned)."""
    rng = ctx.rng
    n_depts = len(DEPARTMENTS)
    dept_size = [rng.uniform(0.6, 1.4) for _ in range(n_depts)]
    world.dept_effect = _centred([rng.gauss(0, 0.07) for _ in range(n_depts)])
    world.quarter_effect = _centred([rng.gauss(0, 0.04) for _ in world.quarters])
    n_owners = max(n_depts, round(40 * ctx.scale))
    depts = list(range(n_depts)) + rng.choices(range(n_depts), dept_size, k=n_owners - n_depts)
    world.dept_owners = [[] for _ in range(n_depts)]
    for d in depts:
        owner = _new_owner(ctx, d)
        world.owners.append(owner)
        world.dept_owners[d].append(owner)
    mean_skill = sum(o.skill for o in world.owners) / len(world.owners)
    for owner in world.owners:
        owner.skill -= mean_skill
    return dept_size


def _new_owner(ctx: Context, dept: int) -> Owner:
    rng = ctx.rng
    return Owner(
        id=ctx.next_id("u-", 4),
        dept=dept,
        skill=rng.gauss(0, 1),
        optimism=rng.gauss(0.7, 1.0),
        diligence=clamp(rng.gauss(0.72, 0.17), 0.2, 0.98),
        silence=0.12 if rng.random() < 0.2 else 0.02,
        backload=math.exp(rng.gauss(0.1, 0.3)),
        blank_conf=0.35 if rng.random() < 0.2 else 0.04,
        zone=rng.choices(range(len(ZONES)), ZONE_WEIGHTS)[0],
        weekday=rng.randrange(5),
        hour=rng.randint(6, 17),
        plan_api=rng.random() < 0.55,
    )


def _build_objectives(ctx: Context, world: World, dept_size: list[float]) -> None:
    rng = ctx.rng
    mean_size = sum(dept_size) / len(dept_size)
    for q in range(len(world.quarters)):
        counts = [int(12.2 * ctx.scale * s / mean_size + rng.random()) for s in dept_size]
        if sum(counts) == 0:  # keep every quarter populated, even at tiny scales
            counts[rng.randrange(len(counts))] = 1
        in_quarter: list[Objective] = []
        for d, n in enumerate(counts):
            for _ in range(n):
                obj = _new_objective(ctx, world, d, q, in_quarter)
                in_quarter.append(obj)
                world.objectives.append(obj)
    if ctx.messy:  # make sure quoted embedded newlines occur in a CSV file
        first = world.objectives[0].row
        first["title"] = f"{first['title']}\n(carried over)"


def _new_objective(
    ctx: Context, world: World, dept: int, q: int, siblings: list[Objective]
) -> Objective:
    rng = ctx.rng
    start, end = world.quarters[q]
    current = q == len(world.quarters) - 1
    effect = rng.gauss(0, 0.08)
    status = _status(ctx, current, effect)
    priority = rng.choices((None, *PRIORITIES), (0.05, 0.15, 0.4, 0.3, 0.1))[0]
    oid = ctx.next_id("obj-", 5)
    cancel_at = None
    begin, finish = midnight(start), midnight(end + dt.timedelta(days=1))
    if status == "cancelled":
        cancel_at = ctx.before_cutoff(begin + (finish - begin) * rng.uniform(0.15, 0.7))
    owner = rng.choice(world.dept_owners[dept])
    title = rng.choice(OBJECTIVE_TITLES[dept])
    if rng.random() < 0.3:
        title = f"Q{(start.month - 1) // 3 + 1} {start.year}: {title}"
    if rng.random() < (0.03 if ctx.messy else 0.005):
        title += "\n(carried over)"
    row: Row = {
        "objective_id": oid,
        "title": title,
        "department": DEPARTMENTS[dept] if rng.random() > 0.02 else None,
        "owner_id": owner.id if rng.random() > 0.02 else None,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "status": ctx.enum(status),
        "priority": ctx.enum(priority),
        "parent_objective_id": _parent(ctx, dept, siblings),
    }
    updated = _updated(ctx, status, begin, finish, cancel_at)
    row["updated_at"] = ctx.ts(updated, owner.zone) if rng.random() > 0.04 else None
    row["_updated"] = updated if row["updated_at"] else None
    return Objective(oid, dept, q, status, priority, effect, cancel_at, row)


def _status(ctx: Context, current: bool, effect: float) -> str:
    # Struggling objectives get cancelled or parked more often.
    weak = 0.04 if effect < -0.08 else 0.0
    r = ctx.rng.random()
    if current:
        return "cancelled" if r < 0.04 + weak else "on_hold" if r < 0.1 + weak else "active"
    if r < 0.06 + weak:
        return "cancelled"
    if r < 0.11 + weak:
        return "on_hold"
    return "active" if r < 0.23 + weak else "completed"  # some forget to close them


def _parent(ctx: Context, dept: int, siblings: list[Objective]) -> str | None:
    rng = ctx.rng
    r = rng.random()
    if r < 0.03:  # alignment to an objective that is not (yet) known: allowed
        return f"obj-legacy-{rng.randint(1, 999):03d}"
    others = [o for o in siblings if o.dept != dept]
    if r < 0.38 and others:
        return rng.choice(others).id
    return None


def _updated(
    ctx: Context,
    status: str,
    begin: dt.datetime,
    finish: dt.datetime,
    cancel_at: dt.datetime | None,
) -> dt.datetime:
    rng = ctx.rng
    if cancel_at is not None:
        return ctx.before_cutoff(cancel_at + dt.timedelta(hours=rng.uniform(0, 8)))
    if status == "completed":  # closed a few days after the quarter
        return ctx.before_cutoff(finish + dt.timedelta(days=rng.uniform(0.5, 12)))
    span = min(finish, ctx.cutoff) - begin
    return ctx.before_cutoff(begin + span * rng.random() - dt.timedelta(days=5))
