"""Fuzzing the readers with hostile bytes (deep nesting, huge numbers, lone surrogate escapes,
NULs, invalid UTF-8, byte-order marks, CRLF, huge fields): every message and every row ends
stored, quarantined or dead-lettered, nothing raises, and each run reconciles
(read = stored + unchanged + quarantined). Under the default limits and under tight ones."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text

from okr_pipeline.config import Limits
from okr_pipeline.contract.json_input import check_depth
from okr_pipeline.contract.rules import REASONS
from okr_pipeline.ingest.files import ingest_loaded
from okr_pipeline.sources.files import LoadedBundle, LoadedFile, parse_file
from okr_pipeline.stream.applier import apply_batch
from okr_pipeline.stream.events import Event, parse_event
from okr_pipeline.stream.log import Message
from okr_pipeline.stream.producer import events_from_path
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.tables import dead_letters

LIMITS = st.sampled_from([Limits(), Limits(max_depth=4, max_digits=30, max_raw_bytes=1024)])
EVENT_REASONS = {
    "malformed_event",
    "missing_field",
    "invalid_type",
    "unknown_event_type",
    "too_long",
    "too_large",
    "invalid_encoding",
}
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# JSON text for one value, hostile more often than not
_value = st.one_of(
    st.sampled_from(['"T-1"', '"O-1"', '"Write copy"', "2", "1.5", '"3"', "null"]),
    st.integers(1, 3000).map(_deep),
    st.integers(1, 6000).map(lambda digits: "9" * digits),
    st.integers(1, 1500).map(lambda digits: "0." + "1" * digits),
    st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\ud83d\\ude00"', '"\\u0000"', '"x\\u0000"']),
    st.sampled_from(['""', '"  "', '"\\t"', "NaN", "1e999", "-0", "1E400"]),
    st.sampled_from(["[]", "{}", '["objective.upserted"]', '{"a": [1]}', "true", "false", "0"]),
    st.integers(0, 3000).map(lambda size: json.dumps("x" * size)),
    st.text(max_size=12).map(lambda t: json.dumps(t, ensure_ascii=False)),
)
_broken = st.text(alphabet='{}[]":,\\u0d8x \x00', max_size=10)  # JSON it is not
# hostile bytes put into an encoded text
_bytes = st.sampled_from(
    [b"\xff", b"\x00", b"\r\n", b"\r", b"\xed\xa0\x80", b"\xc3", b"\xef\xbb\xbf", b"\\ud800"]
)


def _encoded(draw: st.DrawFn, text: str) -> bytes:
    """The text as bytes (a surrogate as its invalid UTF-8), maybe with hostile bytes in it,
    a byte-order mark before it, or as UTF-16."""
    if draw(st.integers(0, 9)) == 0:
        return text.encode("utf-16", "surrogatepass")
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(_bytes) + data[at:]
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 3)) == 0 else b"") + data


def _object(draw: st.DrawFn, fields: dict[str, str], optional: list[str], odds: int = 6) -> str:
    """A JSON object's text: the given fields (name -> JSON text), some left out or replaced
    by a hostile value (one in `odds`), and maybe some more."""
    members = {
        name: draw(_value) if draw(st.integers(1, odds)) == 1 else value
        for name, value in fields.items()
        if draw(st.integers(0, 9))
    }
    for name in draw(st.lists(st.sampled_from(optional), max_size=2)):
        members[name] = draw(_value)
    return "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in members.items()) + "}"


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    garbage = draw(st.integers(0, 9))
    if garbage == 0:
        return draw(st.binary(max_size=40))
    if garbage == 1:
        return _encoded(draw, draw(_broken))
    payload = _object(
        draw,
        {
            "objective_id": draw(st.sampled_from(['"O-1"', '"O-2"', '" O-3 "'])),
            "title": '"Grow"',
            "period_start": '"2026-01-01"',
            "period_end": '"2026-03-31"',
        },
        ["note", "status", "x"],
    )
    event = _object(
        draw,
        {
            "event_id": json.dumps(f"e-{draw(st.integers(0, 30))}"),
            "event_type": '"objective.upserted"',
            "payload": payload,
        },
        ["source", "event_id"],
        odds=3,
    )
    if garbage == 2:  # cut short
        event = event[: draw(st.integers(0, len(event)))]
    return _encoded(draw, event)


_offsets = itertools.count()


def _messages(values: list[bytes]) -> list[Message]:
    return [Message("events", 0, next(_offsets), None, value, 0) for value in values]


@settings(FUZZ, max_examples=400)  # cheap: no database
@given(value=_message(), limits=LIMITS)
def test_every_message_is_an_event_or_a_reason(value: bytes, limits: Limits):
    parsed = parse_event(_messages([value])[0], limits)
    if not isinstance(parsed, Event):
        assert parsed.reason in EVENT_REASONS, parsed
        return
    # an event's id is a key every database stores; its payload is text within the limits
    assert parsed.event_id.strip() and "\x00" not in parsed.event_id
    json.dumps(parsed.payload, ensure_ascii=False).encode("utf-8")
    check_depth(parsed.payload, limits)
    assert len(value) <= limits.max_raw_bytes


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One SQLite warehouse for all examples: each run or batch is reconciled on its own."""
    engine = create_warehouse_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'w.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _no_nul_in_raw(engine: Engine, table: str) -> None:
    """What PostgreSQL would refuse is not stored on SQLite either."""
    with engine.connect() as conn:
        nul = conn.execute(text(f"SELECT count(*) FROM {table} WHERE instr(raw, char(0)) > 0"))
        assert nul.scalar_one() == 0


@settings(FUZZ, max_examples=40)
@given(values=st.lists(_message(), min_size=1, max_size=8), limits=LIMITS)
def test_every_message_of_a_batch_is_resolved(engine: Engine, values: list[bytes], limits):
    with engine.connect() as conn:
        letters = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
    result = apply_batch(engine, _messages(values), source="events", park_timeout=0, limits=limits)
    assert result.stored + result.duplicates + result.dead_lettered == len(values)
    assert set(result.by_reason) <= EVENT_REASONS | set(REASONS)
    with engine.connect() as conn:
        now = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
    assert now - letters == result.dead_lettered
    _no_nul_in_raw(engine, "dead_letters")


TASK = {"task_id": '"T-1"', "title": '"Write copy"', "weight": "2", "status": '"done"'}


@st.composite
def _jsonl(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["row", "row", "value", "broken", "blank"]))
        task = TASK | {"task_id": json.dumps(f"T-{draw(st.integers(0, 9))}")}
        lines.append(
            _object(draw, task, ["note", "priority", "x"])
            if kind == "row"
            else draw(_value)
            if kind == "value"
            else draw(_broken)
            if kind == "broken"
            else " "
        )
    return _encoded(draw, draw(st.sampled_from(["\n", "\r\n"])).join(lines))


_cell = st.one_of(
    st.sampled_from(["T-1", "Write copy", "2", " ", "", "done", '"a, b"', "\x00", "\ud800"]),
    st.integers(0, 3000).map(lambda size: "x" * size),
    st.integers(1, 6000).map(lambda digits: "9" * digits),
    st.text(alphabet='ab,"\r\n \x00\udc80', max_size=8),
)


@st.composite
def _csv(draw: st.DrawFn) -> bytes:
    header = ["task_id", "title", "weight", "note"]
    rows = [",".join(header)]
    for i in range(draw(st.integers(0, 6))):
        width = draw(st.sampled_from([4, 4, 4, 3, 5]))
        rows.append(",".join([f"T-{i}", *(draw(_cell) for _ in range(width - 1))]))
    return _encoded(draw, draw(st.sampled_from(["\n", "\r\n"])).join(rows))


@st.composite
def _plan_tasks(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return _encoded(draw, draw(st.one_of(_value, _broken)))
    tasks = []
    for t in range(draw(st.integers(0, 4))):
        task = {"id": json.dumps(f"t-{t}"), "task": '"Draft"', "weight": "1"}
        daily = [_object(draw, task | {"id": f'"d-{t}-{d}"'}, ["x"]) for d in range(2)]
        fields = task | {"planTask": "[" + ", ".join(daily) + "]"}
        tasks.append(_object(draw, fields, ["keyResultId", "x"]))
    plan = _object(draw, {"id": '"wp-1"', "tasks": "[" + ", ".join(tasks) + "]"}, ["x"])
    return _encoded(draw, f'{{"data": [{plan}]}}' if draw(st.booleans()) else f"[{plan}]")


FILES = {"jsonl": _jsonl(), "csv": _csv(), "plan_tasks": _plan_tasks()}
NAMES = {"jsonl": "tasks.jsonl", "csv": "tasks.csv", "plan_tasks": "plan_tasks.json"}


@pytest.mark.parametrize("fmt", list(FILES))
def test_every_row_is_stored_or_quarantined(engine: Engine, fmt: str):
    """A file of each format, read, then ingested: the run reconciles row by row."""
    name = NAMES[fmt]

    @settings(FUZZ, max_examples=50)
    @given(data=FILES[fmt], limits=LIMITS)
    def check(data: bytes, limits: Limits) -> None:
        file = LoadedFile(Path(name), "tasks", fmt, data)
        batch, _ = parse_file(file, limits)
        rows = 0 if batch is None else len(batch)
        report = ingest_loaded(engine, LoadedBundle(name, [file], []), limits=limits)
        for counts in report.entities.values():
            assert counts.read == counts.stored + counts.unchanged + counts.quarantined
            assert set(counts.by_reason) <= set(REASONS)
        assert report.entities["tasks"].read == rows
        _no_nul_in_raw(engine, "quarantine")

    check()


@settings(FUZZ, max_examples=100)
@given(values=st.lists(_message(), min_size=1, max_size=6), limits=LIMITS)
def test_every_line_of_an_events_file_is_published_as_it_is(
    tmp_path_factory: pytest.TempPathFactory, values: list[bytes], limits: Limits
):
    """`okr produce --from events.jsonl`: whatever a line holds, it goes out whole (the consumer
    classifies it), under the key of its payload's id where one can be read."""
    lines = [
        value for value in values if value.strip() and b"\n" not in value and b"\r" not in value
    ]
    first = b'{"event_id": "e-0", "event_type": "objective.upserted", "payload": {}}'
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_bytes(b"\n".join([first, *lines]) + b"\n")
    messages, unreadable = events_from_path(path, limits)
    published = [value for _key, value in messages]
    assert unreadable == 0
    assert published == [first, *lines]
