"""Every operation of the OpenAPI document against every kind of caller: no token, an unknown
token, a revoked token, and a token of each role. An operation that requires a role answers 401
(with a Bearer challenge) without a live token, 403 to a lower role, and succeeds for its role
and those above it; an open operation never asks for a token.

The operations are read from /api/v1/openapi.json, so those added later are covered as they
are. An operation with path parameters or a body needs real values: PATH_VALUES, BODIES and
FORMS (multipart bodies) give them by parameter name and operation id, and the test says which
one is missing."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from api_calls import AS_OF, ON_BOTH, bearer, check_in_event, feature_records
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.core import as_of_instant

CALLERS = ("none", "unknown", "revoked", "viewer", "editor", "admin")
ROLES = ("viewer", "editor", "admin")


def _a_key_result(settings: Settings) -> str:
    with_risk = jobs.key_results_page(
        settings, jobs.KeyResultFilters(as_of=as_of_instant(AS_OF)), sort="-risk", limit=1
    )
    return str(with_risk.items[0]["key_result_id"])


def _a_live_token(settings: Settings) -> str:
    """A token made for the call that revokes it."""
    return jobs.create_token(settings, f"matrix-{secrets.token_hex(4)}", "viewer").name


def _a_pipeline_run(settings: Settings) -> str:
    return str(jobs.list_runs(settings, limit=1)[0].run_id)  # the demo's monitoring run


def _a_monitoring_run(settings: Settings) -> str:
    return str(jobs.latest_monitoring(settings, as_of_instant(AS_OF))["id"])


def _an_alert(settings: Settings) -> str:
    return str(jobs.alerts_page(settings, limit=1).items[0]["id"])


# path parameter name -> a real value (made fresh for each call)
PATH_VALUES: dict[str, Callable[[Settings], str]] = {
    "key_result_id": _a_key_result,
    "name": _a_live_token,
    "version": lambda _: "champion",
    "pipeline": lambda _: "etl",
    "run_id": _a_pipeline_run,
    "monitoring_run_id": _a_monitoring_run,
    "alert_id": _an_alert,
}
# operation id -> a valid minimal body (made fresh for each call)
BODIES: dict[str, Callable[[Settings], Any]] = {
    "create_token": lambda _: {"name": f"matrix-{secrets.token_hex(4)}", "role": "viewer"},
    "predict": lambda s: {"dataframe_records": feature_records(s, 1)},
    "post_events": lambda s: check_in_event(_a_key_result(s)),
}
# operation id -> a valid multipart form (a body sent as multipart/form-data)
FORMS: dict[str, Callable[[Settings], dict[str, Any]]] = {
    "ingest": lambda _: {
        "files": (io.BytesIO(b"objective_id,title,period_start,period_end\n"), "objectives.csv")
    },
}


def _operations(client: FlaskClient) -> list[tuple[str, str, dict[str, Any]]]:
    document = client.get("/api/v1/openapi.json").get_json()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _request(
    client: FlaskClient, settings: Settings, method: str, path: str, operation: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The URL and the body arguments (json=, or data= for a form) of a call."""
    url = path
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            assert name in PATH_VALUES, f"{method} {path}: give PATH_VALUES a value for {name!r}"
            url = url.replace(f"{{{name}}}", PATH_VALUES[name](settings))
    body: dict[str, Any] = {"json": None}
    if "requestBody" in operation:
        operation_id = operation["operationId"]
        if "multipart/form-data" in operation["requestBody"]["content"]:
            assert operation_id in FORMS, f"{method} {path}: give FORMS a form for {operation_id}"
            body = {"data": FORMS[operation_id](settings), "content_type": "multipart/form-data"}
        else:
            assert operation_id in BODIES, f"{method} {path}: give BODIES a body for {operation_id}"
            body = {"json": BODIES[operation_id](settings)}
    return url, body


def test_the_document_declares_a_role_or_openness_for_every_operation(client: FlaskClient):
    operations = _operations(client)
    assert len(operations) >= 10
    for method, path, operation in operations:
        role = operation.get("x-required-role")
        if role is None:
            assert "security" not in operation, f"{method} {path}"
        else:
            assert role in ROLES, f"{method} {path}"
            assert operation["security"] == [{"bearer": []}], f"{method} {path}"
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
    assert {path for _, path, op in operations if "x-required-role" not in op} == {
        "/health",
        "/ready",
    }


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_each_caller_as_its_role_says(
    client: FlaskClient, settings: Settings, tokens: Any, caller: str
):
    headers = {} if caller == "none" else bearer(tokens.of(caller))
    for method, path, operation in _operations(client):
        url, body = _request(client, settings, method, path, operation)
        response = client.open(url, method=method, headers=headers, **body)
        required = operation.get("x-required-role")
        where = f"{caller}: {method} {url} -> {response.status_code} {response.get_data(True)}"
        if required is None:
            assert response.status_code < 300, where  # the demo is ready: a champion exists
        elif caller in ("none", "unknown", "revoked"):
            assert response.status_code == 401, where
            assert response.headers["WWW-Authenticate"].lower().startswith("bearer"), where
        elif ROLES.index(caller) < ROLES.index(required):
            assert response.status_code == 403, where
        else:
            documented = set(operation["responses"])
            assert response.status_code < 300 or (
                str(response.status_code) in documented
                and 400 <= response.status_code < 500
                and response.status_code not in (401, 403)
            ), where
            assert str(response.status_code) in documented, where


def test_an_admin_token_reaches_every_role(client: FlaskClient, tokens: Any):
    response = client.get("/api/v1/tokens", headers=bearer(tokens.admin))
    listed = {token["name"]: token for token in response.get_json()["items"]}
    assert {"test-viewer", "test-editor", "test-admin", "test-revoked"} <= set(listed)
    assert listed["test-revoked"]["revoked_at"] is not None
    assert listed["test-admin"]["last_used_at"] is not None  # it was just used
    assert all("token" not in token and "token_hash" not in token for token in listed.values())


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "okr_x", "Bearer not-a-token", "Bearer okr_"],
)
def test_malformed_authorization_is_401(client: FlaskClient, header: str):
    response = client.get("/api/v1/objectives", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_a_token_revoked_while_in_use_is_refused_from_then_on(
    client: FlaskClient, settings: Settings, tokens: Any
):
    made = jobs.create_token(settings, "short-lived", "viewer")
    assert client.get("/api/v1/objectives", headers=bearer(made.token)).status_code == 200
    revoked = client.delete("/api/v1/tokens/short-lived", headers=bearer(tokens.admin))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert client.get("/api/v1/objectives", headers=bearer(made.token)).status_code == 401


def test_no_token_exists_means_only_health_and_ready_answer(tmp_path, monkeypatch):
    """No default credentials: an API without tokens refuses everything that needs one."""
    from okr_pipeline.api import create_app
    from okr_pipeline.config import load_settings

    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "empty"))
    # every one of its many calls fails authentication: none may be limited here
    monkeypatch.setenv("OKR_API__AUTH_FAILURES_LIMIT", "100000 per minute")
    client = create_app(load_settings()).test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503  # no champion, but it answers
    for method, path, operation in _operations(client):
        if "x-required-role" in operation:
            url = path.replace("{key_result_id}", "KR-1").replace("{name}", "admin")
            assert client.open(url, method=method).status_code == 401, f"{method} {url}"
