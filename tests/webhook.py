"""A local HTTP server standing in for an alert webhook (the `hook` fixture: what it received,
the statuses it answers with), and settings that point the alerts' webhook channel at it."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from okr_pipeline.config import Settings, load_settings

SECRET = "s3cret-for-tests"


class Hook(BaseHTTPRequestHandler):
    answers: list[int]
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[type[Hook]]:
    handler = type("TestHook", (Hook,), {"answers": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/okr"
    yield handler
    server.shutdown()
    server.server_close()
    thread.join()


def webhook_settings(monkeypatch: pytest.MonkeyPatch, url: str) -> Settings:
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_URL", url)
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_RETRIES", "2")
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("OKR_MONITORING__ALERTS__WEBHOOK_TIMEOUT_SECONDS", "2")
    return load_settings()


def signed(headers: dict[str, str], body: bytes) -> bool:
    """Whether a POST carries a fresh, valid signature of its body by SECRET."""
    message = headers["X-OKR-Timestamp"].encode() + b"." + body
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    fresh = abs(int(headers["X-OKR-Timestamp"]) - time.time()) < 60
    return fresh and hmac.compare_digest(headers["X-OKR-Signature"], f"sha256={expected}")
