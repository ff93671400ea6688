"""Bulk writes: rows whose dates are already the text SQLite stores are written as they are, and
the larger page cache of a bulk write lasts only as long as it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select, text

from okr_pipeline.warehouse.bulk import (
    bulk_page_cache,
    from_sqlite_text,
    insert_tuples,
    sqlite_text,
)
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.tables import ENTITY_TABLES, TIMESTAMP, ingest_runs

NAMES = ("milestone_id", "key_result_id", "title", "due_date", "completed_at", "weight")
TABLE = ENTITY_TABLES["milestones"]


def _stored(tmp_path: Path, name: str, rows: list[tuple], as_text: bool = False) -> list[tuple]:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / name}.db")
    migrate(engine)
    table = TABLE
    with engine.begin() as conn:
        conn.execute(
            ingest_runs.insert().values(
                run_id="r", kind="files", source="s", status="running", started_at=datetime.now()
            )
        )
        insert_tuples(conn, table, NAMES, rows, {"run_id": "r"}, dates_as_text=as_text)
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT * FROM milestones ORDER BY 1").fetchall()
        typed = conn.execute(select(table).order_by(table.c.milestone_id)).fetchall()
    engine.dispose()
    return [tuple(r) for r in raw] + [tuple(r) for r in typed]


def test_dates_as_text_are_stored_as_the_objects_would_be(tmp_path: Path):
    moments = [datetime(2026, 2, 15, 6, 0), datetime(999, 1, 2, 3, 4, 5, 6), None]
    days = [date(2026, 3, 31), None, date(1, 1, 1)]
    as_objects = [(f"M-{i}", "KR-1", "t", d, m, 1.0) for i, (d, m) in enumerate(zip(days, moments))]
    as_text = [
        (*row[:3], sqlite_text(TABLE.c.due_date.type)(row[3]), sqlite_text(TIMESTAMP)(row[4]), 1.0)
        for row in as_objects
    ]
    mixed = [as_text[0], as_objects[1], as_text[2]]
    stored = _stored(tmp_path, "objects", as_objects)
    assert _stored(tmp_path, "text", as_text) == stored
    assert _stored(tmp_path, "mixed", mixed) == stored
    assert _stored(tmp_path, "text as such", as_text, as_text=True) == stored


def test_text_comes_back_as_the_value():
    for column_type, value in (
        (TIMESTAMP, datetime(2026, 1, 2, 3, 4, 5, 60)),
        (ENTITY_TABLES["milestones"].c.due_date.type, date(2026, 3, 31)),
    ):
        assert from_sqlite_text(column_type)(sqlite_text(column_type)(value)) == value


def test_the_bulk_page_cache_lasts_as_long_as_the_write(tmp_path: Path):
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    with engine.connect() as conn:
        usual = conn.execute(text("PRAGMA cache_size")).scalar()
        with bulk_page_cache(conn), conn.begin():
            assert conn.execute(text("PRAGMA cache_size")).scalar() < usual  # more KiB
        assert conn.execute(text("PRAGMA cache_size")).scalar() == usual
    engine.dispose()


def test_a_constant_is_stored_as_given(tmp_path: Path):
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    run_ids = ["it's", "nul\x00inside"]  # a quote in the statement; a NUL bound with each row
    with engine.begin() as conn:
        for run_id in run_ids:
            conn.execute(
                ingest_runs.insert().values(
                    run_id=run_id, kind="f", source="s", status="running", started_at=datetime.now()
                )
            )
            row = (f"M-{run_id}", "KR-1", "t", date(2026, 1, 1), None, 1.0)
            insert_tuples(conn, TABLE, NAMES, [row], {"run_id": run_id})
    with engine.connect() as conn:
        stored = conn.execute(select(TABLE.c.run_id).order_by(TABLE.c.milestone_id)).scalars()
        assert list(stored) == run_ids
    engine.dispose()
