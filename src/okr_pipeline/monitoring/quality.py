"""Data quality as of an instant D, read from the warehouse: completeness of the stored rows,
freshness of the check-ins, validity (quarantine and dead-letter rates), duplicates seen,
reference integrity and the volume of check-ins against the usual for the time of the quarter.

Every figure counts only what was there at D: check-ins by `checked_in_at`, ingest runs by
`started_at`, quarantined rows by `first_seen_at` (and `resolved_at`), stream events by
`processed_at` and dead letters by `created_at`. The recent window is the `window_days` before D,
(D - window, D]. Completeness and orphans are of the rows stored now: a stored row keeps no
instant it was first stored at.

Each breach of a `monitoring.quality` threshold is a problem for the alerts: a warning, critical
when it is twice as far (rates and ages above twice the threshold, a department with open key
results and no check-in at all, a week without check-ins where there usually are some); a
required field left empty or a row naming no stored parent is always critical (the contract and
the ingestion never let either in: the warehouse was written by other means).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from okr_pipeline.config import Settings
from okr_pipeline.contract import ENTITIES, ENTITY_ORDER, FieldSpec
from okr_pipeline.monitoring.periods import objective_periods, same_point
from okr_pipeline.monitoring.problems import problem
from okr_pipeline.warehouse import (
    ENTITY_TABLES,
    dead_letters,
    ingest_runs,
    processed_events,
    quarantine,
)

__all__ = ["NO_DEPARTMENT", "quality"]

NO_DEPARTMENT = "(none)"  # the department of objectives that name none
Window = tuple[datetime, datetime]  # (start, end]: start excluded, end included


def quality(settings: Settings, conn: Connection, as_of: datetime) -> dict[str, Any]:
    """The data-quality section of the monitoring document as of `as_of` (naive UTC), with its
    `problems`: each {condition, subject, severity, message, value, threshold}."""
    limits = settings.monitoring.quality
    window = (as_of - timedelta(days=limits.window_days), as_of)
    problems: list[dict[str, Any]] = []
    runs = _runs(conn, as_of - timedelta(days=max(limits.window_days, limits.series_days)), as_of)
    return {
        "as_of": as_of.isoformat(),
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat()},
        "completeness": _completeness(conn, limits.min_completeness, problems),
        "freshness": _freshness(conn, as_of, limits.max_checkin_age_days, problems),
        "validity": _validity(conn, settings, as_of, window, runs, problems),
        "duplicates": _duplicates(window, runs),
        "references": _references(conn, as_of, problems),
        "volume": _volume(conn, as_of, window, limits.volume_tolerance, problems),
        "problems": problems,
    }


def _problem(
    kind: str, subject: str, severity: str, message: str, value: float | None, threshold: float
) -> dict[str, Any]:
    return problem(f"quality.{kind}", subject, severity, message, value, threshold)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _in(column: Any, window: Window) -> ColumnElement[bool]:
    return and_(column > window[0], column <= window[1])


def _counts(conn: Connection, column: Any, windows: Sequence[Window], *where: Any) -> list[int]:
    """Rows whose `column` falls in each window, in one scan of the table."""
    if not windows:
        return []
    counts = [func.count(case((_in(column, w), 1))) for w in windows]
    start, end = min(w[0] for w in windows), max(w[1] for w in windows)
    return list(conn.execute(select(*counts).where(column > start, column <= end, *where)).one())


# --- completeness -------------------------------------------------------------------------------


def _present(column: Any, spec: FieldSpec) -> Any:
    """A value, for counting: a blank string is as empty as none (the contract stores neither)."""
    if spec.kind in ("string", "enum"):
        return case((func.trim(column) != "", 1))
    return column


def _completeness(
    conn: Connection, minimum: float, problems: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per entity and field, the share of stored rows with a value. A field the contract fills
    with a default when empty (`defaulted`) is always complete: its share says nothing of the
    source."""
    section: dict[str, Any] = {}
    for entity in ENTITY_ORDER:
        spec, table = ENTITIES[entity], ENTITY_TABLES[entity]
        filled = [func.count(_present(table.c[f.name], f)) for f in spec.fields]
        rows, *counts = conn.execute(select(func.count(), *filled).select_from(table)).one()
        fields: dict[str, Any] = {}
        for spec_field, count in zip(spec.fields, counts, strict=True):
            share = _share(count, rows)
            fields[spec_field.name] = {
                "required": spec_field.required,
                "defaulted": not spec_field.required and not table.c[spec_field.name].nullable,
                "filled": count,
                "share": share,
            }
            if spec_field.required and share is not None and share < minimum:
                problems.append(
                    _problem(
                        "completeness",
                        f"{entity}.{spec_field.name}",
                        "critical",
                        f"{entity}.{spec_field.name} is required but empty in "
                        f"{rows - count} of {rows} stored rows",
                        share,
                        minimum,
                    )
                )
        section[entity] = {"rows": rows, "fields": fields}
    return section


# --- freshness ----------------------------------------------------------------------------------


def _age_days(as_of: datetime, latest: datetime | None) -> float | None:
    return None if latest is None else (as_of - latest).total_seconds() / 86400


def _freshness(
    conn: Connection, as_of: datetime, maximum: float, problems: list[dict[str, Any]]
) -> dict[str, Any]:
    """Age of the latest check-in at or before D, overall and per department (the department of
    the check-in's key result's objective). Only departments with key results open at D (as
    `features.open_at` has it, cancelled objectives aside) are expected to check in."""
    checkins, krs, objectives = (
        ENTITY_TABLES[e] for e in ("check_ins", "key_results", "objectives")
    )
    day = as_of.date()
    open_counts: dict[Any, Any] = dict(
        conn.execute(
            select(objectives.c.department, func.count())
            .select_from(krs.join(objectives, objectives.c.objective_id == krs.c.objective_id))
            .where(
                objectives.c.status != "cancelled",
                krs.c.due_date >= day,
                or_(objectives.c.period_start <= day, krs.c.due_date <= day),
            )
            .group_by(objectives.c.department)
        ).all()
    )
    latest_by_department: dict[Any, Any] = dict(
        conn.execute(
            select(objectives.c.department, func.max(checkins.c.checked_in_at))
            .select_from(
                checkins.join(krs, krs.c.key_result_id == checkins.c.key_result_id).join(
                    objectives, objectives.c.objective_id == krs.c.objective_id
                )
            )
            .where(checkins.c.checked_in_at <= as_of)
            .group_by(objectives.c.department)
        ).all()
    )
    latest = conn.execute(
        select(func.max(checkins.c.checked_in_at)).where(checkins.c.checked_in_at <= as_of)
    ).scalar_one()
    overall = {
        "latest_check_in": latest.isoformat() if latest else None,
        "age_days": _age_days(as_of, latest),
        "open_key_results": sum(open_counts.values()),
    }
    if overall["open_key_results"]:
        _stale(problems, "overall", "no check-in at all", overall["age_days"], maximum)
    departments: dict[str, Any] = {}
    for department in sorted(set(open_counts) | set(latest_by_department), key=lambda d: d or ""):
        name = department or NO_DEPARTMENT
        moment = latest_by_department.get(department)
        age = _age_days(as_of, moment)
        departments[name] = {
            "latest_check_in": moment.isoformat() if moment else None,
            "age_days": age,
            "open_key_results": open_counts.get(department, 0),
        }
        if open_counts.get(department):
            _stale(problems, f"department:{name}", f"department {name}", age, maximum)
    return {"overall": overall, "departments": departments, "max_age_days": maximum}


def _stale(
    problems: list[dict[str, Any]], subject: str, what: str, age: float | None, maximum: float
) -> None:
    if age is not None and age <= maximum:
        return
    severity = "critical" if age is None or age > 2 * maximum else "warning"
    said = "has no check-in at all" if age is None else f"last checked in {age:.1f} days ago"
    problems.append(
        _problem(
            "freshness",
            subject,
            severity,
            f"{what.capitalize()} {said}, with key results open",
            age,
            maximum,
        )
    )


# --- ingest runs: validity and duplicates -------------------------------------------------------


@dataclass
class _Run:
    kind: str  # files | stream (quarantine retries read rows already counted: left out)
    started_at: datetime
    report: dict[str, Any]


def _runs(conn: Connection, start: datetime, end: datetime) -> list[_Run]:
    """The completed ingest runs of files and of the stream started in (start, end] (a failed
    run rolled its rows back)."""
    rows = conn.execute(
        select(ingest_runs.c.kind, ingest_runs.c.started_at, ingest_runs.c.report).where(
            ingest_runs.c.status == "completed",
            ingest_runs.c.kind.in_(("files", "stream")),
            _in(ingest_runs.c.started_at, (start, end)),
        )
    )
    return [_Run(kind, started, json.loads(report)) for kind, started, report in rows]


@dataclass
class _Tally:
    """What files runs read of one entity, and what they quarantined, by reason."""

    read: int = 0
    quarantined: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    def add(self, counts: dict[str, Any]) -> None:
        self.read += counts["read"]
        self.quarantined += counts["quarantined"]
        self.by_reason.update(counts["by_reason"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "quarantined": self.quarantined,
            "share": _share(self.quarantined, self.read),
            "by_reason": {
                reason: {"rows": n, "share": _share(n, self.read)}
                for reason, n in sorted(self.by_reason.items())
            },
        }


def _tally(reports: list[dict[str, Any]]) -> dict[str, _Tally]:
    tallies = {entity: _Tally() for entity in ENTITY_ORDER}
    for report in reports:
        for entity, counts in report["entities"].items():
            tallies[entity].add(counts)
    return tallies


def _file_reports(runs: list[_Run], window: Window) -> list[dict[str, Any]]:
    return [r.report for r in runs if r.kind == "files" and window[0] < r.started_at <= window[1]]


def _validity(
    conn: Connection,
    settings: Settings,
    as_of: datetime,
    window: Window,
    runs: list[_Run],
    problems: list[dict[str, Any]],
) -> dict[str, Any]:
    """Quarantine rates per entity and reason (what files runs quarantined over what they read:
    a bad row sent again counts again, as it is read again) and the stream's dead-letter rate
    (dead letters over events stored or dead-lettered), in the window and over all time to D,
    and both per day for the quality-over-time series."""
    limits = settings.monitoring.quality
    recent = _tally(_file_reports(runs, window))
    everything = _tally(
        [
            json.loads(report)
            for (report,) in conn.execute(
                select(ingest_runs.c.report).where(
                    ingest_runs.c.status == "completed",
                    ingest_runs.c.kind == "files",
                    ingest_runs.c.started_at <= as_of,
                )
            )
        ]
    )
    new_rows: Counter[str] = Counter(
        dict(
            conn.execute(
                select(quarantine.c.entity, func.count())
                .where(_in(quarantine.c.first_seen_at, window))
                .group_by(quarantine.c.entity)
            ).all()
        )
    )
    for entity, tally in recent.items():
        share = _share(tally.quarantined, tally.read)
        _rate_problem(problems, "quarantine", entity, share, limits.max_quarantine_share)
    quarantine_section = {
        "window": {e: {**t.as_dict(), "new_distinct_rows": new_rows[e]} for e, t in recent.items()},
        "overall": {e: t.as_dict() for e, t in everything.items()},
    }
    letters = _letters(conn, window)
    _rate_problem(
        problems, "dead_letters", "stream", letters["share"], limits.max_dead_letter_share
    )
    return {
        "quarantine": quarantine_section,
        "max_quarantine_share": limits.max_quarantine_share,
        "dead_letters": {"window": letters, "overall": _letters(conn, (datetime.min, as_of))},
        "max_dead_letter_share": limits.max_dead_letter_share,
        "series": _series(conn, as_of, limits.series_days, runs),
    }


def _rate_problem(
    problems: list[dict[str, Any]], kind: str, subject: str, share: float | None, maximum: float
) -> None:
    if share is None or share <= maximum:
        return
    what = "rows read quarantined" if kind == "quarantine" else "events dead-lettered"
    problems.append(
        _problem(
            f"{kind}_rate",
            subject,
            "critical" if share > 2 * maximum else "warning",
            f"{share:.1%} of {subject} {what} in the window (at most {maximum:.1%})",
            share,
            maximum,
        )
    )


def _letters(conn: Connection, window: Window) -> dict[str, Any]:
    """Dead letters over the events the stream resolved (stored or dead-lettered; a message that
    is no event at all is dead-lettered without an event id: it counts too)."""
    (stored,) = _counts(conn, processed_events.c.processed_at, [window], _stored_event())
    by_reason: dict[Any, Any] = dict(
        conn.execute(
            select(dead_letters.c.reason, func.count())
            .where(_in(dead_letters.c.created_at, window))
            .group_by(dead_letters.c.reason)
        ).all()
    )
    lettered = sum(by_reason.values())
    return {
        "events": stored + lettered,
        "dead_lettered": lettered,
        "share": _share(lettered, stored + lettered),
        "by_reason": dict(sorted(by_reason.items())),
    }


def _stored_event() -> ColumnElement[bool]:
    return processed_events.c.outcome == "stored"


def _series(conn: Connection, as_of: datetime, days: int, runs: list[_Run]) -> list[dict[str, Any]]:
    """Per day (24 hours ending at D, and the days before it), oldest first."""
    windows = [
        (as_of - timedelta(days=i + 1), as_of - timedelta(days=i)) for i in reversed(range(days))
    ]
    stored = _counts(conn, processed_events.c.processed_at, windows, _stored_event())
    lettered = _counts(conn, dead_letters.c.created_at, windows)
    series = []
    for (start, end), events, letters in zip(windows, stored, lettered, strict=True):
        tallies = _tally(_file_reports(runs, (start, end))).values()
        read, held = sum(t.read for t in tallies), sum(t.quarantined for t in tallies)
        series.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "read": read,
                "quarantined": held,
                "quarantine_share": _share(held, read),
                "events": events + letters,
                "dead_lettered": letters,
                "dead_letter_share": _share(letters, events + letters),
            }
        )
    return series


def _duplicates(window: Window, runs: list[_Run]) -> dict[str, Any]:
    """Repeats seen in the window: rows of files that changed nothing (a repeat of an id that
    lost, or a row equal to the stored one) and stream events delivered again. A stream batch of
    duplicates only records no ingest run, so the stream's count is a lower bound."""
    unchanged = Counter[str]()
    for report in _file_reports(runs, window):
        for entity, counts in report["entities"].items():
            unchanged[entity] += counts["unchanged"]
    stream = sum(
        r.report["duplicates"]
        for r in runs
        if r.kind == "stream" and window[0] < r.started_at <= window[1]
    )
    return {
        "unchanged_rows": {entity: unchanged[entity] for entity in ENTITY_ORDER},
        "stream_duplicates": stream,
    }


# --- reference integrity ------------------------------------------------------------------------


def _references(
    conn: Connection, as_of: datetime, problems: list[dict[str, Any]]
) -> dict[str, Any]:
    """Stored rows whose reference names no stored parent, and quarantined rows waiting for
    theirs at D (`unknown_reference`, seen by D and not resolved by then)."""
    orphans: dict[str, int] = {}
    for entity in ENTITY_ORDER:
        spec = ENTITIES[entity]
        if spec.reference is None:
            continue
        column, parent_entity = spec.reference
        child, parent = ENTITY_TABLES[entity], ENTITY_TABLES[parent_entity]
        parent_key = parent.c[ENTITIES[parent_entity].key]
        count = conn.execute(
            select(func.count())
            .select_from(child.outerjoin(parent, parent_key == child.c[column]))
            .where(child.c[column].is_not(None), parent_key.is_(None))
        ).scalar_one()
        orphans[entity] = count
        if count:
            problems.append(
                _problem(
                    "reference",
                    f"{entity}.{column}",
                    "critical",
                    f"{count} stored {entity} name no stored {parent_entity} in {column}",
                    count,
                    0,
                )
            )
    waiting: dict[Any, Any] = dict(
        conn.execute(
            select(quarantine.c.entity, func.count())
            .where(
                quarantine.c.reason == "unknown_reference",
                quarantine.c.first_seen_at <= as_of,
                or_(quarantine.c.resolved_at.is_(None), quarantine.c.resolved_at > as_of),
            )
            .group_by(quarantine.c.entity)
        ).all()
    )
    return {
        "orphans": orphans,
        "open_unknown_reference": {entity: waiting.get(entity, 0) for entity in ENTITY_ORDER},
    }


# --- volume -------------------------------------------------------------------------------------


def _volume(
    conn: Connection,
    as_of: datetime,
    window: Window,
    tolerance: float,
    problems: list[dict[str, Any]],
) -> dict[str, Any]:
    """Check-ins in the window against the same stretch of earlier periods: the current period
    is the one holding D with the most objectives; earlier ones are periods of about its length
    that ended before it began, whose stretch the stored check-ins cover (the median of theirs
    is the usual)."""
    checkins = ENTITY_TABLES["check_ins"].c.checked_in_at
    (count,) = _counts(conn, checkins, [window])
    section: dict[str, Any] = {"check_ins": count, "usual": None, "ratio": None, "earlier": []}
    found = same_point(objective_periods(conn), as_of)
    if found is None:
        return section
    first = conn.execute(select(func.min(checkins))).scalar_one()
    earlier = []
    for _, moment in found.earlier:
        stretch = (moment - (window[1] - window[0]), moment)
        if first is not None and stretch[0] >= first:
            earlier.append(stretch)
    counts = _counts(conn, checkins, earlier)
    start, end = found.current
    section["period"] = {"start": start.isoformat(), "end": end.isoformat()}
    section["earlier"] = [
        {"start": s.isoformat(), "end": e.isoformat(), "check_ins": n}
        for (s, e), n in zip(earlier, counts, strict=True)
    ]
    if not counts:
        return section
    usual = statistics.median(counts)
    section["usual"] = usual
    if usual == 0:
        return section
    ratio = count / usual
    section["ratio"] = ratio
    if (off := abs(ratio - 1)) > tolerance:
        problems.append(
            _problem(
                "volume",
                "check_ins",
                "critical" if count == 0 else "warning",
                f"{count} check-ins in the window where {usual:g} are usual at this point of "
                f"the period ({ratio - 1:+.0%})",
                off,
                tolerance,
            )
        )
    return section
