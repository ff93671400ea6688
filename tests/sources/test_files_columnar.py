"""The columnar readers give exactly what the per-row reading gave (per_row_reading.py): the same
records (fields, line, raw content, problem) and warnings, for any CSV or JSON Lines file; and
ingesting their batches gives what ingesting those records gives."""

from __future__ import annotations

import csv
import io
import json
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from okr_pipeline.contract.columns import chunked, chunked_batch
from okr_pipeline.contract.raw import RawBatch, RawRecord
from okr_pipeline.contract.rules import ENTITIES
from okr_pipeline.ingest.store import ingest, ingest_batches
from okr_pipeline.sources.files import read_path
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.tables import quarantine
from per_row_reading import read_file

ENTITY = "tasks"
NAMES = ENTITIES[ENTITY].field_names
_cell = st.one_of(
    st.sampled_from(["", " ", "T-1", "t-2 ", "done", "DONE", "1", "2.5", "-1", "2026-01-05"]),
    st.sampled_from(["2026-01-05T10:00:00Z", "x,y", 'say "hi"', "two\nlines", "cr\r\nlf"]),
    st.text(alphabet=string.ascii_letters + ' ,"\r\n\t\u2028é\x00', max_size=8),
)
_names = st.lists(
    st.sampled_from([*NAMES, " Title ", "TASK_ID", "legacy", "", "weight"]), min_size=1, max_size=6
)


@st.composite
def _csv_bytes(draw: st.DrawFn) -> bytes:
    header = draw(_names)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    # a bad byte in the header crashes the ingest (both readers): not what this test is about
    after = len(out.getvalue())
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row", "row", "row", "ragged", "blank", "junk"]))
        if kind == "row":
            writer.writerow([draw(_cell) for _ in header])
        elif kind == "ragged":
            writer.writerow([draw(_cell) for _ in range(draw(st.integers(1, len(header) + 2)))])
        elif kind == "blank":
            out.write(draw(st.sampled_from(["\n", "\r\n", "\r"])))
        else:
            out.write(draw(st.text(alphabet='ab,"\r\n ', max_size=10)))
    return _encoded(draw, out.getvalue(), after)


_json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20),
    st.just(10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    _cell,
    st.lists(st.integers(), max_size=2),
)


@st.composite
def _jsonl_bytes(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["object", "object", "object", "other", "junk", "blank"]))
        if kind == "object":
            keys = draw(st.lists(st.sampled_from([*NAMES, "legacy", "Title"]), max_size=5))
            line = json.dumps(
                {k: draw(_json_value) for k in keys}, ensure_ascii=draw(st.booleans())
            )
            line = draw(st.sampled_from(["", " ", "\t"])) + line + draw(st.sampled_from(["", " "]))
        elif kind == "other":
            line = json.dumps(draw(_json_value))
        elif kind == "junk":
            line = draw(st.sampled_from(['{"task_id": "T-1"', '{"a": 1}{"b": 2}', "{}", "{} x"]))
        else:
            line = draw(st.sampled_from(["", " ", "\u2028"]))
        lines.append(line + draw(st.sampled_from(["", "\r"])))
    return _encoded(draw, "\n".join(lines) + draw(st.sampled_from(["", "\n"])))


_task_value = st.one_of(_json_value, st.sampled_from(["KR-1", "T-9", "wp-1", "high", "Done"]))


@st.composite
def _plan_task(draw: st.DrawFn, depth: int = 0) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(_json_value)  # not an object
    keys = draw(
        st.lists(st.sampled_from(["id", "task", "weight", "priority", "status"]), max_size=5)
    )
    task = {key: draw(_task_value) for key in keys}
    if draw(st.booleans()):
        task["keyResultId"] = draw(_task_value)
    if depth == 0 and draw(st.booleans()):
        task["planTask"] = (
            draw(st.lists(_plan_task(depth=1), max_size=3))
            if draw(st.integers(0, 5))
            else draw(_json_value)
        )
    if draw(st.booleans()):
        task["extra"] = draw(_task_value)
    return task


@st.composite
def _plan_bytes(draw: st.DrawFn) -> bytes:
    plans = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            plans.append(draw(_json_value))
        else:
            plan = {"id": draw(_task_value), "tasks": draw(st.lists(_plan_task(), max_size=4))}
            if kind == 1:
                plan["tasks"] = draw(_json_value)
            if draw(st.booleans()):
                plan["keyResultId"] = draw(_task_value)
            plans.append(plan)
    shape = draw(st.sampled_from(["list", "data", "data", "other", "broken"]))
    document = {"list": plans, "data": {"data": plans}, "other": {"items": plans}}.get(shape)
    text = json.dumps(
        document, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))
    )
    if shape == "broken":
        text = text[: draw(st.integers(0, len(text)))] + "\n]"
    return _encoded(draw, text)


def _encoded(draw: st.DrawFn, text: str, after: int = 0) -> bytes:
    """The text as UTF-8 (sometimes with a byte-order mark) or UTF-16, sometimes broken by a
    byte that is not UTF-8 somewhere after `after` characters."""
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    data = text.encode(encoding, "surrogatepass")
    if encoding == "utf-8" and len(text) > after and draw(st.booleans()):
        at = draw(st.integers(len(text[:after].encode()), len(data)))
        data = data[:at] + b"\xe9" + data[at:]
    return data


def _same_as_per_row(path: Path, fmt: str) -> None:
    bundle = read_path(path)
    records, warnings = read_file(path, ENTITY, fmt)
    assert bundle.records[ENTITY] == records
    assert bundle.warnings == warnings
    assert len(bundle.batches[ENTITY]) == len(records)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_csv_bytes())
def test_csv_reads_as_per_row(tmp_path: Path, data: bytes):
    path = tmp_path / f"{ENTITY}.csv"
    path.write_bytes(data)
    _same_as_per_row(path, "csv")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_jsonl_bytes())
def test_jsonl_reads_as_per_row(tmp_path: Path, data: bytes):
    path = tmp_path / f"{ENTITY}.jsonl"
    path.write_bytes(data)
    _same_as_per_row(path, "jsonl")


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite warehouse file to copy (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "empty.db"
    engine = create_warehouse_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_plan_bytes())
def test_plan_tasks_read_as_per_row(tmp_path: Path, data: bytes):
    path = tmp_path / "plan_tasks.json"
    path.write_bytes(data)
    _same_as_per_row(path, "plan_tasks")


def _outcome(engine: Engine, report: dict) -> tuple[dict, list]:
    report.pop("run_id")
    with engine.connect() as conn:
        rows = conn.execute(select(quarantine).order_by(quarantine.c.id)).mappings()
        kept = [{k: v for k, v in row.items() if not k.endswith(("_at", "run_id"))} for row in rows]
    return report, kept


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(csv_data=_csv_bytes(), jsonl_data=_jsonl_bytes(), chunk=st.integers(1, 6))
def test_batches_ingest_as_records(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    empty_warehouse: Path,
    csv_data: bytes,
    jsonl_data: bytes,
    chunk: int,
):
    """Ingesting what the columnar readers give (chunked, taken apart and concatenated) ends as
    ingesting the per-row records: same report, same quarantine rows with line and raw."""
    monkeypatch.setattr("okr_pipeline.ingest.store.CHUNK_ROWS", chunk)
    tmp = tmp_path_factory.mktemp("b")
    (tmp / f"{ENTITY}.csv").write_bytes(csv_data)
    (tmp / f"{ENTITY}.jsonl").write_bytes(jsonl_data)
    bundle = read_path(tmp)
    records = [
        *read_file(tmp / f"{ENTITY}.csv", ENTITY, "csv")[0],
        *read_file(tmp / f"{ENTITY}.jsonl", ENTITY, "jsonl")[0],
    ]
    outcomes = []
    for name, run in (
        ("batches", lambda e: ingest_batches(e, bundle.batches, source="s")),
        ("records", lambda e: ingest(e, {ENTITY: records}, source="s")),
    ):
        shutil.copy(empty_warehouse, tmp / f"{name}.db")
        engine = create_warehouse_engine(f"sqlite:///{tmp / name}.db")
        outcomes.append(_outcome(engine, run(engine).as_dict()))
        engine.dispose()
    assert outcomes[0] == outcomes[1]


def test_chunks_of_a_batch_are_the_chunks_of_its_records():
    ids = ["A", "B", " A", "C", "D", "B", "E", None, "F", 7, "7"]
    records = [RawRecord(ENTITY, {"task_id": i}, "s", n, str(i)) for n, i in enumerate(ids)]
    records.append(RawRecord(ENTITY, None, "s", 99, "x", ("malformed_row", "m")))
    for size in (1, 2, 3, 20):
        by_records = list(chunked(ENTITY, records, size))
        halves = [
            RawBatch.from_records(ENTITY, records[:5]),
            RawBatch.from_records(ENTITY, records[5:]),
        ]
        by_batch = [part.records() for part in chunked_batch(RawBatch.concat(ENTITY, halves), size)]
        assert by_batch == by_records
        assert all(a is b for x, y in zip(by_batch, by_records) for a, b in zip(x, y))
