"""Milestones and check-ins: what owners report about a key result's hidden path.

Values are the path plus noise, check-ins come at each owner's rhythm (with silences, fewer when
behind), and confidence mixes the owner's optimism, the current pace and some inside knowledge of
where the path ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from .context import Context, num
from .draws import clamp, cumulative, int_between, one_of, weighted
from .key_results import KeyResult
from .schema import Row
from .vocabulary import MILESTONE_TITLES, NOTES
from .world import Owner

_GRID = tuple(i / 90 for i in range(100))  # elapsed shares for crossings, up to 10% past due
_MILESTONE_WEIGHTS = cumulative((1, None, 2, 0.5), (0.7, 0.15, 0.1, 0.05))


def milestones(ctx: Context, kr: KeyResult) -> list[Row]:
    """Milestone rows; also fixes when a boolean KR is done and its milestones were completed.

    Call it before ``check_ins``: check-in values of boolean and milestone KRs follow these.
    """
    rng = ctx.rng
    if kr.metric == "boolean":
        kr.done_at = _crossings(ctx, kr, (0.75,))[0]
    if not kr.milestone_levels:
        return []
    done = _crossings(ctx, kr, [lvl * 0.92 for lvl in kr.milestone_levels])
    kr.ms_done = [d for d in done if d is not None]
    titles = rng.sample(MILESTONE_TITLES, len(kr.milestone_levels))
    first, last = kr.begin.date(), kr.end.date() - dt.timedelta(days=1)
    rows = []
    for level, title, completed in zip(kr.milestone_levels, titles, done, strict=True):
        due = first + dt.timedelta(days=round(level * (last - first).days))
        rows.append(
            {
                "milestone_id": ctx.next_id("ms-", 6),
                "key_result_id": kr.id,
                "title": title,
                "due_date": due.isoformat() if rng.random() > 0.05 else None,
                "completed_at": ctx.ts(completed, kr.actor.zone) if completed else None,
                "weight": weighted(rng, _MILESTONE_WEIGHTS),
            }
        )
    return rows


def _crossings(ctx: Context, kr: KeyResult, levels: Sequence[float]) -> list[dt.datetime | None]:
    """First instant the latent path reaches each level (may be a bit after the due day)."""
    limit = min(ctx.cutoff, kr.obj.cancel_at or ctx.cutoff)
    values = [kr.path.at(t) for t in _GRID]
    out: list[dt.datetime | None] = []
    for level in levels:
        hit = next((t for t, v in zip(_GRID, values, strict=True) if v >= level), None)
        if hit is None:
            out.append(None)
            continue
        when = kr.begin + hit * kr.span + dt.timedelta(seconds=ctx.rng.uniform(0, 36000))
        out.append(when if when < limit else None)
    return out


def check_ins(ctx: Context, kr: KeyResult, teammates: list[Owner]) -> list[Row]:
    """Check-in rows; teammates (the objective's department) sometimes post for the owner."""
    rng = ctx.rng
    noise = 0.05 if kr.metric == "percentage" else 0.03
    level = 0.0
    final = kr.path.at(1.0)
    rows = []
    for instant in _check_in_times(ctx, kr):
        t = kr.frac(instant)
        latent = kr.path.at(t)
        observed = latent + rng.gauss(0, noise)
        if kr.cumulative:
            observed = level = max(observed, level)
        rows.append(
            {
                "check_in_id": ctx.next_id("ci-", 7),
                "key_result_id": kr.id,
                "checked_in_at": ctx.ts(instant, kr.actor.zone),
                "value": _value(kr, instant, observed),
                "confidence": _confidence(ctx, kr, t, latent, final),
                "note": _note(ctx, latent - t),
                "author_id": _author(ctx, kr, teammates),
            }
        )
    return rows


def _check_in_times(ctx: Context, kr: KeyResult) -> list[dt.datetime]:
    rng, o = ctx.rng, kr.actor
    stop = kr.stop(ctx.cutoff)
    first_day = (o.weekday - kr.begin.weekday()) % 7
    times: list[dt.datetime] = []
    quiet, week = 0, 0
    while True:
        jitter = one_of(rng, (-1, 0, 0, 0, 1)) if week else 0
        instant = kr.begin + dt.timedelta(
            days=7 * week + first_day + jitter, hours=o.hour, minutes=int_between(rng, 0, 59)
        )
        if instant >= stop:
            break
        week += 1
        if quiet:
            quiet -= 1
            continue
        if rng.random() < o.silence:  # goes quiet for a few weeks
            quiet = int_between(rng, 2, 5)
            continue
        t = kr.frac(instant)
        p = 0.9 if week == 1 else o.diligence
        if kr.path.at(t) < 0.6 * t - 0.05:  # owners who are behind check in less
            p *= 0.7
        if rng.random() < p:
            times.append(instant)
    closed = kr.end <= stop
    if closed and rng.random() < 0.35 + 0.5 * o.diligence:  # wrap-up at the deadline
        instant = kr.end - dt.timedelta(minutes=int_between(rng, 60, 4000))
        if not times or instant > times[-1]:
            times.append(instant)
    if closed and kr.end < ctx.cutoff and rng.random() < 0.06:  # late, after the due day
        instant = kr.end + dt.timedelta(hours=rng.uniform(12, 240))
        if instant < ctx.cutoff:
            times.append(instant)
    return times


def _value(kr: KeyResult, instant: dt.datetime, progress: float) -> int | float:
    if kr.metric == "boolean":  # jumps 0 -> 1 when done
        return 1 if kr.done_at is not None and instant >= kr.done_at else 0
    if kr.metric == "milestone":  # steps with completed milestones
        return sum(1 for d in kr.ms_done if d <= instant)
    v = kr.start + progress * (kr.target - kr.start)
    v = clamp(v, 0.0, 100.0) if kr.metric == "percentage" else max(0.0, v)
    return num(v, kr.decimals)


def _confidence(ctx: Context, kr: KeyResult, t: float, latent: float, final: float) -> float | None:
    rng, o = ctx.rng, kr.actor
    if rng.random() < o.blank_conf:
        return None
    # Optimism bias, reaction to pace (stronger late), and some inside knowledge.
    c = 5.0 + o.optimism + (3 + 7 * t) * (latent - t) + 2.0 * (final - 0.8) + rng.gauss(0, 0.9)
    c = clamp(c, 0.0, 10.0)
    return num(round(c), 0) if rng.random() < 0.85 else num(round(c * 2) / 2, 1)


def _note(ctx: Context, gap: float) -> str | None:
    """A note, or none; its mood follows how far ahead of (or behind) time the path is."""
    rng = ctx.rng
    if rng.random() < 0.5:
        return None
    mood = "ahead" if gap > 0.1 else "on_track" if gap > -0.1 else "behind"
    if gap < -0.3:
        mood = "blocked"
    return one_of(rng, NOTES[mood])


def _author(ctx: Context, kr: KeyResult, teammates: list[Owner]) -> str | None:
    r = ctx.rng.random()
    if r < 0.05:
        return None
    if r < 0.13:  # a teammate posted the update
        return one_of(ctx.rng, teammates).id
    return kr.actor.id
