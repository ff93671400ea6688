"""The warehouse schema: migrations match the tables on SQLite and PostgreSQL, upgrade in place,
and the DDL compiles for Oracle."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Date, Engine, inspect, text
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import CreateIndex, CreateTable

from okr_pipeline.config import load_settings
from okr_pipeline.errors import OkrError
from okr_pipeline.warehouse.engine import (
    MIGRATIONS,
    create_warehouse_engine,
    migrate,
    open_warehouse,
)
from okr_pipeline.warehouse.tables import ENTITY_TABLES, TIMESTAMP, metadata
from schema_revisions import to_revision


def test_migrated_schema_matches_the_tables(warehouse: Engine):
    with warehouse.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    names = set(inspect(warehouse).get_table_names())
    assert {*ENTITY_TABLES, "quarantine", "ingest_runs", "alembic_version"} <= names


def test_an_existing_warehouse_upgrades_in_place(warehouse_url: str):
    """A warehouse made by the first schema, holding data, upgrades to the newest one."""
    from alembic.script import ScriptDirectory

    engine = create_warehouse_engine(warehouse_url)
    to_revision(engine, "0001")
    assert "predictions" not in inspect(engine).get_table_names()
    with engine.begin() as conn:  # data written by that schema's code
        conn.execute(
            text(
                "INSERT INTO ingest_runs (run_id, kind, source, status, started_at) "
                "VALUES ('r1', 'files', 'x', 'completed', '2026-01-01 00:00:00')"
            )
        )
        for n in range(3):
            conn.execute(
                text(
                    "INSERT INTO objectives (objective_id, title, period_start, period_end, "
                    "status, run_id) VALUES (:id, 'O', '2026-01-01', '2026-03-31', 'active', 'r1')"
                ),
                {"id": f"O-{n}"},
            )
    migrate(engine)
    migrate(engine)  # again: a no-op
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM objectives")).scalar_one() == 3
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head() != "0001"
    assert "predictions" in inspect(engine).get_table_names()
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}", busy_timeout_ms=1234)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 1234
        assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == 16384  # a new file


def test_ddl_compiles_for_oracle():
    dialect = oracle.dialect()
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert f"CREATE TABLE {table.name}" in ddl
        for index in table.indexes:
            assert len(index.name) <= 128
            str(CreateIndex(index).compile(dialect=dialect))
    checked_in = str(CreateTable(ENTITY_TABLES["check_ins"]).compile(dialect=dialect))
    assert "checked_in_at TIMESTAMP NOT NULL" in checked_in  # not DATE: keeps fractions


def test_unreachable_database_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        open_warehouse(load_settings())
    except OkrError as exc:
        assert "cannot open the warehouse" in str(exc)
    else:
        raise AssertionError("expected an OkrError")


def test_sqlite_bulk_text_matches_sqlalchemy_storage_format():
    """The bulk path writes dates as text itself: it must be the text SQLAlchemy reads back."""
    from datetime import date, datetime, timedelta

    from sqlalchemy.dialects import sqlite

    from okr_pipeline.warehouse.bulk import sqlite_text

    dialect = sqlite.dialect()
    for column_type, values in (
        (
            TIMESTAMP,
            [
                datetime(2026, 2, 15, 6, 0),
                datetime(999, 1, 2, 3, 4, 5, 6),
                datetime(2026, 12, 31, 23, 59, 59, 999999),
            ],
        ),
        (Date(), [date(2026, 3, 31), date(1, 1, 1)]),
    ):
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        convert = sqlite_text(column_type)
        for value in [*values, values[0] + timedelta(days=400)]:
            assert convert(value) == processor(value)
        assert convert(None) is None
