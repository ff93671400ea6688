"""The API's fixtures: a data directory with demo data, a champion and stored risks (made once,
copied for each test), the app on it with a token of each role, and helpers to call it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api_calls import AS_OF
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import as_of_instant
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse import close_warehouses, insert_rows, open_warehouse, predictions
from okr_pipeline.warehouse.engine import create_warehouse_engine


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory made once: a generated bundle ingested, a champion trained and the
    open key results' risks stored as of AS_OF."""
    root = tmp_path_factory.mktemp("api-demo")
    data = root / "data"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("OKR_") and name != "OKR_TEST_POSTGRES_URL":
                patch.delenv(name)
        patch.setenv("OKR_DATA_DIR", str(data))
        settings = load_settings()
        generate_bundle(root / "bundle", seed=4, scale=0.6, as_of=date(2026, 7, 1))
        jobs.ingest_path(settings, root / "bundle")
        trained = jobs.train_model(settings, as_of_instant(AS_OF))
        assert trained.promoted, trained.reason
        assert jobs.predict_risks(settings, as_of_instant(AS_OF))
        # a pipeline run, and the monitoring run it made with the alerts it raised (a limit
        # no model meets makes sure there is one)
        patch.setenv("OKR_MONITORING__PERFORMANCE__MIN_AUC", "0.999")
        monitored = jobs.run_pipeline(load_settings(), "monitoring", as_of=as_of_instant(AS_OF))
        assert monitored.status == "succeeded", monitored.error
        assert jobs.alerts(settings), "the demo's monitoring run raised no alert"
        close_warehouses()
    return data


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
