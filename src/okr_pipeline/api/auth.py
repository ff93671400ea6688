"""Bearer tokens and roles, checked before every view: an operation that requires a role
answers 401 to a request without a live token (none, unknown or revoked) and 403 to a token
whose role is too low. Open operations (health, readiness, the docs) look at no token.

The dashboard's pages take the token from the login session instead (see `dashboard.session`):
the session holds the token's SHA-256, looked up again on every request, so a token revoked
ends its sessions at their next request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, g, request, session
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from okr_pipeline import jobs
from okr_pipeline.api.context import settings, state

if TYPE_CHECKING:
    from okr_pipeline.jobs import TokenInfo

__all__ = ["SESSION_TOKEN", "install", "is_open", "session_holder"]

REALM = "okr-pipeline"
SESSION_TOKEN = "okr_token_sha256"  # the session's key for its token's digest


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
    api = state()
    return api.roles[request.endpoint] is None and request.endpoint not in api.sign_ins


def session_holder() -> TokenInfo | None:
    """The live token of the login session, if any; a session whose token is gone (revoked)
    is cleared."""
    digest = session.get(SESSION_TOKEN)
    if not isinstance(digest, str):
        return None
    holder = jobs.authenticate_digest(settings(), digest)
    if holder is None:
        session.clear()
    return holder


def _authorize() -> None:
    if is_open():
        return
    endpoint = request.endpoint or ""
    required = state().roles[endpoint]
    if required is None:  # a sign-in: its view checks the token it is given
        return
    if endpoint in state().sessions:
        holder = session_holder()
        if holder is None:
            raise Unauthorized("sign in to see this page")
        _allow(holder, required)
        return
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
    _allow(holder, required)


def _allow(holder: TokenInfo, required: str) -> None:
    """The caller is `holder`: 403 if its role is below `required`."""
    g.okr_token = holder
    if not jobs.role_allows(holder.role, required):
        raise Forbidden(
            f"this operation needs the {required} role; the token {holder.name!r} is {holder.role}"
        )


def install(app: Flask) -> None:
    app.before_request(_authorize)
