"""The monitoring use case (`okr monitor`, and the monitoring pipeline every 2 hours): data
quality, drift, realized and estimated model performance and the operational signals (failed
pipeline tasks, consumer lag, quarantine and dead-letter spikes) as of D; alerts raised for what
is wrong and cleared for what no longer is; the document stored with its time (the history is
kept) and an HTML report written beside it. Also the alerts' own use cases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, case, insert, select

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import InputError
from okr_pipeline.monitoring.alerts import (
    Alert,
    acknowledge,
    clear_absent,
    list_alerts,
    raise_alerts,
)
from okr_pipeline.monitoring.channels import check_channels
from okr_pipeline.monitoring.drift import drift as drift_of
from okr_pipeline.monitoring.performance import performance
from okr_pipeline.monitoring.quality import quality
from okr_pipeline.monitoring.report import write_monitoring_report
from okr_pipeline.monitoring.signals import (
    CHECKED,
    consumer_lag_problems,
    pipeline_problems,
    spike_problems,
)
from okr_pipeline.warehouse import monitor_runs, open_warehouse

__all__ = ["acknowledge_alert", "alerts", "monitor"]


def monitor(settings: Settings, as_of: datetime | None = None) -> dict[str, Any]:
    """Monitor as of `as_of` (now by default) and return the document `okr monitor` prints:
    `{"as_of", "quality", "drift", "performance": {"realized", "estimated", ...}, "signals",
    "alerts", "report"}`; the alerts are those this run raised."""
    moment, now = as_of or now_utc(), now_utc()
    quality_limits = settings.monitoring.quality
    looks_back = timedelta(days=max(quality_limits.window_days, quality_limits.series_days))
    if moment - datetime.min < looks_back:
        raise InputError(
            f"as-of {moment.isoformat()} is too early: monitoring reads the "
            f"{looks_back.days} days before it"
        )
    check_channels(settings)  # at once, not only once there is something to tell
    engine = open_warehouse(settings)
    with engine.connect() as conn:
        latest = _latest_run(conn)
        quality_found = quality(settings, conn, moment)
    # a run as of a date before the latest run's looks back: it finds the problems of then, but
    # the alerts follow the latest state (it would clear today's and tell of old ones)
    looking_back = latest is not None and moment < latest.as_of
    since = latest.created_at if latest is not None else None
    drift_found = drift_of(settings, engine, moment)
    performance_found = performance(settings, engine, moment, record=True)
    signals = {
        "pipelines": pipeline_problems(settings, engine, since),
        "consumer_lag": consumer_lag_problems(settings),
        "spikes": spike_problems(settings, engine, now),
    }
    checks: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = [
        (("quality.",), quality_found["problems"]),
        *([] if "skipped" in drift_found else [(("drift.",), drift_found["problems"])]),
        (("performance.",), performance_found["problems"]),
        *((CHECKED[name], found) for name, found in signals.items()),
    ]
    raised = []
    if not looking_back:
        for checked, problems in checks:
            clear_absent(settings, engine, problems, set(checked), now)
        raised = raise_alerts(settings, engine, [p for _, found in checks for p in found], now)
    document: dict[str, Any] = {
        "as_of": moment.isoformat(),
        "quality": quality_found,
        "drift": drift_found,
        "performance": performance_found,
        "signals": signals,
        "alerts": [alert.as_dict() for alert in raised],
    }
    if looking_back:
        assert latest is not None
        document["looked_back"] = (
            f"as of a date before the latest monitoring run's ({latest.as_of.isoformat()}): "
            "its problems are in its sections, no alert was raised, cleared or told"
        )
    # as of D, made at its time: a second run as of the same D keeps the first one's report
    report = (
        settings.path("results") / f"monitoring-{moment:%Y%m%dT%H%M%S}-{now:%Y%m%dT%H%M%S%f}.html"
    )
    with engine.connect() as conn:
        history = [alert.as_dict() for alert in list_alerts(settings, conn, open_only=False)]
    drift = settings.monitoring.drift
    document["report"] = str(
        write_monitoring_report(
            report,
            document,
            alerts=history,
            levels=(drift.psi_warn, drift.psi_alert, drift.period_margin),
        )
    )
    with engine.begin() as conn:
        conn.execute(
            insert(monitor_runs).values(
                as_of=moment,
                created_at=now,
                document=json.dumps(document, default=str),
                report=document["report"],
            )
        )
    return document


def _latest_run(conn: Connection) -> Row[Any, Any] | None:
    """The latest monitoring run (its `as_of` and `created_at`) by its as-of, an as-of after
    the run's own time counting as that time (a run as of a future date does not make every
    later one look back)."""
    as_of = case(
        (monitor_runs.c.as_of < monitor_runs.c.created_at, monitor_runs.c.as_of),
        else_=monitor_runs.c.created_at,
    ).label("as_of")
    query = select(as_of, monitor_runs.c.created_at).order_by(
        as_of.desc(), monitor_runs.c.created_at.desc()
    )
    return conn.execute(query.limit(1)).first()


def alerts(settings: Settings, open_only: bool = False) -> list[Alert]:
    """The alerts, latest raised first; only open or acknowledged ones if `open_only`."""
    with open_warehouse(settings).connect() as conn:
        return list_alerts(settings, conn, open_only)


def acknowledge_alert(settings: Settings, alert_id: int) -> Alert:
    """Acknowledge an alert: it stays quiet until its condition clears (and comes back)."""
    return acknowledge(settings, open_warehouse(settings), alert_id)
