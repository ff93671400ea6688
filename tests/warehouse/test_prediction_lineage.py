"""Predictions are added, not replaced, and keep their features (migration 0010): the upgrade
keeps the rows stored before, on SQLite and PostgreSQL; the readers' shared query takes the
latest row of each key result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, text

from okr_pipeline.warehouse import NEWEST_FIRST, latest_predictions, predictions
from schema_revisions import to_revision

AS_OF = datetime(2026, 5, 1)


def _row(kr: str, as_of: datetime, risk: float, created: datetime, **more: object) -> dict:
    return {
        "key_result_id": kr,
        "as_of": as_of,
        "risk": risk,
        "status": "at_risk",
        "reasons": "[]",
        "model_version": "1",
        "feature_hash": "0" * 64,
        "created_at": created,
    } | more


def test_the_upgrade_keeps_stored_predictions_and_then_adds_reruns(warehouse_url: str):
    from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate

    engine = create_warehouse_engine(warehouse_url)
    to_revision(engine, "0009")
    with engine.begin() as conn:  # rows the previous schema's code wrote (no features)
        conn.execute(
            predictions.insert(),
            [
                _row("KR-1", AS_OF, 0.25, datetime(2026, 5, 1, 6)),
                _row("KR-2", AS_OF, 0.75, datetime(2026, 5, 1, 6)),
            ],
        )
    migrate(engine)
    migrate(engine)  # again: a no-op
    with engine.connect() as conn:
        rows = conn.execute(select(predictions).order_by(predictions.c.id)).mappings().all()
    assert [(r["key_result_id"], r["risk"], r["features"]) for r in rows] == [
        ("KR-1", 0.25, None),
        ("KR-2", 0.75, None),
    ]
    # the same key result, as-of and model again: added beside the earlier row
    with engine.begin() as conn:
        conn.execute(
            predictions.insert(),
            [_row("KR-1", AS_OF, 0.5, datetime(2026, 5, 2), features='{"progress": 0.1}')],
        )
    with engine.connect() as conn:
        latest = conn.execute(latest_predictions()).mappings().all()
        assert len(conn.execute(select(predictions.c.id)).all()) == 3
    assert {r["key_result_id"]: (r["risk"], r["features"]) for r in latest} == {
        "KR-1": (0.5, '{"progress": 0.1}'),
        "KR-2": (0.75, None),
    }
    # and back: one row per key result, as-of and model again, the latest written
    to_revision(engine, "0009", down=True)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT key_result_id, risk FROM predictions ORDER BY 1"))
        assert [tuple(row) for row in kept] == [("KR-1", 0.5), ("KR-2", 0.75)]
    engine.dispose()


def test_the_latest_is_the_latest_as_of_then_the_latest_written(warehouse: Engine):
    early, late = datetime(2026, 5, 1, 6), datetime(2026, 5, 2, 6)
    with warehouse.begin() as conn:
        conn.execute(
            predictions.insert(),
            [
                _row("KR-1", AS_OF, 0.1, early),
                _row("KR-1", AS_OF, 0.2, late),  # a rerun of the same as-of
                _row("KR-1", datetime(2026, 4, 1), 0.9, datetime(2026, 5, 3)),  # a backfill
                _row("KR-2", AS_OF, 0.3, late, model_version="2"),
                _row("KR-2", AS_OF, 0.4, late, model_version="2"),  # same instant: higher id
                _row("KR-3", datetime(2026, 6, 1), 0.5, late),  # after the as-of asked
            ],
        )
    with warehouse.connect() as conn:
        rows = conn.execute(
            latest_predictions(
                predictions.c.as_of <= AS_OF,
                columns=(predictions.c.key_result_id, predictions.c.risk),
            )
        ).all()
        newest = conn.execute(
            select(predictions.c.risk)
            .where(predictions.c.key_result_id == "KR-1")
            .order_by(*NEWEST_FIRST)
        ).scalars()
        assert list(newest) == [0.2, 0.1, 0.9]
    assert sorted(tuple(row) for row in rows) == [("KR-1", 0.2), ("KR-2", 0.4)]
