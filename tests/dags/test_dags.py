"""The pipelines as Airflow 3 DAGs (dags/okr_pipelines.py), run by the `airflow` command of this
environment on a temporary Airflow home and metadata database: the DAG file parses, the ETL and
the training run task by task through `airflow dags test` and are recorded as `okr run` records
its runs, and a failing task fails the DAG run and the pipeline run.

Airflow runs in subprocesses only: importing it configures logging for the whole process."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import now_utc
from okr_pipeline.jobs.etl import landing_folder
from okr_pipeline.warehouse import open_warehouse
from okr_pipeline.warehouse.tables import predictions

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = Path(sys.executable).with_name("airflow")

RUN_ID = re.compile(r"^(etl|training|monitoring)-\d{8}T\d{6}-[0-9a-f]{8}$")


class Airflow:
    """The `airflow` command on one Airflow home, with the OKR_* settings of its tasks."""

    def __init__(self, home: Path, data_dir: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "AIRFLOW"))}
        self.env |= {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # a missing graphviz is reported on stdout, which the JSON output shares
            "PYTHONWARNINGS": "ignore:Could not import graphviz:UserWarning,"
            "ignore:Using `httpx` with",
            "OKR_DATA_DIR": str(data_dir),
            # no retry waits unless a test asks for them
            "OKR_PIPELINES__ETL__RETRIES": "0",
            "OKR_PIPELINES__TRAINING__RETRIES": "0",
            "OKR_PIPELINES__MONITORING__RETRIES": "0",
        }

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIRFLOW), *args],
            env=self.env | env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = self(*args, **env)
        assert result.returncode == 0, _tail(result)
        return result


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    out, err = result.stdout[-4000:], result.stderr[-4000:]
    return f"{' '.join(result.args[1:])}: exit {result.returncode}\n{out}\n{err}"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Airflow:
    """An Airflow home with a migrated metadata database (SQLite), shared by the tests here."""
    if not AIRFLOW.is_file():
        why = (
            f"Airflow is not installed in this environment ({AIRFLOW} is missing): "
            "`uv sync --group airflow` installs it, as scripts/test does"
        )
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    root = tmp_path_factory.mktemp("airflow")
    airflow = Airflow(root / "home", root / "data")
    airflow.ok("db", "migrate")
    return airflow


def _settings(airflow: Airflow) -> Settings:
    return load_settings(data_dir=Path(airflow.env["OKR_DATA_DIR"]))


def test_the_dag_file_parses_into_one_dag_per_pipeline(airflow: Airflow) -> None:
    errors = airflow.ok("dags", "list-import-errors", "--local", "-o", "json")
    assert json.loads(errors.stdout) == []
    # the schedules are the configuration's (the DAGs' details come from the file as long as the
    # metadata database knows no DAG, as before any other test here)
    columns = "dag_id,timetable_summary,timetable_description,max_active_runs,fileloc"
    listed = airflow.ok(
        "dags",
        "list",
        "--local",
        "-o",
        "json",
        "--columns",
        columns,
        OKR_PIPELINES__MONITORING__SCHEDULE="*/30 * * * *",
    )
    dags = {d.pop("dag_id"): d for d in json.loads(listed.stdout)}
    assert {dag_id: d["timetable_summary"] for dag_id, d in dags.items()} == {
        "okr_etl": "0 */6 * * *",
        "okr_training": "Asset or 0 0 * * *",  # also after each ETL run (its asset)
        "okr_monitoring": "*/30 * * * *",
    }
    assert dags["okr_training"]["timetable_description"] == "Triggered by assets or At 00:00"
    assert all(d["max_active_runs"] == "1" for d in dags.values())
    assert {d["fileloc"] for d in dags.values()} == {str(ROOT / "dags" / "okr_pipelines.py")}


@pytest.fixture(scope="module")
def etl_run(airflow: Airflow) -> dict[str, Any]:
    """A generated bundle dropped in the landing folder, then the ETL DAG run once."""
    settings = _settings(airflow)
    landing = landing_folder(settings)
    manifest = jobs.generate_demo(landing / "org", seed=5, scale=0.3, messy=True)
    return {"manifest": manifest, "result": airflow("dags", "test", "okr_etl")}


def test_the_etl_dag_loads_and_archives_a_landed_bundle(
    airflow: Airflow, etl_run: dict[str, Any]
) -> None:
    assert etl_run["result"].returncode == 0, _tail(etl_run["result"])
    settings = _settings(airflow)
    (run,) = jobs.list_runs(settings, pipeline="etl")
    assert run.trigger == "airflow" and run.status == "succeeded" and run.error is None
    assert RUN_ID.match(run.run_id) and len(run.run_id) <= 36
    assert run.as_of <= now_utc() and run.finished_at is not None
    assert [(t.task, t.attempt, t.status) for t in run.tasks] == [
        ("extract", 1, "succeeded"),
        ("validate", 1, "succeeded"),
        ("load", 1, "succeeded"),
        ("check", 1, "succeeded"),
    ]
    # the outputs went from task to task: what extract claimed is what load loaded
    extract, _, load, check = (t.output or {} for t in run.tasks)
    assert extract["bundles"] == [str(settings.path("processed") / run.run_id / "org")]
    (loaded,) = load["loaded"]
    expected = etl_run["manifest"]["expected"]
    assert loaded["entities"] == expected
    assert check["reconciled"] and check["rows_read"] == sum(e["read"] for e in expected.values())

    assert jobs.status(settings)["rows"] == {name: e["stored"] for name, e in expected.items()}
    assert (settings.path("archive") / run.run_id / "org").is_dir()
    assert list(landing_folder(settings).iterdir()) == []
    # the last task updated the asset the training DAG is scheduled on
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        events = db.execute(
            "SELECT a.name, e.source_dag_id, e.source_task_id FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id"
        ).fetchall()
    assert events == [("okr_warehouse", "okr_etl", "check")]


def test_the_training_dag_trains_a_champion_and_scores_open_key_results(
    airflow: Airflow, etl_run: dict[str, Any]
) -> None:
    assert etl_run["result"].returncode == 0, "the ETL DAG failed: see its test"
    # a run with a logical date (as a scheduled one) is as of it: today at midnight, UTC
    midnight = now_utc().replace(hour=0, minute=0, second=0, microsecond=0)
    airflow.ok("dags", "test", "okr_training", f"{midnight.isoformat()}+00:00")
    settings = _settings(airflow)
    (run,) = jobs.list_runs(settings, pipeline="training")
    assert run.trigger == "airflow" and run.status == "succeeded" and run.as_of == midnight
    assert RUN_ID.match(run.run_id) and run.run_id.startswith(f"training-{midnight:%Y%m%dT%H%M%S}-")
    assert [t.task for t in run.tasks] == [
        "ensure_champion",
        "collect_closed",
        "update_champion",
        "score_open",
    ]
    ensure, collect, retrain, score = (t.output or {} for t in run.tasks)
    assert ensure["trained"]["promoted"] and ensure["champion"] == "1"
    assert collect["just_trained"] and retrain["action"] == "none"

    from okr_pipeline.model import open_registry

    champion = open_registry(settings).version("champion")
    assert champion is not None and champion.version == "1"
    with open_warehouse(settings).connect() as conn:
        stored = conn.execute(select(predictions.c.key_result_id, predictions.c.as_of)).all()
    open_ones = [kr for kr in jobs.key_results(settings, run.as_of, "open") if not kr.cancelled]
    assert score == {"scored": len(stored), "model_version": "1", "as_of": run.as_of.isoformat()}
    assert {row.as_of for row in stored} == {run.as_of}
    assert {row.key_result_id for row in stored} == {kr.key_result_id for kr in open_ones}


def test_a_failing_task_fails_the_dag_run_after_its_retries(
    airflow: Airflow, tmp_path: Path
) -> None:
    """The training on an empty warehouse: no model can be trained, the task fails, it is
    retried once (Airflow's try number is the recorded attempt), and the run fails."""
    empty = tmp_path / "empty"
    result = airflow(
        "dags",
        "test",
        "okr_training",
        OKR_DATA_DIR=str(empty),
        OKR_PIPELINES__TRAINING__RETRIES="1",
        OKR_PIPELINES__TRAINING__RETRY_DELAY_SECONDS="1",
    )
    assert result.returncode == 1, _tail(result)
    assert "DagRun failed" in result.stdout + result.stderr
    (run,) = jobs.list_runs(load_settings(data_dir=empty), pipeline="training")
    why = "only 0 key results with an outcome before"
    assert run.trigger == "airflow" and run.status == "failed" and run.finished_at is not None
    assert run.error is not None and run.error.startswith("ensure_champion failed (attempt 2): ")
    assert why in run.error and "at least 50 needed" in run.error
    assert [(t.task, t.attempt, t.status) for t in run.tasks] == [
        ("ensure_champion", 1, "failed"),
        ("ensure_champion", 2, "failed"),
    ]
    assert all(t.error is not None and t.error.startswith(why) for t in run.tasks)
