"""Data quality as of D on generated bundles (clean and messy), on bundles spoiled in one way
each (a stale department, a batch of bad rows, a thinned week of check-ins), and on a warehouse
written by other means (empty required fields, orphans, dead letters), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, update

from okr_pipeline.config import Settings, load_settings
from okr_pipeline.jobs import ingest_path
from okr_pipeline.monitoring.quality import quality
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse import (
    ENTITY_TABLES,
    dead_letters,
    ingest_runs,
    open_warehouse,
    processed_events,
    quarantine,
)

AS_OF = datetime.combine(date(2026, 5, 15), time.max)  # the bundle's snapshot: 2026-05-16 00:00
PROBLEM_KEYS = {"condition", "subject", "severity", "message", "value", "threshold"}


def _stamp(engine: Engine, run_id: str, when: datetime) -> None:
    """Date an ingest run (and the rows it quarantined) as if it had run at `when`."""
    with engine.begin() as conn:
        conn.execute(
            update(ingest_runs)
            .where(ingest_runs.c.run_id == run_id)
            .values(started_at=when, finished_at=when)
        )
        conn.execute(
            update(quarantine)
            .where(quarantine.c.first_run_id == run_id)
            .values(first_seen_at=when, last_seen_at=when)
        )


def _loaded(tmp_path: Path, *, messy: bool = False) -> tuple[Settings, Engine, dict[str, Any]]:
    """A generated bundle ingested two days before D; its manifest."""
    manifest = generate_bundle(
        tmp_path / "bundle", seed=3, scale=0.3, messy=messy, as_of=date(2026, 5, 16)
    )
    settings = load_settings()
    report = ingest_path(settings, tmp_path / "bundle")
    engine = open_warehouse(settings)
    _stamp(engine, report.run_id, AS_OF - timedelta(days=2))
    return settings, engine, manifest


def _quality(settings: Settings, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        result = quality(settings, conn, AS_OF)
    assert json.loads(json.dumps(result, allow_nan=False)) == result  # JSON-ready as it is
    for problem in result["problems"]:
        assert set(problem) == PROBLEM_KEYS and problem["severity"] in ("warning", "critical")
        assert problem["condition"].startswith("quality.")
    return result


def _conditions(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["condition"], p["subject"]) for p in result["problems"]}


def test_a_clean_bundle_raises_no_problem_on_each_dialect(
    tmp_path: Path, warehouse: Engine, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", warehouse_url)
    settings, engine, manifest = _loaded(tmp_path)
    result = _quality(settings, engine)
    assert result["problems"] == []

    for entity, section in result["completeness"].items():
        assert section["rows"] == manifest["expected"][entity]["stored"]
        for name, item in section["fields"].items():
            if item["required"] or item["defaulted"]:
                assert item["share"] == 1.0, (entity, name)
    assert result["completeness"]["key_results"]["fields"]["due_date"]["defaulted"]
    assert result["completeness"]["key_results"]["fields"]["unit"]["share"] < 1

    fresh = result["freshness"]
    assert 0 <= fresh["overall"]["age_days"] < 1 and fresh["overall"]["open_key_results"] > 0
    assert all(d["age_days"] < 3 for d in fresh["departments"].values() if d["open_key_results"])

    window = result["validity"]["quarantine"]["window"]
    for entity, expected in manifest["expected"].items():
        assert window[entity]["read"] == expected["read"] and window[entity]["quarantined"] == 0
    assert result["validity"]["dead_letters"]["window"]["share"] is None  # no stream
    series = result["validity"]["series"]
    assert len(series) == settings.monitoring.quality.series_days
    total = sum(e["read"] for e in manifest["expected"].values())
    assert [day["read"] for day in series[-3:]] == [total, 0, 0]  # ingested two days before D

    assert set(result["references"]["orphans"].values()) == {0}
    volume = result["volume"]
    assert volume["period"] == {"start": "2026-04-01", "end": "2026-06-30"}
    assert len(volume["earlier"]) == 7 and abs(volume["ratio"] - 1) < 0.5


def test_a_messy_bundle_reports_its_manifest_and_stays_under_the_default_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings, engine, manifest = _loaded(tmp_path, messy=True)
    result = _quality(settings, engine)
    # 1 to 3 % of each entity's rows are bad: under the 5 % allowed
    assert result["problems"] == []
    window = result["validity"]["quarantine"]["window"]
    for entity, expected in manifest["expected"].items():
        tally = window[entity]
        assert (tally["read"], tally["quarantined"]) == (expected["read"], expected["quarantined"])
        assert {r: v["rows"] for r, v in tally["by_reason"].items()} == expected["by_reason"]
        assert result["duplicates"]["unchanged_rows"][entity] == expected["unchanged"]
        assert result["references"]["open_unknown_reference"][entity] == expected["by_reason"].get(
            "unknown_reference", 0
        )
    assert result["validity"]["quarantine"]["overall"]["tasks"] == {
        k: v for k, v in window["tasks"].items() if k != "new_distinct_rows"
    }
    # as of a day before they were first seen, none waited; resolved after D, they still did
    with engine.connect() as conn:
        before = quality(settings, conn, AS_OF - timedelta(days=3))["references"]
    assert set(before["open_unknown_reference"].values()) == {0}
    with engine.begin() as conn:
        conn.execute(update(quarantine).values(resolved_at=AS_OF + timedelta(days=1)))
    waiting = _quality(settings, engine)["references"]["open_unknown_reference"]
    assert waiting == result["references"]["open_unknown_reference"]

    monkeypatch.setenv("OKR_MONITORING__QUALITY__MAX_QUARANTINE_SHARE", "0.02")
    strict = load_settings()
    flagged = {
        entity for entity, e in manifest["expected"].items() if e["quarantined"] / e["read"] > 0.02
    }
    assert flagged  # the bundle has entities above 2 %
    assert _conditions(_quality(strict, engine)) == {
        ("quality.quarantine_rate", entity) for entity in flagged
    }


def test_a_department_that_stops_checking_in_is_stale(tmp_path: Path):
    settings, engine, _ = _loaded(tmp_path)
    checkins, krs, objectives = (
        ENTITY_TABLES[e] for e in ("check_ins", "key_results", "objectives")
    )
    department = "Sales"
    of_sales = (
        select(krs.c.key_result_id)
        .join(objectives, objectives.c.objective_id == krs.c.objective_id)
        .where(objectives.c.department == department)
    )
    with engine.begin() as conn:
        conn.execute(
            delete(checkins).where(
                checkins.c.key_result_id.in_(of_sales),
                checkins.c.checked_in_at > AS_OF - timedelta(days=30),
            )
        )
    result = _quality(settings, engine)
    assert _conditions(result) == {("quality.freshness", f"department:{department}")}
    (problem,) = result["problems"]
    assert problem["value"] > 30 and problem["threshold"] == 21.0
    assert problem["severity"] == ("critical" if problem["value"] > 42 else "warning")


def test_a_batch_of_bad_rows_raises_the_quarantine_rate(tmp_path: Path):
    settings, engine, manifest = _loaded(tmp_path)
    with engine.connect() as conn:
        kr_id = conn.execute(select(ENTITY_TABLES["key_results"].c.key_result_id)).scalar()
    bad = tmp_path / "check_ins.csv"
    lines = ["check_in_id,key_result_id,checked_in_at,value"]
    lines += [f"bad-{i},{kr_id},2026-05-15T09:00:00Z,lots" for i in range(1500)]
    bad.write_text("\n".join(lines) + "\n")
    report = ingest_path(settings, bad)
    _stamp(engine, report.run_id, AS_OF - timedelta(hours=6))

    result = _quality(settings, engine)
    assert _conditions(result) == {("quality.quarantine_rate", "check_ins")}
    (problem,) = result["problems"]
    read = manifest["expected"]["check_ins"]["read"] + 1500
    assert problem["value"] == pytest.approx(1500 / read) and problem["severity"] == "critical"
    tally = result["validity"]["quarantine"]["window"]["check_ins"]
    assert tally["by_reason"] == {"invalid_number": {"rows": 1500, "share": 1500 / read}}
    assert tally["new_distinct_rows"] == 1500
    assert result["validity"]["series"][-1]["quarantined"] == 1500  # the day it came in


def test_a_thinned_week_of_check_ins_raises_the_volume(tmp_path: Path):
    settings, engine, _ = _loaded(tmp_path)
    checkins = ENTITY_TABLES["check_ins"]
    in_window = checkins.c.checked_in_at > AS_OF - timedelta(days=7)
    with engine.begin() as conn:
        ids = sorted(conn.execute(select(checkins.c.check_in_id).where(in_window)).scalars())
        conn.execute(delete(checkins).where(checkins.c.check_in_id.in_(ids[len(ids) // 5 :])))
    result = _quality(settings, engine)
    assert _conditions(result) == {("quality.volume", "check_ins")}
    (problem,) = result["problems"]
    assert problem["severity"] == "warning" and problem["value"] > 0.5
    assert result["volume"]["check_ins"] == len(ids) // 5


def _written_by_other_means(conn: Connection, now: datetime) -> None:
    """Rows no ingestion would store: a blank title, a key result of an unknown objective; and a
    stream that dead-lettered 3 of 10 events."""
    conn.execute(
        insert(ingest_runs).values(
            run_id="r1",
            kind="files",
            source="elsewhere",
            status="completed",
            started_at=now,
            report=json.dumps({"entities": {}}),  # what it read was not counted
        )
    )
    period = {"period_start": date(2026, 4, 1), "period_end": date(2026, 6, 30)}
    conn.execute(
        insert(ENTITY_TABLES["objectives"]),
        [
            {"objective_id": i, "title": t, "department": "Sales", "status": "active"}
            | period
            | {"run_id": "r1"}
            for i, t in (("o1", "Grow"), ("o2", "  "))
        ],
    )
    krs = {"metric_type": "number", "start_value": 0.0, "target_value": 10.0, "weight": 1.0}
    conn.execute(
        insert(ENTITY_TABLES["key_results"]),
        [
            {"key_result_id": k, "objective_id": o, "title": "KR", "due_date": date(2026, 6, 30)}
            | krs
            | {"run_id": "r1"}
            for k, o in (("k1", "o1"), ("k2", "o-gone"))
        ],
    )
    where = {"topic": "okr.events", "partition": 0}
    conn.execute(
        insert(processed_events),
        [
            {"event_id": f"e{i}", "outcome": outcome, "offset": i, "processed_at": now} | where
            for i, outcome in enumerate(["stored"] * 7 + ["dead_lettered"] * 3)
        ],
    )
    conn.execute(
        insert(dead_letters),
        [
            {"event_id": f"e{i}", "offset": i, "reason": "invalid_number", "message": "m"}
            | {"raw": "{}", "created_at": now}
            | where
            for i in (7, 8, 9)
        ],
    )


def test_a_warehouse_written_by_other_means(warehouse: Engine, settings: Settings):
    with warehouse.begin() as conn:
        _written_by_other_means(conn, AS_OF - timedelta(days=1))
    with warehouse.connect() as conn:
        result = quality(settings, conn, AS_OF)
    problems = {(p["condition"], p["subject"]): p for p in result["problems"]}
    assert set(problems) == {
        ("quality.completeness", "objectives.title"),
        ("quality.reference", "key_results.objective_id"),
        ("quality.dead_letters_rate", "stream"),
        ("quality.freshness", "overall"),  # open key results, no check-in ever
        ("quality.freshness", "department:Sales"),
    }
    assert problems[("quality.completeness", "objectives.title")]["value"] == 0.5
    assert problems[("quality.reference", "key_results.objective_id")]["value"] == 1
    assert problems[("quality.dead_letters_rate", "stream")]["value"] == pytest.approx(0.3)
    assert problems[("quality.freshness", "overall")]["severity"] == "critical"
    assert result["validity"]["dead_letters"]["window"] == {
        "events": 10,
        "dead_lettered": 3,
        "share": 0.3,
        "by_reason": {"invalid_number": 3},
    }
    assert result["validity"]["series"][-2]["dead_lettered"] == 3
    assert result["volume"]["usual"] is None  # no earlier period to compare with
