"""The audit log records writes and admin calls, allowed and refused, and admins read it newest
first a page at a time; repeated failed authentication from one address gets 429, good tokens
never do."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from api_calls import ON_BOTH, bearer, feature_records
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings


def _audit(settings: Settings) -> list[dict[str, Any]]:
    return jobs.audit_entries(settings, limit=1000).items


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_allowed_and_refused_calls_are_audited(
    client: FlaskClient, settings: Settings, tokens: Any
):
    assert _audit(settings) == []
    created = client.post(
        "/api/v1/tokens",
        json={"name": "ci-bot", "role": "editor"},
        headers=bearer(tokens.admin),
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert created.status_code == 201
    forbidden = client.post(
        "/api/v1/tokens", json={"name": "sneaky", "role": "admin"}, headers=bearer(tokens.viewer)
    )
    assert forbidden.status_code == 403
    anonymous = client.delete("/api/v1/tokens/ci-bot")
    assert anonymous.status_code == 401
    unknown = client.delete("/api/v1/tokens/nobody", headers=bearer(tokens.admin))
    assert unknown.status_code == 404
    listed = client.get("/api/v1/tokens", headers=bearer(tokens.viewer))  # an admin call: 403
    assert listed.status_code == 403
    read = client.get("/api/v1/objectives", headers=bearer(tokens.viewer))  # a read: not audited
    assert read.status_code == 200
    preflight = client.options("/api/v1/tokens")  # Flask's own answer, no operation: not audited
    assert preflight.status_code == 200
    rows = {"dataframe_records": feature_records(settings, 2)}
    scored = client.post("/api/v1/predict", json=rows, headers=bearer(tokens.viewer))
    assert scored.status_code == 200  # a read with a body: not audited
    assert client.post("/api/v1/predict", json=rows).status_code == 401  # refused: audited

    newest_first = _audit(settings)
    summary = [
        (e["method"], e["path"], e["status"], e["outcome"], e["token_name"], e["role"])
        for e in newest_first
    ]
    assert summary == [
        ("POST", "/api/v1/predict", 401, "refused", None, None),
        ("GET", "/api/v1/tokens", 403, "refused", "test-viewer", "viewer"),
        ("DELETE", "/api/v1/tokens/nobody", 404, "failed", "test-admin", "admin"),
        ("DELETE", "/api/v1/tokens/ci-bot", 401, "refused", None, None),
        ("POST", "/api/v1/tokens", 403, "refused", "test-viewer", "viewer"),
        ("POST", "/api/v1/tokens", 201, "allowed", "test-admin", "admin"),
    ]
    oldest = newest_first[-1]
    assert oldest["remote_addr"] == "10.1.2.3" and oldest["operation_id"] == "create_token"
    assert "ci-bot" in {t.name for t in jobs.list_tokens(settings)}


def test_admins_read_the_audit_log_a_page_at_a_time(client: FlaskClient, tokens: Any):
    for name in ("a1", "a2", "a3"):
        client.post(
            "/api/v1/tokens", json={"name": name, "role": "viewer"}, headers=bearer(tokens.admin)
        )
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/audit", query_string=query, headers=bearer(tokens.admin))
        assert page.status_code == 200
        body = page.get_json()
        assert len(body["items"]) <= 2
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [entry["id"] for entry in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    # the pages hold what was there when the first was read: the three creations (each read
    # of the log is audited too, after it answered, above the first page's cursor)
    assert [(e["operation_id"], e["status"]) for e in seen] == [("create_token", 201)] * 3
    newest = client.get("/api/v1/audit?limit=1", headers=bearer(tokens.admin)).get_json()
    assert newest["items"][0]["operation_id"] == "list_audit" and newest["next_cursor"]

    refused = client.get("/api/v1/audit?outcome=refused", headers=bearer(tokens.admin))
    assert refused.get_json()["items"] == []
    viewer = client.get("/api/v1/audit", headers=bearer(tokens.viewer))
    assert viewer.status_code == 403
    only = client.get("/api/v1/audit?outcome=refused", headers=bearer(tokens.admin))
    assert [e["token_name"] for e in only.get_json()["items"]] == ["test-viewer"]


def _limited(settings: Settings, limit: str) -> FlaskClient:
    api = settings.api.model_copy(update={"auth_failures_limit": limit})
    return create_app(settings.model_copy(update={"api": api})).test_client()


def test_repeated_failed_authentication_gets_429(settings: Settings, tokens: Any):
    client = _limited(settings, "3 per minute")
    attacker = {"REMOTE_ADDR": "10.9.9.9"}
    for _ in range(3):
        response = client.get(
            "/api/v1/objectives", headers=bearer(tokens.unknown), environ_base=attacker
        )
        assert response.status_code == 401
        assert "Retry-After" not in response.headers
        assert not any(name.startswith("X-RateLimit") for name, _ in response.headers)
    blocked = client.get(
        "/api/v1/objectives", headers=bearer(tokens.unknown), environ_base=attacker
    )
    assert blocked.status_code == 429
    body = blocked.get_json()
    assert body["error"] == "rate_limited" and "failed authentications" in body["detail"]
    assert 0 < int(blocked.headers["Retry-After"]) <= 61  # the minute's window, rounded up
    # the address is held off whatever it presents next: a right guess would stand out
    good = client.get("/api/v1/objectives", headers=bearer(tokens.viewer), environ_base=attacker)
    assert good.status_code == 429
    # another address is not, and open operations never are
    elsewhere = client.get("/api/v1/objectives", headers=bearer(tokens.unknown))
    assert elsewhere.status_code == 401
    assert client.get("/health", environ_base=attacker).status_code == 200
    # a refused write is audited as such
    assert client.post("/api/v1/tokens", json={}, environ_base=attacker).status_code == 429
    assert _audit(settings)[0]["status"] == 429 and _audit(settings)[0]["outcome"] == "refused"


def test_good_tokens_never_count_towards_the_limit(settings: Settings, tokens: Any):
    client = _limited(settings, "3 per minute")
    for _ in range(20):
        assert (
            client.get("/api/v1/objectives?limit=1", headers=bearer(tokens.viewer)).status_code
            == 200
        )
        assert client.get("/api/v1/tokens", headers=bearer(tokens.viewer)).status_code == 403
    for _ in range(3):  # the failures still have their whole allowance
        assert client.get("/api/v1/objectives", headers=bearer(tokens.revoked)).status_code == 401
    assert client.get("/api/v1/objectives", headers=bearer(tokens.revoked)).status_code == 429
