"""Behind `api.proxies` proxies the client's address is the one the nearest proxy appended to
X-Forwarded-For: the limiter counts failures per real client and the audit log records it,
whatever a client writes into the header itself. Without proxies the header is ignored."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from api_calls import bearer
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings

PROXY = {"REMOTE_ADDR": "10.0.0.1"}  # every request comes from the proxy's address


def _client(settings: Settings, proxies: int) -> FlaskClient:
    api = settings.api.model_copy(
        update={"auth_failures_limit": "2 per minute", "proxies": proxies}
    )
    return create_app(settings.model_copy(update={"api": api})).test_client()


def _delete(client: FlaskClient, token: str, forwarded: str) -> int:
    response = client.delete(
        "/api/v1/tokens/someone",
        headers={**bearer(token), "X-Forwarded-For": forwarded},
        environ_base=PROXY,
    )
    return response.status_code


def test_one_proxy_the_client_is_its_last_forwarded_address(settings: Settings, tokens: Any):
    client = _client(settings, proxies=1)
    # the client made up the first entries; the proxy appended the last one
    assert _delete(client, tokens.unknown, "1.1.1.1, 203.0.113.5") == 401
    assert _delete(client, tokens.unknown, "2.2.2.2, 203.0.113.5") == 401
    assert _delete(client, tokens.unknown, "203.0.113.5") == 429
    # another client behind the same proxy is not held off
    assert _delete(client, tokens.unknown, "203.0.113.6") == 401
    assert _delete(client, tokens.admin, "203.0.113.6") == 404
    audited = [e["remote_addr"] for e in jobs.audit_entries(settings, limit=10).items]
    assert audited == ["203.0.113.6", "203.0.113.6", *["203.0.113.5"] * 3]


def test_without_proxies_the_header_is_ignored(settings: Settings, tokens: Any):
    client = _client(settings, proxies=0)
    assert _delete(client, tokens.unknown, "203.0.113.5") == 401
    assert _delete(client, tokens.unknown, "203.0.113.6") == 401
    # a made-up header buys no new allowance: the connection's address is the client
    assert _delete(client, tokens.admin, "203.0.113.7") == 429
    audited = {e["remote_addr"] for e in jobs.audit_entries(settings, limit=10).items}
    assert audited == {"10.0.0.1"}
