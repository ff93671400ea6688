"""Attributes as of the snapshot: a key result's target and due date edited mid-quarter change
the features of snapshots after the edit only; those before it keep the old values."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from okr_pipeline.contract import RawRecord
from okr_pipeline.core import days
from okr_pipeline.features import features_at, key_result_states, load_history
from okr_pipeline.ingest.store import ingest
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

BEFORE = datetime(2026, 2, 10, 12)  # snapshots before the edit (2026-02-15)
AFTER = datetime(2026, 2, 25, 12)
OBJECTIVE = {
    "objective_id": "O-1",
    "title": "Grow",
    "department": "Sales",
    "period_start": "2026-01-01",
    "period_end": "2026-03-31",
    "updated_at": "2026-01-01T00:00:00Z",
}
KR = {
    "key_result_id": "KR-1",
    "objective_id": "O-1",
    "title": "Deals",
    "metric_type": "number",
    "start_value": 0,
    "target_value": 100,
    "due_date": "2026-03-31",
    "updated_at": "2026-01-01T00:00:00Z",
}
SIBLING = {**KR, "key_result_id": "KR-2", "title": "Calls"}
EDIT = {**KR, "target_value": 200, "due_date": "2026-03-15", "updated_at": "2026-02-15T09:00:00Z"}
TASK = {
    "task_id": "T-1",
    "title": "Call list",
    "key_result_id": "KR-1",
    "planned_for": "2026-02-01",
    "updated_at": "2026-01-10T00:00:00Z",
}
TASK_EDIT = {**TASK, "planned_for": "2026-03-01", "updated_at": "2026-02-15T09:00:00Z"}
CHECK_INS = [
    ("C-1", "2026-01-15T10:00:00Z", 20),
    ("C-2", "2026-02-01T10:00:00Z", 40),
    ("C-3", "2026-02-20T10:00:00Z", 50),
    ("C-4", "2026-03-10T10:00:00Z", 70),
]


def _ingest(engine: Engine, **entities: list[dict[str, Any]]) -> None:
    records = {
        entity: [RawRecord(entity, row, "test", n, str(row)) for n, row in enumerate(rows)]
        for entity, rows in entities.items()
    }
    ingest(engine, records, source="test")


def _features(engine: Engine, moments: list[datetime]) -> pd.DataFrame:
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    return features_at(history, [(kr, m) for kr in ("KR-1", "KR-2") for m in moments])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    check_ins = [
        {"check_in_id": f"{kr}-{c}", "key_result_id": kr, "checked_in_at": at, "value": value}
        for kr in ("KR-1", "KR-2")
        for c, at, value in CHECK_INS
    ]
    _ingest(
        engine,
        objectives=[OBJECTIVE],
        key_results=[KR, SIBLING],
        check_ins=check_ins,
        tasks=[TASK],
    )
    return engine


def test_a_mid_quarter_edit_changes_only_later_snapshots(engine: Engine):
    moments = [BEFORE, AFTER]
    unedited = _features(engine, moments)
    _ingest(engine, key_results=[EDIT], tasks=[TASK_EDIT])
    edited = _features(engine, moments)
    # before the edit: every feature as if it never happened (siblings' too)
    pd.testing.assert_frame_equal(
        edited.xs(BEFORE, level="as_of"), unedited.xs(BEFORE, level="as_of")
    )
    before = edited.loc[("KR-1", BEFORE)]
    assert before["progress"] == pytest.approx(40 / 100)
    assert before["days_left"] == pytest.approx(
        (datetime(2026, 4, 1) - BEFORE).days + 0.5, abs=0.01
    )
    # after it: the new target and due date
    after = edited.loc[("KR-1", AFTER)]
    assert after["progress"] == pytest.approx(50 / 200)
    assert after["days_left"] == pytest.approx((datetime(2026, 3, 16) - AFTER).days + 0.5, abs=0.01)
    assert unedited.loc[("KR-1", AFTER)]["progress"] == pytest.approx(50 / 100)
    # the task planned for 2026-02-01 was moved to 2026-03-01 on 2026-02-15
    assert (before["tasks_planned"], after["tasks_planned"]) == (1, 0)
    assert unedited.loc[("KR-1", AFTER)]["tasks_planned"] == 1
    # the sibling sees its neighbour as it was at each instant
    assert edited.loc[("KR-2", BEFORE)]["sibling_mean_score"] == pytest.approx(0.4)
    assert edited.loc[("KR-2", AFTER)]["sibling_mean_score"] == pytest.approx(0.25)


def test_states_and_outcomes_use_the_version_in_effect(engine: Engine):
    _ingest(engine, key_results=[EDIT])
    with engine.connect() as conn:
        early = {s.key_result_id: s for s in key_result_states(conn, BEFORE, 0.7)}
        late = {s.key_result_id: s for s in key_result_states(conn, AFTER, 0.7)}
        history = load_history(conn, 0.7)
    assert early["KR-1"].due_date == date(2026, 3, 31) and early["KR-1"].progress == 0.4
    assert late["KR-1"].due_date == date(2026, 3, 15) and late["KR-1"].progress == 0.25
    # the label: the score at the due date against the target then (70 of 200)
    assert history.final_score("KR-1") == pytest.approx(0.35)
    assert history.outcome("KR-1") is True
    # a snapshot before the first version known uses that first version
    assert history.key_results["KR-1"].as_of(0.0).target_value == 100


def test_an_edit_arriving_before_the_original_still_orders_by_time(tmp_path: Path):
    """Out of order: the edit is ingested first, the original row (older updated_at) later."""
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    _ingest(engine, objectives=[OBJECTIVE], key_results=[EDIT])
    _ingest(engine, key_results=[KR])
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    assert history.key_results["KR-1"].target_value == 200  # latest state: newer wins
    kr = history.key_results["KR-1"]
    assert kr.as_of(days(BEFORE)).target_value == 100
    assert kr.as_of(days(AFTER)).target_value == 200
