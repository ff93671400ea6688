"""Poison input: messages and rows that used to stop a run with a traceback (deep
nesting, huge integers, lone surrogates, NULs, blank ids, huge fields, FIFOs and devices) now end
dead-lettered or quarantined with their reason, on SQLite and PostgreSQL, through the CLI; their
good neighbours are stored; a restart does not see them again."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from okr_pipeline.cli import main
from okr_pipeline.config import Limits, load_settings
from okr_pipeline.contract.columns import validate_batch
from okr_pipeline.contract.rules import ENTITIES, Rejection
from okr_pipeline.ingest.files import PARALLEL_BYTES
from okr_pipeline.ingest.store import RAW_KEPT_BYTES, bounded_raw, storable_text
from okr_pipeline.stream.applier import apply_batch
from okr_pipeline.stream.backends import open_event_log
from okr_pipeline.stream.events import make_event
from okr_pipeline.stream.log import Message
from okr_pipeline.warehouse.engine import create_warehouse_engine
from okr_pipeline.warehouse.tables import (
    ENTITY_TABLES,
    dead_letters,
    parked_events,
    processed_events,
    quarantine,
)
from samples import KEY_RESULT, OBJECTIVE, write_parents

DEEP = "[" * 2000 + "]" * 2000
HUGE_INT = "9" * 5000
BIG_NOTE = "n" * (2 << 20)  # beyond the 1 MiB a row or message may be


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: what no input may cause
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def engine(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The warehouse the CLI writes (each backend), for the test to read."""
    monkeypatch.setenv("OKR_WAREHOUSE__URL", warehouse_url)
    engine = create_warehouse_engine(warehouse_url)
    yield engine
    engine.dispose()


def _count(engine: Engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _event(event_id: str, payload: str, event_type: str = "objective.upserted") -> str:
    """An event line whose id, type and payload JSON text are given as they are."""
    return (
        f'{{"event_id": {json.dumps(event_id)}, "event_type": "{event_type}", '
        f'"payload": {payload}}}'
    )


BIG_EVENT = _event("p-big", json.dumps(OBJECTIVE | {"title": BIG_NOTE}))
POISON_EVENTS = {
    # JSON text -> the reason its message is dead-lettered under
    _event("p-deep", DEEP): "too_large",
    _event("p-int", f'{{"objective_id": {HUGE_INT}}}'): "too_large",
    _event("p-surrogate", '{"objective_id": "O-9", "title": "\\ud800"}'): "invalid_encoding",
    _event("p\x00nul", json.dumps(OBJECTIVE)): "invalid_encoding",  # JSON: "p\u0000nul"
    BIG_EVENT: "too_large",
    '{"event_id": "p-type", "event_type": ["objective.upserted"], "payload": {}}': (
        "unknown_event_type"  # a list: unhashable, once a TypeError
    ),
    **{_event(blank, json.dumps(OBJECTIVE)): "missing_field" for blank in ("", " ", "  ", "\t")},
}


def test_poison_events_are_dead_lettered_and_the_good_ones_stored(engine: Engine, tmp_path):
    good = [make_event("objectives", OBJECTIVE)[1], make_event("key_results", KEY_RESULT)[1]]
    # the poison first: the file is still taken as events (its first line names event_type)
    lines = [*POISON_EVENTS, *(value.decode() for value in good)]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = _run("produce", "--from", str(events), "--json")
    assert code == 0, err
    assert json.loads(out)["published"] == len(lines)

    code, out, err = _run("consume", "--until-idle", "1", "--no-rescore", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["messages"] == len(lines)
    assert summary["stored"] == 2 and summary["dead_lettered"] == len(POISON_EVENTS)
    expected: dict[str, int] = {}
    for reason in POISON_EVENTS.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert summary["by_reason"] == expected
    assert _count(engine, ENTITY_TABLES["objectives"]) == 1
    assert _count(engine, ENTITY_TABLES["key_results"]) == 1
    # blank ids are no key: four dead letters, none taken as a duplicate of another
    assert _count(engine, dead_letters, dead_letters.c.reason == "missing_field") == 4
    assert _count(engine, processed_events) == 2

    with engine.connect() as conn:
        big = conn.execute(
            select(dead_letters).where(dead_letters.c.message.contains("larger than"))
        ).one()
    whole = BIG_EVENT.encode()
    assert big.raw_length == len(whole) and len(big.raw.encode()) <= RAW_KEPT_BYTES
    assert big.raw_sha256 == hashlib.sha256(whole).hexdigest()
    assert whole.decode().startswith(big.raw)
    # on the dead-letter topic too: the start of the message, the length and hash of the whole
    settings = load_settings()
    event_log = open_event_log(settings)
    reader = event_log.consumer("dlq-reader", [settings.stream.topics.dead_letters])
    letters = [json.loads(m.value) for m in reader.poll(100, 1.0)]
    reader.close()
    event_log.close()
    assert len(letters) == len(POISON_EVENTS)
    (published,) = [letter for letter in letters if "original_length" in letter]
    assert published["original"] == big.raw and published["original_length"] == len(whole)
    assert published["original_sha256"] == big.raw_sha256

    # a restart: the poison is behind the committed offsets, nothing is read again
    code, out, err = _run("consume", "--until-idle", "1", "--no-rescore", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["messages"] == 0 and again["consumed"] == 0
    assert _count(engine, dead_letters) == len(POISON_EVENTS)


def test_a_redelivered_poison_batch_changes_nothing(warehouse: Engine):
    """Without a commit the batch comes again: its poison is found among the dead letters."""
    messages = [
        Message("events", 0, offset, None, line.encode(), 0)
        for offset, line in enumerate(POISON_EVENTS)
    ]
    first = apply_batch(warehouse, messages, source="events", park_timeout=0)
    again = apply_batch(warehouse, messages, source="events", park_timeout=0)
    assert first.dead_lettered == len(messages) and first.stored == 0
    assert again.duplicates == len(messages) and again.dead_lettered == 0
    assert _count(warehouse, dead_letters) == len(messages)


def test_a_parked_event_keeps_a_bounded_raw(warehouse: Engine):
    note = "é" * RAW_KEPT_BYTES  # two bytes each: twice what is kept, within the limits
    key, value = make_event(
        "check_ins",
        {
            "check_in_id": "c-1",
            "key_result_id": "KR-later",
            "checked_in_at": "2026-01-05T10:00:00Z",
            "value": 1,
            "note": note,
        },
    )
    result = apply_batch(
        warehouse, [Message("events", 0, 0, key, value, 0)], source="events", park_timeout=600
    )
    assert result.parked == 1
    with warehouse.connect() as conn:
        row = conn.execute(select(parked_events)).one()
    assert row.raw_length == len(value) and row.raw_sha256 == hashlib.sha256(value).hexdigest()
    assert len(row.raw.encode()) <= RAW_KEPT_BYTES and value.decode().startswith(row.raw)
    # once its wait is over it is dead-lettered with the same bounded raw
    expired = apply_batch(warehouse, [], source="events", park_timeout=0)
    assert expired.by_reason == {"unknown_reference": 1}
    with warehouse.connect() as conn:
        letter = conn.execute(select(dead_letters)).one()
    assert (letter.raw, letter.raw_length, letter.raw_sha256) == (
        row.raw,
        row.raw_length,
        row.raw_sha256,
    )


def test_limits_come_from_the_configuration(warehouse: Engine, monkeypatch):
    monkeypatch.setenv("OKR_LIMITS__MAX_DEPTH", "3")
    code, out, _ = _run("config", "show", "--json")
    assert json.loads(out)["limits"]["max_depth"] == 3
    monkeypatch.setenv("OKR_LIMITS__MAX_DEPTH", "1")
    code, _, err = _run("config", "show")
    assert code == 1 and "limits.max_depth" in err
    # a tighter limit than the default refuses what the default takes
    nested = _event("e-1", json.dumps(OBJECTIVE | {"extra": [[1]]})).encode()
    message = Message("events", 0, 0, None, nested, 0)
    tight = apply_batch(
        warehouse, [message], source="events", park_timeout=0, limits=Limits(max_depth=3)
    )
    assert tight.by_reason == {"too_large": 1}


# --- files ---------------------------------------------------------------------------------


def _bundle(tmp_path: Path) -> Path:
    return write_parents(tmp_path / "bundle")


def _check_in(check_in_id: str, **extra: object) -> dict:
    return {
        "check_in_id": check_in_id,
        "key_result_id": "KR-1",
        "checked_in_at": "2026-01-05T10:00:00Z",
        "value": 3,
    } | extra


POISON_ROWS = {
    # a JSON line -> the reason its row is quarantined under
    '{"check_in_id": "c-deep", "note": ' + DEEP + "}": "too_large",
    '{"check_in_id": "c-int", "value": ' + HUGE_INT + "}": "too_large",
    '{"check_in_id": "c-long", "value": ' + "1" * 1200 + "}": "too_large",
    '{"check_in_id": "c-sur", "note": "\\udfff"}': "invalid_encoding",
    json.dumps(_check_in("c\u0000nul")): "invalid_encoding",
    json.dumps(_check_in("c-big", note=BIG_NOTE)): "too_large",
    json.dumps(_check_in("   ")): "missing_field",
}


def test_poison_rows_are_quarantined_and_the_good_ones_stored(engine: Engine, tmp_path):
    bundle = _bundle(tmp_path)
    lines = [json.dumps(_check_in("c-good")), *POISON_ROWS, json.dumps(_check_in("c-good-2"))]
    (bundle / "check_ins.jsonl").write_text("\r\n".join(lines), encoding="utf-8")

    code, out, err = _run("ingest", str(bundle), "--json")
    assert code == 0, err
    report = json.loads(out)
    counts = report["entities"]["check_ins"]
    assert counts["read"] == len(lines) and counts["stored"] == 2
    assert counts["read"] == counts["stored"] + counts["unchanged"] + counts["quarantined"]
    expected: dict[str, int] = {}
    for reason in POISON_ROWS.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert counts["by_reason"] == expected
    with engine.connect() as conn:
        big = conn.execute(select(quarantine).where(quarantine.c.raw_length.is_not(None))).all()
    assert len(big) == 1  # the 2 MiB row: the others are kept whole
    whole = json.dumps(_check_in("c-big", note=BIG_NOTE)).encode()
    assert big[0].raw_length == len(whole)
    assert big[0].raw_sha256 == hashlib.sha256(whole).hexdigest()
    assert len(big[0].raw.encode()) <= RAW_KEPT_BYTES and big[0].fields is None


def test_a_poison_bundle_is_produced_without_its_unreadable_rows(engine: Engine, tmp_path):
    bundle = _bundle(tmp_path)
    lines = [json.dumps(_check_in("c-good")), *POISON_ROWS, json.dumps(_check_in("c-good-2"))]
    (bundle / "check_ins.jsonl").write_text("\n".join(lines), encoding="utf-8")
    unreadable = 5  # beyond the limits, or a lone surrogate: not rows at all
    code, out, err = _run("produce", "--from", str(bundle), "--json")
    assert code == 0, err
    produced = json.loads(out)
    assert produced["unreadable"] == unreadable
    assert produced["published"] == 2 + len(lines) - unreadable
    code, out, err = _run("consume", "--until-idle", "1", "--no-rescore", "--json")
    assert code == 0, err
    summary = json.loads(out)
    # the rows that are rows but break a rule: as their file ingestion would quarantine them
    assert summary["stored"] == 4
    assert summary["by_reason"] == {"invalid_encoding": 1, "missing_field": 1}


def test_a_long_quarantined_row_retried_stays_one_row(engine: Engine, tmp_path):
    """Its stored raw content is only its start: the retry still finds its row."""
    bundle = _bundle(tmp_path)
    orphan = _check_in("c-orphan", key_result_id="KR-later", note="n" * (2 * RAW_KEPT_BYTES))
    (bundle / "check_ins.jsonl").write_text(json.dumps(orphan))
    code, out, err = _run("ingest", str(bundle), "--json")
    assert code == 0 and json.loads(out)["totals"]["by_reason"] == {"unknown_reference": 1}, err
    for _ in range(2):
        code, out, err = _run("quarantine", "retry", "--json")
        assert code == 0, err
    with engine.connect() as conn:
        (row,) = conn.execute(select(quarantine)).all()
    assert row.raw_length is not None and row.times_seen == 1 and row.resolved_at is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (f'[{{"id": "wp-1", "tasks": {DEEP}}}]', "too_large"),
        (
            f'[{{"id": "wp-1", "tasks": [{{"id": "t-1", "task": "x", "weight": {HUGE_INT}}}]}}]',
            "too_large",
        ),
    ],
    ids=["deep", "huge-int"],
)
def test_a_plan_tasks_document_beyond_the_limits_is_one_quarantined_row(
    engine: Engine, tmp_path, document: str, reason: str
):
    bundle = _bundle(tmp_path)
    (bundle / "plan_tasks.json").write_text(document)
    code, out, err = _run("ingest", str(bundle), "--json")
    assert code == 0, err
    tasks = json.loads(out)["entities"]["tasks"]
    assert tasks["read"] == 1 and tasks["by_reason"] == {reason: 1}
    assert _count(engine, ENTITY_TABLES["objectives"]) == 1  # the rest of the bundle is stored


def test_a_plan_task_with_a_lone_surrogate_is_quarantined_alone(engine: Engine, tmp_path):
    bundle = _bundle(tmp_path)
    daily = [{"id": "d-1", "task": "inherits its parent's id"}]
    plan = [
        {
            "id": "wp-1",
            "keyResultId": "KR-1",
            "tasks": [
                {"id": "t-1", "task": "ok"},
                {"id": "t-2", "task": "\ud800"},
                {"id": "t-\udc00", "task": "parent", "planTask": daily},
            ],
        }
    ]
    (bundle / "plan_tasks.json").write_text(json.dumps(plan))  # ASCII: the escape \ud800
    code, out, err = _run("ingest", str(bundle), "--json")
    assert code == 0, err
    tasks = json.loads(out)["entities"]["tasks"]
    assert tasks["stored"] == 1 and tasks["by_reason"] == {"invalid_encoding": 3}


@pytest.mark.parametrize("rows", [1, 40], ids=["per-row", "by-column"])
def test_validation_refuses_a_lone_surrogate_as_it_refuses_nul(rows: int):
    spec = ENTITIES["objectives"]
    bad = OBJECTIVE | {"title": "a\ud800b"}
    results = validate_batch(spec, [OBJECTIVE | {"objective_id": f"O-{i}"} for i in range(rows)])
    assert not any(isinstance(r, Rejection) for r in results)
    (rejected,) = (
        validate_batch(spec, [bad])
        if rows == 1
        else validate_batch(spec, [*([OBJECTIVE] * (rows - 1)), bad])[-1:]
    )
    assert isinstance(rejected, Rejection)
    assert (rejected.reason, rejected.field) == ("invalid_encoding", "title")


def test_poison_in_a_large_bundle_does_not_stop_the_child_processes(engine: Engine, tmp_path):
    """From PARALLEL_BYTES on, check-ins and tasks are parsed in forked children."""
    bundle = _bundle(tmp_path)
    good = [json.dumps(_check_in(f"c-{i:06d}", note="x" * 100)) for i in range(30000)]
    lines = [*POISON_ROWS, *good]
    (bundle / "check_ins.jsonl").write_text("\n".join(lines))
    (bundle / "plan_tasks.json").write_text(f'[{{"id": "wp-1", "tasks": {DEEP}}}]')
    assert sum(f.stat().st_size for f in bundle.iterdir()) >= PARALLEL_BYTES
    code, out, err = _run("ingest", str(bundle), "--json")
    assert code == 0, err
    report = json.loads(out)
    check_ins = report["entities"]["check_ins"]
    assert check_ins["stored"] == len(good) and check_ins["quarantined"] == len(POISON_ROWS)
    assert report["entities"]["tasks"]["by_reason"] == {"too_large": 1}
    assert _count(engine, ENTITY_TABLES["check_ins"]) == len(good)


# --- paths that are not regular files ------------------------------------------------------


def _okr(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The real command; a read that never ends fails the test by its timeout."""
    return subprocess.run(
        [sys.executable, "-m", "okr_pipeline", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OKR_DATA_DIR": str(tmp_path / "data")},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", [("ingest",), ("produce", "--from")])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_is_refused_not_read_forever(tmp_path: Path, command, kind):
    if kind == "fifo":
        path = tmp_path / "check_ins.csv"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    result = _okr(*command, str(path), tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert "not a regular file" in result.stderr


def test_a_fifo_in_a_bundle_is_skipped_with_a_warning(tmp_path: Path):
    bundle = _bundle(tmp_path)
    os.mkfifo(bundle / "check_ins.csv")
    result = _okr("ingest", str(bundle), "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["totals"]["stored"] == 2
    assert any("check_ins.csv" in w and "not a regular file" in w for w in report["warnings"])


# --- raw content as stored ------------------------------------------------------------------


def test_storable_text_escapes_every_lone_surrogate_and_nul():
    text = "a\x00b\udc80c\ud800d\udfffe"  # NUL, a bad byte, two lone surrogates
    stored = storable_text(text)
    assert stored == "a\\x00b\\x80c\\ud800d\\udfffe"
    stored.encode("utf-8")


def test_bounded_raw_keeps_short_content_whole_and_long_content_as_a_prefix():
    assert bounded_raw("short") == {"raw": "short", "raw_length": None, "raw_sha256": None}
    long = "€" * RAW_KEPT_BYTES  # three bytes each
    kept = bounded_raw(long)
    data = long.encode()
    assert kept["raw_length"] == len(data)
    assert kept["raw_sha256"] == hashlib.sha256(data).hexdigest()
    assert long.startswith(kept["raw"]) and len(kept["raw"].encode()) > RAW_KEPT_BYTES - 3
    assert len(kept["raw"].encode()) <= RAW_KEPT_BYTES
