"""Shared fixtures: settings rooted in a temporary data directory, and warehouses on SQLite and on
the real PostgreSQL server (each test gets an empty database).

The tests sit in folders named after the package they test; the folders have no __init__.py, so
test file names are unique across them and the helpers here (samples, processes, broker,
per_row_reading) are imported as top-level modules."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api_calls import AS_OF
from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import as_of_instant
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse import close_warehouses
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

# helpers that test files both import and load as plugins: rewritten for assertions up front
pytest.register_assert_rewrite("broker", "webhook")

# the conformance bundle of the data contract (docs/data-contract.md, section 6) and its report
CONTRACT_EXAMPLES = Path(__file__).resolve().parent / "data" / "contract-examples"
POSTGRES_URL = os.environ.get(
    "OKR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's OKR_* variables or writes outside its temporary directory,
    or the warehouse engines an earlier test opened (one per warehouse per process)."""
    for name in list(os.environ):
        if name.startswith("OKR_") and name != "OKR_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "data"))
    yield
    close_warehouses()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings()


@pytest.fixture
def contract_bundle() -> Path:
    if not CONTRACT_EXAMPLES.is_dir():
        pytest.fail(f"the contract examples are missing at {CONTRACT_EXAMPLES}")
    return CONTRACT_EXAMPLES / "bundle"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"okr_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with postgres_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def new_database(postgres_admin: Engine, postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes further empty PostgreSQL databases (beside `postgres_url`), dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"okr_test_{uuid.uuid4().hex[:12]}"
        with postgres_admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return postgres_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with postgres_admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Engine]:
    """An empty, migrated warehouse on each dialect."""
    engine = create_warehouse_engine(warehouse_url)
    migrate(engine)
    yield engine
    engine.dispose()


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
