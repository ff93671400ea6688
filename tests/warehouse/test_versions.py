"""Versions of mutable rows: each change is kept once with the time it became true, on SQLite
and PostgreSQL; a redelivery adds none; a late older row is kept with its own time."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from okr_pipeline.contract import RawRecord
from okr_pipeline.core import now_utc
from okr_pipeline.ingest.store import ingest
from okr_pipeline.sources.files import read_path
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.tables import ENTITY_TABLES, VERSION_TABLES
from schema_revisions import to_revision

OBJECTIVE = {
    "objective_id": "O-1",
    "title": "Grow",
    "period_start": "2026-01-01",
    "period_end": "2026-03-31",
    "updated_at": "2026-01-01T00:00:00Z",
}


def _kr(target: float, updated_at: str | None, **more: Any) -> dict[str, Any]:
    row = {
        "key_result_id": "KR-1",
        "objective_id": "O-1",
        "title": "Deals",
        "metric_type": "number",
        "target_value": target,
        "updated_at": updated_at,
    }
    return row | more


def _milestone(weight: float) -> dict[str, Any]:
    return {"milestone_id": "M-1", "key_result_id": "KR-1", "title": "Launch", "weight": weight}


def _ingest(engine: Engine, **entities: list[dict[str, Any]]) -> None:
    records = {
        entity: [RawRecord(entity, row, "test", n, str(row)) for n, row in enumerate(rows)]
        for entity, rows in entities.items()
    }
    ingest(engine, records, source="test")


def _versions(engine: Engine, entity: str) -> list[dict[str, Any]]:
    table = VERSION_TABLES[entity]
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.valid_from, table.c.version_id))
        return [dict(row._mapping) for row in rows]


def test_each_change_is_one_version_and_a_redelivery_adds_none(warehouse: Engine):
    first = {
        "objectives": [OBJECTIVE],
        "key_results": [_kr(20, "2026-01-05T00:00:00Z")],
        "milestones": [_milestone(1)],
    }
    before = now_utc()
    _ingest(warehouse, **first)
    _ingest(warehouse, **first)  # a redelivery
    assert [len(_versions(warehouse, e)) for e in ("objectives", "key_results", "milestones")] == [
        1,
        1,
        1,
    ]
    assert _versions(warehouse, "key_results")[0]["valid_from"] == datetime(2026, 1, 5)
    # no updated_at: valid from the time of the ingest
    assert before <= _versions(warehouse, "milestones")[0]["valid_from"] <= now_utc()

    edit = _kr(30, "2026-02-10T00:00:00Z", due_date="2026-03-15")
    for _ in range(2):
        _ingest(warehouse, key_results=[edit], milestones=[_milestone(2)])
    versions = _versions(warehouse, "key_results")
    assert [(v["valid_from"], v["target_value"], v["due_date"]) for v in versions] == [
        (datetime(2026, 1, 5), 20.0, date(2026, 3, 31)),
        (datetime(2026, 2, 10), 30.0, date(2026, 3, 15)),
    ]
    assert [v["weight"] for v in _versions(warehouse, "milestones")] == [1.0, 2.0]
    assert len(_versions(warehouse, "objectives")) == 1  # untouched


def test_an_older_row_arriving_late_is_kept_with_its_own_time(warehouse: Engine):
    _ingest(warehouse, objectives=[OBJECTIVE], key_results=[_kr(30, "2026-02-10T00:00:00Z")])
    late = _kr(25, "2026-01-20T00:00:00Z")
    for _ in range(2):  # the second time a redelivery
        _ingest(warehouse, key_results=[late])
    # in one batch, an older repeat after the newer row: both kept, the newer one stored
    batch = [_kr(40, "2026-03-01T00:00:00Z"), _kr(35, "2026-02-20T00:00:00Z")]
    for _ in range(2):
        _ingest(warehouse, key_results=batch)
    versions = _versions(warehouse, "key_results")
    assert [(v["valid_from"].date(), v["target_value"]) for v in versions] == [
        (date(2026, 1, 20), 25.0),
        (date(2026, 2, 10), 30.0),
        (date(2026, 2, 20), 35.0),
        (date(2026, 3, 1), 40.0),
    ]
    with warehouse.connect() as conn:
        stored = conn.execute(select(ENTITY_TABLES["key_results"].c.target_value)).scalar_one()
    assert stored == 40.0  # the latest state: the newer updated_at wins, as before


def test_a_bundle_ingested_twice_has_one_version_per_row(warehouse: Engine, tmp_path: Path):
    bundle = tmp_path / "bundle"
    generate_bundle(bundle, seed=5, scale=0.1, messy=True, as_of=date(2026, 5, 1))
    for _ in range(2):
        ingest(warehouse, read_path(bundle).records, source="bundle")
    with warehouse.connect() as conn:
        for entity, versions in VERSION_TABLES.items():
            rows = conn.execute(select(func.count()).select_from(ENTITY_TABLES[entity]))
            key = versions.c[ENTITY_TABLES[entity].primary_key.columns.values()[0].name]
            ids = conn.execute(select(func.count(func.distinct(key)))).scalar_one()
            assert ids == rows.scalar_one() > 0, entity
            # messy bundles hold older versions of some rows: at most those add versions
            total = conn.execute(select(func.count()).select_from(versions)).scalar_one()
            assert ids <= total <= ids * 1.2, entity


def test_the_upgrade_backfills_one_version_per_row(warehouse_url: str):
    """A warehouse at the previous head, holding rows, gets one version of each: valid from its
    updated_at, else from the start of the run that ingested it."""
    from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

    engine = create_warehouse_engine(warehouse_url)
    to_revision(engine, "0008")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_runs (run_id, kind, source, status, started_at) "
                "VALUES ('r1', 'files', 'x', 'completed', '2026-01-03 04:05:06')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO objectives (objective_id, title, period_start, period_end, status, "
                "updated_at, run_id) VALUES "
                "('O-1', 'O', '2026-01-01', '2026-03-31', 'active', '2026-01-02 00:00:00', 'r1'),"
                "('O-2', 'P', '2026-01-01', '2026-03-31', 'active', NULL, 'r1')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO key_results (key_result_id, objective_id, title, metric_type, "
                "start_value, target_value, weight, due_date, run_id) VALUES "
                "('KR-1', 'O-1', 'Deals', 'number', 0, 20, 1, '2026-03-31', 'r1')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO milestones (milestone_id, key_result_id, title, weight, run_id) "
                "VALUES ('M-1', 'KR-1', 'M', 2, 'r1')"
            )
        )
    migrate(engine)
    migrate(engine)  # again: a no-op, no second backfill
    objectives = _versions(engine, "objectives")
    assert [(v["objective_id"], v["valid_from"]) for v in objectives] == [
        ("O-1", datetime(2026, 1, 2)),
        ("O-2", datetime(2026, 1, 3, 4, 5, 6)),
    ]
    (kr,) = _versions(engine, "key_results")
    assert (kr["target_value"], kr["due_date"], kr["run_id"]) == (20.0, date(2026, 3, 31), "r1")
    assert [v["weight"] for v in _versions(engine, "milestones")] == [2.0]
    assert _versions(engine, "tasks") == []
    # and ingestion goes on from there: an unchanged row adds nothing, an edit one version
    _ingest(engine, key_results=[_kr(20, None)])
    assert len(_versions(engine, "key_results")) == 1
    _ingest(engine, key_results=[_kr(25, "2026-02-01T00:00:00Z")])
    assert len(_versions(engine, "key_results")) == 2
    engine.dispose()
