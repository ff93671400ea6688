"""Errors are JSON `{"error", "detail"}` with the right status, whatever went wrong; an unexpected
exception is a 500 whose body names a reference to the logged traceback and holds no
traceback; and every response carries the security headers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from api_calls import ON_BOTH, bearer
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings
from okr_pipeline.jobs.pages import encode_cursor


def _error(response: Any, status: int, code: str) -> Any:
    assert response.status_code == status, response.get_data(True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "detail"} and body["error"] == code and body["detail"]
    return body["detail"]


def test_unknown_route_is_404_json(client: FlaskClient, tokens: Any):
    _error(client.get("/api/v1/nothing-here"), 404, "not_found")
    _error(client.get("/nothing", headers=bearer(tokens.admin)), 404, "not_found")


def test_wrong_method_is_405_json_with_allow(client: FlaskClient, tokens: Any):
    response = client.put("/api/v1/objectives", headers=bearer(tokens.admin))
    _error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("sort=colour", "sort"),
        ("as_of=someday", "as_of"),
        ("as_of=2026-02-30", "as_of"),
        ("min_risk=1.5", "min_risk"),
        ("min_risk=nan", "min_risk"),
        ("state=ajar", "state"),
        ("department=", "department"),
        ("owner=a%00b", "owner"),
        ("colour=red", "colour"),  # unknown parameters are refused, not ignored
        ("owner=a&owner=b", "owner"),  # no parameter takes a list: not read as its first value
    ],
)
def test_a_bad_query_parameter_is_422_naming_it(
    client: FlaskClient, tokens: Any, query: str, field: str
):
    response = client.get(f"/api/v1/key-results?{query}", headers=bearer(tokens.viewer))
    problems = _error(response, 422, "invalid_request")
    assert any(problem["loc"][0] == field for problem in problems), problems
    assert all(set(problem) == {"loc", "msg", "type"} for problem in problems)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"name": "x"}',
        b'{"name": "has space", "role": "viewer"}',
        b'{"name": "ok", "role": "root"}',
        b'{"name": "ok", "role": "viewer", "extra": 1}',
    ],
)
def test_a_bad_body_is_422(client: FlaskClient, tokens: Any, body: bytes):
    response = client.post(
        "/api/v1/tokens",
        data=body,
        headers={**bearer(tokens.admin), "Content-Type": "application/json"},
    )
    _error(response, 422, "invalid_request")


def test_a_cursor_not_given_by_the_api_is_400(client: FlaskClient, tokens: Any):
    for cursor in ("garbage", "eyJ9", "eyJzIjoia2V5X3Jlc3VsdF9pZCIsInAiOlsxXX0"):
        response = client.get(f"/api/v1/key-results?cursor={cursor}", headers=bearer(tokens.viewer))
        assert "cursor" in _error(response, 400, "bad_request")
    page = client.get("/api/v1/key-results?limit=1&sort=-risk", headers=bearer(tokens.viewer))
    other_order = f"/api/v1/key-results?cursor={page.get_json()['next_cursor']}"
    assert "sort" in _error(
        client.get(other_order, headers=bearer(tokens.viewer)), 400, "bad_request"
    )


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
@pytest.mark.parametrize(
    ("path", "sort"),
    [
        ("audit", "audit"),
        ("quarantine", "quarantine"),
        ("dead-letters", "dead_letters"),
        ("monitoring/runs", "monitor_runs"),
    ],
)
def test_a_cursor_naming_an_id_beyond_32_bits_is_400(
    client: FlaskClient, tokens: Any, path: str, sort: str
):
    # ids are 32-bit on PostgreSQL, which refuses to compare a larger number with one
    cursor = encode_cursor(sort, [2**31])
    response = client.get(f"/api/v1/{path}?cursor={cursor}", headers=bearer(tokens.admin))
    assert "cursor" in _error(response, 400, "bad_request")


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_a_runs_cursor_naming_no_run_id_is_400(client: FlaskClient, tokens: Any):
    # a NUL in text is an error on PostgreSQL: a cursor holding one is refused before the query
    for run_id in ("etl-\x00", "etl", "x" * 300):
        cursor = encode_cursor("runs", ["2026-01-01T00:00:00", run_id])
        response = client.get(
            f"/api/v1/pipelines/runs?cursor={cursor}", headers=bearer(tokens.admin)
        )
        assert "cursor" in _error(response, 400, "bad_request"), run_id


def test_unknown_ids_are_404_and_conflicts_409(client: FlaskClient, tokens: Any):
    admin = bearer(tokens.admin)
    _error(client.get("/api/v1/key-results/KR-none", headers=admin), 404, "not_found")
    _error(client.delete("/api/v1/tokens/nobody", headers=admin), 404, "not_found")
    taken = client.post(
        "/api/v1/tokens", json={"name": "test-viewer", "role": "viewer"}, headers=admin
    )
    _error(taken, 409, "conflict")
    again = client.delete("/api/v1/tokens/test-revoked", headers=admin)
    assert "already revoked" in _error(again, 409, "conflict")


def test_a_body_over_the_limit_is_413(settings: Settings, tokens: Any):
    small = settings.model_copy(
        update={"api": settings.api.model_copy(update={"max_body_bytes": 1024})}
    )
    client = create_app(small).test_client()
    body = {"name": "big", "role": "viewer", "pad": "x" * 2000}
    response = client.post("/api/v1/tokens", json=body, headers=bearer(tokens.admin))
    assert "1024" in _error(response, 413, "too_large")
    assert "big" not in {t.name for t in jobs.list_tokens(small)}


def test_an_unexpected_error_is_500_without_traceback(
    client: FlaskClient, tokens: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
):
    def broken(_settings: Settings) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(jobs, "list_tokens", broken)
    with caplog.at_level(logging.ERROR, logger="okr_pipeline.api.errors"):
        response = client.get("/api/v1/tokens", headers=bearer(tokens.admin))
    detail = _error(response, 500, "internal")
    assert "Traceback" not in response.get_data(True) and "a bug" not in detail
    reference = detail.split("(ref ")[1].split(")")[0]
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is ZeroDivisionError


def test_security_headers_on_every_response(client: FlaskClient, tokens: Any):
    for response in (
        client.get("/api/v1/objectives", headers=bearer(tokens.viewer)),
        client.get("/api/v1/objectives"),
        client.get("/nothing"),
        client.get("/health"),
        client.get("/api/v1/swagger"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    data = client.get("/api/v1/objectives", headers=bearer(tokens.viewer))
    assert data.headers["Cache-Control"] == "no-store"
    assert data.headers["Content-Security-Policy"].startswith("default-src 'none'")
    docs = client.get("/api/v1/swagger")
    assert docs.status_code == 200 and "swagger-ui" in docs.get_data(True)
    assert "script-src 'self' 'sha256-" in docs.headers["Content-Security-Policy"]
    assert client.get("/api/v1/docs").headers["Location"].endswith("/api/v1/swagger")


def test_cors_is_closed_unless_origins_are_configured(settings: Settings, tokens: Any):
    preflight = {
        "Origin": "https://dashboard.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization",
    }
    closed = create_app(settings).test_client()
    response = closed.options("/api/v1/objectives", headers=preflight)
    assert "Access-Control-Allow-Origin" not in response.headers
    got = closed.get(
        "/api/v1/objectives", headers={**bearer(tokens.viewer), "Origin": preflight["Origin"]}
    )
    assert got.status_code == 200 and "Access-Control-Allow-Origin" not in got.headers

    opened = settings.model_copy(
        update={
            "api": settings.api.model_copy(
                update={"cors_origins": ["https://dashboard.example.com"]}
            )
        }
    )
    client = create_app(opened).test_client()
    response = client.options("/api/v1/objectives", headers=preflight)
    assert response.headers["Access-Control-Allow-Origin"] == "https://dashboard.example.com"
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    other = client.options(
        "/api/v1/objectives", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
