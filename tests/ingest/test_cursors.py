"""The REST source's cursors in the warehouse, on SQLite and PostgreSQL: recorded per source and
entity once committed, replaced by later commits, left alone by entities a pull did not advance,
and not recorded when the caller's transaction rolls back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from okr_pipeline.ingest import commit_cursors, stored_cursors
from okr_pipeline.sources import Pulled
from okr_pipeline.warehouse import source_cursors

SOURCE = "https://okr.example.com?tenantId=t-1"


def _pulled(cursors: dict[str, str], source: str = SOURCE) -> Pulled:
    return Pulled(source, Path("bundle"), datetime(2026, 3, 1, 12), cursors=cursors)


def test_cursors_are_recorded_per_source_and_entity(warehouse: Engine):
    assert stored_cursors(warehouse, SOURCE) == {}
    first = {"objectives": "2026-02-03T10:00:00Z", "check_ins": "2026-02-14T08:00:00Z"}
    assert commit_cursors(warehouse, _pulled(first)) == 2
    assert stored_cursors(warehouse, SOURCE) == first

    # a later pull advances what it pulled rows of; the others keep theirs
    assert commit_cursors(warehouse, _pulled({"objectives": "2026-03-01T00:00:00+01:00"})) == 1
    assert stored_cursors(warehouse, SOURCE) == {
        "objectives": "2026-03-01T00:00:00+01:00",
        "check_ins": "2026-02-14T08:00:00Z",
    }
    assert commit_cursors(warehouse, _pulled({})) == 0

    commit_cursors(warehouse, _pulled({"objectives": "2020-01-01"}, source="another"))
    assert stored_cursors(warehouse, "another") == {"objectives": "2020-01-01"}
    assert stored_cursors(warehouse, SOURCE)["objectives"] == "2026-03-01T00:00:00+01:00"
    with warehouse.connect() as conn:
        pulled_at = conn.execute(select(source_cursors.c.pulled_at).limit(1)).scalar_one()
    assert pulled_at == datetime(2026, 3, 1, 12)


def test_cursors_commit_with_the_callers_transaction(warehouse: Engine):
    with pytest.raises(RuntimeError), warehouse.begin() as conn:
        commit_cursors(conn, _pulled({"tasks": "2026-02-21T10:00:00Z"}))
        raise RuntimeError("the load failed after all")
    assert stored_cursors(warehouse, SOURCE) == {}
    with warehouse.begin() as conn:
        commit_cursors(conn, _pulled({"tasks": "2026-02-21T10:00:00Z"}))
    assert stored_cursors(warehouse, SOURCE) == {"tasks": "2026-02-21T10:00:00Z"}
