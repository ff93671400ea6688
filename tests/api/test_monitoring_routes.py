"""The monitoring routes on real monitoring runs of the demo: the latest document as of a date,
the runs a page at a time with their alert counts, one run whole; the alerts, acknowledging one
(it changes in the warehouse), an unknown one 404 and a cleared one 409."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from api_calls import AS_OF, bearer
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.core import as_of_instant
from okr_pipeline.monitoring.alerts import clear_absent
from okr_pipeline.warehouse import open_warehouse

EARLIER = "2026-04-15"  # a month before the demo's monitoring run


def _monitor(settings: Settings, as_of: str) -> None:
    """A monitoring run, as the monitoring pipeline makes one."""
    run = jobs.run_pipeline(settings, "monitoring", as_of=as_of_instant(as_of))
    assert run.status == "succeeded", run.error


def test_the_latest_document_as_of_a_date(client: FlaskClient, settings: Settings, tokens: Any):
    headers = bearer(tokens.viewer)
    demo = client.get("/api/v1/monitoring", headers=headers)
    assert demo.status_code == 200, demo.get_data(True)
    may = demo.get_json()
    assert may["as_of"] == "2026-05-15T23:59:59.999999Z"
    assert {"quality", "drift", "performance", "signals", "alerts", "report"} <= set(
        may["document"]
    )
    assert may["report"] == may["document"]["report"] and Path(may["report"]).is_file()

    # a run as of an earlier date, made later: the latest as of now is still May's
    _monitor(settings, EARLIER)
    assert client.get("/api/v1/monitoring", headers=headers).get_json()["id"] == may["id"]
    april = client.get("/api/v1/monitoring?as_of=2026-05-01", headers=headers).get_json()
    assert april["as_of"].startswith(EARLIER) and april["id"] != may["id"]
    at_may = client.get(f"/api/v1/monitoring?as_of={AS_OF}", headers=headers).get_json()
    assert at_may["id"] == may["id"]  # at or before: the day's end included
    before = client.get("/api/v1/monitoring?as_of=2026-04-01", headers=headers)
    assert before.status_code == 404 and before.get_json()["error"] == "not_found"
    assert client.get("/api/v1/monitoring?as_of=soon", headers=headers).status_code == 422


def test_the_runs_paged_with_their_alert_counts(
    client: FlaskClient, settings: Settings, tokens: Any
):
    _monitor(settings, EARLIER)
    headers = bearer(tokens.viewer)
    listed = client.get("/api/v1/monitoring/runs", headers=headers).get_json()
    april, may = listed["items"]  # newest first: April's was made last
    assert april["as_of"].startswith(EARLIER) and may["as_of"].startswith(AS_OF)
    assert listed["next_cursor"] is None
    whole = client.get(f"/api/v1/monitoring/runs/{may['id']}", headers=headers).get_json()
    assert may["alerts"] == len(whole["document"]["alerts"])
    assert {k: whole[k] for k in may if k != "alerts"} == {k: may[k] for k in may if k != "alerts"}

    first = client.get("/api/v1/monitoring/runs?limit=1", headers=headers).get_json()
    assert [r["id"] for r in first["items"]] == [april["id"]] and first["next_cursor"]
    second = client.get(
        f"/api/v1/monitoring/runs?limit=1&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert [r["id"] for r in second["items"]] == [may["id"]] and second["next_cursor"] is None

    unknown = client.get("/api/v1/monitoring/runs/9999", headers=headers)
    assert unknown.status_code == 404
    assert client.get("/api/v1/monitoring/runs/0", headers=headers).status_code == 422


def _alerts(client: FlaskClient, token: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/alerts{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(True)
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def test_acknowledging_an_alert_changes_it(client: FlaskClient, settings: Settings, tokens: Any):
    listed = _alerts(client, tokens.viewer, "?limit=500")
    assert listed, "the demo's monitoring raised no alert"
    assert [a["id"] for a in listed] == [a.id for a in jobs.alerts(settings)]
    alert = listed[0]
    assert alert["status"] == "open" and alert["acknowledged_at"] is None

    acked = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=bearer(tokens.admin))
    assert acked.status_code == 200, acked.get_data(True)
    assert acked.get_json()["status"] == "acknowledged"
    stored = next(a for a in jobs.alerts(settings) if a.id == alert["id"])
    assert stored.status == "acknowledged" and stored.acknowledged_at is not None
    again = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=bearer(tokens.admin))
    assert again.get_json()["acknowledged_at"] == acked.get_json()["acknowledged_at"]
    still_open = _alerts(client, tokens.viewer, "?open=true&limit=500")
    assert alert["id"] in [a["id"] for a in still_open]  # acknowledged: it still holds

    missing = client.post("/api/v1/alerts/99999/ack", headers=bearer(tokens.admin))
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


def test_a_cleared_alert_cannot_be_acknowledged(
    client: FlaskClient, settings: Settings, tokens: Any
):
    (alert, *_) = _alerts(client, tokens.viewer)
    prefix = alert["condition"].split(".")[0] + "."
    # a monitoring run that no longer finds the condition clears it
    clear_absent(settings, open_warehouse(settings), [], {prefix}, datetime(2026, 5, 16))
    refused = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=bearer(tokens.admin))
    assert refused.status_code == 409, refused.get_data(True)
    assert "cleared" in refused.get_json()["detail"]
    open_ids = [a["id"] for a in _alerts(client, tokens.viewer, "?open=true&limit=500")]
    assert alert["id"] not in open_ids


def test_alerts_a_page_at_a_time(client: FlaskClient, settings: Settings, tokens: Any):
    every = [a["id"] for a in _alerts(client, tokens.viewer, "?limit=500")]
    paged, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/api/v1/alerts{query}", headers=bearer(tokens.viewer)).get_json()
        paged += [a["id"] for a in response["items"]]
        if not (cursor := response["next_cursor"]):
            break
    assert paged == every and len(set(paged)) == len(paged)
