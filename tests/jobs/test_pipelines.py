"""Pipelines run by the embedded runner and scheduler: the ETL pipeline on the landing folder,
retries and failures recorded, runs of one pipeline never overlapping."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from okr_pipeline import jobs
from okr_pipeline.cli import main
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.errors import InputError
from okr_pipeline.jobs import pipelines
from okr_pipeline.jobs.etl import landing_folder
from okr_pipeline.warehouse import open_warehouse, pipeline_lock, pipeline_runs
from processes import okr


def _okr(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _land(settings: Settings, bundle: Path, name: str) -> Path:
    landing = landing_folder(settings)
    landing.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(bundle, landing / name))


@pytest.fixture
def new_organisation(tmp_path: Path) -> Path:
    out = tmp_path / "org"
    jobs.generate_demo(out, seed=11, scale=0.05, messy=True)
    return out


def test_etl_stores_landed_bundles_as_ingest_would_and_archives_them(
    settings: Settings, contract_bundle: Path, new_organisation: Path, tmp_path: Path
) -> None:
    _land(settings, contract_bundle, "contract")
    _land(settings, new_organisation, "org")
    unreadable = _land(settings, contract_bundle, "unreadable")
    for file in unreadable.iterdir():
        file.rename(unreadable / f"{file.name}.bak")  # no file the contract knows

    code, out, _ = _okr("run", "etl", "--json")
    first = json.loads(out)
    assert code == 0 and first["status"] == "succeeded"
    assert [t["task"] for t in first["tasks"]] == ["extract", "validate", "load", "check"]
    loaded = first["tasks"][2]["output"]["loaded"]
    assert [r["bundle"] for r in loaded] == ["contract", "org"]
    archive = settings.path("archive") / first["run_id"]
    assert sorted(p.name for p in archive.iterdir()) == ["contract", "org"]
    failed = settings.path("archive") / "failed"
    assert (failed / "unreadable").is_dir()
    assert "no known files" in (failed / "unreadable.why.txt").read_text()
    assert list(settings.path("raw").joinpath("incoming").iterdir()) == []

    # exactly as `okr ingest` stores them, in a warehouse of its own
    status = jobs.status(settings)
    alone = load_settings(data_dir=tmp_path / "alone")
    for ran, bundle in zip(loaded, (contract_bundle, new_organisation)):
        assert ran["entities"] == jobs.ingest_path(alone, bundle).as_dict()["entities"]
    assert jobs.status(alone)["rows"] == status["rows"]
    assert jobs.status(alone)["quarantine"] == status["quarantine"]

    code, out, _ = _okr("run", "etl", "--json")
    second = json.loads(out)
    assert code == 0 and second["tasks"][0]["output"]["bundles"] == []
    assert second["tasks"][3]["output"] == {
        "bundles": 0,
        "failed": 0,
        "rows_read": 0,
        "events_consumed": 0,
        "reconciled": True,
    }
    code, out, _ = _okr("runs", "--json")
    runs = json.loads(out)
    assert [r["run_id"] for r in runs] == [second["run_id"], first["run_id"]]
    assert all(len(r["tasks"]) == 4 for r in runs)


def test_etl_drains_the_stream_unless_a_consumer_runs(
    settings: Settings, contract_bundle: Path
) -> None:
    jobs.produce_events(settings, contract_bundle)
    from okr_pipeline.stream import open_event_log

    event_log = open_event_log(settings)
    consumer = event_log.consumer(settings.stream.group, [settings.stream.topics.events])
    try:
        held = jobs.run_pipeline(settings, "etl")
    finally:
        consumer.close()
        event_log.close()
    assert held.tasks[0].output is not None
    assert held.tasks[0].output["stream"] == {"skipped": "a consumer of the group runs"}
    drained = jobs.run_pipeline(settings, "etl")
    stream = drained.tasks[3].output
    assert drained.status == "succeeded" and stream is not None
    assert stream["events_consumed"] == 36  # 40 published, 4 parked: their parents never come


def _flaky(failures: int, error: type[Exception] = RuntimeError) -> pipelines.TaskFunction:
    calls: list[int] = []

    def task(settings: Settings, run: pipelines.RunContext, inputs: Mapping[str, object]) -> dict:
        calls.append(1)
        if len(calls) <= failures:
            raise error(f"outage {len(calls)}")
        return {"calls": len(calls), "as_of": run.as_of.isoformat()}

    return task


@pytest.mark.parametrize("failures", [1, 3])
def test_a_task_is_retried_and_a_run_fails_after_its_retries(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    monkeypatch.setenv("OKR_PIPELINES__MONITORING__RETRIES", "2")
    monkeypatch.setenv("OKR_PIPELINES__MONITORING__RETRY_DELAY_SECONDS", "0.01")
    flaky = (pipelines.Task("flaky", _flaky(failures)),)
    monkeypatch.setattr(pipelines, "_definitions", lambda: {"monitoring": flaky})

    code, out, _ = _okr("run", "monitoring", "--as-of", "2026-03-01", "--json")
    run = json.loads(out)
    attempts = [(t["attempt"], t["status"], t["error"]) for t in run["tasks"]]
    if failures == 1:
        assert code == 0 and run["status"] == "succeeded"
        assert attempts == [(1, "failed", "RuntimeError: outage 1"), (2, "succeeded", None)]
        assert run["tasks"][1]["output"]["as_of"] == "2026-03-01T23:59:59.999999"
    else:
        assert code == 1 and run["status"] == "failed"
        assert [a[:2] for a in attempts] == [(1, "failed"), (2, "failed"), (3, "failed")]
        assert run["error"] == "flaky failed (attempt 3): RuntimeError: outage 3"
    recorded = jobs.list_runs(load_settings(), pipeline="monitoring")
    assert [r.as_dict() for r in recorded] == [run]


def test_an_error_that_says_no_is_not_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKR_PIPELINES__MONITORING__RETRY_DELAY_SECONDS", "0.01")
    flaky = (pipelines.Task("flaky", _flaky(1, InputError)),)
    monkeypatch.setattr(pipelines, "_definitions", lambda: {"monitoring": flaky})
    run = jobs.run_pipeline(load_settings(), "monitoring")
    assert run.status == "failed" and [t.attempt for t in run.tasks] == [1]
    assert run.error == "flaky failed (attempt 1): outage 1"


def test_bundles_claimed_by_a_run_that_stopped_are_loaded_by_the_next(
    settings: Settings, contract_bundle: Path
) -> None:
    _land(settings, contract_bundle, "contract")
    stop = threading.Event()

    def stop_after_extract(note: str) -> None:
        if note.startswith("etl.extract"):
            stop.set()

    stopped = jobs.run_pipeline(settings, "etl", stop=stop, notify=stop_after_extract)
    assert stopped.status == "stopped" and stopped.error == "stopped before validate"
    assert (settings.path("processed") / stopped.run_id / "contract").is_dir()
    later = jobs.run_pipeline(settings, "etl")
    assert later.status == "succeeded"
    assert [r["bundle"] for r in later.tasks[2].output["loaded"]] == ["contract"]
    assert list(settings.path("processed").iterdir()) == []


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_run_of_a_pipeline_in_progress_makes_another_skip(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("OKR_WAREHOUSE__URL", request.getfixturevalue("postgres_url"))
    settings = load_settings()
    engine = open_warehouse(settings)
    with pipeline_lock(engine, "monitoring", settings.data_dir / "locks") as held:
        assert held
        skipped = jobs.run_pipeline(settings, "monitoring")
        code, out, _ = _okr("run", "monitoring", "--json")
        assert code == 3 and json.loads(out)["status"] == "skipped"
        assert jobs.run_pipeline(settings, "etl").status == "succeeded"  # another pipeline runs
    assert skipped.status == "skipped" and skipped.tasks == []
    assert skipped.error == "a run of monitoring is in progress"
    with engine.begin() as conn:  # a run whose process died: it never finished
        conn.execute(
            insert(pipeline_runs).values(
                run_id="monitoring-died",
                pipeline="monitoring",
                trigger="schedule",
                as_of=skipped.as_of,
                status="running",
                started_at=skipped.as_of,
            )
        )
    assert jobs.run_pipeline(settings, "monitoring").status == "succeeded"
    runs = {r.run_id: r for r in jobs.list_runs(settings, pipeline="monitoring")}
    assert [r.status for r in runs.values()] == ["succeeded", "skipped", "skipped", "failed"]
    assert runs["monitoring-died"].error == "abandoned: its process ended before it finished"


def test_the_scheduler_runs_etl_on_its_schedule_and_stops_on_sigterm(
    settings: Settings, contract_bundle: Path
) -> None:
    _land(settings, contract_bundle, "contract")
    env = os.environ | {"OKR_PIPELINES__ETL__SCHEDULE": "* * * * * */2"}  # every 2 seconds
    scheduler = okr("scheduler", "--pipeline", "etl", "--json", env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = jobs.list_runs(settings, pipeline="etl")
            if sum(r.status == "succeeded" for r in runs) >= 2:
                break
            time.sleep(0.2)
        scheduler.send_signal(signal.SIGTERM)
        out, err = scheduler.communicate(timeout=60)
    finally:
        scheduler.kill()
    assert scheduler.returncode == 0, err
    ended = json.loads(out)["runs"]["etl"]
    runs = jobs.list_runs(settings, pipeline="etl")
    assert ended.get("succeeded", 0) >= 2 and set(ended) <= {"succeeded", "stopped"}
    assert all(r.trigger == "schedule" for r in runs)
    loads = [t.output["loaded"] for r in runs for t in r.tasks if t.task == "load" and t.output]
    assert sum(len(loaded) for loaded in loads) == 1  # the bundle, once
    assert "etl: next run at" in err


def test_reading_the_pipelines_imports_no_task_module() -> None:
    """Airflow parses its DAG files over and over: the definitions name their tasks' functions,
    which are imported when a task first runs (the model stack alone takes seconds)."""
    code = (
        "import sys\n"
        "from okr_pipeline.config import load_settings\n"
        "from okr_pipeline.jobs.pipelines import PIPELINES, pipeline\n"
        "for name in PIPELINES:\n"
        "    pipeline(load_settings(), name)\n"
        "print(sorted(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.replace("'", '"'))
    heavy = ("okr_pipeline.model", "okr_pipeline.warehouse", "sqlalchemy", "mlflow", "pandas")
    assert not [m for m in loaded if m.startswith(heavy)]
    assert "okr_pipeline.jobs.pipelines" in loaded and "okr_pipeline.jobs.etl" not in loaded

    for name in pipelines.PIPELINES:
        for task in pipelines.pipeline(load_settings(), name).tasks:
            module, function = task.run.__name__.split(".")
            assert module == name and function == task.name
            assert callable(getattr(import_module(f"okr_pipeline.jobs.{module}"), function))
