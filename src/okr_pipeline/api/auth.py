"""Bearer tokens and roles, checked before every view: an operation that requires a role
answers 401 to a request without a live token (none, unknown or revoked) and 403 to a token
whose role is too low. Open operations (health, readiness, the docs) look at no token."""

from __future__ import annotations

from flask import Flask, g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from okr_pipeline import jobs
from okr_pipeline.api.context import settings, state

__all__ = ["install", "is_open"]

REALM = "okr-pipeline"


def _challenge(error: str | None = None) -> WWWAuthenticate:
    # RFC 6750: the scheme and realm, and why a token presented was refused
    parameters: dict[str, str | None] = {"realm": REALM}
    if error:
        parameters["error"] = error
    return WWWAuthenticate("bearer", parameters)


def is_open() -> bool:
    """Whether this request needs no token: an open operation, an automatic OPTIONS answer (a
    CORS preflight carries no token), or no operation at all (404 and 405 follow)."""
    if request.endpoint is None or request.method == "OPTIONS":
        return True
    return state().roles[request.endpoint] is None


def _authorize() -> None:
    if is_open():
        return
    required = state().roles[request.endpoint or ""]
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "this operation needs a bearer token: Authorization: Bearer <token>",
            www_authenticate=_challenge(),
        )
    holder = jobs.authenticate(settings(), token)
    if holder is None:
        raise Unauthorized(
            "the bearer token is unknown or revoked", www_authenticate=_challenge("invalid_token")
        )
    g.okr_token = holder
    if required is not None and not jobs.role_allows(holder.role, required):
        raise Forbidden(
            f"this operation needs the {required} role; the token {holder.name!r} is {holder.role}"
        )


def install(app: Flask) -> None:
    app.before_request(_authorize)
