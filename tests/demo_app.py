"""The demo app's fixtures, shared by the API's and the dashboard's tests (each conftest imports
them): settings on a copy of the demo data (`demo_data`, made once per session in the root
conftest), a token of each role, the app on them and its test client."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.warehouse import insert_rows, open_warehouse, predictions
from okr_pipeline.warehouse.engine import create_warehouse_engine

# a key to sign the dashboard's sessions with (api.secret_key): at least 32 characters
SECRET_KEY = "test-secret-key-" + "x" * 32


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    demo_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """Settings on a copy of the demo data of this test's own; failed authentications are not
    limited here (the limiter's test sets its own limit). A test parametrized with
    `settings="postgresql"` gets the same data in a new PostgreSQL warehouse (the bundle
    ingested again, the stored risks copied); the model store stays the copy's."""
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    monkeypatch.setenv("OKR_DATA_DIR", str(data))
    monkeypatch.setenv("OKR_API__AUTH_FAILURES_LIMIT", "100000 per minute")
    monkeypatch.setenv("OKR_API__SECRET_KEY", SECRET_KEY)
    if getattr(request, "param", "sqlite") == "postgresql":
        monkeypatch.setenv("OKR_WAREHOUSE__URL", request.getfixturevalue("postgres_url"))
        settings = load_settings()
        jobs.ingest_path(settings, demo_data.parent / "bundle")
        demo = create_warehouse_engine(f"sqlite:///{data / 'warehouse.db'}")
        with demo.connect() as conn:
            columns = [c for c in predictions.c if c.name != "id"]
            risks = [dict(row._mapping) for row in conn.execute(select(*columns))]
        demo.dispose()
        with open_warehouse(settings).begin() as conn:
            insert_rows(conn, predictions, risks)
        return settings
    return load_settings()


@dataclass(frozen=True)
class Tokens:
    viewer: str
    editor: str
    admin: str
    revoked: str  # was an admin's
    unknown: str  # shaped like a token, never issued

    def of(self, who: str) -> str:
        value: str = getattr(self, who)
        return value


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    """A token of each role made through the application layer, and two that must fail."""
    made = {role: jobs.create_token(settings, f"test-{role}", role).token for role in jobs.ROLES}
    revoked = jobs.create_token(settings, "test-revoked", "admin").token
    jobs.revoke_token(settings, "test-revoked")
    return Tokens(**made, revoked=revoked, unknown="okr_" + secrets.token_urlsafe(32))


def _pipeline_runs_started_here() -> list[int]:
    """The `okr run` processes this test process started (the API starts them detached)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
        if parent == os.getpid() and command[1:4] == [b"-m", b"okr_pipeline", b"run"]:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(autouse=True)
def _no_pipeline_run_outlives_its_test() -> Iterator[None]:
    """Runs started through the API are stopped with their test: their data goes with it."""
    yield
    for pid in _pipeline_runs_started_here():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # its session: forked parsers too


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client
