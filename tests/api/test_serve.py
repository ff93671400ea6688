"""`okr serve` as a real process: gunicorn with two workers on a free port. /health answers
through it, /metrics adds up the requests both workers served, the docs page renders in a real
browser under its Content-Security-Policy, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api_calls import bearer
from okr_pipeline.api.serve import metrics_folder
from okr_pipeline.config import Settings
from served import get, okr_serve

CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics: Path


@pytest.fixture
def server(settings: Settings, tokens: Any, tmp_path: Path) -> Iterator[Server]:
    log = tmp_path / "serve.log"
    environment = {**os.environ, "OKR_DATA_DIR": str(settings.data_dir)}
    with okr_serve(environment, 2, log) as (url, process):
        yield Server(url, process, log, metrics_folder(settings, process.pid))


def test_health_through_gunicorn_and_a_clean_stop(server: Server):
    status, headers, body = get(f"{server.url}/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert f"okr API at {server.url}/api/v1" in server.log.read_text()
    assert server.metrics.is_dir()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert not server.metrics.exists()  # the workers' metric files go with the server


def test_metrics_add_up_the_requests_of_both_workers(server: Server, tokens: Any):
    status, _, _ = get(f"{server.url}/metrics")
    assert status == 401  # a viewer token is needed
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        # each sync worker serves one request at a time: concurrent ones reach both
        for _ in range(10):
            statuses = list(pool.map(lambda _: get(f"{server.url}/health")[0], range(40)))
            assert statuses == [200] * 40
            sent += 40
            pids = {p.name.split("_")[1] for p in server.metrics.glob("counter_*.db")}
            if len(pids) == 2:
                break
    assert len(pids) == 2, "one worker served every request"
    status, headers, body = get(f"{server.url}/metrics", bearer(tokens.viewer))
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    counted = re.search(
        r'^okr_api_requests_total\{method="GET",route="/health",status="200"\} (\S+)$',
        text,
        re.MULTILINE,
    )
    assert counted, text
    # the first /health of the fixture, the batches, and not the 401 of /metrics
    assert float(counted.group(1)) == sent + 1
    assert 'okr_api_requests_total{method="GET",route="/metrics",status="401"} 1.0' in text
    assert "okr_api_request_duration_seconds_bucket" in text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_the_docs_page_renders_under_its_policy(server: Server, tmp_path: Path):
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{server.url}/api/v1/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', result.stdout))
    assert {"/health", "/api/v1/key-results", "/api/v1/tokens/{name}"} <= rendered
    assert "Content Security Policy" not in result.stderr, result.stderr
