"""The API about itself: liveness, readiness and its metrics."""

from __future__ import annotations

import logging

from flask import Response

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, settings
from okr_pipeline.api.metrics import exposition
from okr_pipeline.api.models import Model

__all__ = ["area"]

log = logging.getLogger(__name__)

area = Area("meta", __name__, role=None, tag="Service", url_prefix=None)


class Health(Model):
    status: str


class Check(Model):
    ok: bool
    detail: str | None


class Readiness(Model):
    ready: bool
    checks: dict[str, Check]


@area.get("/health", responses={200: Health})
def health() -> Response:
    """Liveness: the process is up (no token needed)"""
    return json_response(Health(status="ok"))


@area.get("/ready", responses={200: Readiness, 503: Readiness})
def ready() -> Response:
    """Readiness (no token needed)

    200 when the warehouse answers a query, a champion model exists and the event log can be
    read; else 503, with the checks that failed and why."""
    found = Readiness.model_validate(jobs.readiness(settings()))
    if not found.ready:
        failed = {name: check.detail for name, check in found.checks.items() if not check.ok}
        log.warning("not ready: %s", failed)
    return json_response(found, 200 if found.ready else 503)


@area.get(
    "/metrics",
    role="viewer",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    """Prometheus metrics (a viewer token)

    Requests answered and their latency by method, route and status, every gunicorn worker
    counted. Prometheus sends the token with `authorization: {type: Bearer, credentials: ...}`
    in its scrape configuration."""
    body, content_type = exposition()
    return Response(body, content_type=content_type)
