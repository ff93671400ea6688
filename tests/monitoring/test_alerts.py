"""Alerts: one per condition and subject within the window, acknowledged ones quiet until they
clear, every enabled channel told (a JSON lines file, a signed webhook, the alerts topic on the
embedded log and on Kafka), and operational signals (failed runs, consumer lag, spikes)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.errors import InputError
from okr_pipeline.jobs import pipelines
from okr_pipeline.monitoring.alerts import (
    acknowledge,
    clear_absent,
    fingerprint,
    list_alerts,
    raise_alerts,
)
from okr_pipeline.monitoring.signals import (
    CHECKED,
    consumer_lag_problems,
    pipeline_problems,
    spike_problems,
)
from okr_pipeline.stream import open_event_log
from okr_pipeline.warehouse import dead_letters, ingest_runs, open_warehouse, processed_events
from webhook import SECRET, Hook, signed, webhook_settings

pytest_plugins = ["broker", "webhook"]

T0 = datetime(2026, 5, 1, 8, 0)


def problem(severity: str = "warning", subject: str = "check_ins", **extra: Any) -> dict:
    return {
        "condition": "quality.freshness",
        "subject": subject,
        "severity": severity,
        "message": f"no check-ins in {subject} for 30 days",
        "value": 30.0,
        "threshold": 21.0,
        **extra,
    }


@pytest.fixture
def jsonl(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose only channel is a JSON lines file (so notifications can be counted)."""
    monkeypatch.setenv("OKR_MONITORING__ALERTS__JSONL", "alerts/notified.jsonl")
    monkeypatch.setenv("OKR_MONITORING__ALERTS__LOG", "false")
    monkeypatch.setenv("OKR_MONITORING__ALERTS__TOPIC", "false")
    return load_settings()


def sent(alert: Any) -> dict:
    """What the channels get of an alert."""
    return {k: v for k, v in alert.as_dict().items() if k not in ("notified", "undelivered")}


def notified(settings: Settings) -> list[dict]:
    path = settings.data_dir / "alerts" / "notified.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_alert_is_notified_once_within_its_window(jsonl: Settings, warehouse: Engine) -> None:
    [first] = raise_alerts(jsonl, warehouse, [problem()], T0)
    assert first.notified == ["jsonl"] and first.status == "open"
    assert first.fingerprint == fingerprint("quality.freshness", "check_ins")
    [again] = raise_alerts(
        jsonl, warehouse, [problem("critical", value=float("nan"))], T0 + timedelta(hours=23)
    )
    assert again.id == first.id and again.times_raised == 2 and again.notified == []
    assert again.severity == "critical" and again.details["value"] is None  # NaN: JSON's null
    assert again.last_notified_at == T0 and again.last_raised_at == T0 + timedelta(hours=23)
    assert len(notified(jsonl)) == 1
    [later] = raise_alerts(jsonl, warehouse, [problem()], T0 + timedelta(hours=24))
    assert later.id == first.id and later.notified == ["jsonl"] and later.times_raised == 3
    lines = notified(jsonl)
    assert [line["times_raised"] for line in lines] == [1, 3]
    assert lines[0]["details"] == {"value": 30.0, "threshold": 21.0}
    json.dumps(later.as_dict(), allow_nan=False)
    with warehouse.connect() as conn:
        [stored] = list_alerts(jsonl, conn, open_only=True)
    assert stored.as_dict() | {"notified": ["jsonl"]} == later.as_dict()


def test_an_acknowledged_alert_is_quiet_until_it_clears(jsonl: Settings, warehouse: Engine) -> None:
    other = problem(subject="tasks")
    first, kept = raise_alerts(jsonl, warehouse, [problem(), other], T0)
    acked = acknowledge(jsonl, warehouse, first.id, now=T0 + timedelta(hours=1))
    assert acked.status == "acknowledged" and acked.acknowledged_at == T0 + timedelta(hours=1)
    assert acknowledge(jsonl, warehouse, first.id).acknowledged_at == acked.acknowledged_at
    later = T0 + timedelta(days=3)  # past the window: only the unacknowledged one is told again
    quiet, told = raise_alerts(jsonl, warehouse, [problem(), other], later)
    assert (quiet.status, quiet.notified, quiet.times_raised) == ("acknowledged", [], 2)
    assert told.id == kept.id and told.notified == ["jsonl"]
    assert len(notified(jsonl)) == 3

    # the freshness check ran and found only `tasks` stale: `check_ins` cleared; other checks'
    # alerts are not its to clear
    raise_alerts(jsonl, warehouse, [{**problem(), "condition": "drift.dataset"}], later)
    cleared = clear_absent(jsonl, warehouse, [other], {"quality."}, later)
    assert [(a.id, a.status, a.cleared_at) for a in cleared] == [(first.id, "cleared", later)]
    with pytest.raises(InputError, match="was cleared"):
        acknowledge(jsonl, warehouse, first.id)
    with pytest.raises(InputError, match="no alert 999"):
        acknowledge(jsonl, warehouse, 999)
    with warehouse.connect() as conn:
        holding = list_alerts(jsonl, conn, open_only=True)
        everything = list_alerts(jsonl, conn, open_only=False)
    assert {a.condition for a in holding} == {"quality.freshness", "drift.dataset"}
    assert len(holding) == 2 and len(everything) == 3

    # it comes back: a new alert, notified at once though the old one was told minutes ago
    [back] = raise_alerts(jsonl, warehouse, [problem()], later + timedelta(minutes=5))
    assert back.id != first.id and back.status == "open" and back.times_raised == 1
    assert back.notified == ["jsonl"] and notified(jsonl)[-1]["id"] == back.id


def test_the_webhook_gets_a_signed_alert_retried_after_a_500(
    jsonl: Settings, monkeypatch: pytest.MonkeyPatch, hook: type[Hook], tmp_path: Path
) -> None:
    settings = webhook_settings(monkeypatch, hook.url)  # type: ignore[attr-defined]
    engine = open_warehouse(settings)
    hook.answers.append(500)
    [alert] = raise_alerts(settings, engine, [problem()], T0)
    assert alert.notified == ["jsonl", "webhook"] and alert.undelivered == {}
    assert len(hook.received) == 2  # the 500, then the retry
    for headers, body in hook.received:
        assert headers["Content-Type"] == "application/json"
        assert signed(headers, body) and json.loads(body) == sent(alert)
    assert hook.received[0][0]["X-OKR-Delivery"] == hook.received[1][0]["X-OKR-Delivery"]


def test_a_webhook_that_stays_down_is_recorded_and_retried_later(
    jsonl: Settings,
    monkeypatch: pytest.MonkeyPatch,
    hook: type[Hook],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = webhook_settings(monkeypatch, hook.url)  # type: ignore[attr-defined]
    engine = open_warehouse(settings)
    hook.answers.extend([503] * 6)  # two notifications of three attempts each
    caplog.set_level(logging.DEBUG)
    first, second = raise_alerts(settings, engine, [problem(), problem(subject="tasks")], T0)
    assert first.notified == ["jsonl"] and "HTTP 503" in first.undelivered["webhook"]
    assert second.notified == ["jsonl"] and "earlier failure" in second.undelivered["webhook"]
    assert len(hook.received) == 3  # the second alert does not wait for a webhook that is down
    assert len(notified(jsonl)) == 2  # the other channel still told
    assert SECRET not in caplog.text and "HTTP 503" in caplog.text

    # the next raise, within the window, tells the webhook alone; then it is done
    hook.answers.clear()
    [retried] = raise_alerts(settings, engine, [problem()], T0 + timedelta(hours=2))
    assert retried.notified == ["webhook"] and retried.undelivered == {}
    assert retried.last_notified_at == T0 and len(notified(jsonl)) == 2
    [done] = raise_alerts(settings, engine, [problem()], T0 + timedelta(hours=3))
    assert done.notified == [] and len(hook.received) == 4


def test_a_webhook_without_its_secret_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_URL", "http://127.0.0.1:9/hook")
    from okr_pipeline.errors import ConfigError

    unsigned = load_settings()
    with pytest.raises(ConfigError, match="OKR_MONITORING__ALERTS__WEBHOOK_SECRET"):
        raise_alerts(unsigned, open_warehouse(settings), [problem()], T0)
    # a monitoring run says so at once, not only once it has something to tell
    with pytest.raises(ConfigError, match="OKR_MONITORING__ALERTS__WEBHOOK_SECRET"):
        jobs.monitor(unsigned, T0)


@pytest.mark.parametrize("backend", ["sqlite", "kafka"])
def test_an_alert_lands_on_the_alerts_topic(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, backend: str
) -> None:
    monkeypatch.setenv("OKR_MONITORING__ALERTS__LOG", "false")
    monkeypatch.setenv("OKR_STREAM__TOPICS__ALERTS", f"alerts-{uuid.uuid4().hex[:8]}")
    if backend == "kafka":
        monkeypatch.setenv("OKR_STREAM__BACKEND", "kafka")
        monkeypatch.setenv("OKR_STREAM__BOOTSTRAP_SERVERS", request.getfixturevalue("tansu_broker"))
    settings = load_settings()
    [alert] = raise_alerts(settings, open_warehouse(settings), [problem()], T0)
    assert alert.notified == ["topic"]
    event_log = open_event_log(settings)
    consumer = event_log.consumer("alert-readers", [settings.stream.topics.alerts])
    deadline, got = time.monotonic() + 15, []
    while not got and time.monotonic() < deadline:
        got = consumer.poll(10, 0.5)
    consumer.close()
    event_log.close()
    [message] = got
    assert message.key == alert.fingerprint.encode()
    assert json.loads(message.value) == sent(alert)


def _failing(settings: Settings, run: pipelines.RunContext, inputs: Mapping[str, object]) -> dict:
    raise RuntimeError("the warehouse is on fire")


def _fine(settings: Settings, run: pipelines.RunContext, inputs: Mapping[str, object]) -> dict:
    return {}


def test_a_failing_pipeline_task_raises_one_alert_cleared_once_it_succeeds(
    jsonl: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKR_PIPELINES__MONITORING__RETRIES", "0")
    settings = load_settings()
    engine = open_warehouse(settings)
    tasks = {"monitoring": (pipelines.Task("snapshot", _fine), pipelines.Task("flaky", _failing))}
    monkeypatch.setattr(pipelines, "_definitions", lambda: tasks)
    assert jobs.run_pipeline(settings, "monitoring").status == "failed"
    checked_at = datetime.now()
    assert jobs.run_pipeline(settings, "monitoring").status == "failed"

    problems = pipeline_problems(settings, engine, since=None)
    [one] = problems
    assert one["subject"] == "monitoring.flaky" and one["severity"] == "critical"
    assert one["value"] == 2 and "RuntimeError: the warehouse is on fire" in one["message"]
    [alert] = raise_alerts(settings, engine, problems, T0)
    assert alert.condition == "pipeline.task_failed" and alert.notified == ["jsonl"]
    assert len(pipeline_problems(settings, engine, since=checked_at)[0]["run_ids"]) == 1

    tasks["monitoring"] = (pipelines.Task("flaky", _fine),)
    since = datetime.now()
    assert jobs.run_pipeline(settings, "monitoring").status == "succeeded"
    assert pipeline_problems(settings, engine, since=since) == []
    [cleared] = clear_absent(settings, engine, [], CHECKED["pipelines"], T0 + timedelta(hours=2))
    assert cleared.id == alert.id


def test_consumer_lag_is_read_while_the_consumer_runs(
    jsonl: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKR_MONITORING__ALERTS__MAX_CONSUMER_LAG", "5")
    settings = load_settings()
    assert consumer_lag_problems(settings) == []  # no events topic yet
    event_log = open_event_log(settings)
    topic = settings.stream.topics.events
    event_log.ensure_topics([topic])
    event_log.produce(topic, [(b"k%d" % i, b"{}") for i in range(8)])
    consumer = event_log.consumer(settings.stream.group, [topic])  # holds the group
    try:
        [lag] = consumer_lag_problems(settings)
        consumer.commit(consumer.poll(4, 0.5))  # 4 left: under the limit
        assert consumer_lag_problems(settings) == []
    finally:
        consumer.close()
        event_log.close()
    assert lag["condition"] == "stream.consumer_lag" and lag["value"] == 8
    assert lag["subject"] == settings.stream.group and lag["threshold"] == 5


def test_a_day_of_dead_letters_far_above_the_usual_is_a_spike(settings: Settings) -> None:
    engine = open_warehouse(settings)
    now = datetime(2026, 5, 20, 12, 0)

    def letters(day: int, count: int) -> list[dict]:
        at = now - timedelta(days=day, hours=1)
        return [
            {"topic": "okr.events", "partition": 0, "offset": day * 1000 + i, "reason": "x",
             "message": "m", "raw": "{}", "created_at": at}
            for i in range(count)
        ]  # fmt: skip

    rows = [row for day in range(1, 15) for row in letters(day, 10)]
    with engine.begin() as conn:
        conn.execute(insert(dead_letters), rows + letters(0, 30))
    assert spike_problems(settings, engine, now) == []  # no event consumed before: no usual day
    with engine.begin() as conn:
        conn.execute(
            insert(processed_events),
            {"event_id": "e1", "outcome": "stored", "topic": "okr.events", "partition": 0}
            | {"offset": 1, "processed_at": now - timedelta(days=15)},
        )
    assert spike_problems(settings, engine, now) == []  # 30 is not above 3 x 10
    with engine.begin() as conn:
        conn.execute(
            insert(dead_letters), [r | {"offset": r["offset"] + 500} for r in letters(0, 1)]
        )
    [spike] = spike_problems(settings, engine, now)
    assert spike["condition"] == "stream.dead_letter_spike" and spike["value"] == 31
    assert spike["threshold"] == 30 and spike["usual"] == 10
    assert spike["message"].startswith("31 dead letters in the last 24 hours")
    assert spike_problems(settings, engine, now + timedelta(days=1)) == []  # the day is over


def test_a_first_load_with_bad_rows_is_no_quarantine_spike(tmp_path: Path, settings: Settings):
    """The first bundle of a new warehouse: no day before it to call usual (its quarantine rate
    is the quality check's); the same bad rows after days of clean loads are a spike."""
    bad = tmp_path / "objectives.csv"
    rows = [f"o-{i},Grow,Sales,active,2026-04-01,2026-06-30,wrong" for i in range(25)]
    header = "objective_id,title,department,status,period_start,period_end,priority"
    bad.write_text("\n".join([header, *rows]) + "\n")
    report = jobs.ingest_path(settings, bad)
    assert report.totals.quarantined == 25
    engine = open_warehouse(settings)
    assert spike_problems(settings, engine, datetime.now()) == []
    with engine.begin() as conn:  # a clean load ten days before
        conn.execute(
            insert(ingest_runs).values(
                run_id="clean",
                kind="files",
                source="x",
                status="completed",
                started_at=datetime.now() - timedelta(days=10),
            )
        )
    [spike] = spike_problems(settings, engine, datetime.now())
    assert spike["condition"] == "ingest.quarantine_spike" and spike["value"] == 25
    assert spike["message"].startswith("25 rows quarantined in the last 24 hours")
