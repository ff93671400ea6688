"""The features that carry to an unseen organisation, each on a hand-built history with a known
value: velocities over the real window, required_vs_velocity, checkin_slope,
days_since_progress_rose, confidence_trend, confidence_vs_owner, milestones_done_vs_due,
owner_late_surge, pace_vs_cohort; rows after the instant (check-ins, other owners' closures)
change none of them."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from okr_pipeline.contract import RawRecord
from okr_pipeline.core import days
from okr_pipeline.features import CATEGORICAL, FEATURES, MONOTONE, features_at, load_history
from okr_pipeline.features.history import History, KeyResultHistory, OutcomeRecord
from okr_pipeline.features.table import NUMERIC
from okr_pipeline.ingest.store import ingest
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

NOW = datetime(2026, 2, 10, 10)
BEGIN = datetime(2026, 1, 1)  # Q1 2026: O-1's period start
END = datetime(2026, 4, 1)  # the end of the due date 2026-03-31 (to the microsecond)
Q1 = {"period_start": "2026-01-01", "period_end": "2026-03-31", "status": "active"}
Q4 = {"period_start": "2025-10-01", "period_end": "2025-12-31", "status": "completed"}
OBJECTIVES = [
    {"objective_id": "O-1", "title": "Grow", "owner_id": "u1", **Q1},
    {"objective_id": "O-2", "title": "Keep", "owner_id": "u2", **Q1},
    {"objective_id": "O-0", "title": "Earlier", "owner_id": "u1", **Q4},
]
KEY_RESULTS = [
    # (id, objective, owner, start, target, due date)
    ("KR-A", "O-1", "u1", 0, 100, "2026-03-31"),
    ("KR-D", "O-2", "u3", 10, 5, "2026-03-31"),  # a decrease result
    ("KR-E", "O-2", "u3", 0, 10, "2026-03-31"),  # one check-in
    ("KR-N", "O-2", "u4", 0, 10, "2026-03-31"),  # no check-ins, no milestones
    ("KR-B", "O-0", "u1", 0, 100, "2025-12-31"),  # closed: u1's record
    ("KR-C", "O-0", "u2", 0, 100, "2025-12-31"),  # closed: u2's record
]
CHECK_INS = [
    # (key result, at, value, confidence)
    ("KR-A", "2026-01-08T10:00:00Z", 10, 7),
    ("KR-A", "2026-01-15T10:00:00Z", 20, 6),
    ("KR-A", "2026-01-22T10:00:00Z", 20, 6),
    ("KR-A", "2026-01-29T10:00:00Z", 30, 5),  # the latest rise
    ("KR-A", "2026-02-05T10:00:00Z", 25, 4),  # a fall
    ("KR-D", "2026-01-10T10:00:00Z", 9, None),
    ("KR-D", "2026-01-20T10:00:00Z", 8, None),  # value down: progress up
    ("KR-D", "2026-01-30T10:00:00Z", 8.5, None),
    ("KR-E", "2026-01-10T10:00:00Z", 2, None),
    ("KR-B", "2025-11-01T10:00:00Z", 40, 8),
    ("KR-B", "2025-12-20T10:00:00Z", 80, 8),  # 40 of the final 80 in the last quarter: 0.5
    ("KR-C", "2025-10-15T10:00:00Z", 20, 2),
    ("KR-C", "2025-12-20T10:00:00Z", 60, 2),  # 40 of the final 60: 2/3
]
MILESTONES = [
    # (id, due date, completed at, weight) of KR-A
    ("M-1", "2026-01-31", "2026-01-30T12:00:00Z", 2),  # done on time
    ("M-2", "2026-02-07", None, 2),  # overdue
    ("M-3", "2026-03-15", "2026-02-09T12:00:00Z", 1),  # done early
    ("M-4", "2026-03-20", None, 3),  # not known yet
]


def _records(**entities: list[dict[str, Any]]) -> dict[str, list[RawRecord]]:
    return {
        entity: [RawRecord(entity, row, "test", n, str(row)) for n, row in enumerate(rows)]
        for entity, rows in entities.items()
    }


def _key_result(kr: str, objective: str, owner: str, start: float, target: float, due: str):
    return {
        "key_result_id": kr,
        "objective_id": objective,
        "title": kr,
        "metric_type": "number",
        "start_value": start,
        "target_value": target,
        "owner_id": owner,
        "due_date": due,
    }


def _check_in(n: int, kr: str, at: str, value: float, confidence: int | None):
    row: dict[str, Any] = {
        "check_in_id": f"C-{kr}-{n}",
        "key_result_id": kr,
        "checked_in_at": at,
        "value": value,
    }
    if confidence is not None:
        row["confidence"] = confidence
    return row


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    records = _records(
        objectives=OBJECTIVES,
        key_results=[_key_result(*kr) for kr in KEY_RESULTS],
        check_ins=[_check_in(n, *c) for n, c in enumerate(CHECK_INS)],
        milestones=[
            {
                "milestone_id": m,
                "key_result_id": "KR-A",
                "title": m,
                "due_date": due,
                "completed_at": done,
                "weight": w,
            }
            for m, due, done, w in MILESTONES
        ],
    )
    ingest(engine, records, source="test")
    return engine


def _rows(engine: Engine, pairs: list[tuple[str, datetime]]) -> pd.DataFrame:
    with engine.connect() as conn:
        history = load_history(conn, 0.7)
    return features_at(history, pairs)


def _row(engine: Engine, kr: str, moment: datetime = NOW) -> pd.Series:
    return _rows(engine, [(kr, moment)]).loc[(kr, moment)]


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def test_velocities_divide_by_the_window_lived(engine: Engine):
    row = _row(engine, "KR-A")
    assert row["velocity_14d"] == pytest.approx((0.25 - 0.20) / 2)  # 14 days: 01-27 10:00
    assert row["velocity_28d"] == pytest.approx((0.25 - 0.10) / 4)  # 28 days: 01-13 10:00
    # 9 days into the period: over those 9 days, not over 2 or 4 weeks
    early = datetime(2026, 1, 10)
    row = _row(engine, "KR-A", early)
    assert row["velocity_14d"] == pytest.approx(0.10 / (9 / 7))
    assert row["velocity_28d"] == pytest.approx(0.10 / (9 / 7))
    # hours into the period: at least a day
    row = _row(engine, "KR-A", datetime(2026, 1, 1, 6))
    assert row["velocity_14d"] == 0.0
    rows = _rows(engine, [("KR-D", datetime(2026, 1, 10, 12))])
    assert rows.iloc[0]["velocity_14d"] == pytest.approx(0.2 / (9.5 / 7))
    assert rows.iloc[0]["days_since_progress_rose"] == pytest.approx(2 / 24)


def test_velocity_floors_at_a_day():
    # a key result checked in an hour after its period began, seen two hours in
    with_data = _one_key_result_history(datetime(2026, 1, 1, 1), 10)
    row = features_at(with_data, [("KR-1", datetime(2026, 1, 1, 2))]).iloc[0]
    assert row["velocity_14d"] == pytest.approx(0.1 * 7)  # 0.1 over one day, per week
    assert -5.0 < row["required_vs_velocity"] < 5.0
    assert math.isnan(row["checkin_slope"]) and row["days_since_progress_rose"] == pytest.approx(
        1 / 24
    )


def _one_key_result_history(at: datetime, value: float) -> History:
    """KR-1 of Q1 2026 (0 to 100), one check-in: no warehouse needed."""
    kr = KeyResultHistory(
        id="KR-1",
        objective_id="O-1",
        due_date=datetime(2026, 3, 31).date(),
        owner="u1",
        department=None,
        metric_type="number",
        priority=None,
        start_value=0.0,
        target_value=100.0,
        weight=1.0,
        begin=days(BEGIN),
        end=days(END - timedelta(microseconds=1)),
        period_end=days(END - timedelta(microseconds=1)),
        cancelled=False,
        checkin_times=[days(at)],
        checkin_values=[value],
        checkin_confidence=[math.nan],
    )
    kr.index_checkins()
    return History({"KR-1": kr}, {"O-1": ["KR-1"]}, {}, {}, OutcomeRecord(), 0.7)


def test_required_vs_velocity(engine: Engine):
    row = _row(engine, "KR-A")
    required = 0.75 / (_days(END - NOW) / 7)
    made = 0.25 / (_days(NOW - BEGIN) / 7)
    assert row["required_vs_velocity"] == pytest.approx(
        math.log((required + 0.01) / (made + 0.01)), rel=1e-6
    )
    assert row["required_vs_velocity"] > 0  # behind: 0.25 in 40 days, 0.75 in 50 to go
    # no progress at all: the required rate against none made
    stalled = _row(engine, "KR-N")
    required = 1.0 / (_days(END - NOW) / 7)
    assert stalled["required_vs_velocity"] == pytest.approx(math.log((required + 0.01) / 0.01))
    # the due date at hand: bounded
    late = _row(engine, "KR-N", datetime(2026, 3, 31, 23, 59))
    assert late["required_vs_velocity"] == 5.0
    # past the target: nothing more required, below 0
    done = _one_key_result_history(datetime(2026, 1, 20), 120)
    row = features_at(done, [("KR-1", NOW)]).iloc[0]
    made = 1.2 / (_days(NOW - BEGIN) / 7)
    assert row["required_vs_velocity"] == pytest.approx(math.log(0.01 / (made + 0.01)))


def test_checkin_slope_fits_the_latest_four(engine: Engine):
    # 0.20, 0.20, 0.30, 0.25 a week apart: 0.875 / 245 per day
    assert _row(engine, "KR-A")["checkin_slope"] == pytest.approx(0.875 / 245 * 7)
    assert math.isnan(_row(engine, "KR-E")["checkin_slope"])  # one check-in
    assert math.isnan(_row(engine, "KR-N")["checkin_slope"])
    # the decrease result: progress 0.2, 0.4, 0.3 ten days apart
    assert _row(engine, "KR-D")["checkin_slope"] == pytest.approx(0.005 * 7)


def test_days_since_progress_rose(engine: Engine):
    assert _row(engine, "KR-A")["days_since_progress_rose"] == pytest.approx(12)  # 01-29 10:00
    assert _row(engine, "KR-D")["days_since_progress_rose"] == pytest.approx(21)  # 01-20 10:00
    assert _row(engine, "KR-E")["days_since_progress_rose"] == pytest.approx(31)  # the first
    assert _row(engine, "KR-N")["days_since_progress_rose"] == pytest.approx(_days(NOW - BEGIN))


def test_confidence_trend_and_against_the_owner(engine: Engine):
    row = _row(engine, "KR-A")
    # 6, 6, 5, 4 a week apart: -24.5 / 245 per day
    assert row["confidence_trend"] == pytest.approx(-0.7)
    # u1 before 02-05 10:00: 7, 6, 6, 5 (KR-A) and 8, 8 (KR-B); everyone: and 2, 2 (KR-C)
    overall = 44 / 8
    assert row["confidence_vs_owner"] == pytest.approx(4 - (40 + 3 * overall) / (6 + 3))
    assert math.isnan(_row(engine, "KR-D")["confidence_vs_owner"])  # no confidence given
    assert math.isnan(_row(engine, "KR-D")["confidence_trend"])
    # the first confidence anyone gave: no mean to compare with
    first = _row(engine, "KR-C", datetime(2025, 10, 20))
    assert math.isnan(first["confidence_vs_owner"]) and first["last_confidence"] == 2


def test_milestones_done_vs_due(engine: Engine):
    row = _row(engine, "KR-A")
    # known: M-1 (2, due, done), M-2 (2, due), M-3 (1, done early): (3 - 4) / 5
    assert row["milestones_done_vs_due"] == pytest.approx(-0.2)
    assert row["milestones_overdue"] == 1
    assert math.isnan(_row(engine, "KR-N")["milestones_done_vs_due"])


def test_owner_late_surge(engine: Engine):
    overall = (0.5 + 2 / 3) / 2  # KR-B (u1) 0.5, KR-C (u2) 2/3
    assert _row(engine, "KR-A")["owner_late_surge"] == pytest.approx((0.5 + 3 * overall) / 4)
    assert _row(engine, "KR-N")["owner_late_surge"] == pytest.approx(overall)  # u4: none closed
    # before anything closed: a straight line's share
    assert _row(engine, "KR-B", datetime(2025, 11, 15))["owner_late_surge"] == 0.25


def test_pace_against_the_cohort(engine: Engine):
    rows = _rows(engine, [(kr, NOW) for kr in ("KR-A", "KR-D", "KR-E", "KR-N")])
    assert (rows["pace_vs_cohort"] == rows["pace"] - rows["period_pace"]).all()
    assert rows["pace_vs_cohort"].abs().sum() > 0


def test_no_department_name_and_monotone_directions():
    assert "department" not in FEATURES and CATEGORICAL == ["metric_type", "priority"]
    assert set(MONOTONE) <= set(NUMERIC) and set(MONOTONE.values()) <= {-1, 1}
    assert MONOTONE["progress"] == MONOTONE["last_confidence"] == -1
    assert MONOTONE["milestones_overdue"] == 1


def test_rows_after_the_instant_change_none(engine: Engine):
    pairs = [(kr, NOW) for kr, *_ in KEY_RESULTS[:4]]
    before = _rows(engine, pairs)
    later = [
        ("KR-A", "2026-02-10T10:00:01Z", 90, 9),
        ("KR-A", "2026-02-20T10:00:00Z", 95, 1),
        ("KR-D", "2026-02-11T10:00:00Z", 5, 3),
        ("KR-F", "2026-02-12T10:00:00Z", 100, 10),
        ("KR-F", "2026-02-14T10:00:00Z", 100, 10),
    ]
    ingest(
        engine,
        _records(
            # a period of its own (a new member of Q1's cohort would move period_pace: which key
            # results exist comes from the latest state)
            objectives=[
                {
                    "objective_id": "O-3",
                    "title": "Short",
                    "owner_id": "u2",
                    **Q1,
                    "period_start": "2026-01-15",
                }
            ],
            # u1 closes a key result after NOW: in no record at NOW
            key_results=[_key_result("KR-F", "O-3", "u1", 0, 100, "2026-02-15")],
            check_ins=[_check_in(100 + n, *c) for n, c in enumerate(later)],
            milestones=[
                {
                    "milestone_id": "M-9",
                    "key_result_id": "KR-A",
                    "title": "later",
                    "due_date": "2026-03-01",
                    "completed_at": "2026-02-11T00:00:00Z",
                    "weight": 5,
                }
            ],
        ),
        source="later",
    )
    after = _rows(engine, pairs)
    pd.testing.assert_frame_equal(before, after)
    # and they do move the features later on: the test can fail
    moved = _rows(engine, [(kr, datetime(2026, 2, 21)) for kr, *_ in KEY_RESULTS[:4]])
    assert moved.loc[("KR-A", datetime(2026, 2, 21))]["owner_late_surge"] != pytest.approx(
        before.loc[("KR-A", NOW)]["owner_late_surge"]
    )
    assert moved.loc[("KR-A", datetime(2026, 2, 21))]["checkin_slope"] != pytest.approx(
        before.loc[("KR-A", NOW)]["checkin_slope"]
    )


def test_every_feature_and_direction_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    table = {
        name.strip("` ")
        for line in doc.splitlines()
        if line.startswith("| `")
        for name in line.split("|")[1].split(",")
    }
    assert table == set(FEATURES)
    directions = doc.split("## Monotone directions")[1]
    assert all(f"`{name}`" in directions for name in MONOTONE)
