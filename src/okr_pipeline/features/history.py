"""The history of every key result, loaded once from the warehouse, and what it says as of an
instant D, and nothing later.

Every value at D comes from rows timestamped at or before D: check-ins by `checked_in_at`,
milestones and tasks by `completed_at` (a task's `status` is its state now, so it is never used),
outcomes of other key results only once their due date has passed before D. Key result and
objective attributes (metric, start and target, weight, due date, owner, department, priority,
period start, status), and a milestone's due date and weight, a task's plan date and weight,
are those of the versions in effect at D (warehouse.VERSION_TABLES): the
latest version of each valid from D or earlier, or the first version before that (a row known
from its first version on stands for its state until then). Which key results exist and when
their periods run, and their outcomes (the version in effect at the due date), come from the
latest state.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from itertools import accumulate
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, bindparam, func, select

from okr_pipeline.core import days, instant
from okr_pipeline.warehouse import ENTITY_TABLES, LOOKUP_CHUNK, VERSION_TABLES, chunks

__all__ = [
    "History",
    "KeyResultHistory",
    "OutcomeRecord",
    "RunningSum",
    "clip",
    "closed_before",
    "elapsed_share",
    "load_history",
    "open_at",
    "pace_at",
    "paces_at",
    "snapshot_instant",
]


Item = tuple[float, float, float]  # a milestone's due, done, weight; a task's planned, done, w
ItemTimeline = tuple[list[float], list[Item | None]]


def _in_effect_items(timelines: list[ItemTimeline], moment: float) -> list[Item]:
    items = []
    for times, states in timelines:
        item = states[max(bisect_right(times, moment) - 1, 0)]
        if item is not None:
            items.append(item)
    return items


@dataclass
class KeyResultHistory:
    id: str
    objective_id: str
    due_date: date
    owner: str | None
    department: str | None
    metric_type: str
    priority: str | None
    start_value: float
    target_value: float
    weight: float
    begin: float  # period start, in days since the epoch
    end: float  # end of the due day
    period_end: float  # end of the last day of its objective's period
    cancelled: bool
    checkin_times: list[float] = field(default_factory=list)
    checkin_values: list[float] = field(default_factory=list)
    checkin_confidence: list[float] = field(default_factory=list)
    # from the check-ins (index_checkins): when a check-in's value rose or fell against the one
    # before it, and the confidences given (those not missing) with their running sums
    rise_times: list[float] = field(default_factory=list)
    fall_times: list[float] = field(default_factory=list)
    confidence_times: list[float] = field(default_factory=list)
    confidence_values: list[float] = field(default_factory=list)
    confidence_sums: list[float] = field(default_factory=lambda: [0.0])
    milestones: list[Item] = field(default_factory=list)  # due, done, w (those never changed)
    tasks: list[Item] = field(default_factory=list)  # planned, done, w (those never changed)
    # milestones and tasks that changed: (times, the item from each time on; None: elsewhere)
    milestone_changes: list[ItemTimeline] = field(default_factory=list)
    task_changes: list[ItemTimeline] = field(default_factory=list)
    # where its attributes changed: the key result as it was from each time on (see as_of)
    change_times: list[float] = field(default_factory=list)
    changes: list[KeyResultHistory] = field(default_factory=list)

    def as_of(self, moment: float) -> KeyResultHistory:
        """The key result with the attributes in effect at `moment` (its check-ins, milestones
        and tasks are the same lists): those of the latest change at or before it, else of the
        first one. Itself when nothing ever changed."""
        if not self.changes:
            return self
        return self.changes[max(bisect_right(self.change_times, moment) - 1, 0)]

    def milestones_at(self, moment: float) -> list[Item]:
        """Its milestones (due, done, weight) as their versions in effect at `moment` say."""
        return self.milestones + _in_effect_items(self.milestone_changes, moment)

    def tasks_at(self, moment: float) -> list[Item]:
        """Its tasks (planned, done, weight) as their versions in effect at `moment` say."""
        return self.tasks + _in_effect_items(self.task_changes, moment)

    def index_checkins(self) -> None:
        """Fill the lists derived from its check-ins (loaded in time order), so that features
        at an instant need a bisection, not a pass over every check-in."""
        self.rise_times, self.fall_times = [], []
        for i in range(1, len(self.checkin_values)):
            if self.checkin_values[i] > self.checkin_values[i - 1]:
                self.rise_times.append(self.checkin_times[i])
            elif self.checkin_values[i] < self.checkin_values[i - 1]:
                self.fall_times.append(self.checkin_times[i])
        self.confidence_times, self.confidence_values = [], []
        self.confidence_sums = [0.0]
        for moment, confidence in zip(self.checkin_times, self.checkin_confidence, strict=True):
            if not math.isnan(confidence):
                self.confidence_times.append(moment)
                self.confidence_values.append(confidence)
                self.confidence_sums.append(self.confidence_sums[-1] + confidence)

    def progress_of(self, value: float) -> float:
        """The progress a value stands for, against its start and target."""
        return (value - self.start_value) / (self.target_value - self.start_value)

    def progress_at(self, moment: float) -> float:
        i = bisect_right(self.checkin_times, moment) - 1
        if i < 0:
            return 0.0
        return (self.checkin_values[i] - self.start_value) / (self.target_value - self.start_value)


@dataclass
class OutcomeRecord:
    """Closed key results of one owner or department, by due time: who achieved what when."""

    ends: list[float] = field(default_factory=list)
    achieved: list[int] = field(default_factory=list)  # cumulative count

    def at(self, moment: float) -> tuple[int, int]:
        n = bisect_right(self.ends, moment)
        return n, self.achieved[n - 1] if n else 0


@dataclass
class RunningSum:
    """Values added in time order with their running sums: how many, and their sum, before or
    up to an instant, by bisection."""

    times: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=lambda: [0.0])

    @classmethod
    def of(cls, items: list[tuple[float, float]]) -> RunningSum:
        """From (time, value) pairs in time order."""
        return cls([moment for moment, _ in items], [0.0, *accumulate(v for _, v in items)])

    def before(self, moment: float) -> tuple[int, float]:
        """Count and sum of the values added strictly before `moment`."""
        n = bisect_left(self.times, moment)
        return n, self.sums[n]

    def through(self, moment: float) -> tuple[int, float]:
        """Count and sum of the values added at or before `moment`."""
        n = bisect_right(self.times, moment)
        return n, self.sums[n]


@dataclass
class History:
    """Everything the features need, loaded once from the warehouse."""

    key_results: dict[str, KeyResultHistory]
    siblings: dict[str, list[str]]
    owners: dict[str, OutcomeRecord]
    departments: dict[str, OutcomeRecord]
    overall: OutcomeRecord
    threshold: float
    # Where the data ends: the end of the day of the latest check-in (days since the epoch; -inf
    # with none), that day counted as complete. Outcomes come from check-ins alone, so a key
    # result due later may still get the check-ins that decide it: it has no outcome yet,
    # whatever the as-of date says.
    data_until: float = -math.inf
    cohorts: dict[tuple[float, str], list[KeyResultHistory]] = field(default_factory=dict)
    # confidences given, by check-in time: per owner (the key result's owner at that time) and
    # overall
    owner_confidence: dict[str, RunningSum] = field(default_factory=dict)
    overall_confidence: RunningSum = field(default_factory=RunningSum)
    # closed key results (as the outcome records), by due time: the share of their final score
    # gained in the last quarter of their period, per owner (then) and overall
    owner_surge: dict[str, RunningSum] = field(default_factory=dict)
    overall_surge: RunningSum = field(default_factory=RunningSum)
    _cohort_cache: dict[tuple[float, str, float], float] = field(default_factory=dict)

    def cohort_pace(self, begin: float, department: str, now: float) -> float:
        """Median pace at `now` of the key results sharing a period start (and a department
        unless `department` is "*"): how hard the quarter is going for everyone."""
        # as of the start of the day: the same for every snapshot taken that day (and so
        # computed once), and still nothing from after `now`
        day = math.floor(now)
        key = (begin, department, day)
        if key not in self._cohort_cache:
            members = self.cohorts.get((begin, department), [])
            paces = paces_at(members, day)
            self._cohort_cache[key] = statistics.median(paces) if paces else math.nan
        return self._cohort_cache[key]

    def final_score(self, kr_id: str) -> float:
        """The score at the due date (contract section 2), against the start and target then
        in effect."""
        kr = self.key_results[kr_id]
        return clip(kr.as_of(kr.end).progress_at(kr.end), 0.0, 1.0)

    def outcome(self, kr_id: str) -> bool | None:
        """True if the key result missed (final score below the threshold); None if it has no
        outcome (cancelled objective)."""
        if self.key_results[kr_id].cancelled:
            return None
        return self.final_score(kr_id) < self.threshold

    def updated(self, fresh: History) -> History:
        """This history with the key results of `fresh` (a few read again:
        `load_history(..., key_result_ids)`) in place of its own, or added if new; its
        objectives' sibling lists and the cohorts hold them as they are now. The outcome records
        and running sums stay this history's: they need every key result, so only a whole load
        brings them up to date."""
        key_results = self.key_results | fresh.key_results
        siblings = dict(self.siblings)
        for kr in fresh.key_results.values():
            before = self.key_results.get(kr.id)
            if before is not None and before.objective_id == kr.objective_id:
                continue  # its objective's list holds it already (in the order a load gives)
            if before is not None:  # moved to another objective
                siblings[before.objective_id] = [
                    k for k in siblings[before.objective_id] if k != kr.id
                ]
            # by id, as a load orders them
            siblings[kr.objective_id] = sorted([*siblings.get(kr.objective_id, []), kr.id])
        cohorts = dict(self.cohorts)
        stale = (self.key_results[k] for k in fresh.key_results if k in self.key_results)
        for key in {*(key for kr in stale for key in _cohort_keys(kr)), *fresh.cohorts}:
            kept = [kr for kr in self.cohorts.get(key, []) if kr.id not in fresh.key_results]
            cohorts[key] = kept + fresh.cohorts.get(key, [])
        return replace(
            self,
            key_results=key_results,
            siblings=siblings,
            cohorts=cohorts,
            data_until=max(self.data_until, fresh.data_until),
            _cohort_cache={},  # the cohorts' paces change with their members
        )


def _none_to_nan(value: float) -> float:
    return math.nan if value is None else float(value)


def load_history(
    conn: Connection, threshold: float, key_result_ids: Collection[str] | None = None
) -> History:
    """Read key results with their objectives, check-ins, milestones and tasks; only those of
    `key_result_ids` if given (a few: one key result's state needs no other; the outcome
    records and cohorts then hold only them, `History.updated` puts them in a whole one)."""
    krs_t, obj_t = ENTITY_TABLES["key_results"], ENTITY_TABLES["objectives"]
    checkins = ENTITY_TABLES["check_ins"]
    milestones = ENTITY_TABLES["milestones"]
    tasks = ENTITY_TABLES["tasks"]
    ids = None if key_result_ids is None else sorted(set(key_result_ids))
    krs: dict[str, KeyResultHistory] = {}
    siblings: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(
        select(
            krs_t.c.key_result_id,
            krs_t.c.objective_id,
            krs_t.c.owner_id,
            obj_t.c.owner_id.label("objective_owner_id"),
            obj_t.c.department,
            krs_t.c.metric_type,
            obj_t.c.priority,
            krs_t.c.start_value,
            krs_t.c.target_value,
            krs_t.c.weight,
            obj_t.c.period_start,
            obj_t.c.period_end,
            krs_t.c.due_date,
            obj_t.c.status,
        )
        .join(obj_t, obj_t.c.objective_id == krs_t.c.objective_id)
        .where(*_of(krs_t, ids))
        .order_by(krs_t.c.key_result_id)
    )
    for row in rows:
        krs[row.key_result_id] = KeyResultHistory(
            id=row.key_result_id,
            objective_id=row.objective_id,
            due_date=row.due_date,
            owner=row.owner_id or row.objective_owner_id,
            department=row.department,
            metric_type=row.metric_type,
            priority=row.priority,
            start_value=row.start_value,
            target_value=row.target_value,
            weight=row.weight,
            begin=days(datetime.combine(min(row.period_start, row.due_date), time.min)),
            end=days(datetime.combine(row.due_date, time.max)),
            period_end=days(datetime.combine(row.period_end, time.max)),
            cancelled=row.status == "cancelled",
        )
        siblings[row.objective_id].append(row.key_result_id)

    for kr_id, moment, value, confidence in conn.execute(
        select(
            checkins.c.key_result_id,
            checkins.c.checked_in_at,
            checkins.c.value,
            checkins.c.confidence,
        )
        .where(*_of(checkins, ids))
        .order_by(checkins.c.key_result_id, checkins.c.checked_in_at, checkins.c.check_in_id)
    ):
        kr = krs.get(kr_id)
        if kr is not None:
            kr.checkin_times.append(days(moment))
            kr.checkin_values.append(value)
            kr.checkin_confidence.append(_none_to_nan(confidence))
    for kr in krs.values():  # before the versions: they share these lists
        kr.index_checkins()

    # milestones and tasks that changed are read from their versions (_load_item_versions)
    changed = {entity: _changed(conn, entity, ids) for entity in ("milestones", "tasks")}
    for item_id, kr_id, due, done, weight in conn.execute(
        select(
            milestones.c.milestone_id,
            milestones.c.key_result_id,
            milestones.c.due_date,
            milestones.c.completed_at,
            milestones.c.weight,
        ).where(*_of(milestones, ids))
    ):
        if kr_id in krs and item_id not in changed["milestones"]:
            krs[kr_id].milestones.append(_milestone(due, done, weight))

    for item_id, kr_id, planned, done, weight in conn.execute(
        select(
            tasks.c.task_id,
            tasks.c.key_result_id,
            tasks.c.planned_for,
            tasks.c.completed_at,
            tasks.c.weight,
        ).where(tasks.c.key_result_id.is_not(None), *_of(tasks, ids))
    ):
        if kr_id in krs and item_id not in changed["tasks"]:
            krs[kr_id].tasks.append(_task(planned, done, weight))

    _load_item_versions(conn, "milestones", changed["milestones"], krs)
    _load_item_versions(conn, "tasks", changed["tasks"], krs)
    _load_versions(conn, krs, ids)
    latest_checkin = conn.execute(
        select(func.max(checkins.c.checked_in_at)).where(*_of(checkins, ids))
    ).scalar_one()
    history = History(krs, dict(siblings), {}, {}, OutcomeRecord(), threshold)
    if latest_checkin is not None:
        history.data_until = math.floor(days(latest_checkin)) + 1  # that day's end: no overflow
    for kr in krs.values():
        for key in _cohort_keys(kr):
            history.cohorts.setdefault(key, []).append(kr)
    _index_outcomes(history)
    _index_confidences(history)
    return history


def _cohort_keys(kr: KeyResultHistory) -> tuple[tuple[float, str], tuple[float, str]]:
    """The cohorts a key result is in: its period start's, overall ("*") and its department's."""
    return (kr.begin, "*"), (kr.begin, kr.department or "")


def _milestone(due: date | None, done: datetime | None, weight: float) -> Item:
    due_at = days(datetime.combine(due, time.max)) if due else math.inf
    return (due_at, days(done) if done else math.inf, weight)


def _task(planned: date | None, done: datetime | None, weight: float) -> Item:
    planned_at = days(datetime.combine(planned, time.min)) if planned else math.inf
    return (planned_at, days(done) if done else math.inf, weight)


_ITEM_COLUMNS = {
    "milestones": ("milestone_id", "due_date", _milestone),
    "tasks": ("task_id", "planned_for", _task),
}


def _changed(conn: Connection, entity: str, ids: list[str] | None) -> set[str]:
    """The milestones or tasks with more than one version."""
    table = VERSION_TABLES[entity]
    key = table.c[_ITEM_COLUMNS[entity][0]]
    query = select(key).where(*_of(table, ids)).group_by(key).having(func.count() > 1)
    return set(conn.scalars(query))


def _load_item_versions(
    conn: Connection, entity: str, item_ids: set[str], krs: dict[str, KeyResultHistory]
) -> None:
    """Each changed milestone or task as a timeline, given to every key result it belonged to:
    in effect at an instant is its latest version from then or earlier, else its first (None
    where it belonged to another key result then)."""
    if not item_ids:
        return
    table = VERSION_TABLES[entity]
    key_name, date_name, make = _ITEM_COLUMNS[entity]
    key = table.c[key_name]
    query = (
        select(
            key,
            table.c.valid_from,
            table.c.key_result_id,
            table.c[date_name],
            table.c.completed_at,
            table.c.weight,
        )
        .where(key.in_(bindparam("ids", expanding=True)))
        .order_by(key, table.c.valid_from, table.c.version_id)
    )
    versions: dict[str, list[tuple[float, str | None, Item]]] = defaultdict(list)
    for chunk in chunks(sorted(item_ids), LOOKUP_CHUNK):
        for item_id, since, kr_id, when, done, weight in conn.execute(query, {"ids": chunk}):
            versions[item_id].append((days(since), kr_id, make(when, done, weight)))
    for timeline in versions.values():
        times = [since for since, _, _ in timeline]
        for kr_id in {kr_id for _, kr_id, _ in timeline}:
            if kr_id in krs:
                states = [item if owner == kr_id else None for _, owner, item in timeline]
                kr = krs[kr_id]
                (kr.milestone_changes if entity == "milestones" else kr.task_changes).append(
                    (times, states)
                )


_KR_ATTRIBUTES = ("objective_id", "owner_id", "metric_type", "start_value", "target_value")
_OBJECTIVE_ATTRIBUTES = ("owner_id", "department", "priority", "period_start", "status")


def _load_versions(
    conn: Connection, krs: dict[str, KeyResultHistory], ids: list[str] | None
) -> None:
    """Give each key result whose attributes (or its objective's) changed its `changes`: the
    key result as it was from each change on. Versions are read in two queries, ordered."""
    kr_versions = VERSION_TABLES["key_results"]
    by_kr: dict[str, list[tuple[datetime, tuple[Any, ...]]]] = defaultdict(list)
    for row in conn.execute(
        select(
            kr_versions.c.key_result_id,
            kr_versions.c.valid_from,
            *(kr_versions.c[n] for n in (*_KR_ATTRIBUTES, "weight", "due_date")),
        )
        .where(*_of(kr_versions, ids))
        .order_by(kr_versions.c.key_result_id, kr_versions.c.valid_from, kr_versions.c.version_id)
    ):
        if row[0] in krs:
            by_kr[row[0]].append((row[1], tuple(row[2:])))
    objective_versions = VERSION_TABLES["objectives"]
    objective_ids = sorted({v[0] for versions in by_kr.values() for _, v in versions})
    by_objective: dict[str, list[tuple[datetime, tuple[Any, ...]]]] = defaultdict(list)
    query = select(
        objective_versions.c.objective_id,
        objective_versions.c.valid_from,
        *(objective_versions.c[n] for n in _OBJECTIVE_ATTRIBUTES),
    ).order_by(
        objective_versions.c.objective_id,
        objective_versions.c.valid_from,
        objective_versions.c.version_id,
    )
    if ids is not None:
        query = query.where(objective_versions.c.objective_id.in_(objective_ids))
    for row in conn.execute(query):
        by_objective[row[0]].append((row[1], tuple(row[2:])))
    for kr_id, versions in by_kr.items():
        # the objectives it belonged to, and their versions
        parents = {v[0] for _, v in versions}
        times = {at for at, _ in versions}
        for parent in parents:
            times.update(at for at, _ in by_objective.get(parent, []))
        if len(times) < 2:
            continue  # one state all along: as stored
        kr = krs[kr_id]
        states: list[tuple[float, tuple[Any, ...]]] = []
        for at in sorted(times):
            attributes = _in_effect(versions, at)
            objective = by_objective.get(attributes[0])
            if objective:
                state = attributes + _in_effect(objective, at)
                if not states or states[-1][1] != state:  # a change that features see
                    states.append((days(at), state))
        if len(states) < 2:
            continue
        for moment, state in states:
            (objective_id, kr_owner, metric, start, target, weight, due) = state[:7]
            owner, department, priority, period_start, status = state[7:]
            kr.change_times.append(moment)
            kr.changes.append(
                replace(
                    kr,
                    objective_id=objective_id,
                    due_date=due,
                    owner=kr_owner or owner,
                    department=department,
                    metric_type=metric,
                    priority=priority,
                    start_value=start,
                    target_value=target,
                    weight=weight,
                    begin=days(datetime.combine(min(period_start, due), time.min)),
                    end=days(datetime.combine(due, time.max)),
                    cancelled=status == "cancelled",
                    change_times=[],
                    changes=[],
                )
            )


def _in_effect(versions: list[tuple[datetime, tuple[Any, ...]]], at: datetime) -> tuple[Any, ...]:
    """The version (ordered by time) in effect at `at`: the latest from then or earlier, else the
    first."""
    i = bisect_right(versions, at, key=lambda version: version[0]) - 1
    return versions[max(i, 0)][1]


def _of(table: Table, ids: list[str] | None) -> list[ColumnElement[bool]]:
    """The condition restricting `table` to the key results of `ids` (None: every row)."""
    return [] if ids is None else [table.c.key_result_id.in_(ids)]


def _index_outcomes(history: History) -> None:
    """Per owner, department and overall: closed key results ordered by due time (only those
    due before the newest data: see `History.data_until`)."""
    closed = sorted(
        (
            (kr.end, (then := kr.as_of(kr.end)).owner or "", then.department or "", missed)
            for kr in history.key_results.values()
            if kr.end < history.data_until and (missed := history.outcome(kr.id)) is not None
        ),
        key=lambda item: item[0],
    )
    for end, owner, department, missed in closed:
        for record in (
            history.owners.setdefault(owner or "", OutcomeRecord()),
            history.departments.setdefault(department or "", OutcomeRecord()),
            history.overall,
        ):
            record.ends.append(end)
            record.achieved.append((record.achieved[-1] if record.achieved else 0) + (not missed))
    surges = sorted(
        [
            (kr.end, kr.as_of(kr.end).owner, share)
            for kr in history.key_results.values()
            if kr.end < history.data_until
            and history.outcome(kr.id) is not None
            and not math.isnan(share := _late_share(kr))
        ],
        key=lambda item: item[0],
    )
    history.overall_surge, history.owner_surge = _running_sums(surges)


LATE_QUARTER = 0.75  # the last quarter of a period starts at this share of it


def _late_share(kr: KeyResultHistory) -> float:
    """The share of a key result's final score gained in the last quarter of its period (0 to
    1: a late fall counts as none); NaN when the final score is 0 (no share to tell). Scores
    against the start and target in effect at the due date, as the outcome."""
    then = kr.as_of(kr.end)
    final = clip(then.progress_at(kr.end), 0.0, 1.0)
    if final <= 0.0:
        return math.nan
    late = clip(then.progress_at(then.begin + LATE_QUARTER * (then.end - then.begin)), 0.0, 1.0)
    return clip((final - late) / final, 0.0, 1.0)


def _index_confidences(history: History) -> None:
    """Every confidence given, by check-in time, overall and per owner: the owner of the key
    result at the time of the check-in (its version in effect then); none for no owner."""
    given: list[tuple[float, str | None, float]] = []
    for kr in history.key_results.values():
        times, values = kr.confidence_times, kr.confidence_values
        owners = (
            [kr.as_of(moment).owner for moment in times] if kr.changes else [kr.owner] * len(times)
        )
        given.extend(zip(times, owners, values, strict=True))
    given.sort(key=lambda item: item[0])
    history.overall_confidence, history.owner_confidence = _running_sums(given)


def _running_sums(
    items: list[tuple[float, str | None, float]],
) -> tuple[RunningSum, dict[str, RunningSum]]:
    """(time, owner, value) in time order: their running sums overall and per owner (none for
    no owner)."""
    by_owner: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for moment, owner, value in items:
        if owner:
            by_owner[owner].append((moment, value))
    overall = RunningSum.of([(moment, value) for moment, _, value in items])
    return overall, {owner: RunningSum.of(pairs) for owner, pairs in by_owner.items()}


def clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def elapsed_share(kr: KeyResultHistory, now: float) -> float:
    return clip((now - kr.begin) / max(kr.end - kr.begin, 1.0), 0.0, 1.0)


def pace_at(kr: KeyResultHistory, now: float) -> float:
    """Progress over elapsed share (the vendors' rule), bounded so early noise stays small."""
    return paces_at([kr], now)[0]


def paces_at(krs: Iterable[KeyResultHistory], now: float) -> list[float]:
    """`pace_at` of each key result, with its attributes as of `now`, in one loop (elapsed_share
    inline): the cohorts' medians take it for every member, a third of the features' time."""
    paces = []
    for latest in krs:
        kr = latest.as_of(now)
        elapsed = min(max((now - kr.begin) / max(kr.end - kr.begin, 1.0), 0.02), 1.0)
        paces.append(min(max(kr.progress_at(now) / elapsed, -5.0), 5.0))
    return paces


def open_at(history: History, moment: datetime) -> list[str]:
    """Key results whose period has begun and whose due date has not passed at `moment`."""
    now = days(moment)
    return [kr.id for kr in history.key_results.values() if kr.begin <= now <= kr.end]


def snapshot_instant(history: History, kr_id: str, fraction: float) -> datetime:
    """The instant at `fraction` of a key result's period."""
    kr = history.key_results[kr_id]
    return instant(kr.begin + fraction * (kr.end - kr.begin))


def closed_before(history: History, moment: datetime) -> list[str]:
    """Key results with an outcome whose due date passed before `moment` and before the newest
    data (`History.data_until`): a later as-of cannot turn open key results into misses."""
    now = min(days(moment), history.data_until)
    return [
        kr.id
        for kr in history.key_results.values()
        if kr.end < now and history.outcome(kr.id) is not None
    ]
