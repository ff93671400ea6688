"""Objectives and key results over the API: as of a date, filtered, sorted, and walked page by
page with cursors (every item once, in order); one key result whole."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from api_calls import AS_OF, ON_BOTH, bearer
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings
from okr_pipeline.core import as_of_instant


def _walk(client: FlaskClient, url: str, token: str, **query: Any) -> list[dict[str, Any]]:
    """Every item of a list, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        asked = query | ({"cursor": cursor} if cursor else {})
        response = client.get(url, query_string=asked, headers=bearer(token))
        assert response.status_code == 200, response.get_data(True)
        body = response.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.parametrize("sort", ["key_result_id", "-due_date", "-risk", "risk", "progress"])
def test_pages_hold_every_key_result_once_in_order(
    client: FlaskClient, settings: Settings, tokens: Any, sort: str
):
    walked = _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, sort=sort, limit=257)
    everything = len(jobs.key_results(settings, as_of_instant(AS_OF)))
    ids = [item["key_result_id"] for item in walked]
    assert len(ids) == len(set(ids)) == everything
    field, descending = sort.removeprefix("-"), sort.startswith("-")
    present = [item[field] for item in walked if item[field] is not None]
    assert present == sorted(present, reverse=descending)
    missing = [i for i, item in enumerate(walked) if item[field] is None]
    if missing:  # as PostgreSQL sorts NULLs: last ascending, first descending
        expected = (
            range(len(missing)) if descending else range(len(walked) - len(missing), len(walked))
        )
        assert missing == list(expected)


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_filters_of_key_results(client: FlaskClient, tokens: Any):
    every = _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, limit=500)
    risky = _walk(
        client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, min_risk=0.5, state="open"
    )
    assert risky and all(item["risk"] >= 0.5 and item["state"] == "open" for item in risky)
    assert len(risky) == sum(
        1
        for item in every
        if item["risk"] is not None and item["risk"] >= 0.5 and item["state"] == "open"
    )
    department = next(item["department"] for item in every if item["department"])
    of_department = _walk(
        client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, department=department
    )
    assert {item["department"] for item in of_department} == {department}
    assert len(of_department) == sum(item["department"] == department for item in every)
    status = _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, status="off_track")
    assert status and {item["risk_status"] for item in status} == {"off_track"}
    closed = _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, state="closed")
    assert closed and all(item["outcome"] in ("achieved", "missed", None) for item in closed)
    assert all(
        item["risk_as_of"] is None or item["risk_as_of"] <= f"{AS_OF}T23:59:59.999999Z"
        for item in every
    )


def test_as_of_moves_the_state(client: FlaskClient, tokens: Any):
    early = _walk(client, "/api/v1/key-results", tokens.viewer, as_of="2025-01-01", limit=500)
    later = {
        item["key_result_id"]: item
        for item in _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, limit=500)
    }
    ended = [i for i in early if i["state"] == "open" and i["due_date"] < AS_OF]
    assert ended and all(later[i["key_result_id"]]["state"] == "closed" for i in ended)
    assert all(item["risk"] is None for item in early)  # no risk was stored that early


def test_limit_is_capped_to_page_size_max(settings: Settings, tokens: Any):
    small = settings.api.model_copy(update={"page_size": 3, "page_size_max": 7})
    client = create_app(settings.model_copy(update={"api": small})).test_client()
    capped = client.get("/api/v1/key-results?limit=100000", headers=bearer(tokens.viewer))
    assert len(capped.get_json()["items"]) == 7
    default = client.get("/api/v1/objectives", headers=bearer(tokens.viewer))
    assert len(default.get_json()["items"]) == 3 and default.get_json()["next_cursor"]


def test_objectives_with_progress_and_risk(client: FlaskClient, tokens: Any):
    objectives = _walk(client, "/api/v1/objectives", tokens.viewer, as_of=AS_OF, limit=100)
    key_results = _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, limit=500)
    assert {o["objective_id"] for o in objectives} >= {k["objective_id"] for k in key_results}
    one = next(o for o in objectives if o["open_key_results"] and o["risk"] is not None)
    its = [k for k in key_results if k["objective_id"] == one["objective_id"]]
    assert one["key_results"] == len(its)
    assert one["risk"] == max(
        k["risk"] for k in its if k["state"] == "open" and k["risk"] is not None
    )
    weights = sum(k["weight"] for k in its)
    assert one["progress"] == pytest.approx(sum(k["score"] * k["weight"] for k in its) / weights)
    riskiest = _walk(
        client, "/api/v1/objectives", tokens.viewer, as_of=AS_OF, sort="-risk", min_risk=0.6
    )
    assert riskiest and all(o["risk"] >= 0.6 for o in riskiest)
    assert [o["risk"] for o in riskiest] == sorted((o["risk"] for o in riskiest), reverse=True)
    active = _walk(client, "/api/v1/objectives", tokens.viewer, status="active")
    assert active and {o["status"] for o in active} == {"active"}


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_one_key_result_whole(client: FlaskClient, settings: Settings, tokens: Any):
    listed = _walk(client, "/api/v1/key-results", tokens.viewer, as_of=AS_OF, sort="-risk")
    riskiest = next(i for i in listed if i["risk"] is not None and i["last_check_in_at"])
    kr_id = riskiest["key_result_id"]
    record = client.get(f"/api/v1/key-results/{kr_id}?as_of={AS_OF}", headers=bearer(tokens.viewer))
    assert record.status_code == 200
    body = record.get_json()
    assert {k: body[k] for k in riskiest} == riskiest
    assert body["check_ins"] and body["risk_history"]
    times = [c["checked_in_at"] for c in body["check_ins"]]
    assert times == sorted(times)
    stored = body["risk_history"][-1]
    assert stored["risk"] == body["risk"] and stored["reasons"] and stored["model_version"] == "1"
    tasks = jobs.key_result_record(settings, kr_id, as_of_instant(AS_OF))["tasks"]
    assert [t["task_id"] for t in body["tasks"]] == [t["task_id"] for t in tasks]
