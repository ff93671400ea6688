"""Signing in and posting forms as the dashboard's pages do: with the session's CSRF token."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    """The CSRF token the forms of `page` carry (that of the client's session)."""
    found = CSRF.search(client.get(page).get_data(as_text=True))
    assert found, f"no form with a CSRF token on {page}"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> TestResponse:
    response = client.post("/login", data={"token": token, "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def post_form(client: FlaskClient, url: str, data: dict[str, str] | None = None) -> TestResponse:
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})})
