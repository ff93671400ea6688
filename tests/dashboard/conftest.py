"""The dashboard's fixtures: the demo app's (`demo_app`, as the API's tests have them), and
test clients signed in with a token of a role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dashboard_forms import sign_in
from flask.testing import FlaskClient

from demo_app import (  # noqa: F401  (fixtures, found by pytest here)
    Tokens,
    _no_pipeline_run_outlives_its_test,
    app,
    client,
    settings,
    tokens,
)


@pytest.fixture
def signed_in(request: pytest.FixtureRequest) -> Callable[[str], FlaskClient]:
    """A function giving a new test client signed in as `viewer`, `editor` or `admin`."""
    the_app: Any = request.getfixturevalue("app")
    made_tokens: Tokens = request.getfixturevalue("tokens")

    def make(role: str) -> FlaskClient:
        made: FlaskClient = the_app.test_client()
        sign_in(made, made_tokens.of(role))
        return made

    return make
