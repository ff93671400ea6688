"""Reading export files: encodings, line endings, quoting, unicode, unknown columns, ragged rows,
broken JSON, plan_tasks.json shapes, and paths that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from okr_pipeline.errors import InputError
from okr_pipeline.sources.files import read_path

HEADER = "check_in_id,key_result_id,checked_in_at,value,note"


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def test_bom_crlf_quoting_and_unicode(tmp_path: Path):
    text = (
        HEADER + "\r\n"
        'C-1,KR-1,2026-01-15T09:00:00Z,3,"a note, with a comma"\r\n'
        'C-2,KR-1,2026-01-16T09:00:00Z,4,"two\r\nlines and ""quotes"""\r\n'
        "C-3,KR-1,2026-01-17T09:00:00Z,5,ሽያጭ — café\r\n"
    )
    path = _write(tmp_path / "check_ins.csv", b"\xef\xbb\xbf" + text.encode())
    records = read_path(path).records["check_ins"]
    assert [r.fields["check_in_id"] for r in records] == ["C-1", "C-2", "C-3"]
    assert records[0].fields["note"] == "a note, with a comma"
    assert records[1].fields["note"] == 'two\r\nlines and "quotes"'
    assert records[2].fields["note"] == "ሽያጭ — café"
    assert [r.line for r in records] == [2, 3, 5]
    assert records[1].raw == 'C-2,KR-1,2026-01-16T09:00:00Z,4,"two\r\nlines and ""quotes"""\r\n'


def test_utf16_with_bom_is_read(tmp_path: Path):
    text = HEADER + "\nC-1,KR-1,2026-01-15T09:00:00Z,3,é\n"
    path = _write(tmp_path / "check_ins.csv", text.encode("utf-16"))
    assert read_path(path).records["check_ins"][0].fields["note"] == "é"


def test_unknown_columns_warn_once(tmp_path: Path):
    path = _write(
        tmp_path / "check_ins.csv",
        HEADER + ",legacy,Extra\nC-1,KR-1,2026-01-15T09:00:00Z,3,,x,y\n"
        "C-2,KR-1,2026-01-15T09:00:00Z,3,,x,y\n",
    )
    bundle = read_path(path)
    assert len(bundle.warnings) == 1 and "extra, legacy" in bundle.warnings[0]


def test_header_names_are_trimmed_and_case_folded(tmp_path: Path):
    path = _write(
        tmp_path / "check_ins.csv",
        " Check_In_ID ,KEY_RESULT_ID,checked_in_at,value\nC-1,KR-1,2026-01-15,3\n",
    )
    bundle = read_path(path)
    assert bundle.records["check_ins"][0].fields["check_in_id"] == "C-1"
    assert bundle.warnings == []


def test_ragged_rows_are_quarantined_not_fatal(tmp_path: Path):
    path = _write(
        tmp_path / "check_ins.csv",
        HEADER + "\nC-1,KR-1,2026-01-15T09:00:00Z,3,\nC-2,KR-1\n"
        "C-3,KR-1,2026-01-15T09:00:00Z,3,,surplus\nC-4,KR-1,2026-01-15T09:00:00Z,3,\n",
    )
    records = read_path(path).records["check_ins"]
    assert [r.problem and r.problem[0] for r in records] == [
        None,
        "malformed_row",
        "malformed_row",
        None,
    ]
    assert records[1].raw == "C-2,KR-1\n" and records[1].line == 3


def test_bytes_that_are_not_utf8_quarantine_only_their_rows(tmp_path: Path):
    data = (
        HEADER + "\nC-1,KR-1,2026-01-15T09:00:00Z,3,ok\n"
    ).encode() + b"C-2,KR-1,2026-01-15T09:00:00Z,3,caf\xe9\nC-3,KR-1,2026-01-15T09:00:00Z,3,fine\n"
    bundle = read_path(_write(tmp_path / "check_ins.csv", data))
    records = bundle.records["check_ins"]
    assert [r.problem and r.problem[0] for r in records] == [None, "invalid_encoding", None]
    assert records[1].raw == "C-2,KR-1,2026-01-15T09:00:00Z,3,caf\udce9\n"  # the byte kept
    assert any("not valid UTF-8" in w for w in bundle.warnings)


def test_jsonl_lines_that_are_not_objects(tmp_path: Path):
    path = _write(
        tmp_path / "check_ins.jsonl",
        '{"check_in_id": "C-1"}\r\n\n{not json\n[1, 2]\n"text"\n{"check_in_id": "C-2"}',
    )
    records = read_path(path).records["check_ins"]
    assert [r.problem and r.problem[0] for r in records] == [
        None,
        "malformed_row",
        "malformed_row",
        "malformed_row",
        None,
    ]
    assert [r.line for r in records] == [1, 3, 4, 5, 6]
    assert records[0].raw == '{"check_in_id": "C-1"}'


def test_plan_tasks_array_and_wrapper(tmp_path: Path):
    plans = [
        {
            "id": "WP-1",
            "keyResultId": "KR-1",
            "extra": 1,
            "tasks": [
                {
                    "id": "T-1",
                    "task": "Weekly",
                    "weight": 2,
                    "status": "done",
                    "planTask": [
                        {"id": "D-1", "task": "Daily", "keyResultId": "KR-2"},
                        {"id": "D-2", "task": "Daily 2"},
                    ],
                },
                {"id": "T-2", "task": "Own KR", "keyResultId": "KR-3"},
            ],
        }
    ]
    for name, document in (("a", plans), ("b", {"data": plans})):
        path = _write(tmp_path / name / "plan_tasks.json", json.dumps(document))
        tasks = {r.fields["task_id"]: r.fields for r in read_path(path).records["tasks"]}
        assert tasks["T-1"]["plan_id"] == "WP-1" and tasks["T-1"]["key_result_id"] == "KR-1"
        assert tasks["D-1"]["parent_task_id"] == "T-1" and tasks["D-1"]["key_result_id"] == "KR-2"
        assert tasks["D-2"]["key_result_id"] == "KR-1"
        assert tasks["T-2"]["key_result_id"] == "KR-3"
        assert tasks["T-1"]["weight"] == 2 and tasks["T-1"]["title"] == "Weekly"


def test_broken_plan_tasks_json_is_one_quarantined_record(tmp_path: Path):
    path = _write(tmp_path / "plan_tasks.json", '[{"id": "WP-1", "tasks": [')
    records = read_path(path).records["tasks"]
    assert len(records) == 1 and records[0].problem[0] == "malformed_row"
    shapes = _write(
        tmp_path / "x" / "plan_tasks.json",
        json.dumps(
            [
                {"id": "WP-1", "tasks": "nope"},
                5,
                {"tasks": [7, {"id": "T-1", "task": "ok", "planTask": {}}]},
            ]
        ),
    )
    problems = [r.problem and r.problem[0] for r in read_path(shapes).records["tasks"]]
    assert problems == ["malformed_row", "malformed_row", "malformed_row", None, "malformed_row"]


def test_empty_files_are_warnings(tmp_path: Path):
    _write(tmp_path / "b" / "objectives.csv", "")
    _write(tmp_path / "b" / "check_ins.csv", HEADER + "\n")
    bundle = read_path(tmp_path / "b")
    assert bundle.size == 0
    assert any("empty file" in w for w in bundle.warnings)


def test_paths_that_cannot_be_used(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        read_path(tmp_path / "missing")
    _write(tmp_path / "other" / "notes.txt", "hello")
    with pytest.raises(InputError, match="no known files"):
        read_path(tmp_path / "other")
    with pytest.raises(InputError, match="not a contract file name"):
        read_path(tmp_path / "other" / "notes.txt")


def test_unknown_files_in_a_bundle_are_reported(tmp_path: Path):
    _write(tmp_path / "b" / "objectives.csv", "objective_id\n")
    _write(tmp_path / "b" / "readme.txt", "hello")
    assert any("readme.txt" in w for w in read_path(tmp_path / "b").warnings)
