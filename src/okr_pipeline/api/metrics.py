"""Prometheus metrics of the API: requests answered and their latency, by method, route and
status. Under gunicorn each worker process writes its counts to files in
PROMETHEUS_MULTIPROC_DIR (set by `okr serve` before the workers start) and /metrics adds up
every worker's, those that have exited included; without that variable the counts are this
process's."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["MULTIPROC_DIR", "exposition", "install"]

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
LABELS = ("method", "route", "status")
# a label holds one of these or "other": a client must not create series at will
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"  # a 404 or 405: the route template, not the path asked

REQUESTS = Counter("okr_api_requests", "HTTP requests answered by the API", LABELS)
LATENCY = Histogram(
    "okr_api_request_duration_seconds",
    "Time from a request's arrival in the app to its response",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def _start() -> None:
    g.okr_started = time.perf_counter()


def _observe(response: Response) -> Response:
    rule = request.url_rule
    labels = (
        request.method if request.method in METHODS else "other",
        rule.rule if rule is not None else UNMATCHED,
        str(response.status_code),
    )
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(time.perf_counter() - g.get("okr_started", time.perf_counter()))
    return response


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, with its content type."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def install(app: Flask) -> None:
    """Time every request: installed first, its hooks run before and after all others."""
    app.before_request(_start)
    app.after_request(_observe)
