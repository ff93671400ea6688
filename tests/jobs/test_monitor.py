"""`okr monitor` and `okr alerts`: the document stored with its time and a report beside it;
a failing pipeline task raises one alert, which can be acknowledged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from okr_pipeline import jobs
from okr_pipeline.cli import main
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.jobs import pipelines
from okr_pipeline.monitoring.alerts import raise_alerts
from okr_pipeline.stream import open_event_log
from okr_pipeline.warehouse import monitor_runs, open_warehouse
from webhook import Hook, signed, webhook_settings

pytest_plugins = ["webhook"]


def _okr(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def _broken(settings: Settings, run: pipelines.RunContext, inputs: Mapping[str, object]) -> dict:
    raise RuntimeError("the disk is full")


def test_monitor_stores_its_document_and_report(settings: Settings) -> None:
    code, out = _okr("monitor", "--as-of", "2026-03-01", "--json")
    document = json.loads(out)
    assert code == 0
    assert set(document) >= {"as_of", "quality", "drift", "performance", "alerts", "report"}
    assert document["drift"] == {"skipped": "no champion model"}
    assert set(document["performance"]) >= {"realized", "estimated"}
    assert document["as_of"] == "2026-03-01T23:59:59.999999"
    assert Path(document["report"]).is_file()
    code, out = _okr("monitor", "--as-of", "2026-03-01", "--json")  # again as of the same D
    again = json.loads(out)["report"]
    assert again != document["report"] and Path(document["report"]).is_file()
    with open_warehouse(settings).connect() as conn:
        stored = conn.execute(select(monitor_runs.c.report).order_by(monitor_runs.c.id)).scalars()
        assert list(stored) == [document["report"], again]


def test_a_failing_pipeline_task_raises_one_alert_that_can_be_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKR_PIPELINES__ETL__RETRIES", "0")
    settings = load_settings()
    broken = {"etl": (pipelines.Task("load", _broken),)}
    monkeypatch.setattr(pipelines, "_definitions", lambda: broken)
    assert jobs.run_pipeline(settings, "etl").status == "failed"
    first = jobs.monitor(settings)
    failed = [a for a in first["alerts"] if a["condition"] == "pipeline.task_failed"]
    assert len(failed) == 1 and failed[0]["subject"] == "etl.load"
    assert "the disk is full" in failed[0]["message"]
    jobs.monitor(settings)  # the same failure, checked again: still one alert
    code, out = _okr("alerts", "--open", "--json")
    listed = [a for a in json.loads(out) if a["condition"] == "pipeline.task_failed"]
    assert code == 0 and [a["id"] for a in listed] == [failed[0]["id"]]

    code, out = _okr("alerts", "ack", str(failed[0]["id"]), "--json")
    assert code == 0 and json.loads(out)["status"] == "acknowledged"
    code, out = _okr("alerts", "ack", "999")
    assert code == 1 and "no alert 999" in out
    code, out = _okr("alerts", "ack", "99999999999999999999")  # beyond the id column's range
    assert code == 1 and "no alert 99999999999999999999" in out


def test_an_as_of_too_early_to_look_back_from_is_a_clear_error(settings: Settings) -> None:
    code, out = _okr("monitor", "--as-of", "0001-01-05")
    assert code == 1 and "too early: monitoring reads the 28 days before it" in out


def test_monitor_tells_every_channel(monkeypatch: pytest.MonkeyPatch, hook: type[Hook]) -> None:
    """`okr monitor` end to end: a failed task's alert reaches the JSON lines file, the signed
    webhook (after a 500) and the alerts topic, each once."""
    monkeypatch.setenv("OKR_PIPELINES__ETL__RETRIES", "0")
    monkeypatch.setenv("OKR_MONITORING__ALERTS__JSONL", "alerts.jsonl")
    settings = webhook_settings(monkeypatch, hook.url)  # type: ignore[attr-defined]
    broken = {"etl": (pipelines.Task("load", _broken),)}
    monkeypatch.setattr(pipelines, "_definitions", lambda: broken)
    jobs.run_pipeline(settings, "etl")
    hook.answers.append(500)
    code, out = _okr("monitor", "--json")
    assert code == 0
    alert = next(a for a in json.loads(out)["alerts"] if a["subject"] == "etl.load")
    assert alert["notified"] == ["log", "jsonl", "webhook", "topic"]
    code, out = _okr("monitor", "--json")  # the same failure within the window: told no one
    assert code == 0 and [a["notified"] for a in json.loads(out)["alerts"]] == [[]]

    lines = (settings.data_dir / "alerts.jsonl").read_text().splitlines()
    told = [json.loads(line) for line in lines]
    assert [a["id"] for a in told if a["subject"] == "etl.load"] == [alert["id"]]
    posted = [(h, json.loads(b)) for h, b in hook.received]
    assert [b["id"] for _, b in posted if b["subject"] == "etl.load"] == [alert["id"]] * 2
    assert all(signed(h, b) for h, b in hook.received)
    event_log = open_event_log(settings)
    consumer = event_log.consumer("alert-readers", [settings.stream.topics.alerts])
    on_topic = [json.loads(m.value) for m in consumer.poll(100, 1.0)]
    consumer.close()
    event_log.close()
    assert [a["id"] for a in on_topic if a["subject"] == "etl.load"] == [alert["id"]]


def test_a_run_as_of_a_past_date_leaves_the_alerts_as_they_are(settings: Settings) -> None:
    """Looking back finds the problems of then; it neither clears today's alerts nor tells of
    old ones. A run as of a future date does not make the next ones look back."""
    assert "looked_back" not in jobs.monitor(settings)
    now = datetime.now()
    stale = {"condition": "quality.freshness", "subject": "overall", "severity": "warning"}
    [alert] = raise_alerts(settings, open_warehouse(settings), [stale | {"message": "m"}], now)
    back = jobs.monitor(settings, datetime(2026, 3, 1))
    assert back["alerts"] == [] and "before the latest monitoring run's" in back["looked_back"]
    assert [a.id for a in jobs.alerts(settings, open_only=True)] == [alert.id]
    code, out = _okr("monitor", "--as-of", "2026-03-01")
    assert code == 0 and "no alert was raised, cleared or told" in out

    assert "looked_back" not in jobs.monitor(settings, datetime(2100, 1, 1))
    assert "looked_back" not in jobs.monitor(settings)  # today again: it clears what holds no more
    assert jobs.alerts(settings, open_only=True) == []
