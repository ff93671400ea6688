"""Failed authentication is slowed down per client address (flask-limiter): each 401 counts
against `api.auth_failures_limit`, and an address beyond it gets 429 on every operation that
needs a token, a good token included (else the difference would tell a guessed token right),
until its window passes. Successful calls never count. Open operations are never limited.

With "memory://" each worker process counts on its own; `api.limiter_storage` names a shared
store (redis://...) for several workers or hosts. If that store fails, the limiter counts in
memory until it is back, rather than failing the API."""

from __future__ import annotations

import math
import time

from flask import Flask, Response
from flask_limiter import ApplicationLimit, Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from okr_pipeline.api.auth import is_open
from okr_pipeline.config import Settings

__all__ = ["install"]


def _failed_authentication(response: Response) -> bool:
    return response.status_code == 401


def _retry_after(limit: RequestLimit) -> Response:
    """The 429's response, saying when the window passes (the errors' handler writes its
    body). Other responses carry no limiter headers: the allowance is for failures only."""
    wait = max(1, math.ceil(limit.reset_at - time.time()))
    return Response(status=429, headers={"Retry-After": str(wait)})


def install(app: Flask, settings: Settings) -> Limiter:
    limit = ApplicationLimit(
        settings.api.auth_failures_limit,
        deduct_when=_failed_authentication,
        exempt_when=is_open,
    )
    return Limiter(
        get_remote_address,
        app=app,
        application_limits=[limit],
        storage_uri=settings.api.limiter_storage,
        in_memory_fallback_enabled=True,
        headers_enabled=False,
        on_breach=_retry_after,
        key_prefix="okr-auth-failures",
    )
