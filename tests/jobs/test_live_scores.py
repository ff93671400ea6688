"""Live scores from the history the run keeps: the touched key results read again, equal to a
whole predict; new rows seen without a whole load; a whole load only after the refresh interval.
On a copy of the demo data (a champion trained as of AS_OF)."""

from __future__ import annotations

import shutil
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from api_calls import AS_OF
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.contract import RawRecord
from okr_pipeline.core import as_of_instant
from okr_pipeline.features import History, load_history, open_at
from okr_pipeline.ingest.store import ingest
from okr_pipeline.jobs import live_scores
from okr_pipeline.jobs.live_scores import LiveScores
from okr_pipeline.model import predict
from okr_pipeline.warehouse import open_warehouse, predictions

NOW = as_of_instant(AS_OF)
HOUR = 3600.0


@pytest.fixture
def settings(demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    monkeypatch.setenv("OKR_DATA_DIR", str(data))
    return load_settings()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The history loads live scores make: None for a whole one, else how many key results."""
    made: list[int | None] = []

    def counted(
        conn: Connection, threshold: float, key_result_ids: Collection[str] | None = None
    ) -> History:
        made.append(None if key_result_ids is None else len(key_result_ids))
        return load_history(conn, threshold, key_result_ids)

    monkeypatch.setattr(live_scores, "load_history", counted)
    return made


class Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def _live(settings: Settings, clock: Clock) -> LiveScores:
    """Live scores of the demo's "now", re-scoring on every call."""
    return LiveScores(settings, open_warehouse(settings), 0.0, clock=clock, now=lambda: NOW)


def _open_ids(settings: Settings, count: int) -> list[str]:
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    return [k for k in open_at(history, NOW) if not history.key_results[k].cancelled][:count]


def _stored_by(engine: Engine, action: Any) -> dict[str, tuple[Any, ...]]:
    """What `action()` stored as predictions: per key result, its risk, status, reasons and
    the features they came from."""
    with engine.connect() as conn:
        before = conn.execute(select(func.coalesce(func.max(predictions.c.id), 0))).scalar_one()
    action()
    columns = [predictions.c[n] for n in ("risk", "status", "reasons", "features")]
    with engine.connect() as conn:
        rows = conn.execute(
            select(predictions.c.key_result_id, *columns).where(predictions.c.id > before)
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def _ingest(engine: Engine, **entities: list[dict[str, Any]]) -> None:
    records = {
        entity: [RawRecord(entity, row, "test", n, str(row)) for n, row in enumerate(rows)]
        for entity, rows in entities.items()
    }
    report = ingest(engine, records, source="test")
    assert report.totals.stored == sum(len(rows) for rows in entities.values())


def test_live_scores_from_the_kept_history_equal_a_whole_predict(
    settings: Settings, loads: list[int | None]
):
    engine = open_warehouse(settings)
    ids = _open_ids(settings, 60)
    live = _live(settings, Clock())
    assert live(set(ids[:20]), True) == 20
    assert loads == [None]  # the first re-score loads the whole history

    kept = _stored_by(engine, lambda: live(set(ids), True))
    assert loads == [None, len(ids)]  # then only the touched key results
    whole = _stored_by(engine, lambda: predict(settings, engine, NOW, ids))
    assert len(kept) == len(ids) and kept == whole


def test_new_rows_show_without_a_whole_load(settings: Settings, loads: list[int | None]):
    """A touched key result's new check-in, and a key result new since the whole load, are
    scored from the rows read again, as a whole predict scores them."""
    engine = open_warehouse(settings)
    ids = _open_ids(settings, 20)
    live = _live(settings, Clock())
    live(set(ids), True)
    before = _stored_by(engine, lambda: live({ids[0]}, True))[ids[0]]

    with engine.connect() as conn:
        kr = load_history(conn, settings.model.achievement_threshold, [ids[0]]).key_results[ids[0]]
    checked_in_at = (NOW - timedelta(hours=1)).isoformat()
    check_in = {"key_result_id": ids[0], "checked_in_at": checked_in_at, "confidence": 9}
    _ingest(
        engine,
        key_results=[
            {
                "key_result_id": "KR-LIVE-NEW",
                "objective_id": kr.objective_id,
                "title": "new since the whole load",
                "metric_type": "number",
                "start_value": 0,
                "target_value": 10,
                "owner_id": kr.owner,
                "due_date": kr.due_date.isoformat(),
            }
        ],
        check_ins=[
            {**check_in, "check_in_id": "C-LIVE-1", "value": kr.target_value},
            {**check_in, "check_in_id": "C-LIVE-2", "key_result_id": "KR-LIVE-NEW", "value": 4},
        ],
    )
    touched = [ids[0], "KR-LIVE-NEW"]
    kept = _stored_by(engine, lambda: live(set(touched), True))
    assert loads == [None, 1, 2]  # no whole load since the first
    assert set(kept) == set(touched)
    assert kept[ids[0]] != before and '"last_confidence": 9.0' in kept[ids[0]][3]
    assert '"progress": 1.0' in kept[ids[0]][3] and '"progress": 0.4' in kept["KR-LIVE-NEW"][3]
    assert kept == _stored_by(engine, lambda: predict(settings, engine, NOW, touched))


def test_the_whole_history_is_loaded_again_only_after_the_refresh_interval(
    settings: Settings, loads: list[int | None]
):
    assert settings.model.live_history_refresh_minutes == 60
    ids = _open_ids(settings, 10)
    clock = Clock()
    live = _live(settings, clock)
    for seconds in (0.0, 30.0, HOUR - 1, HOUR, HOUR + 30, 2 * HOUR - 1, 2 * HOUR):
        clock.seconds = seconds
        assert live(set(ids), True) == len(ids)
    assert loads == [None, 10, 10, None, 10, 10, None]
