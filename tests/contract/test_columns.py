"""The columnar fast path gives exactly what per-row validation gives, row for row."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okr_pipeline.contract.columns import validate_batch
from okr_pipeline.contract.rules import ENTITIES, Rejection, validate

_values = st.one_of(
    st.none(),
    st.text(alphabet=string.printable + "é\x00", max_size=12),
    st.sampled_from(
        [
            "",
            "  ",
            "O-1",
            "2026-01-01",
            " 2026-03-31 ",
            "2026-02-30",
            "2026-1-01",
            "20260101",
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:00+02:00",
            "2026-01-05T10:00:00+02:00Z",
            "2026-01-05 10:00:00",
            "2026-01-05",
            "0001-01-01T00:00:00+01:00",
            "yesterday",
            "Z",
            "active",
            " Done ",
            "NUMBER",
            "ratio",
            "5",
            " 7.5 ",
            "-1",
            "0",
            "11",
            "1e2",
            "1_0",
            "nan",
            "inf",
            "1,000",
            "N/A",
            "x" * 300,
        ]
    ),
    st.integers(-3, 20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(), max_size=1),
)


def _expected(spec: Any, fields: dict[str, Any]) -> Any:
    try:
        return validate(spec, fields)
    except Rejection as rejection:
        return rejection


def _comparable(result: Any) -> Any:
    if isinstance(result, Rejection):
        return ("rejected", result.reason, result.field, result.message)
    return result


@settings(max_examples=150, deadline=None)
@given(entity=st.sampled_from(sorted(ENTITIES)), data=st.data())
def test_batch_equals_row_by_row(entity: str, data: st.DataObject):
    spec = ENTITIES[entity]
    clean = {name: data.draw(_values) for name in spec.field_names}
    rows = []
    for _ in range(data.draw(st.integers(32, 60))):
        row = dict(clean)  # mostly alike rows, as in a real file, with a few fields changed
        for name in data.draw(st.lists(st.sampled_from(spec.field_names), max_size=3)):
            row[name] = data.draw(_values)
        rows.append(row)
    batch = validate_batch(spec, rows)
    assert [_comparable(r) for r in batch] == [_comparable(_expected(spec, r)) for r in rows]


def test_clean_rows_take_the_fast_path_and_match():
    spec = ENTITIES["check_ins"]
    rows = [
        {
            "check_in_id": f"C-{i}",
            "key_result_id": "KR-1",
            "checked_in_at": f"2026-01-{1 + i % 28:02d}T09:00:00{'Z' if i % 2 else '+03:00'}",
            "value": str(i),
            "confidence": "5" if i % 3 else "",
            "note": " n ",
        }
        for i in range(100)
    ]
    assert validate_batch(spec, rows) == [validate(spec, r) for r in rows]


class _Text(str):
    """A str subclass: not what a reader produces; validate() rejects it as a string."""


_odd_values = st.one_of(
    _values,
    st.sampled_from([10**400, -(10**400), b"x", b" 5 ", _Text("O-1"), _Text("5"), "1e400"]),
    st.sampled_from(["\u2003 7 ", "١٢", " 2026-01-05T10:00:00z ", "2026-01-05T10:00:00.5Z"]),
)


@settings(max_examples=300, deadline=None)
@given(entity=st.sampled_from(sorted(ENTITIES)), data=st.data())
def test_columns_equal_row_by_row_for_any_value_kind(entity: str, data: st.DataObject):
    """Columns of one kind of value (all text, all numbers, ...) take the converters' shortcuts;
    a few odd values among them must still end exactly as per row."""
    spec = ENTITIES[entity]
    base = data.draw(st.sampled_from([_values, st.sampled_from(["", " 5 ", "2.5", "x"])]))
    rows = [
        {name: data.draw(base) for name in spec.field_names}
        for _ in range(data.draw(st.integers(32, 50)))
    ]
    for _ in range(data.draw(st.integers(0, 3))):
        row = data.draw(st.sampled_from(rows))
        row[data.draw(st.sampled_from(spec.field_names))] = data.draw(_odd_values)
    try:
        expected = [_comparable(_expected(spec, r)) for r in rows]
    except TypeError:  # validate() itself fails on bytes as a timestamp: so must the batch
        with pytest.raises(TypeError):
            validate_batch(spec, rows)
        return
    assert [_comparable(r) for r in validate_batch(spec, rows)] == expected


def test_a_column_of_one_kind_takes_the_shortcut_and_matches():
    spec = ENTITIES["key_results"]
    rows = [
        {
            "key_result_id": f"KR-{i}",
            "objective_id": "O-1",
            "title": " t ",
            "metric_type": "Number",
            "start_value": i % 3,  # JSON numbers
            "target_value": f" {i % 4}.5 ",  # text
            "weight": None if i % 2 else "",
            "due_date": "2026-03-31",
        }
        for i in range(64)
    ]
    assert validate_batch(spec, rows) == [_expected(spec, r) for r in rows]
