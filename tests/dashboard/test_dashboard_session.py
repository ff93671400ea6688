"""Signing in and out of the dashboard: the session cookie's flags, what it holds (never the
token), a revoked token signing its sessions out, CSRF on every form (and not on the API), the
signing key from the environment only, and failed sign-ins counted as the API's failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dashboard_forms import CSRF, csrf_token, post_form, sign_in
from flask.testing import FlaskClient

from api_calls import bearer
from demo_app import SECRET_KEY, Tokens
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.api.serve import with_secret_key
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.errors import ConfigError


def _cookie_header(response: object) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("okr_session=")]  # type: ignore[attr-defined]
    assert len(cookies) == 1, cookies
    return str(cookies[0])


def test_a_page_asks_to_sign_in_first(client: FlaskClient):
    response = client.get("/key-results?as_of=2026-05-15")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/key-results?as_of%3D2026-05-15"
    page = client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith(
        "default-src 'none'; style-src 'self'"
    )


def test_sign_in_sets_a_signed_httponly_lax_cookie_holding_no_token(
    app, client: FlaskClient, tokens: Tokens
):
    response = client.post(
        "/login",
        data={"token": tokens.viewer, "csrf_token": csrf_token(client), "next": "/model"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/model"
    cookie = _cookie_header(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    held = app.session_interface.get_signing_serializer(app).loads(value)
    assert set(held) == {"okr_token_sha256"}  # a CSRF token joins it with the next form
    assert held["okr_token_sha256"] == jobs.token_digest(tokens.viewer)
    assert tokens.viewer not in json.dumps(held)
    # a cookie signed with another key is no session
    other = create_app(
        load_settings().model_copy(
            update={"api": load_settings().api.model_copy(update={"secret_key": None})}
        )
    )
    with other.test_client() as stranger:
        stranger.set_cookie("okr_session", value)
        assert stranger.get("/").status_code == 303


def test_the_cookie_is_secure_over_https_or_when_configured(
    app, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
):
    with app.test_client() as browser:
        page = browser.get("/login", base_url="https://dash.example")
        assert "Secure" in _cookie_header(page)
        token = CSRF.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        response = browser.post(
            "/login",
            data={"token": tokens.viewer, "csrf_token": token},
            base_url="https://dash.example",
            headers={"Referer": "https://dash.example/login"},
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        assert "Secure" in _cookie_header(response)
        # over https the form must come from a page of this origin: the pages send their
        # Referer to it (and to no other origin)
        assert page.headers["Referrer-Policy"] == "same-origin"
        foreign = browser.post(
            "/logout",
            data={"csrf_token": token},
            base_url="https://dash.example",
            headers={"Referer": "https://evil.example/"},
        )
        assert foreign.status_code == 400
    monkeypatch.setenv("OKR_API__SECURE_COOKIES", "true")
    always = create_app(load_settings())
    with always.test_client() as browser:
        response = browser.get("/login")
        assert "Secure" in _cookie_header(response)


def test_a_bad_token_is_refused_counted_and_audited(client: FlaskClient, settings: Settings):
    response = client.post("/login", data={"token": "okr_nope", "csrf_token": csrf_token(client)})
    assert response.status_code == 401
    assert "unknown or revoked" in response.get_data(as_text=True)
    entry = jobs.audit_entries(settings, limit=1).items[0]
    assert (entry["operation_id"], entry["outcome"], entry["status"]) == (
        "dashboard.login",
        "refused",
        401,
    )


def test_failed_sign_ins_are_limited_as_the_apis(
    settings: Settings, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OKR_API__AUTH_FAILURES_LIMIT", "2 per minute")
    limited = create_app(load_settings())
    with limited.test_client() as browser:
        token = csrf_token(browser)
        for _ in range(2):
            assert (
                browser.post("/login", data={"token": "x", "csrf_token": token}).status_code == 401
            )
        refused = browser.post("/login", data={"token": tokens.admin, "csrf_token": token})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "Too many failed sign-ins" in refused.get_data(as_text=True)


def test_a_revoked_token_signs_its_sessions_out(signed_in, settings: Settings):
    browser = signed_in("editor")
    assert browser.get("/?as_of=2026-05-15").status_code == 200
    jobs.revoke_token(settings, "test-editor")
    response = browser.get("/?as_of=2026-05-15")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_sign_out_is_a_post_with_csrf(signed_in, settings: Settings):
    browser = signed_in("viewer")
    assert browser.get("/logout").status_code == 405
    assert browser.post("/logout").status_code == 400  # no CSRF token
    assert browser.get("/?as_of=2026-05-15").status_code == 200  # still signed in
    response = post_form(browser, "/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?notice=signed_out"
    assert "You are signed out" in browser.get(response.headers["Location"]).get_data(as_text=True)
    assert browser.get("/?as_of=2026-05-15").status_code == 303
    entry = jobs.audit_entries(settings, limit=1).items[0]
    assert (entry["operation_id"], entry["token_name"], entry["outcome"]) == (
        "dashboard.logout",
        "test-viewer",
        "allowed",
    )


def test_every_form_needs_its_csrf_token_but_the_api_does_not(
    signed_in, client: FlaskClient, tokens: Tokens, settings: Settings
):
    refused = client.post("/login", data={"token": tokens.admin})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    admin = signed_in("admin")
    for url in ("/alerts/1/ack", "/model/rollback", "/dead-letters/retry", "/quarantine/retry"):
        response = admin.post(url, data={"csrf_token": "forged"})
        assert response.status_code == 400, url
    assert jobs.alerts(settings)[0].status == "open"
    # the API takes a bearer token and no cookie: no CSRF token asked for
    response = client.post("/api/v1/alerts/1/ack", headers=bearer(tokens.admin))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_next_goes_to_this_site_only(client: FlaskClient, tokens: Tokens):
    hostile = ["https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example"]
    for target in [*hostile, "/\n/evil.example", "/ /evil.example", "/%09/x\x7f"]:
        response = client.post(
            "/login",
            data={"token": tokens.viewer, "csrf_token": csrf_token(client), "next": target},
        )
        assert response.headers["Location"] == "/", target
    response = client.post(
        "/login",
        data={
            "token": tokens.viewer,
            "csrf_token": csrf_token(client),
            "next": "/key-results?department=Sales",
        },
    )
    assert response.headers["Location"] == "/key-results?department=Sales"


def test_the_secret_key_comes_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OKR_API__SECRET_KEY", "too-short")
    with pytest.raises(ConfigError, match=r"api\.secret_key"):
        load_settings()
    monkeypatch.setenv("OKR_API__SECRET_KEY", SECRET_KEY)
    assert load_settings().api.secret_key.get_secret_value() == SECRET_KEY
    assert SECRET_KEY not in repr(load_settings())
    monkeypatch.delenv("OKR_API__SECRET_KEY")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api": {"secret_key": SECRET_KEY}}))
    monkeypatch.setenv("OKR_CONFIG", str(config))
    with pytest.raises(ConfigError, match="OKR_API__SECRET_KEY"):
        load_settings()


def test_okr_serve_makes_a_key_of_its_own_when_none_is_set(monkeypatch: pytest.MonkeyPatch):
    made = with_secret_key(load_settings())
    assert made.api.secret_key is not None
    assert len(made.api.secret_key.get_secret_value()) >= 32
    assert with_secret_key(load_settings()).api.secret_key != made.api.secret_key
    monkeypatch.setenv("OKR_API__SECRET_KEY", SECRET_KEY)
    kept = with_secret_key(load_settings()).api.secret_key
    assert kept is not None and kept.get_secret_value() == SECRET_KEY


def test_one_sign_in_serves_every_worker_with_the_same_key(settings: Settings, tokens: Tokens):
    """Two apps on the same key (two gunicorn workers) read each other's sessions."""
    first, second = create_app(settings), create_app(settings)
    with first.test_client() as browser:
        sign_in(browser, tokens.viewer)
        cookie = browser.get_cookie("okr_session")
        assert cookie is not None
    with second.test_client() as other:
        other.set_cookie("okr_session", cookie.value)
        assert other.get("/?as_of=2026-05-15").status_code == 200
