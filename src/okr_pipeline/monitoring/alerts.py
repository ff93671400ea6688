"""The alert store (the warehouse's `alerts` table) and its rules.

A problem is a dict that a check reports: `condition` (e.g. `drift.dataset`), `subject` (what it
is about), `severity` (info | warning | critical), `message`, and optionally `value`,
`threshold` and any other JSON-ready keys, kept as the alert's details.

- One alert per (condition, subject) while it holds; its fingerprint is the sha256 of
  `condition`, a NUL and `subject`. Raising it again updates its severity, message, details,
  `last_raised_at` and `times_raised`.
- Channels (`channels.py`) are told when an alert opens, and again only once
  `monitoring.alerts.window_hours` have passed since `last_notified_at`. A channel that failed
  is kept in the alert's `undelivered` and tried again at the alert's next raise, alone.
- An acknowledged alert stays quiet (still updated, never notified) until it clears.
- A check names the conditions it evaluated (`checked`); an open or acknowledged alert of those
  that is not among its current problems is cleared (`clear_absent`). If the condition comes
  back, it is a new alert, notified as such.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.engine import RowMapping

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError
from okr_pipeline.monitoring.channels import Notifier
from okr_pipeline.warehouse import MAX_ID
from okr_pipeline.warehouse import alerts as alerts_table

__all__ = [
    "SEVERITIES",
    "Alert",
    "acknowledge",
    "clear_absent",
    "fingerprint",
    "list_alerts",
    "raise_alerts",
]

SEVERITIES = ("info", "warning", "critical")
ACTIVE = ("open", "acknowledged")
_PROBLEM_KEYS = ("condition", "subject", "severity", "message")


@dataclass
class Alert:
    id: int
    fingerprint: str
    condition: str
    subject: str
    severity: str
    message: str
    details: dict[str, Any]  # the problem's value, threshold and other keys
    status: str  # open | acknowledged | cleared
    first_raised_at: datetime
    last_raised_at: datetime
    last_notified_at: datetime | None
    times_raised: int
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    undelivered: dict[str, str] = field(default_factory=dict)  # channel -> why it failed
    notified: list[str] = field(default_factory=list)  # channels told by this call

    def as_dict(self) -> dict[str, Any]:
        ready: dict[str, Any] = _json_ready(asdict(self))
        return ready


def fingerprint(condition: str, subject: str) -> str:
    return hashlib.sha256(f"{condition}\0{subject}".encode()).hexdigest()


def raise_alerts(
    settings: Settings, engine: Engine, problems: Iterable[Mapping[str, Any]], now: datetime
) -> list[Alert]:
    """Open or update one alert per problem (the most severe of problems sharing a condition and
    subject) and notify the channels of those due; returns the alerts, each with the channels
    it told (`notified`) and those that failed (`undelivered`)."""
    window = timedelta(hours=settings.monitoring.alerts.window_hours)
    merged: dict[str, Mapping[str, Any]] = {}
    for problem in problems:
        key = _key(problem)
        if key not in merged or _rank(problem) > _rank(merged[key]):
            merged[key] = problem
    if not merged:
        return []
    notifier = Notifier(settings)  # a misconfigured channel fails before anything is written
    with engine.begin() as conn:
        raised = [_record(conn, key, problem, now) for key, problem in merged.items()]
    due = {a.id: channels for a in raised if (channels := _due(a, notifier, window, now))}
    if not due:
        return raised
    with notifier:
        for alert in raised:
            if alert.id not in due:
                continue
            channels = due[alert.id]
            if alert.last_notified_at is None or set(channels) == set(notifier.channels):
                alert.last_notified_at = now  # not for a retry of undelivered channels alone
            failures = notifier.send(_notification(alert), alert.fingerprint, only=channels)
            alert.notified = [c for c in channels if c not in failures]
            alert.undelivered = failures
    with engine.begin() as conn:
        for alert in raised:
            if alert.id in due:
                conn.execute(
                    update(alerts_table)
                    .where(alerts_table.c.id == alert.id)
                    .values(last_notified_at=alert.last_notified_at, details=_stored(alert))
                )
    return raised


def clear_absent(
    settings: Settings,
    engine: Engine,
    problems: Iterable[Mapping[str, Any]],
    checked: Collection[str],
    now: datetime,
) -> list[Alert]:
    """Clear the open and acknowledged alerts of the conditions a check evaluated (`checked`:
    condition names, or prefixes ending in a dot such as `quality.`) that are not among its
    current `problems`; returns them."""
    present = {_key(problem) for problem in problems}
    cleared = []
    with engine.begin() as conn:
        rows = conn.execute(select(alerts_table).where(alerts_table.c.status.in_(ACTIVE)))
        for row in rows.mappings().all():
            if row["fingerprint"] in present or not _covered(row["condition"], checked):
                continue
            conn.execute(
                update(alerts_table)
                .where(alerts_table.c.id == row["id"])
                .values(status="cleared", cleared_at=now)
            )
            cleared.append(_alert(row) | {"status": "cleared", "cleared_at": now})
    return [_from_fields(fields) for fields in cleared]


def acknowledge(
    settings: Settings, engine: Engine, alert_id: int, now: datetime | None = None
) -> Alert:
    """Mark an open alert acknowledged: quiet until its condition clears. Acknowledging it again
    changes nothing; an unknown or cleared alert is an InputError."""
    if not 1 <= alert_id <= MAX_ID:  # no such id: the warehouse would refuse the number itself
        raise InputError(f"no alert {alert_id}")
    with engine.begin() as conn:
        row = conn.execute(select(alerts_table).where(alerts_table.c.id == alert_id)).mappings()
        found = row.first()
        if found is None:
            raise InputError(f"no alert {alert_id}")
        fields = _alert(found)
        if fields["status"] == "cleared":
            raise InputError(
                f"alert {alert_id} was cleared at {fields['cleared_at']:%Y-%m-%d %H:%M:%S}: "
                "nothing to acknowledge"
            )
        if fields["status"] == "open":
            fields |= {"status": "acknowledged", "acknowledged_at": now or now_utc()}
            conn.execute(
                update(alerts_table)
                .where(alerts_table.c.id == alert_id)
                .values(status="acknowledged", acknowledged_at=fields["acknowledged_at"])
            )
    return _from_fields(fields)


def list_alerts(settings: Settings, conn: Connection, open_only: bool) -> list[Alert]:
    """Alerts, the latest raised first; `open_only`: those still holding (open or acknowledged)."""
    query = select(alerts_table).order_by(
        alerts_table.c.last_raised_at.desc(), alerts_table.c.id.desc()
    )
    if open_only:
        query = query.where(alerts_table.c.status.in_(ACTIVE))
    return [_from_fields(_alert(row)) for row in conn.execute(query).mappings()]


def _checked_problem(problem: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(condition, subject, severity, message), or a ValueError saying what is wrong."""
    missing = [key for key in _PROBLEM_KEYS if not isinstance(problem.get(key), str)]
    if missing:
        raise ValueError(f"a problem needs {', '.join(missing)} as text: {dict(problem)!r}")
    condition, subject, severity, message = (problem[key] for key in _PROBLEM_KEYS)
    if severity not in SEVERITIES:
        raise ValueError(f"problem severity {severity!r} is none of {', '.join(SEVERITIES)}")
    if not condition or len(condition) > 64 or len(subject) > 255:
        raise ValueError(f"problem condition (1-64) or subject (255) too long: {condition!r}")
    return condition, subject, severity, message


def _key(problem: Mapping[str, Any]) -> str:
    condition, subject, _, _ = _checked_problem(problem)
    return fingerprint(condition, subject)


def _rank(problem: Mapping[str, Any]) -> int:
    return SEVERITIES.index(problem["severity"])


def _covered(condition: str, checked: Collection[str]) -> bool:
    return any(condition == c or (c.endswith(".") and condition.startswith(c)) for c in checked)


def _record(conn: Connection, key: str, problem: Mapping[str, Any], now: datetime) -> Alert:
    """Insert the problem's alert, or update the one that holds."""
    condition, subject, severity, message = _checked_problem(problem)
    details = _json_ready({k: v for k, v in problem.items() if k not in _PROBLEM_KEYS})
    held = (
        conn.execute(
            select(alerts_table)
            .where(alerts_table.c.fingerprint == key, alerts_table.c.status.in_(ACTIVE))
            .order_by(alerts_table.c.id.desc())
        )
        .mappings()
        .first()
    )
    if held is None:
        fields: dict[str, Any] = {
            "fingerprint": key,
            "condition": condition,
            "subject": subject,
            "severity": severity,
            "message": message,
            "details": details,
            "status": "open",
            "first_raised_at": now,
            "last_raised_at": now,
            "last_notified_at": None,
            "times_raised": 1,
            "acknowledged_at": None,
            "cleared_at": None,
            "undelivered": {},
        }
        stored = {k: v for k, v in fields.items() if k != "undelivered"}
        stored["details"] = json.dumps({"problem": details, "undelivered": {}})
        inserted = conn.execute(insert(alerts_table).values(**stored)).inserted_primary_key
        assert inserted is not None  # an INSERT of one row
        fields["id"] = inserted[0]
        return _from_fields(fields)
    fields = _alert(held) | {
        "severity": severity,
        "message": message,
        "details": details,
        "last_raised_at": now,
        "times_raised": held["times_raised"] + 1,
    }
    alert = _from_fields(fields)
    conn.execute(
        update(alerts_table)
        .where(alerts_table.c.id == alert.id)
        .values(
            severity=severity,
            message=message,
            details=_stored(alert),
            last_raised_at=now,
            times_raised=alert.times_raised,
        )
    )
    return alert


def _due(alert: Alert, notifier: Notifier, window: timedelta, now: datetime) -> list[str]:
    """The channels to tell of the alert now: all of them when it is new or its window has
    passed, else those that failed last time; none while it is acknowledged."""
    if alert.status != "open":
        return []
    if alert.last_notified_at is None or now - alert.last_notified_at >= window:
        return list(notifier.channels)
    return [c for c in notifier.channels if c in alert.undelivered]


def _notification(alert: Alert) -> dict[str, Any]:
    """What the channels get: the alert as stored, without its own delivery bookkeeping."""
    document = alert.as_dict()
    del document["notified"], document["undelivered"]
    return document


def _stored(alert: Alert) -> str:
    return json.dumps({"problem": alert.details, "undelivered": alert.undelivered})


def _alert(row: RowMapping) -> dict[str, Any]:
    fields = dict(row)
    document = json.loads(fields["details"]) if fields["details"] else {}
    fields["details"] = document.get("problem", {})
    fields["undelivered"] = document.get("undelivered", {})
    return fields


def _from_fields(fields: Mapping[str, Any]) -> Alert:
    return Alert(**{k: v for k, v in fields.items() if k in Alert.__dataclass_fields__})


def _json_ready(value: Any) -> Any:
    """NaN and infinities as None (JSON has neither), instants as ISO text, tuples as lists,
    through nested data."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value
