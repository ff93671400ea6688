"""Ingestion into the warehouse, on SQLite and PostgreSQL: the contract's worked example,
idempotence, order independence, newer-wins, references and the quarantine."""

from __future__ import annotations

import json
import random
import shutil
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from okr_pipeline.features import key_result_states
from okr_pipeline.ingest.quarantine import list_quarantine, retry_quarantine
from okr_pipeline.ingest.store import ingest
from okr_pipeline.sources.files import read_path
from okr_pipeline.warehouse.tables import ENTITY_TABLES
from samples import write_parents


def _ingest(engine: Engine, path: Path) -> dict:
    bundle = read_path(path)
    return ingest(engine, bundle.records, source=str(path), warnings=bundle.warnings).as_dict()


def _row(engine: Engine, entity: str, key: str) -> dict:
    table = ENTITY_TABLES[entity]
    key_column = table.primary_key.columns.values()[0]
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(key_column == key)).mappings().one())


def _counts_only(report: dict) -> dict:
    return {name: {k: v for k, v in c.items()} for name, c in report["entities"].items()}


def test_contract_example_reproduces_expected_report(warehouse: Engine, contract_bundle: Path):
    expected = json.loads((contract_bundle.parent / "expected.json").read_text())
    report = _ingest(warehouse, contract_bundle)
    assert _counts_only(report) == expected["entities"]
    for counts in report["entities"].values():
        assert counts["read"] == counts["stored"] + counts["unchanged"] + counts["quarantined"]
    assert any("legacy_code" in w for w in report["warnings"])


def test_contract_example_stores_expected_values(warehouse: Engine, contract_bundle: Path):
    _ingest(warehouse, contract_bundle)
    o1 = _row(warehouse, "objectives", "O-1")
    assert o1["title"] == "Grow enterprise revenue"
    assert (o1["status"], o1["priority"]) == ("active", "high")
    assert _row(warehouse, "objectives", "O-3")["parent_objective_id"] == "O-99"
    assert _row(warehouse, "objectives", "O-3")["title"].startswith("ሽያጭ ዕድገት")
    kr2 = _row(warehouse, "key_results", "KR-2")
    assert (kr2["start_value"], kr2["target_value"]) == (8, 5)
    kr3 = _row(warehouse, "key_results", "KR-3")
    assert kr3["start_value"] == 0 and kr3["due_date"] == date(2026, 3, 31)
    assert _row(warehouse, "check_ins", "C-2")["checked_in_at"] == datetime(2026, 2, 15, 6, 0)
    assert _row(warehouse, "check_ins", "C-3")["checked_in_at"] == datetime(2026, 2, 1, 12, 0)
    assert _row(warehouse, "check_ins", "C-2")["note"] == 'two deals slipped, one "maybe"'
    t11 = _row(warehouse, "tasks", "T-11")
    assert (t11["parent_task_id"], t11["key_result_id"], t11["plan_id"]) == ("T-10", "KR-1", "WP-2")
    assert _row(warehouse, "tasks", "T-13")["key_result_id"] == "KR-3"
    assert _row(warehouse, "milestones", "M-3")["title"] == "Rollout, all sites"

    with warehouse.connect() as conn:
        states = {
            s.key_result_id: s
            for s in key_result_states(conn, datetime(2026, 4, 15), threshold=0.7)
        }
    assert states["KR-1"].outcome == "achieved" and states["KR-1"].final_score == 0.75
    assert states["KR-2"].outcome == "missed" and states["KR-2"].final_score == 0.5
    assert states["KR-4"].state == "open" and states["KR-4"].outcome is None


def test_second_ingest_changes_nothing(warehouse: Engine, contract_bundle: Path):
    first = _ingest(warehouse, contract_bundle)
    second = _ingest(warehouse, contract_bundle)
    for name, counts in second["entities"].items():
        assert counts["stored"] == 0
        assert counts["quarantined"] == first["entities"][name]["quarantined"]
        assert counts["unchanged"] == counts["read"] - counts["quarantined"]
    with warehouse.connect() as conn:
        rows = list_quarantine(conn)
    # the same bad rows are not stored twice: each one was seen twice
    assert len(rows) == first["totals"]["quarantined"]
    assert {r["times_seen"] for r in rows} == {2}


def _shuffled_copy(source: Path, target: Path, seed: int) -> None:
    """The same bundle with rows in another order (headers stay first)."""
    target.mkdir()
    rng = random.Random(seed)
    for path in source.iterdir():
        if path.suffix in (".csv", ".jsonl"):
            data = path.read_bytes()
            lines = data.splitlines(keepends=True)
            header, body = (lines[:1], lines[1:]) if path.suffix == ".csv" else ([], lines)
            body = [line if line.endswith(b"\n") else line + b"\n" for line in body]
            rng.shuffle(body)
            (target / path.name).write_bytes(b"".join(header + body))
        else:
            shutil.copy(path, target / path.name)


def test_row_and_file_order_do_not_matter(warehouse: Engine, contract_bundle: Path, tmp_path: Path):
    expected = json.loads((contract_bundle.parent / "expected.json").read_text())["entities"]
    shuffled = tmp_path / "shuffled"
    _shuffled_copy(contract_bundle, shuffled, seed=7)
    # children handed over before their parents
    bundle = read_path(shuffled)
    reversed_records = dict(reversed(list(bundle.records.items())))
    report = ingest(warehouse, reversed_records, source="shuffled").as_dict()
    assert _counts_only(report) == expected
    assert _row(warehouse, "objectives", "O-1")["title"] == "Grow enterprise revenue"


def test_children_in_a_later_file_resolve_against_the_warehouse(
    warehouse: Engine, contract_bundle: Path
):
    for name in (
        "objectives.csv",
        "key_results.csv",
        "check_ins.jsonl",
        "milestones.csv",
        "tasks.csv",
        "plan_tasks.json",
    ):
        _ingest(warehouse, contract_bundle / name)
    assert _row(warehouse, "key_results", "KR-3")["due_date"] == date(2026, 3, 31)
    with warehouse.connect() as conn:
        assert conn.execute(select(ENTITY_TABLES["check_ins"].c.check_in_id)).all().__len__() == 5


def test_newer_updated_at_wins_across_runs(warehouse: Engine, tmp_path: Path):
    header = "objective_id,title,period_start,period_end,updated_at\n"
    newer = tmp_path / "a" / "objectives.csv"
    older = tmp_path / "b" / "objectives.csv"
    for path, title, stamp in (
        (newer, "New", "2026-02-01T00:00:00Z"),
        (older, "Old", "2026-01-01T00:00:00Z"),
    ):
        path.parent.mkdir()
        path.write_text(header + f"O-1,{title},2026-01-01,2026-03-31,{stamp}\n")
    assert _ingest(warehouse, newer)["entities"]["objectives"]["stored"] == 1
    assert _ingest(warehouse, older)["entities"]["objectives"]["unchanged"] == 1
    assert _row(warehouse, "objectives", "O-1")["title"] == "New"
    newest = tmp_path / "c" / "objectives.csv"
    newest.parent.mkdir()
    newest.write_text(header + "O-1,Newest,2026-01-01,2026-03-31,2026-03-01T00:00:00+02:00\n")
    assert _ingest(warehouse, newest)["entities"]["objectives"]["stored"] == 1
    row = _row(warehouse, "objectives", "O-1")
    assert row["title"] == "Newest" and row["updated_at"] == datetime(2026, 2, 28, 22, 0)


def test_check_ins_are_immutable(warehouse: Engine, contract_bundle: Path, tmp_path: Path):
    _ingest(warehouse, contract_bundle)
    resent = tmp_path / "check_ins.jsonl"
    resent.write_text(
        '{"check_in_id": "C-1", "key_result_id": "KR-1", '
        '"checked_in_at": "2026-01-15T09:00:00Z", "value": 99}\n'
    )
    assert _ingest(warehouse, resent)["entities"]["check_ins"]["unchanged"] == 1
    assert _row(warehouse, "check_ins", "C-1")["value"] == 3


def test_quarantine_retry_stores_rows_whose_parent_arrived(warehouse: Engine, tmp_path: Path):
    early = tmp_path / "early" / "check_ins.csv"
    early.parent.mkdir()
    early.write_text(
        "check_in_id,key_result_id,checked_in_at,value\nC-1,KR-1,2026-01-10T00:00:00Z,2\n"
    )
    report = _ingest(warehouse, early)
    assert report["entities"]["check_ins"]["by_reason"] == {"unknown_reference": 1}

    retry = retry_quarantine(warehouse).as_dict()
    assert (
        retry["entities"]["check_ins"]["quarantined"] == 1
        and retry["resolved_from_quarantine"] == 0
    )

    _ingest(warehouse, write_parents(tmp_path / "parents"))
    retry = retry_quarantine(warehouse).as_dict()
    assert retry["entities"]["check_ins"]["stored"] == 1
    assert retry["resolved_from_quarantine"] == 1
    assert _row(warehouse, "check_ins", "C-1")["value"] == 2
    with warehouse.connect() as conn:
        assert list_quarantine(conn) == []
        resolved = list_quarantine(conn, include_resolved=True)
    assert len(resolved) == 1 and resolved[0]["resolved_at"] is not None
    assert resolved[0]["times_seen"] == 1


def test_quarantine_keeps_origin_and_raw_content(warehouse: Engine, contract_bundle: Path):
    _ingest(warehouse, contract_bundle)
    with warehouse.connect() as conn:
        rows = list_quarantine(conn, reason="period_order")
    assert len(rows) == 1
    row = rows[0]
    assert row["entity"] == "objectives" and row["field"] == "period_end"
    assert row["source"].endswith("objectives.csv") and row["line"] == 6
    assert row["raw"] == "O-5,Backwards period,Sales,u1,2026-03-31,2026-01-01,active,high,,\n"


def test_nul_characters_are_quarantined_not_fatal(warehouse: Engine, tmp_path: Path):
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"task_id": "T-1", "title": "a\\u0000b"}\n{"task_id": "T-2", "title": "ok"}\n')
    report = _ingest(warehouse, path)
    assert report["entities"]["tasks"]["by_reason"] == {"invalid_encoding": 1}
    assert report["entities"]["tasks"]["stored"] == 1


def test_quarantined_raw_content_is_storable(warehouse: Engine, tmp_path: Path):
    path = tmp_path / "tasks.csv"
    path.write_bytes(b"task_id,title\nT-1,caf\xe9\nT-2,ok\n")
    report = _ingest(warehouse, path)
    assert report["entities"]["tasks"]["by_reason"] == {"invalid_encoding": 1}
    with warehouse.connect() as conn:
        (row,) = list_quarantine(conn)
    assert row["raw"] == "T-1,caf\\xe9\n" and row["line"] == 2


def test_chunks_hold_repeats_of_an_id_together():
    from okr_pipeline.contract import chunked
    from okr_pipeline.contract.raw import RawRecord

    ids = ["A", "B", " A", "C", "D", "B", "E", None, "F"]
    records = [RawRecord("tasks", {"task_id": i}, "s", n, str(i)) for n, i in enumerate(ids)]
    parts = list(chunked("tasks", records, 3))
    assert sum(len(p) for p in parts) == len(records)
    last = parts[-1]
    assert {r.fields["task_id"] for r in last} >= {"A", " A", "B"}  # all repeats, in one chunk
    for part in parts[:-1]:
        assert not {r.fields["task_id"] for r in part} & {"A", " A", "B"}
    assert list(chunked("tasks", [], 3)) == [[]]


def test_a_header_with_bad_bytes_quarantines_rows_not_the_run(warehouse: Engine, tmp_path: Path):
    path = tmp_path / "check_ins.csv"
    path.write_bytes(b"check_in_id,key_result_id,checked_in_at,val\xe9e\nC-1,KR-1,2026-01-01,3\n")
    report = _ingest(warehouse, path)
    assert report["entities"]["check_ins"]["by_reason"] == {"missing_field": 1}
    assert any("val\\xe9e" in w for w in report["warnings"])
