"""nginx (deploy/nginx/okr.conf.template) from Debian in front of a real `okr serve`: requests
through it reach the app with their /api/ prefix, JSON comes gzipped, static files come from
disk with cache headers, every answer carries the security headers once, a body over
api.max_body_bytes is refused by nginx itself, and the app (api.proxies = 1) sees the real
client's address: the failed-authentication limit and the audit log key on it."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api_calls import bearer
from fake_docker import DEPLOY, deploy
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Api, Settings, load_settings
from proxy import TEMPLATE, nginx
from served import get, okr_serve

SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")
STATIC_FILE = "okr-test.css"


@dataclass
class Stack:
    url: str  # nginx's
    admin: str  # a token
    settings: Settings
    static: Path  # the app's static folder (the dashboard's)
    environment: dict[str, str]  # the server's


def _static_folder() -> Path:
    """The static folder the app serves at /static/ (the dashboard's)."""
    app = create_app()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/static/"):
            blueprint = rule.endpoint.rsplit(".", 1)[0]
            holder = app.blueprints.get(blueprint, app)
            if holder.static_folder:
                return Path(holder.static_folder)
    raise AssertionError("the app serves no static folder at /static/")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One server and one nginx for the module's tests (each starts in seconds)."""
    root = tmp_path_factory.mktemp("nginx-stack")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("OKR_") and name != "OKR_TEST_POSTGRES_URL":
                patch.delenv(name)
        patch.setenv("OKR_DATA_DIR", str(root / "data"))
        patch.setenv("OKR_API__PROXIES", "1")
        # one worker below: with memory:// the limiter counts per worker
        patch.setenv("OKR_API__AUTH_FAILURES_LIMIT", "3 per minute")
        settings = load_settings()
        admin = jobs.create_token(settings, "admin", "admin").token
        environment = dict(os.environ)
    with okr_serve(environment, 1, root / "serve.log") as (served, _):
        # the dashboard's static files and a file of the test's own
        static = root / "static"
        folder = _static_folder()
        shutil.copytree(folder, static)
        (static / STATIC_FILE).write_text("body { color: #123456; }\n" * 200)
        with nginx(root / "nginx", served.removeprefix("http://"), static) as url:
            yield Stack(url, admin, settings, folder, environment)


def _call(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request from the loopback address `source` (the client nginx sees)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request(
            method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {}
        )
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _security_headers_once(headers: http.client.HTTPMessage) -> None:
    for name in SECURITY_HEADERS:
        assert len(headers.get_all(name) or []) == 1, (name, headers.get_all(name))
    assert len(headers.get_all("Content-Security-Policy") or []) == 1


def test_the_body_limit_is_the_apps():
    """nginx refuses what the app would: client_max_body_size is api.max_body_bytes (the
    template's 413 body says the same number)."""
    text = TEMPLATE.read_text()
    limits = re.findall(r"^\s*client_max_body_size\s+(\d+);", text, re.MULTILINE)
    default = Api().max_body_bytes
    assert limits == [str(default)]
    configured = json.loads((TEMPLATE.parents[2] / "configs" / "pipeline_config.json").read_text())
    assert configured["api"]["max_body_bytes"] == default
    assert f"larger than {default} bytes" in text


def test_api_and_health_through_nginx(stack: Stack):
    status, headers, body = get(f"{stack.url}/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    _security_headers_once(headers)
    assert headers["X-Frame-Options"] == "DENY"
    assert "nginx/" not in headers.get("Server", "")  # server_tokens off

    status, headers, body = get(f"{stack.url}/api/v1/tokens", bearer(stack.admin))
    assert status == 200, body
    assert [t["name"] for t in json.loads(body)["items"]] == ["admin"]
    assert headers["Cache-Control"] == "no-store"  # the app's, through nginx
    _security_headers_once(headers)
    status, _, _ = get(f"{stack.url}/api/v1/tokens")
    assert status == 401


def test_json_is_gzipped_and_the_docs_keep_their_policy(stack: Stack):
    status, headers, body = get(f"{stack.url}/api/v1/openapi.json", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    document = json.loads(gzip.decompress(body))
    assert "/api/v1/key-results" in document["paths"]
    status, headers, body = get(f"{stack.url}/api/v1/openapi.json")
    assert status == 200 and "Content-Encoding" not in headers and json.loads(body)

    # the Swagger page's own policy (its script's hash) reaches the browser unchanged, once
    status, headers, _ = get(f"{stack.url}/api/v1/docs")
    assert status == 200
    _security_headers_once(headers)
    assert "script-src 'self' 'sha256-" in headers["Content-Security-Policy"]


def test_static_files_come_from_disk_with_cache_headers(stack: Stack):
    status, headers, body = get(f"{stack.url}/static/{STATIC_FILE}", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert gzip.decompress(body).startswith(b"body { color: #123456; }")
    assert headers["Cache-Control"] == "max-age=86400" and headers["Expires"]
    assert headers["Last-Modified"] and headers["ETag"]
    _security_headers_once(headers)  # added by nginx: the app never saw this request
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    status, _, _ = get(f"{stack.url}/static/nothing-here.css")
    assert status == 404
    status, _, _ = get(f"{stack.url}/static/../okr.conf")
    assert status in (400, 404)


def test_a_body_over_the_limit_is_refused_by_nginx(stack: Stack):
    limit = stack.settings.api.max_body_bytes
    audited = len(jobs.audit_entries(stack.settings, limit=1000).items)
    parts = urlsplit(stack.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        # the declared length decides: nginx answers before reading the body
        connection.putrequest("POST", "/api/v1/tokens")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(limit + 1))
        connection.putheader("Authorization", f"Bearer {stack.admin}")
        connection.endheaders(b"{")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 413
    assert json.loads(body)["error"] == "too_large"
    _security_headers_once(response.headers)
    # nginx answered: the app never saw the call (it would have audited it)
    assert len(jobs.audit_entries(stack.settings, limit=1000).items) == audited


def test_the_app_sees_the_real_client_behind_nginx(stack: Stack):
    """The limiter and the audit log key on the address nginx saw (127.0.0.2 here), not on
    nginx's own, nor on an X-Forwarded-For the client made up."""
    bad = bearer("okr_" + "x" * 43)
    before = len(jobs.audit_entries(stack.settings, limit=1000).items)
    for forged in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        status, _, _ = _call(
            f"{stack.url}/api/v1/tokens/someone",
            "DELETE",
            {**bad, "X-Forwarded-For": forged},
            source="127.0.0.2",
        )
        assert status == 401
    status, headers, _ = _call(
        f"{stack.url}/api/v1/tokens/someone",
        "DELETE",
        {**bad, "X-Forwarded-For": "10.0.0.4"},
        source="127.0.0.2",
    )
    assert status == 429 and int(headers["Retry-After"]) > 0
    # another client behind the same nginx still has its allowance, and its good token works
    status, _, _ = _call(f"{stack.url}/api/v1/tokens", headers=bad, source="127.0.0.3")
    assert status == 401
    status, _, _ = _call(
        f"{stack.url}/api/v1/tokens", headers=bearer(stack.admin), source="127.0.0.3"
    )
    assert status == 200
    audited = jobs.audit_entries(stack.settings, limit=1000).items
    addresses = [entry["remote_addr"] for entry in audited[: len(audited) - before]]
    assert addresses == ["127.0.0.3", "127.0.0.3", *["127.0.0.2"] * 4]


def test_the_dashboard_and_its_style_sheet_through_nginx(stack: Stack):
    """`/` goes to the app: the dashboard sends a browser without a session to its login page,
    which comes with the pages' own policy (nginx adds none); the style sheet it links is the
    package's file, served by nginx from disk at the blueprint's static path."""
    status, headers, _ = _call(f"{stack.url}/")
    assert status == 303 and headers["Location"] == "/login?next=/"
    _security_headers_once(headers)
    status, headers, body = get(f"{stack.url}/login")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    _security_headers_once(headers)
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'self'")
    assert headers["Referrer-Policy"] == "same-origin"
    sheet = re.search(rb'<link rel="stylesheet" href="(/static/[^"]+)">', body)
    assert sheet is not None
    status, headers, css = get(f"{stack.url}{sheet.group(1).decode()}", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert headers["Cache-Control"] == "max-age=86400"
    assert gzip.decompress(css) == (stack.static / "dashboard.css").read_bytes()


def test_the_deploy_smoke_test_passes_through_nginx(stack: Stack, tmp_path: Path):
    """scripts/deploy --test-only against this nginx, its `docker compose exec api okr` run
    here: it makes a viewer token, calls the API through nginx with it, and revokes it."""
    result, calls = deploy(
        tmp_path / "docker",
        "--test-only",
        env=stack.environment,
        OKR_DEPLOY_URL=stack.url,
        OKR_DEPLOY_WAIT_SECONDS="30",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the smoke test passed" in result.stdout
    assert "a body over api.max_body_bytes refused by nginx (413)" in result.stdout
    compose = ["compose", "-f", str(DEPLOY.parents[1] / "deploy" / "compose.yaml")]
    assert [call[:3] for call in calls] == [compose] * 2
    made, revoked = (call[3:] for call in calls)
    assert made[:6] == ["exec", "-T", "api", "okr", "token", "create"]
    name = made[made.index("--name") + 1]
    assert revoked == ["exec", "-T", "api", "okr", "token", "revoke", name]
    smoke = [t for t in jobs.list_tokens(stack.settings) if t.name == name]
    assert len(smoke) == 1 and smoke[0].role == "viewer" and smoke[0].revoked_at is not None
