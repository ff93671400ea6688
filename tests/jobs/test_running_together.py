"""The scheduler, `okr consume` and a manual `okr ingest` at the same time, on the default
SQLite warehouse and on PostgreSQL: every one finishes, none meets "database is locked", and
the warehouse ends exactly as if they had run one after another."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from contextlib import closing
from pathlib import Path

import pytest

from okr_pipeline import jobs
from okr_pipeline.config import load_settings
from okr_pipeline.jobs.etl import landing_folder
from okr_pipeline.stream import open_event_log
from processes import okr

ID_PREFIX = re.compile(r"\b(obj|kr|ci|ms|t|wp)-")


def _organisation(path: Path, seed: int, prefix: str) -> Path:
    """A generated bundle whose ids all start with `prefix`: no row shared with another."""
    jobs.generate_demo(path, seed=seed, scale=0.1, messy=True)
    for file in path.iterdir():
        text = file.read_text(encoding="utf-8-sig")
        file.write_text(ID_PREFIX.sub(rf"{prefix}\1-", text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_scheduler_consumer_and_ingest_at_once(
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    contract_bundle: Path,
    tmp_path: Path,
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("OKR_WAREHOUSE__URL", request.getfixturevalue("postgres_url"))
    settings = load_settings()
    landed = _organisation(tmp_path / "a", seed=21, prefix="a")
    typed = _organisation(tmp_path / "b", seed=22, prefix="b")
    published = jobs.produce_events(settings, contract_bundle).published
    landing_folder(settings).mkdir(parents=True)
    shutil.copytree(landed, landing_folder(settings) / "a")

    env = os.environ | {"OKR_PIPELINES__ETL__SCHEDULE": "* * * * * */1"}
    consumer = okr("consume", "--until-idle", "4", "--no-rescore", "--json", env=env)
    ingest = okr("ingest", str(typed), "--json", env=env)
    # the scheduler once the consumer holds the group: its ETL then leaves the stream alone
    with closing(open_event_log(settings)) as event_log:
        deadline = time.monotonic() + 60
        while not event_log.group_busy(settings.stream.group) and time.monotonic() < deadline:
            time.sleep(0.05)
    scheduler = okr("scheduler", "--pipeline", "etl", "--json", env=env)
    try:
        ingested, ingest_err = ingest.communicate(timeout=180)
        consumed, consumer_err = consumer.communicate(timeout=180)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            t.output and t.output["loaded"]
            for r in jobs.list_runs(settings, pipeline="etl", status="succeeded")
            for t in r.tasks
            if t.task == "load"
        ):
            time.sleep(0.2)
        scheduler.send_signal(signal.SIGTERM)
        scheduled, scheduler_err = scheduler.communicate(timeout=120)
    finally:
        for process in (consumer, scheduler, ingest):
            process.kill()

    for process, err in (
        (ingest, ingest_err),
        (consumer, consumer_err),
        (scheduler, scheduler_err),
    ):
        assert process.returncode == 0, err
        assert "locked" not in err
    report = json.loads(ingested)
    totals = report["totals"]
    assert totals["read"] == totals["stored"] + totals["unchanged"] + totals["quarantined"]
    summary = json.loads(consumed)
    assert summary["consumed"] + summary["parked"] == published  # 4 wait for parents never sent
    assert (
        summary["consumed"] == summary["stored"] + summary["duplicates"] + summary["dead_lettered"]
    )
    runs = jobs.list_runs(settings, pipeline="etl")
    assert {r.status for r in runs} <= {"succeeded", "skipped", "stopped"}
    assert json.loads(scheduled)["runs"]["etl"].get("succeeded", 0) >= 1

    # the same inputs one after another, into a warehouse of their own
    alone = load_settings(data_dir=tmp_path / "alone", warehouse={"url": None})
    jobs.ingest_path(alone, landed)
    jobs.ingest_path(alone, typed)
    jobs.produce_events(alone, contract_bundle)
    jobs.consume_events(alone, until_idle=0, rescore=False)
    together, one_by_one = jobs.status(settings), jobs.status(alone)
    assert together["rows"] == one_by_one["rows"]
    assert together["quarantine"] == one_by_one["quarantine"]
