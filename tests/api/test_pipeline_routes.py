"""The pipeline routes: definitions and schedules from the settings; recorded runs with their task
runs, filtered and a page at a time; a run started through the API is a real `okr run` process
that loads the landing folder and appears in the runs; a start while a run holds the pipeline's
lock is 409 and recorded as skipped; a process that cannot start says why."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from api_calls import bearer
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.jobs.pages import encode_cursor
from okr_pipeline.warehouse import open_warehouse, pipeline_lock


def _run(client: FlaskClient, token: str, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/pipelines/runs/{run_id}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(True)
    found: dict[str, Any] = response.get_json()
    return found


def _ended(client: FlaskClient, token: str, run_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (run := _run(client, token, run_id))["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.5)
    return run


def test_the_definitions_and_schedules(client: FlaskClient, settings: Settings, tokens: Any):
    response = client.get("/api/v1/pipelines", headers=bearer(tokens.viewer))
    assert response.status_code == 200
    found = {p["name"]: p for p in response.get_json()["items"]}
    assert list(found) == ["etl", "training", "monitoring"]
    etl = found["etl"]
    assert [t["name"] for t in etl["tasks"]] == ["extract", "validate", "load", "check"]
    assert etl["tasks"][2]["upstream"] == ["extract", "validate"]
    assert etl["schedule"] == settings.pipelines.etl.schedule
    assert etl["retries"] == settings.pipelines.etl.retries
    assert found["monitoring"]["schedule"] == settings.pipelines.monitoring.schedule
    assert etl["schedule"] == "0 */6 * * *"  # the configuration's: at 0, 6, 12 and 18 h
    next_at = datetime.fromisoformat(etl["next_scheduled_at"])
    assert timedelta(0) < next_at - datetime.now(UTC) <= timedelta(hours=6)
    assert (next_at.hour % 6, next_at.minute, next_at.second) == (0, 0, 0)


def test_runs_filtered_and_paged_with_their_task_runs(
    client: FlaskClient, settings: Settings, tokens: Any
):
    for _ in range(3):
        assert jobs.run_pipeline(settings, "etl").status == "succeeded"
    recorded = [run.as_dict() for run in jobs.list_runs(settings)]  # newest first
    assert len(recorded) == 4  # and the demo's monitoring run

    headers = bearer(tokens.viewer)
    listed = client.get("/api/v1/pipelines/runs", headers=headers).get_json()
    assert [r["run_id"] for r in listed["items"]] == [r["run_id"] for r in recorded]
    assert listed["next_cursor"] is None
    newest = listed["items"][0]
    assert [t["task"] for t in newest["tasks"]] == ["extract", "validate", "load", "check"]
    assert newest["tasks"][3]["output"]["reconciled"] is True
    assert _run(client, tokens.viewer, newest["run_id"]) == newest

    paged, cursor = [], None
    while True:
        query = "pipeline=etl&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/pipelines/runs?{query}", headers=headers).get_json()
        assert len(page["items"]) <= 2
        paged += [r["run_id"] for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert paged == [r["run_id"] for r in recorded if r["pipeline"] == "etl"]

    monitoring = client.get(
        "/api/v1/pipelines/runs?pipeline=monitoring&status=succeeded", headers=headers
    )
    (demo,) = monitoring.get_json()["items"]
    assert demo["tasks"][0]["task"] == "monitor" and demo["trigger"] == "manual"
    none = client.get("/api/v1/pipelines/runs?status=failed", headers=headers).get_json()
    assert none == {"items": [], "next_cursor": None}


def test_an_unknown_run_or_a_foreign_cursor(client: FlaskClient, tokens: Any):
    headers = bearer(tokens.viewer)
    missing = client.get("/api/v1/pipelines/runs/etl-20260101T000000-00000000", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    for cursor in (encode_cursor("audit", [5]), encode_cursor("runs", [5]), "bm90IGpzb24"):
        # the audit log's, a position that is no run's, not JSON
        refused = client.get(f"/api/v1/pipelines/runs?cursor={cursor}", headers=headers)
        assert refused.status_code == 400 and refused.get_json()["error"] == "bad_request"
    assert client.get("/api/v1/pipelines/runs?status=lost", headers=headers).status_code == 422


def _landed_bundle(settings: Settings) -> Path:
    """A small bundle of a new objective and key result in the landing folder."""
    landed = settings.path("raw") / "incoming" / "extra"
    landed.mkdir(parents=True)
    (landed / "objectives.csv").write_text(
        "objective_id,title,period_start,period_end\nobj-api-1,Ship it,2026-04-01,2026-06-30\n"
    )
    (landed / "key_results.csv").write_text(
        "key_result_id,objective_id,title,metric_type,target_value\n"
        "kr-api-1,obj-api-1,Releases,number,4\n"
    )
    return landed


def test_a_started_run_is_a_process_that_loads_and_appears_in_the_runs(
    client: FlaskClient, settings: Settings, tokens: Any
):
    landed = _landed_bundle(settings)
    response = client.post("/api/v1/pipelines/etl/runs", headers=bearer(tokens.admin))
    assert response.status_code == 202, response.get_data(True)
    started = response.get_json()
    run_id = started["run_id"]
    assert response.headers["Location"] == started["location"]
    assert started["location"] == f"/api/v1/pipelines/runs/{run_id}"
    assert started["status"] in ("running", "succeeded")  # recorded before the answer
    assert Path(started["log"]).is_file()

    run = _ended(client, tokens.viewer, run_id)
    assert run["status"] == "succeeded", (run, Path(started["log"]).read_text())
    assert run["trigger"] == "manual" and run["pipeline"] == "etl"
    load = next(t for t in run["tasks"] if t["task"] == "load")
    (loaded,) = load["output"]["loaded"]
    assert loaded["bundle"] == "extra" and loaded["totals"]["stored"] == 2
    assert not landed.exists() and (settings.path("archive") / run_id / "extra").is_dir()
    listed = client.get("/api/v1/pipelines/runs?pipeline=etl", headers=bearer(tokens.viewer))
    assert run_id in [r["run_id"] for r in listed.get_json()["items"]]
    record = jobs.key_result_record(settings, "kr-api-1", datetime(2026, 5, 1))
    assert record["title"] == "Releases"


def test_a_start_as_of_a_date(client: FlaskClient, tokens: Any):
    response = client.post(
        "/api/v1/pipelines/monitoring/runs?as_of=2026-05-15", headers=bearer(tokens.admin)
    )
    assert response.status_code == 202, response.get_data(True)
    run_id = response.get_json()["run_id"]
    assert run_id.startswith("monitoring-20260515T235959-")
    assert _run(client, tokens.viewer, run_id)["as_of"] == "2026-05-15T23:59:59.999999Z"
    assert _ended(client, tokens.viewer, run_id)["status"] == "succeeded"


def test_a_start_while_a_run_holds_the_pipeline_is_409_and_recorded_as_skipped(
    client: FlaskClient, settings: Settings, tokens: Any
):
    engine = open_warehouse(settings)
    # as a run in another process holds it: the runner's own lock, not a look at the records
    with pipeline_lock(engine, "etl", settings.data_dir / "locks") as held:
        assert held
        refused = client.post("/api/v1/pipelines/etl/runs", headers=bearer(tokens.admin))
    assert refused.status_code == 409, refused.get_data(True)
    assert "a run of etl is in progress" in refused.get_json()["detail"]
    (skipped,) = jobs.list_runs(settings, pipeline="etl", status="skipped")
    assert skipped.run_id in refused.get_json()["detail"]
    assert not skipped.tasks
    free = client.post("/api/v1/pipelines/etl/runs", headers=bearer(tokens.admin))
    assert free.status_code == 202  # the lock is free again


def test_a_process_that_cannot_start_says_why(client: FlaskClient, tokens: Any, monkeypatch: Any):
    # the run's process reads the server's environment, as `okr run` would
    monkeypatch.setenv("OKR_PIPELINES__ETL__RETRIES", "-1")
    response = client.post("/api/v1/pipelines/etl/runs", headers=bearer(tokens.admin))
    assert response.status_code == 503, response.get_data(True)
    detail = response.get_json()["detail"]
    assert "ended before it recorded its run" in detail and "pipelines.etl.retries" in detail
