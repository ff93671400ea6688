"""Realistic synthetic OKR export bundles that follow the data contract (v1, sections 1-3 and 5).

The generator simulates departments and owners with persistent hidden traits (skill, optimism,
check-in diligence, silences, back-loading) and eight calendar quarters of objectives and key
results ending with the quarter that contains ``as_of``. Every key result follows a latent
progress path (owner skill, department, quarter, ambition, priority, random shocks, late pushes);
check-ins, milestones and tasks are noisy observations of that path, so early progress, pace and
confidence are informative but outcomes are not deterministic.

Nothing carries a timestamp at or after ``as_of`` 00:00 UTC: the bundle is a snapshot taken at the
start of that day. With ``messy=True`` extra rows are added (fresh ids, never parents of valid
rows) that each break exactly one contract rule, plus re-sent check-ins, older versions of rows
and file-level mess; the returned manifest says what an exact ingestion must report.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["COLUMNS", "ENTITIES", "REASONS", "generate_bundle"]

Row = dict[str, Any]

ENTITIES = ("objectives", "key_results", "check_ins", "milestones", "tasks")

COLUMNS: dict[str, tuple[str, ...]] = {
    "objectives": (
        "objective_id", "title", "department", "owner_id", "period_start", "period_end",
        "status", "priority", "parent_objective_id", "updated_at",
    ),
    "key_results": (
        "key_result_id", "objective_id", "title", "metric_type", "start_value", "target_value",
        "unit", "weight", "owner_id", "due_date", "updated_at",
    ),
    "check_ins": (
        "check_in_id", "key_result_id", "checked_in_at", "value", "confidence", "note",
        "author_id",
    ),
    "milestones": ("milestone_id", "key_result_id", "title", "due_date", "completed_at", "weight"),
    "tasks": (
        "task_id", "title", "plan_id", "parent_task_id", "key_result_id", "weight", "priority",
        "status", "planned_for", "completed_at", "updated_at",
    ),
}  # fmt: skip

REASONS = (
    "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
    "out_of_range", "period_order", "target_equals_start", "unknown_reference",
)  # fmt: skip

# Which rules can be broken by a row of each entity (contract section 1).
_APPLICABLE: dict[str, tuple[str, ...]] = {
    "objectives": (
        "missing_field", "invalid_date", "invalid_timestamp", "invalid_enum", "period_order",
    ),
    "key_results": (
        "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
        "out_of_range", "target_equals_start", "unknown_reference",
    ),
    "check_ins": (
        "missing_field", "invalid_number", "invalid_timestamp", "out_of_range",
        "unknown_reference",
    ),
    "milestones": (
        "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "out_of_range",
        "unknown_reference",
    ),
    "tasks": (
        "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
        "out_of_range", "unknown_reference",
    ),
}  # fmt: skip

# Reasons a task in plan_tasks.json can carry (that shape has no date or timestamp fields).
_PLAN_REASONS = ("missing_field", "invalid_number", "invalid_enum", "out_of_range",
                 "unknown_reference")  # fmt: skip

_BAD_NUMBERS = ("N/A", "1,000", "ten")
_BAD_TIMESTAMPS = ("yesterday", "31/03/2026 09:00", "last Friday")

# How clients write instants: suffix and offset in minutes. All mean the correct instant;
# no suffix means UTC (contract section 1).
_TZ: tuple[tuple[str, int], ...] = (
    ("Z", 0), ("+03:00", 180), ("-05:00", -300), ("", 0), ("+05:30", 330), ("+01:00", 60),
)  # fmt: skip
_TZ_WEIGHTS = (0.6, 0.1, 0.1, 0.12, 0.04, 0.04)

_DEPARTMENTS = (
    "Sales", "Customer Success", "Engineering", "Marketing, Brand & Growth",
    "Opérations & Qualité", "የአዲስ አበባ ቢሮ",
)  # fmt: skip

_OBJECTIVE_TITLES: tuple[tuple[str, ...], ...] = (
    ("Grow enterprise revenue", "Expand into the DACH market", 'Win the "mid-market" segment',
     "Build a repeatable sales motion", "Increase deal velocity, cut the sales cycle"),
    ("Reduce churn, keep customers", "Delight customers at onboarding", "Make support proactive",
     "Fidéliser nos clients clés", "Turn customers into advocates"),
    ("Ship a reliable platform", "Cut infrastructure cost", "Speed up delivery",
     'Launch the "Aurora" mobile app', "Pay down tech debt, safely"),
    ("Build a brand people trust", "Fill the pipeline with qualified leads",
     "Launch in two new regions", "Lancer la campagne « Printemps »", "Own the category story"),
    ("Run lean, high-quality operations", "Améliorer la qualité des livraisons",
     "Automate the finance close", "Hire and onboard the right people",
     "Rendre les achats simples"),
    ("ደንበኞችን ማስፋት — grow the Addis customer base", "Open the Addis Ababa office",
     "የአገልግሎት ጥራትን ማሻሻል", "Build local partnerships, ETB revenue", "Hire the Addis team"),
)  # fmt: skip

# (title template, unit) by (metric type, direction); {s} start, {t} target.
_KR_TEMPLATES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("percentage", "up"): (
        ("Raise trial-to-paid conversion from {s}% to {t}%", "%"),
        ("Lift automated test coverage to {t}%", "%"),
        ("Grow the weekly active share of accounts to {t}%", "%"),
        ("Augmenter le taux de réponse à {t} %", "%"),
        ("On-time delivery rate from {s}% to {t}%", "%"),
    ),
    ("percentage", "down"): (
        ("Reduce churn from {s}% to {t}%", "%"),
        ("Cut the defect escape rate from {s}% to {t}%", "%"),
        ("Lower the invoice error rate to {t}%", "%"),
    ),
    ("number", "up"): (
        ("Close {t} enterprise deals", "deals"),
        ("Publish {t} customer case studies", "stories"),
        ("Onboard {t} new partners", "partners"),
        ("Hire {t} engineers", "hires"),
        ("Grow MQLs from {s} to {t} per month", "MQL"),
        ('Get "NPS" from {s} to {t}', ""),
    ),
    ("number", "down"): (
        ("Reduce P1 incidents from {s} to {t}", "incidents"),
        ("Cut median first response time from {s}h to {t}h", "h"),
        ("Bring the support backlog from {s} to {t} tickets", "tickets"),
    ),
    ("currency", "up"): (
        ("Reach {t} USD in new ARR", "USD"),
        ("Book {t} EUR in expansion revenue", "EUR"),
        ("Grow partner revenue from {s} to {t} ETB", "ETB"),
    ),
    ("currency", "down"): (
        ("Cut cloud spend from {s} to {t} USD/month", "USD"),
        ("Cut vendor spend from {s} to {t} EUR per quarter", "EUR"),
    ),
    ("boolean", "up"): (
        ("Launch the partner portal", ""),
        ("Pass the SOC 2 audit", ""),
        ('Go live with "Aurora" v2', ""),
        ("Signer le contrat cadre, phase 1", ""),
        ("የአዲሱ ቢሮ ምረቃ", ""),
    ),
    ("milestone", "up"): (
        ("Deliver the data platform roadmap", "milestones"),
        ("Roll out the new CRM, all regions", "milestones"),
        ("Open the Addis Ababa office — ዋና ደረጃዎች", "milestones"),
        ("Migrate billing to the new provider", "milestones"),
    ),
}

_METRIC_WEIGHTS = (("percentage", 0.25), ("number", 0.3), ("currency", 0.14), ("boolean", 0.12),
                   ("milestone", 0.19))  # fmt: skip
_MILESTONE_TITLES = (
    "Design approved", "Pilot live", "Rollout, all sites", "Vendor selected", "Contrat signé",
    "ሙከራ ተጠናቋል", 'Beta "go/no-go" review', "Data migrated", "Training done", "Launch party",
    "Security sign-off", "Budget approved",
)  # fmt: skip
_TASK_TITLES = (
    "Draft pricing page", "Call ten prospects", "Prepare demo deck", "Fix flaky tests",
    "Write copy", "Review Q&A with legal", 'Send "renewal" reminders', "Préparer la démo",
    "ስብሰባ ማዘጋጀት", "Clean up the CRM, dedupe accounts", "Interview candidates",
    "Update the runbook", "Analyse churn cohort", "Ship feature flag", "Follow up, partners",
)  # fmt: skip
_NOTES: dict[str, tuple[str, ...]] = {
    "ahead": (
        "Ahead of plan",
        "Big deal closed early 🎉",
        "Going well, may overshoot",
        "En avance sur le plan",
    ),
    "on_track": (
        "On track",
        "Steady progress",
        "No blockers",
        "በሂደት ላይ",
        'Pipeline looks good, "maybe" two more',
    ),
    "behind": (
        'Two deals slipped, one "maybe"',
        "Behind, waiting on vendor",
        "Retard dû aux congés",
        "Need help with pricing, escalated",
    ),
    "blocked": (
        "Blocked by legal review",
        "Team pulled onto incidents",
        "Budget frozen",
        "Blocked\nwaiting on the platform team",
    ),
}
_PRIORITIES = ("low", "medium", "high", "critical")
_PRIORITY_EFFECT = {"critical": 0.06, "high": 0.03, "medium": 0.0, "low": -0.05, None: 0.0}

_PROGRESS_EVERY = 5000  # rows between progress callbacks
_GRID = tuple(i / 90 for i in range(100))  # elapsed shares for crossings, up to 10% past due


def _cumulative(values: Sequence[Any], weights: Sequence[float]) -> tuple[tuple[Any, float], ...]:
    total, acc, out = sum(weights), 0.0, []
    for value, weight in zip(values, weights, strict=True):
        acc += weight / total
        out.append((value, acc))
    return tuple(out)


# Weighted choices used per row, as cumulative tables (Random.choices is slow in hot loops).
_WEEKLY_TASKS = _cumulative((1, 2, 3), (0.3, 0.4, 0.3))
_DAILY_TASKS = _cumulative((0, 1, 2, 3), (0.2, 0.3, 0.3, 0.2))
_TASK_WEIGHTS = _cumulative((1, 2, 3, 0.5), (0.55, 0.25, 0.1, 0.1))
_TASK_PRIORITIES = _cumulative((None, *_PRIORITIES), (0.1, 0.2, 0.4, 0.22, 0.08))
_MILESTONE_WEIGHTS = _cumulative((1, None, 2, 0.5), (0.7, 0.15, 0.1, 0.05))


def _pick(rng: random.Random, table: tuple[tuple[Any, float], ...]) -> Any:
    r = rng.random()
    for value, cum in table:
        if r < cum:
            return value
    return table[-1][0]


def _any(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi]; cheaper than Random.randint."""
    return lo + int(rng.random() * (hi - lo + 1))


@dataclass(slots=True)
class _Owner:
    id: str
    dept: int
    skill: float  # execution: shifts the final progress of everything they own
    optimism: float  # bias added to every confidence they report
    diligence: float  # chance of a check-in in a given week
    silence: float  # weekly chance of going quiet for a few weeks
    backload: float  # > 1: progress comes late in the quarter
    blank_conf: float  # chance of leaving confidence empty
    tz: int  # index into _TZ: how their client writes timestamps
    weekday: int  # preferred check-in weekday
    hour: int  # preferred check-in hour (UTC)
    plan_api: bool  # their tasks come through plan_tasks.json rather than tasks.csv


@dataclass(slots=True)
class _Objective:
    id: str
    dept: int
    quarter: int
    status: str  # canonical lower-case
    priority: str | None
    effect: float  # hidden: shared execution shift of its key results
    cancel_at: dt.datetime | None
    row: Row


@dataclass(slots=True)
class _Path:
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
class _KeyResult:
    id: str
    obj: _Objective
    actor: _Owner  # whose habits drive check-ins and tasks (the owner, or a stand-in)
    metric: str
    start: float
    target: float
    decimals: int
    cumulative: bool  # the value never goes back (counts, booked revenue)
    begin: dt.datetime
    end: dt.datetime  # end of the due day
    path: _Path
    milestone_levels: tuple[float, ...]
    row: Row
    done_at: dt.datetime | None = None  # boolean KRs: when the value became 1
    ms_done: list[dt.datetime] = field(default_factory=list)  # milestone KRs

    @property
    def span(self) -> dt.timedelta:
        return self.end - self.begin


class _Books:
    """What an exact ingestion into an empty warehouse must report, row by row."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, Any]] = {
            e: {"stored": 0, "unchanged": 0, "quarantined": 0, "by_reason": {}} for e in ENTITIES
        }

    def add(self, entity: str, outcome: str) -> None:
        c = self.counts[entity]
        if outcome in ("stored", "unchanged"):
            c[outcome] += 1
        else:
            c["quarantined"] += 1
            c["by_reason"][outcome] = c["by_reason"].get(outcome, 0) + 1

    def expected(self) -> dict[str, dict[str, Any]]:
        out = {}
        for e, c in self.counts.items():
            read = c["stored"] + c["unchanged"] + c["quarantined"]
            out[e] = {
                "read": read,
                "stored": c["stored"],
                "unchanged": c["unchanged"],
                "quarantined": c["quarantined"],
                "by_reason": dict(sorted(c["by_reason"].items())),
            }
        return out


class _Sink:
    """One entity file, CSV or JSON Lines, with the requested file-level mess."""

    def __init__(
        self,
        path: Path,
        entity: str,
        *,
        bom: bool,
        crlf: bool,
        legacy: bool,
        messy: bool,
        rng: random.Random,
        tick: Callable[[], None],
    ) -> None:
        self.path = path
        self.columns = COLUMNS[entity]
        self.rows = 0
        self._json = path.suffix == ".jsonl"
        self._legacy = legacy
        self._messy = messy
        self._rng = rng
        self._tick = tick
        encoding = "utf-8-sig" if bom else "utf-8"
        self._f: IO[str] = open(path, "w", encoding=encoding, newline="")  # noqa: SIM115
        if not self._json:
            self._w = csv.writer(self._f, lineterminator="\r\n" if crlf else "\n")
            header = list(self.columns) + (["legacy_code"] if legacy else [])
            self._w.writerow(header)

    def write(self, row: Row, *, resend: bool = False) -> None:
        self.rows += 1
        if self._json:
            self._f.write(json.dumps(self._json_row(row, resend), ensure_ascii=False) + "\n")
        else:
            values = [row.get(c) for c in self.columns]
            if self._legacy:  # an unknown column the contract says to ignore
                values.append(
                    "" if self.rows % 3 == 0 else f"{chr(65 + self.rows % 26)}{self.rows % 10}"
                )
            self._w.writerow(values)
        self._tick()

    def _json_row(self, row: Row, resend: bool) -> Row:
        # A re-send says the same thing in other words: numbers as strings, "" for absent.
        rng = self._rng
        as_text = 0.8 if resend else (0.2 if self._messy else 0.0)
        out: Row = {}
        for c in self.columns:
            v = row.get(c)
            if v is None:
                if resend:
                    out[c] = "" if rng.random() < 0.6 else None
                elif self._messy:
                    r = rng.random()
                    if r < 0.25:
                        out[c] = None
                    elif r < 0.4:
                        out[c] = ""
                continue
            if as_text and isinstance(v, int | float) and rng.random() < as_text:
                v = str(v)
            out[c] = v
        return out

    def close(self) -> None:
        self._f.close()


def generate_bundle(
    out_dir: Path,
    *,
    seed: int = 0,
    scale: float = 1.0,
    messy: bool = False,
    as_of: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write a synthetic export bundle to ``out_dir`` and return its manifest.

    The manifest is ``{"rows": {entity: rows written}, "expected": {entity: {"read", "stored",
    "unchanged", "quarantined", "by_reason"}}, "files": {entity: [file names]}, "as_of": iso}``;
    rows from plan_tasks.json count as tasks. ``progress`` is called with the total number of rows
    written so far, every few thousand rows and once at the end.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = _Generator(
        seed=seed, scale=scale, messy=messy, as_of=as_of or dt.date.today(), progress=progress
    )
    return gen.run(out)


# ---------------------------------------------------------------------------------------------
# small helpers


def _quarters(as_of: dt.date, n: int = 8) -> list[tuple[dt.date, dt.date]]:
    """The n calendar quarters ending with the one that contains as_of, oldest first."""
    year, q = as_of.year, (as_of.month - 1) // 3
    out = []
    for _ in range(n):
        start = dt.date(year, 3 * q + 1, 1)
        nxt = dt.date(year + 1, 1, 1) if q == 3 else dt.date(year, 3 * q + 4, 1)
        out.append((start, nxt - dt.timedelta(days=1)))
        year, q = (year - 1, 3) if q == 0 else (year, q - 1)
    return out[::-1]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _num(x: float, decimals: int) -> int | float:
    """Round for output; integral values become ints so they print without '.0'."""
    r = round(x, decimals)
    if decimals <= 0 or r == int(r):
        return int(r)
    return r


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _centred(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    return [v - mean for v in values]


def _show(x: float) -> str:
    """A number as people write it in a title (thousands separators are fine in free text)."""
    return f"{x:,.0f}" if abs(x) >= 10000 else f"{x:g}"


def _bad_dates(day: dt.date) -> tuple[str, ...]:
    return (f"{day.year}-02-30", f"{day.day:02d}/{day.month:02d}/{day.year}", f"{day.year}-13-01")


# ---------------------------------------------------------------------------------------------


class _Generator:
    def __init__(
        self,
        *,
        seed: int,
        scale: float,
        messy: bool,
        as_of: dt.date,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.rng = random.Random(seed)
        # Formatting choices get their own stream so they never shift the simulated data.
        self.fmt_rng = random.Random(f"fmt-{seed}")
        self.seed, self.scale, self.messy, self.as_of = seed, scale, messy, as_of
        self.cutoff = _midnight(as_of)  # snapshot time: every instant is before this
        self.quarters = _quarters(as_of)
        self.books = _Books()
        self.owners: list[_Owner] = []
        self.dept_owners: list[list[_Owner]] = []
        self.dept_effect: list[float] = []
        self.quarter_effect: list[float] = []
        self.objectives: list[_Objective] = []
        self.krs: list[_KeyResult] = []
        self.sinks: dict[str, _Sink] = {}
        self.plans: dict[tuple[str, dt.date], Row] = {}
        self.csv_plans: dict[tuple[str, dt.date], str] = {}
        self.plan_rows = 0
        self.bad_plan_tasks: list[tuple[Row, str]] = []
        self.pending: dict[int, list[tuple[str, Row, str, bool]]] = {}
        self._ids: dict[str, int] = {}
        self._kr_pos = 0  # index of the key result whose children are being written
        self._progress = progress
        self._written = 0

    # -- driver --------------------------------------------------------------------------------

    def run(self, out: Path) -> dict:
        self._build_owners()
        self._build_objectives()
        self._build_key_results()
        files = self._open_sinks(out)
        try:
            self._write_objectives()
            self._write_key_results()
            if self.messy:
                self._schedule_bad_children()
            self._write_children()
        finally:
            for sink in self.sinks.values():
                sink.close()
        self._write_plans(out / "plan_tasks.json")
        if self._progress is not None and self._written % _PROGRESS_EVERY:
            self._progress(self._written)  # the final total, unless just reported
        rows = {e: self.sinks[e].rows for e in ENTITIES}
        rows["tasks"] += self.plan_rows
        return {
            "rows": rows,
            "expected": self.books.expected(),
            "files": files,
            "as_of": self.as_of.isoformat(),
        }

    def _tick(self) -> None:
        self._written += 1
        if self._progress is not None and self._written % _PROGRESS_EVERY == 0:
            self._progress(self._written)

    def _next_id(self, prefix: str, width: int) -> str:
        n = self._ids.get(prefix, 0) + 1
        self._ids[prefix] = n
        return f"{prefix}{n:0{width}d}"

    # -- timestamps ----------------------------------------------------------------------------

    def _ts(self, instant: dt.datetime, tz: int) -> str:
        # Mostly the owner's client style, sometimes another client's.
        if self.fmt_rng.random() < 0.1:
            tz = _int(self.fmt_rng, 0, len(_TZ) - 1)
        suffix, minutes = _TZ[tz]
        local = instant + dt.timedelta(minutes=minutes) if minutes else instant
        return local.isoformat(timespec="seconds") + suffix

    def _before_cutoff(self, instant: dt.datetime) -> dt.datetime:
        if instant < self.cutoff:
            return instant
        return self.cutoff - dt.timedelta(minutes=self.rng.randint(20, 2880))

    def _frac(self, kr: _KeyResult, instant: dt.datetime) -> float:
        return (instant - kr.begin) / kr.span

    def _enum(self, value: str | None) -> str | None:
        # Enumerations match case-insensitively, so exports are sloppy about case.
        r = self.fmt_rng.random()
        if value is None or r >= 0.08:
            return value
        return value.upper() if r < 0.04 else value.title()

    # -- people ----------------------------------------------------------------------------------

    def _build_owners(self) -> None:
        rng = self.rng
        n_depts = len(_DEPARTMENTS)
        self.dept_size = [rng.uniform(0.6, 1.4) for _ in range(n_depts)]
        # Effects are centred so that the overall miss rate does not swing with the seed.
        self.dept_effect = _centred([rng.gauss(0, 0.07) for _ in range(n_depts)])
        self.quarter_effect = _centred([rng.gauss(0, 0.04) for _ in self.quarters])
        n_owners = max(n_depts, round(40 * self.scale))
        depts = list(range(n_depts)) + rng.choices(
            range(n_depts), self.dept_size, k=n_owners - n_depts
        )
        self.dept_owners = [[] for _ in range(n_depts)]
        for d in depts:
            owner = self._new_owner(d)
            self.owners.append(owner)
            self.dept_owners[d].append(owner)
        mean_skill = sum(o.skill for o in self.owners) / len(self.owners)
        for owner in self.owners:
            owner.skill -= mean_skill

    def _new_owner(self, dept: int) -> _Owner:
        rng = self.rng
        return _Owner(
            id=self._next_id("u-", 4),
            dept=dept,
            skill=rng.gauss(0, 1),
            optimism=rng.gauss(0.7, 1.0),
            diligence=_clamp(rng.gauss(0.72, 0.17), 0.2, 0.98),
            silence=0.12 if rng.random() < 0.2 else 0.02,
            backload=math.exp(rng.gauss(0.1, 0.3)),
            blank_conf=0.35 if rng.random() < 0.2 else 0.04,
            tz=rng.choices(range(len(_TZ)), _TZ_WEIGHTS)[0],
            weekday=rng.randrange(5),
            hour=rng.randint(6, 17),
            plan_api=rng.random() < 0.55,
        )

    # -- objectives ------------------------------------------------------------------------------

    def _build_objectives(self) -> None:
        rng = self.rng
        mean_size = sum(self.dept_size) / len(self.dept_size)
        for q in range(len(self.quarters)):
            counts = [int(12.2 * self.scale * s / mean_size + rng.random()) for s in self.dept_size]
            if sum(counts) == 0:  # keep every quarter populated, even at tiny scales
                counts[rng.randrange(len(counts))] = 1
            in_quarter: list[_Objective] = []
            for d, n in enumerate(counts):
                for _ in range(n):
                    obj = self._new_objective(d, q, in_quarter)
                    in_quarter.append(obj)
                    self.objectives.append(obj)
        if self.messy:  # make sure quoted embedded newlines occur in a CSV file
            first = self.objectives[0].row
            first["title"] = f"{first['title']}\n(carried over)"

    def _new_objective(self, dept: int, q: int, siblings: list[_Objective]) -> _Objective:
        rng = self.rng
        start, end = self.quarters[q]
        current = q == len(self.quarters) - 1
        effect = rng.gauss(0, 0.08)
        status = self._objective_status(current, effect)
        priority = rng.choices((None, *_PRIORITIES), (0.05, 0.15, 0.4, 0.3, 0.1))[0]
        oid = self._next_id("obj-", 5)
        cancel_at = None
        begin, finish = _midnight(start), _midnight(end + dt.timedelta(days=1))
        if status == "cancelled":
            cancel_at = self._before_cutoff(begin + (finish - begin) * rng.uniform(0.15, 0.7))
        owner = rng.choice(self.dept_owners[dept])
        title = rng.choice(_OBJECTIVE_TITLES[dept])
        if rng.random() < 0.3:
            title = f"Q{(start.month - 1) // 3 + 1} {start.year}: {title}"
        if rng.random() < (0.03 if self.messy else 0.005):
            title += "\n(carried over)"
        row: Row = {
            "objective_id": oid,
            "title": title,
            "department": _DEPARTMENTS[dept] if rng.random() > 0.02 else None,
            "owner_id": owner.id if rng.random() > 0.02 else None,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "status": self._enum(status),
            "priority": self._enum(priority),
            "parent_objective_id": self._parent(dept, siblings),
        }
        updated = self._objective_updated(status, begin, finish, cancel_at)
        row["updated_at"] = self._ts(updated, owner.tz) if rng.random() > 0.04 else None
        row["_updated"] = updated if row["updated_at"] else None
        return _Objective(oid, dept, q, status, priority, effect, cancel_at, row)

    def _objective_status(self, current: bool, effect: float) -> str:
        # Struggling objectives get cancelled or parked more often.
        weak = 0.04 if effect < -0.08 else 0.0
        r = self.rng.random()
        if current:
            return "cancelled" if r < 0.04 + weak else "on_hold" if r < 0.1 + weak else "active"
        if r < 0.06 + weak:
            return "cancelled"
        if r < 0.11 + weak:
            return "on_hold"
        return "active" if r < 0.23 + weak else "completed"  # some forget to close them

    def _parent(self, dept: int, siblings: list[_Objective]) -> str | None:
        rng = self.rng
        r = rng.random()
        if r < 0.03:  # alignment to an objective that is not (yet) known: allowed
            return f"obj-legacy-{rng.randint(1, 999):03d}"
        others = [o for o in siblings if o.dept != dept]
        if r < 0.38 and others:
            return rng.choice(others).id
        return None

    def _objective_updated(
        self, status: str, begin: dt.datetime, finish: dt.datetime, cancel_at: dt.datetime | None
    ) -> dt.datetime:
        rng = self.rng
        if cancel_at is not None:
            return self._before_cutoff(cancel_at + dt.timedelta(hours=rng.uniform(0, 8)))
        if status == "completed":  # closed a few days after the quarter
            return self._before_cutoff(finish + dt.timedelta(days=rng.uniform(0.5, 12)))
        span = min(finish, self.cutoff) - begin
        return self._before_cutoff(begin + span * rng.random() - dt.timedelta(days=5))

    # -- key results -----------------------------------------------------------------------------

    def _build_key_results(self) -> None:
        rng = self.rng
        for obj in self.objectives:
            for _ in range(rng.choices((2, 3, 4, 5), (0.2, 0.35, 0.3, 0.15))[0]):
                self.krs.append(self._new_key_result(obj))

    def _kr_owner(self, obj: _Objective) -> _Owner:
        rng = self.rng
        if rng.random() < 0.1:  # cross-department ownership
            return rng.choice(self.owners)
        return rng.choice(self.dept_owners[obj.dept])

    def _new_key_result(self, obj: _Objective) -> _KeyResult:
        rng = self.rng
        metric = rng.choices([m for m, _ in _METRIC_WEIGHTS], [w for _, w in _METRIC_WEIGHTS])[0]
        down = metric in ("percentage", "number", "currency") and rng.random() < 0.23
        template, unit = rng.choice(_KR_TEMPLATES[(metric, "down" if down else "up")])
        ambition = rng.gauss(0, 1)
        cumulative = metric in ("number", "currency") and not down and "{s}" not in template
        start, target, decimals = self._kr_values(metric, down, cumulative, ambition)
        owner = self._kr_owner(obj)
        weight = rng.choices((1, 2, 3, 0.5, 1.5), (0.6, 0.2, 0.07, 0.06, 0.07))[0]
        q_start, q_end = self.quarters[obj.quarter]
        due = self._due_date(q_start, q_end)
        kid = self._next_id("kr-", 6)
        title = template.format(s=_show(start), t=_show(target))
        row: Row = {
            "key_result_id": kid,
            "objective_id": obj.id,
            "title": title,
            "metric_type": self._enum(metric),
            # An omitted start means 0 (contract default), so some exports leave it out.
            "start_value": None if start == 0 and rng.random() < 0.35 else start,
            "target_value": target,
            "unit": unit or None,
            "weight": None if weight == 1 and rng.random() < 0.3 else weight,
            "owner_id": owner.id if rng.random() > 0.05 else None,
            "due_date": due.isoformat() if due is not None else None,
        }
        begin = _midnight(q_start)
        end = _midnight((due or q_end) + dt.timedelta(days=1))
        updated = self._kr_updated(begin, end)
        row["updated_at"] = self._ts(updated, owner.tz) if rng.random() > 0.08 else None
        row["_updated"] = updated if row["updated_at"] else None
        path = self._path(obj, owner, ambition, weight)
        levels: tuple[float, ...] = ()
        if metric == "milestone":
            levels = tuple((i + 1) / target for i in range(int(target)))
        elif rng.random() < 0.12:  # checkpoints on other key results
            levels = (0.5, 1.0)
        return _KeyResult(
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

    def _kr_values(
        self, metric: str, down: bool, cumulative: bool, ambition: float
    ) -> tuple[float, float, int]:
        """start, target, decimals; the target's size reflects (noisily) the hidden ambition."""
        rng, a = self.rng, ambition
        stretch = math.exp(0.35 * a)
        if metric == "boolean":
            return 0, 1, 0
        if metric == "milestone":
            return 0, rng.randint(3, 5) + (a > 0.8), 0
        if metric == "percentage":
            if down:
                s = round(rng.uniform(3, 30), 1)
                t = round(s * (1 - _clamp(0.25 + 0.1 * a + rng.gauss(0, 0.05), 0.08, 0.75)), 1)
            else:
                s = round(rng.uniform(10, 75), 1)
                t = round(min(99.5, s + (4 + 12 * rng.random()) * stretch), 1)
            return _num(s, 1), _num(t if t != s else s + (-0.5 if down else 0.5), 1), 1
        level = 120.0 if metric == "number" else 400000.0
        nd = 0 if metric == "number" else -3
        if cumulative:
            base = 15.0 if metric == "number" else 250000.0
            t = max(2.0, base * math.exp(rng.gauss(0, 0.8) + 0.25 * a))
            return 0, _num(max(t, 10**-nd), nd), nd
        if down:
            s = max(8.0, (40.0 if metric == "number" else 80000.0) * math.exp(rng.gauss(0, 0.7)))
            t = s * (1 - _clamp(0.28 + 0.1 * a + rng.gauss(0, 0.05), 0.1, 0.8))
            nd = 0 if metric == "number" else -2
            s, t = _num(s, nd), _num(t, nd)
            return s, (t if t < s else s - 10**-nd), nd
        s = max(5.0, level * math.exp(rng.gauss(0, 0.9)))
        t = s * (1 + (0.1 + 0.12 * rng.random()) * stretch * 1.5)
        s, t = _num(s, nd), _num(t, nd)
        return s, (t if t > s else s + 10**-nd), nd

    def _due_date(self, start: dt.date, end: dt.date) -> dt.date | None:
        r = self.rng.random()
        if r < 0.72:  # empty: the objective's period_end
            return None
        if r < 0.85:
            return end
        month_end = dt.date(start.year, start.month + 2, 1) - dt.timedelta(days=1)
        return month_end if r < 0.95 else start + dt.timedelta(days=self.rng.randint(40, 80))

    def _kr_updated(self, begin: dt.datetime, end: dt.datetime) -> dt.datetime:
        rng = self.rng
        created = begin - dt.timedelta(days=rng.uniform(0, 10))
        if rng.random() < 0.3:  # revised during the period
            created += (min(end, self.cutoff) - begin) * rng.uniform(0, 0.5)
        return self._before_cutoff(created)

    def _path(self, obj: _Objective, owner: _Owner, ambition: float, weight: float) -> _Path:
        rng = self.rng
        f0 = (
            0.88
            + 0.17 * owner.skill
            + self.dept_effect[obj.dept]
            + self.quarter_effect[obj.quarter]
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
        path = _Path(f0, k, shock, rng.uniform(0.25, 0.85), 0.0)
        behind = path.at(0.7) < 0.5
        if rng.random() < (0.25 + 0.1 * owner.skill if behind else 0.08):
            path.push = rng.uniform(0.05, 0.3)
        return path

    # -- files -----------------------------------------------------------------------------------

    def _open_sinks(self, out: Path) -> dict[str, list[str]]:
        # At least one entity as JSON Lines; messy bundles always ship check_ins.jsonl.
        jsonl = "check_ins" if self.messy or self.seed % 2 == 0 else "milestones"
        mess = {  # (bom, crlf, legacy column) for messy bundles
            "objectives": (True, False, False),
            "key_results": (False, True, True),
            "check_ins": (False, False, False),
            "milestones": (True, True, False),
            "tasks": (True, False, True),
        }
        files: dict[str, list[str]] = {}
        for i, entity in enumerate(ENTITIES):
            ext, other = ("jsonl", "csv") if entity == jsonl else ("csv", "jsonl")
            (out / f"{entity}.{other}").unlink(missing_ok=True)  # never both formats
            bom, crlf, legacy = mess[entity] if self.messy else (False, False, False)
            self.sinks[entity] = _Sink(
                out / f"{entity}.{ext}",
                entity,
                bom=bom,
                crlf=crlf,
                legacy=legacy,
                messy=self.messy,
                rng=random.Random(f"sink-{self.seed}-{i}"),
                tick=self._tick,
            )
            files[entity] = [f"{entity}.{ext}"]
        files["tasks"].append("plan_tasks.json")
        return files

    def _emit(self, entity: str, row: Row, outcome: str = "stored", resend: bool = False) -> None:
        self.sinks[entity].write(row, resend=resend)
        self.books.add(entity, outcome)

    def _write_merged(self, entity: str, items: list[tuple[float, Row, str]]) -> None:
        for _, row, outcome in sorted(items, key=lambda item: item[0]):
            self._emit(entity, row, outcome)

    def _write_objectives(self) -> None:
        items = [(float(i), o.row, "stored") for i, o in enumerate(self.objectives)]
        if self.messy:
            items += self._older_versions([o.row for o in self.objectives], 0.03)
            items += self._bad_rows("objectives", len(self.objectives), self._bad_objective)
        self._write_merged("objectives", items)

    def _write_key_results(self) -> None:
        items = [(float(i), kr.row, "stored") for i, kr in enumerate(self.krs)]
        if self.messy:
            items += self._older_versions([kr.row for kr in self.krs], 0.015)
            items += self._bad_rows("key_results", len(self.krs), self._bad_key_result)
        self._write_merged("key_results", items)

    def _older_versions(self, rows: list[Row], share: float) -> list[tuple[float, Row, str]]:
        """Older versions (same id, older updated_at, other title) before and after the row."""
        rng = self.rng
        candidates = [i for i, r in enumerate(rows) if r["_updated"] is not None]
        n = min(len(candidates), max(2, round(share * len(rows))))
        out = []
        for j, i in enumerate(rng.sample(candidates, n)):
            old = self._older(rows[i])
            key = rng.uniform(0, i) if j % 2 == 0 else rng.uniform(i + 0.01, len(rows))
            out.append((key, old, "unchanged"))
        return out

    def _older(self, row: Row) -> Row:
        rng = self.rng
        old = dict(row)
        old["title"] = rng.choice(("Draft: {}", "{} (old title)", "{} — v0", "WIP {}")).format(
            row["title"]
        )
        instant = row["_updated"] - dt.timedelta(hours=rng.uniform(6, 24 * 30))
        old["updated_at"] = self._ts(instant, rng.randrange(len(_TZ)))
        old["_updated"] = instant
        return old

    def _bad_rows(
        self, entity: str, size: int, build: Callable[[str, int], Row]
    ) -> list[tuple[float, Row, str]]:
        """A few rows per applicable rule, proportional to the entity's size."""
        n = max(1, round(0.003 * size))
        out = []
        for reason in _APPLICABLE[entity]:
            for k in range(n):
                out.append((self.rng.uniform(0, size), build(reason, k), reason))
        return out

    # -- bad rows: each breaks exactly one rule --------------------------------------------------

    def _valid_instant(self) -> tuple[_KeyResult, dt.datetime]:
        """A key result that has started and an instant inside its period, before the cutoff."""
        rng = self.rng
        while True:
            kr = rng.choice(self.krs)
            stop = min(kr.end, self.cutoff)
            if kr.begin < stop:
                return kr, kr.begin + (stop - kr.begin) * rng.random()

    def _bad_objective(self, reason: str, k: int) -> Row:
        rng = self.rng
        dept = rng.randrange(len(_DEPARTMENTS))
        start, end = self.quarters[rng.randrange(len(self.quarters) - 1)]
        row: Row = {
            "objective_id": self._next_id("obj-x", 4),
            "title": rng.choice(_OBJECTIVE_TITLES[dept]),
            "department": _DEPARTMENTS[dept],
            "owner_id": rng.choice(self.owners).id,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "status": "active",
            "priority": rng.choice(_PRIORITIES),
            "updated_at": self._ts(_midnight(start), 0),
        }
        if reason == "missing_field":
            row[("objective_id", "title", "period_start", "period_end")[k % 4]] = None
        elif reason == "invalid_date":
            field_, day = (("period_start", start), ("period_end", end))[k % 2]
            row[field_] = _bad_dates(day)[k % 3]
        elif reason == "invalid_timestamp":
            row["updated_at"] = _BAD_TIMESTAMPS[k % 3]
        elif reason == "invalid_enum":
            f, v = (("status", "paused"), ("priority", "urgent"), ("status", "done"))[k % 3]
            row[f] = v
        elif reason == "period_order":
            row["period_start"], row["period_end"] = end.isoformat(), start.isoformat()
        return row

    def _bad_key_result(self, reason: str, k: int) -> Row:
        rng = self.rng
        obj = rng.choice(self.objectives)
        row: Row = {
            "key_result_id": self._next_id("kr-x", 5),
            "objective_id": obj.id,
            "title": rng.choice(("Imported KR", "Close 12 deals", "Legacy metric, please map")),
            "metric_type": "number",
            "start_value": 0,
            "target_value": 12,
            "weight": 1,
            "owner_id": rng.choice(self.owners).id,
        }
        if reason == "missing_field":
            fields = ("key_result_id", "objective_id", "title", "metric_type", "target_value")
            row[fields[k % 5]] = None
        elif reason == "invalid_number":
            f, v = (
                ("target_value", "ten"),
                ("start_value", "N/A"),
                ("target_value", "1,000"),
                ("weight", "N/A"),
            )[k % 4]
            row[f] = v
        elif reason == "invalid_date":
            row["due_date"] = _bad_dates(self.quarters[obj.quarter][1])[k % 3]
        elif reason == "invalid_timestamp":
            row["updated_at"] = _BAD_TIMESTAMPS[k % 3]
        elif reason == "invalid_enum":
            row["metric_type"] = ("ratio", "KPI", "okr")[k % 3]
        elif reason == "out_of_range":
            row["weight"] = (0, -1, -0.5)[k % 3]
        elif reason == "target_equals_start":  # an absent start means 0
            row["start_value"], row["target_value"] = ((5, 5), (None, 0), (12.5, 12.5))[k % 3]
        elif reason == "unknown_reference":
            row["objective_id"] = self._next_id("obj-missing-", 4)
        return row

    def _bad_check_in(self, reason: str, k: int) -> Row:
        kr, instant = self._valid_instant()
        row: Row = {
            "check_in_id": self._next_id("ci-x", 6),
            "key_result_id": kr.id,
            "checked_in_at": self._ts(instant, kr.actor.tz),
            "value": kr.start,
            "confidence": 5,
            "author_id": kr.actor.id,
        }
        if reason == "missing_field":
            row[("check_in_id", "key_result_id", "checked_in_at", "value")[k % 4]] = None
        elif reason == "invalid_number":
            f, v = (("value", "N/A"), ("value", "1,000"), ("value", "ten"), ("confidence", "high"))[
                k % 4
            ]
            row[f] = v
        elif reason == "invalid_timestamp":
            row["checked_in_at"] = _BAD_TIMESTAMPS[k % 3]
        elif reason == "out_of_range":
            row["confidence"] = (14, -1, 11)[k % 3]
        elif reason == "unknown_reference":
            row["key_result_id"] = self._next_id("kr-missing-", 5)
        return row

    def _bad_milestone(self, reason: str, k: int) -> Row:
        kr, instant = self._valid_instant()
        due = kr.end.date() - dt.timedelta(days=1)
        row: Row = {
            "milestone_id": self._next_id("ms-x", 5),
            "key_result_id": kr.id,
            "title": self.rng.choice(_MILESTONE_TITLES),
            "due_date": due.isoformat(),
            "completed_at": self._ts(instant, kr.actor.tz) if k % 2 else None,
            "weight": 1,
        }
        if reason == "missing_field":
            row[("milestone_id", "key_result_id", "title")[k % 3]] = None
        elif reason == "invalid_number":
            row["weight"] = ("N/A", "one", "1,5")[k % 3]
        elif reason == "invalid_date":
            row["due_date"] = _bad_dates(due)[k % 3]
        elif reason == "invalid_timestamp":
            row["completed_at"] = _BAD_TIMESTAMPS[k % 3]
        elif reason == "out_of_range":
            row["weight"] = (0, -1)[k % 2]
        elif reason == "unknown_reference":
            row["key_result_id"] = self._next_id("kr-missing-", 5)
        return row

    def _bad_task(self, reason: str, k: int) -> Row:
        kr, instant = self._valid_instant()
        row: Row = {
            "task_id": self._next_id("t-x", 6),
            "title": self.rng.choice(_TASK_TITLES),
            "key_result_id": kr.id,
            "weight": 1,
            "priority": "medium",
            "status": "todo",
            "planned_for": instant.date().isoformat(),
            "updated_at": self._ts(instant, kr.actor.tz),
        }
        if reason == "missing_field":
            row[("task_id", "title")[k % 2]] = None
        elif reason == "invalid_number":
            row["weight"] = ("ten", "N/A", "2,5")[k % 3]
        elif reason == "invalid_enum":
            f, v = (("status", "finished"), ("priority", "urgent"), ("status", "wip"))[k % 3]
            row[f] = v
        elif reason == "invalid_date":
            row["planned_for"] = _bad_dates(instant.date())[k % 3]
        elif reason == "invalid_timestamp":
            row[("completed_at", "updated_at")[k % 2]] = _BAD_TIMESTAMPS[k % 3]
        elif reason == "out_of_range":
            row["weight"] = (0, -2)[k % 2]
        elif reason == "unknown_reference":
            row["key_result_id"] = self._next_id("kr-missing-", 5)
        return row

    def _schedule_bad_children(self) -> None:
        """Spread bad check-ins, milestones and tasks over the files (after a random KR)."""
        n_kr = len(self.krs)
        builders = (
            ("check_ins", 7 * n_kr, self._bad_check_in),
            ("milestones", n_kr // 3, self._bad_milestone),
            ("tasks", 5 * n_kr, self._bad_task),
        )
        for entity, size, build in builders:
            for _, row, reason in self._bad_rows(entity, size, build):
                if entity == "tasks" and reason in _PLAN_REASONS and self.rng.random() < 0.3:
                    self.bad_plan_tasks.append((row, reason))
                else:
                    self._defer(self.rng.randrange(n_kr), entity, row, reason)

    def _defer(self, slot: int, entity: str, row: Row, outcome: str, resend: bool = False) -> None:
        self.pending.setdefault(slot, []).append((entity, row, outcome, resend))

    # -- check-ins, milestones, tasks ------------------------------------------------------------

    def _write_children(self) -> None:
        for i, kr in enumerate(self.krs):
            self._kr_pos = i
            for row in self._milestones(kr):
                self._emit("milestones", row)
            for row in self._check_ins(kr):
                self._emit("check_ins", row)
                if self.messy and self.rng.random() < 0.006:  # re-sent later: idempotent
                    self._defer(i + self.rng.randint(0, 40), "check_ins", row, "unchanged", True)
            self._tasks(kr)
            for entity, row, outcome, resend in self.pending.pop(i, ()):
                self._emit(entity, row, outcome, resend)
        for slot in sorted(self.pending):
            for entity, row, outcome, resend in self.pending[slot]:
                self._emit(entity, row, outcome, resend)
        self.pending.clear()

    def _stop(self, kr: _KeyResult) -> dt.datetime:
        """Nothing about a key result happens after its due day, the cutoff or cancellation."""
        stop = min(kr.end, self.cutoff)
        cancel = kr.obj.cancel_at
        return stop if cancel is None or cancel > stop else cancel

    def _crossings(self, kr: _KeyResult, levels: Sequence[float]) -> list[dt.datetime | None]:
        """First instant the latent path reaches each level (may be a bit after the due day)."""
        limit = min(self.cutoff, kr.obj.cancel_at or self.cutoff)
        values = [kr.path.at(t) for t in _GRID]
        out: list[dt.datetime | None] = []
        for level in levels:
            hit = next((t for t, v in zip(_GRID, values, strict=True) if v >= level), None)
            when = None
            if hit is not None:
                when = kr.begin + hit * kr.span + dt.timedelta(seconds=self.rng.uniform(0, 36000))
            out.append(when if when is not None and when < limit else None)
        return out

    def _milestones(self, kr: _KeyResult) -> list[Row]:
        rng = self.rng
        if kr.metric == "boolean":
            kr.done_at = self._crossings(kr, (0.75,))[0]
        if not kr.milestone_levels:
            return []
        done = self._crossings(kr, [lvl * 0.92 for lvl in kr.milestone_levels])
        kr.ms_done = [d for d in done if d is not None]
        titles = rng.sample(_MILESTONE_TITLES, len(kr.milestone_levels))
        first, last = kr.begin.date(), kr.end.date() - dt.timedelta(days=1)
        rows = []
        for level, title, completed in zip(kr.milestone_levels, titles, done, strict=True):
            due = first + dt.timedelta(days=round(level * (last - first).days))
            rows.append(
                {
                    "milestone_id": self._next_id("ms-", 6),
                    "key_result_id": kr.id,
                    "title": title,
                    "due_date": due.isoformat() if rng.random() > 0.05 else None,
                    "completed_at": self._ts(completed, kr.actor.tz) if completed else None,
                    "weight": _pick(rng, _MILESTONE_WEIGHTS),
                }
            )
        return rows

    def _check_in_times(self, kr: _KeyResult) -> list[dt.datetime]:
        rng, o = self.rng, kr.actor
        stop = self._stop(kr)
        first_day = (o.weekday - kr.begin.weekday()) % 7
        times: list[dt.datetime] = []
        quiet, week = 0, 0
        while True:
            jitter = _any(rng, (-1, 0, 0, 0, 1)) if week else 0
            instant = kr.begin + dt.timedelta(
                days=7 * week + first_day + jitter, hours=o.hour, minutes=_int(rng, 0, 59)
            )
            if instant >= stop:
                break
            week += 1
            if quiet:
                quiet -= 1
                continue
            if rng.random() < o.silence:  # goes quiet for a few weeks
                quiet = _int(rng, 2, 5)
                continue
            t = self._frac(kr, instant)
            p = 0.9 if week == 1 else o.diligence
            if kr.path.at(t) < 0.6 * t - 0.05:  # owners who are behind check in less
                p *= 0.7
            if rng.random() < p:
                times.append(instant)
        closed = kr.end <= stop
        if closed and rng.random() < 0.35 + 0.5 * o.diligence:  # wrap-up at the deadline
            instant = kr.end - dt.timedelta(minutes=_int(rng, 60, 4000))
            if not times or instant > times[-1]:
                times.append(instant)
        if closed and kr.end < self.cutoff and rng.random() < 0.06:  # late, after the due day
            instant = kr.end + dt.timedelta(hours=rng.uniform(12, 240))
            if instant < self.cutoff:
                times.append(instant)
        return times

    def _check_ins(self, kr: _KeyResult) -> list[Row]:
        rng = self.rng
        noise = 0.05 if kr.metric == "percentage" else 0.03
        level = 0.0
        final = kr.path.at(1.0)
        rows = []
        for instant in self._check_in_times(kr):
            t = self._frac(kr, instant)
            latent = kr.path.at(t)
            observed = latent + rng.gauss(0, noise)
            if kr.cumulative:
                observed = level = max(observed, level)
            rows.append(
                {
                    "check_in_id": self._next_id("ci-", 7),
                    "key_result_id": kr.id,
                    "checked_in_at": self._ts(instant, kr.actor.tz),
                    "value": self._value(kr, instant, observed),
                    "confidence": self._confidence(kr, t, latent, final),
                    "note": self._note(latent - t),
                    "author_id": self._author(kr),
                }
            )
        return rows

    def _value(self, kr: _KeyResult, instant: dt.datetime, progress: float) -> int | float:
        if kr.metric == "boolean":  # jumps 0 -> 1 when done
            return 1 if kr.done_at is not None and instant >= kr.done_at else 0
        if kr.metric == "milestone":  # steps with completed milestones
            return sum(1 for d in kr.ms_done if d <= instant)
        v = kr.start + progress * (kr.target - kr.start)
        v = _clamp(v, 0.0, 100.0) if kr.metric == "percentage" else max(0.0, v)
        return _num(v, kr.decimals)

    def _confidence(self, kr: _KeyResult, t: float, latent: float, final: float) -> float | None:
        rng, o = self.rng, kr.actor
        if rng.random() < o.blank_conf:
            return None
        # Optimism bias, reaction to pace (stronger late), and some inside knowledge.
        c = 5.0 + o.optimism + (3 + 7 * t) * (latent - t) + 2.0 * (final - 0.8) + rng.gauss(0, 0.9)
        c = _clamp(c, 0.0, 10.0)
        return _num(round(c), 0) if rng.random() < 0.85 else _num(round(c * 2) / 2, 1)

    def _note(self, gap: float) -> str | None:
        rng = self.rng
        if rng.random() < 0.5:
            return None
        mood = "ahead" if gap > 0.1 else "on_track" if gap > -0.1 else "behind"
        if gap < -0.3:
            mood = "blocked"
        return _any(rng, _NOTES[mood])

    def _author(self, kr: _KeyResult) -> str | None:
        r = self.rng.random()
        if r < 0.05:
            return None
        if r < 0.13:  # a teammate posted the update
            return _any(self.rng, self.dept_owners[kr.obj.dept]).id
        return kr.actor.id

    # -- tasks -----------------------------------------------------------------------------------

    def _task_weeks(self, kr: _KeyResult) -> list[dt.date]:
        first = kr.begin.date() - dt.timedelta(days=kr.begin.weekday())
        last = min(kr.end.date() - dt.timedelta(days=1), self.as_of + dt.timedelta(days=14))
        return [first + dt.timedelta(days=7 * w) for w in range((last - first).days // 7 + 1)]

    def _tasks(self, kr: _KeyResult) -> None:
        rng = self.rng
        weeks = self._task_weeks(kr)
        if not weeks:
            return
        n = _pick(rng, _WEEKLY_TASKS)
        for monday in sorted(_any(rng, weeks) for _ in range(n)):
            weekly = self._task_row(kr, monday, None)
            dailies = [
                self._task_row(kr, monday + dt.timedelta(days=_int(rng, 0, 4)), weekly)
                for _ in range(_pick(rng, _DAILY_TASKS))
            ]
            if kr.actor.plan_api:
                self._add_to_plan(kr, monday, weekly, dailies)
            else:
                self._write_csv_tasks(kr, monday, weekly, dailies)

    def _task_row(self, kr: _KeyResult, day: dt.date, parent: Row | None) -> Row:
        rng = self.rng
        status, completed, updated = self._task_state(kr, day, parent)
        return {
            "task_id": self._next_id("t-", 7),
            "title": _any(rng, _TASK_TITLES),
            "parent_task_id": parent["task_id"] if parent else None,
            "key_result_id": kr.id,
            "weight": _pick(rng, _TASK_WEIGHTS),
            "priority": _pick(rng, _TASK_PRIORITIES),
            "status": status,
            "planned_for": day.isoformat(),
            "completed_at": self._ts(completed, kr.actor.tz) if completed else None,
            "updated_at": self._ts(updated, kr.actor.tz) if rng.random() > 0.05 else None,
            "_updated": updated,
        }

    def _task_state(
        self, kr: _KeyResult, day: dt.date, parent: Row | None
    ) -> tuple[str, dt.datetime | None, dt.datetime]:
        """status, completed_at, updated_at; done-ness follows the key result's execution."""
        rng = self.rng
        start = _midnight(day)
        cancel = kr.obj.cancel_at
        if cancel is not None and cancel <= start + dt.timedelta(days=3):
            return (
                "cancelled",
                None,
                self._before_cutoff(cancel + dt.timedelta(hours=rng.uniform(1, 72))),
            )
        if start >= self.cutoff:  # planned ahead
            created = start - dt.timedelta(days=rng.uniform(1, 6))
            return "todo", None, self._before_cutoff(created)
        t = self._frac(kr, start + dt.timedelta(days=3.5))
        health = kr.path.f0 + (kr.path.shock if t > kr.path.ts else 0.0)
        p_done = _clamp(0.2 + 0.6 * health, 0.05, 0.95)
        parent_status = parent["status"] if parent else None
        if parent_status in ("todo", "cancelled"):
            return parent_status, None, parent["_updated"]
        if parent_status == "done":
            p_done = max(p_done, 0.85)
        status = self._pick_status(p_done)
        if status == "done":
            completed = start + dt.timedelta(hours=rng.uniform(4, 24 * (1 if parent else 6)))
            if completed < self.cutoff:
                return "done", completed, completed + dt.timedelta(minutes=_int(rng, 0, 90))
            status = "in_progress"
        return status, None, self._before_cutoff(start + dt.timedelta(hours=rng.uniform(1, 160)))

    def _pick_status(self, p_done: float) -> str:
        r = self.rng.random()
        if r < p_done:
            return "done"
        rest = (r - p_done) / (1 - p_done)
        return (
            "in_progress"
            if rest < 0.35
            else "blocked"
            if rest < 0.6
            else "cancelled"
            if rest < 0.75
            else "todo"
        )

    def _plan_key(self, kr: _KeyResult, monday: dt.date) -> tuple[str, dt.date]:
        return kr.actor.id, monday

    def _write_csv_tasks(
        self, kr: _KeyResult, monday: dt.date, weekly: Row, dailies: list[Row]
    ) -> None:
        key = self._plan_key(kr, monday)
        plan_id = self.csv_plans.get(key)
        if plan_id is None:
            plan_id = self.csv_plans[key] = self._next_id("wp-", 6)
        for row in (weekly, *dailies):
            row["plan_id"] = plan_id
            if row is not weekly and self.rng.random() < 0.2:
                row["key_result_id"] = None  # daily tasks often only point at their parent
            row["status"] = self._enum(row["status"])
            row["priority"] = self._enum(row["priority"])
            older = self.messy and row["updated_at"] and self.rng.random() < 0.005
            if older and self.rng.random() < 0.5:
                self._emit("tasks", self._older_task(row), "unchanged")
                older = False
            self._emit("tasks", row)
            if older:  # the older version turns up later in the file
                slot = self._kr_pos + self.rng.randint(0, 30)
                self._defer(slot, "tasks", self._older_task(row), "unchanged")

    def _older_task(self, row: Row) -> Row:
        old = self._older(row)
        old["status"], old["completed_at"] = "todo", None
        return old

    def _add_to_plan(
        self, kr: _KeyResult, monday: dt.date, weekly: Row, dailies: list[Row]
    ) -> None:
        key = self._plan_key(kr, monday)
        plan = self.plans.get(key)
        if plan is None:
            week = monday.isocalendar().week
            plan = self.plans[key] = {
                "id": self._next_id("wp-", 6),
                "description": self.rng.choice(
                    ("Week {} plan", "Semaine {}", "ሳምንት {} plan", "W{} priorities, focus")
                ).format(week),
                "weekStart": monday.isoformat(),
                "tasks": [],
            }
        task = self._plan_task(weekly)
        task["planTask"] = [
            self._plan_task(d, explicit_kr=self.rng.random() < 0.3) for d in dailies
        ]
        plan["tasks"].append(task)
        for _ in range(1 + len(dailies)):
            self.books.add("tasks", "stored")
            self._tick()
        self.plan_rows += 1 + len(dailies)

    def _plan_task(self, row: Row, explicit_kr: bool = True) -> Row:
        task: Row = {"id": row["task_id"], "task": row["title"], "weight": row["weight"]}
        if row.get("priority") is not None:
            task["priority"] = self._enum(row["priority"])
        if row.get("status") is not None:
            task["status"] = self._enum(row["status"])
        if explicit_kr and row.get("key_result_id") is not None:
            task["keyResultId"] = row["key_result_id"]
        return task

    def _write_plans(self, path: Path) -> None:
        rng = self.fmt_rng
        plans = []
        for plan in self.plans.values():
            plans.append(self._hoist_key_result(plan))
        self._add_bad_plan_tasks(plans)
        lines = ",\n".join(json.dumps(p, ensure_ascii=False) for p in plans)
        body = f"[\n{lines}\n]" if plans else "[]"
        if rng.random() < 0.5:  # the endpoint sometimes wraps the list
            body = '{"data": ' + body + "}"
        path.write_text(body + "\n", encoding="utf-8")

    def _hoist_key_result(self, plan: Row) -> Row:
        """Plans about one key result carry keyResultId at plan level; tasks inherit it."""
        rng = self.fmt_rng
        krs = {t.get("keyResultId") for t in plan["tasks"]}
        if len(krs) != 1 or None in krs or rng.random() < 0.25:
            return plan
        (kr_id,) = krs
        for task in plan["tasks"]:
            if rng.random() < 0.6:
                del task["keyResultId"]
        return {
            "id": plan["id"],
            "description": plan["description"],
            "keyResultId": kr_id,
            "weekStart": plan["weekStart"],
            "tasks": plan["tasks"],
        }

    def _add_bad_plan_tasks(self, plans: list[Row]) -> None:
        rng = self.rng
        weeklies = [t for p in plans for t in p["tasks"]]  # valid ones only: taken up front
        for row, reason in self.bad_plan_tasks:
            task = self._plan_task(row)
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
                        {"id": self._next_id("wp-x", 4), "description": "Imported", "tasks": []}
                    )
                rng.choice(plans)["tasks"].append(task)
            self.books.add("tasks", reason)
            self.plan_rows += 1
            self._tick()
