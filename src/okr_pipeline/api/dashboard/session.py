"""Signing in to the dashboard with an API token, and out again.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure on requests that came over
https or always with `api.secure_cookies`), signed with `api.secret_key`. It holds the token's
SHA-256, never the token: the app looks the token up by it on every request (`auth`), so a
revoked token signs its sessions out. Every form carries a CSRF token (Flask-WTF, kept in the
same session); the API's routes, called with a bearer token and no cookie, are exempt.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from pydantic import Field
from werkzeug.wrappers import Response

from okr_pipeline import jobs
from okr_pipeline.api.auth import SESSION_TOKEN, session_holder
from okr_pipeline.api.context import settings
from okr_pipeline.api.dashboard.site import site
from okr_pipeline.api.dashboard.view import PageQuery, query, render
from okr_pipeline.config import Settings

__all__ = ["install", "local_target"]

log = logging.getLogger(__name__)
SESSION_COOKIE = "okr_session"


class LoginQuery(PageQuery):
    next: str | None = Field(None, max_length=2048, description="the page to go to after")


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed cookie, Secure whenever the request came over https (behind a proxy:
    its X-Forwarded-Proto, trusted with `api.proxies`)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def install(app: Flask, settings: Settings, exempt: list[Any]) -> None:
    """Sessions and CSRF protection on `app`; the blueprints of `exempt` (the API's areas)
    take no CSRF token."""
    key = settings.api.secret_key
    if key is None:
        log.warning(
            "no OKR_API__SECRET_KEY: dashboard sessions are signed with a key of this process "
            "only (okr serve makes one per server; other servers need the variable)"
        )
    app.config.update(
        SECRET_KEY=key.get_secret_value() if key else secrets.token_urlsafe(48),
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.api.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # valid while the session is: a form left open still posts
    )
    app.session_interface = _Sessions()
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)


def local_target(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host's URL).
    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so a target
    holding any of them could become `//host`: refused."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and all(" " < c != "\x7f" for c in target)
    ):
        return target
    return url_for("dashboard.overview")


@site.page("/login", role=None, methods=("GET", "POST"))
def login() -> Response | str | tuple[str, int]:
    """The sign-in form: an API token (`okr token create`, or the one `okr up` printed)."""
    if request.method == "GET":
        target = query(LoginQuery).next
        return render("login.html", target=target, holder=session_holder())
    target = request.form.get("next")
    holder = jobs.authenticate(settings(), request.form.get("token", "").strip())
    if holder is None:
        # a 401: counted against the failed authentications of this address, as the API's
        page = render("login.html", target=target, holder=None, refused=True)
        return page, 401
    session.clear()
    session[SESSION_TOKEN] = jobs.token_digest(request.form["token"].strip())
    g.okr_token = holder  # audited as this token's sign-in
    return redirect(local_target(target), 303)


@site.page("/logout", role=None, methods=("POST",))
def logout() -> Response:
    """Sign out: the session is emptied (the token itself stays valid)."""
    holder = session_holder()
    if holder is not None:
        g.okr_token = holder  # audited as this token's sign-out
    session.clear()
    return redirect(url_for("dashboard.login", notice="signed_out"), 303)
