"""Contract validation: one test per reason code, types and defaults, and property tests that
validation never raises anything but a Rejection and classifies every row."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okr_pipeline.contract.rules import ENTITIES, REASONS, Rejection, validate
from samples import KEY_RESULT as SAMPLE_KEY_RESULT
from samples import OBJECTIVE

KEY_RESULT = SAMPLE_KEY_RESULT | {"target_value": "20"}  # as a CSV file holds it
CHECK_IN = {
    "check_in_id": "C-1",
    "key_result_id": "KR-1",
    "checked_in_at": "2026-01-15T09:00:00Z",
    "value": "3",
}
MILESTONE = {"milestone_id": "M-1", "key_result_id": "KR-1", "title": "Design"}
TASK = {"task_id": "T-1", "title": "Call"}
VALID = {
    "objectives": OBJECTIVE,
    "key_results": KEY_RESULT,
    "check_ins": CHECK_IN,
    "milestones": MILESTONE,
    "tasks": TASK,
}


def _reason(entity: str, **changes: object) -> str:
    fields = {**VALID[entity], **changes}
    with pytest.raises(Rejection) as caught:
        validate(ENTITIES[entity], fields)
    return caught.value.reason


def test_valid_rows_get_types_and_defaults():
    objective = validate(ENTITIES["objectives"], OBJECTIVE)
    assert objective["period_end"] == date(2026, 3, 31) and objective["status"] == "active"
    kr = validate(ENTITIES["key_results"], KEY_RESULT)
    assert (kr["start_value"], kr["target_value"], kr["weight"]) == (0.0, 20.0, 1.0)
    assert kr["due_date"] is None  # filled from the objective by the ingestion
    task = validate(ENTITIES["tasks"], TASK)
    assert task["status"] == "todo" and task["key_result_id"] is None


@pytest.mark.parametrize(
    ("entity", "changes", "reason"),
    [
        ("objectives", {"title": "  "}, "missing_field"),
        ("check_ins", {"check_in_id": None}, "missing_field"),
        ("key_results", {"target_value": ""}, "missing_field"),
        ("key_results", {"target_value": "ten"}, "invalid_number"),
        ("check_ins", {"value": "1,000"}, "invalid_number"),
        ("check_ins", {"value": "N/A"}, "invalid_number"),
        ("check_ins", {"value": "nan"}, "invalid_number"),
        ("check_ins", {"value": True}, "invalid_number"),
        ("check_ins", {"value": "1_000"}, "invalid_number"),
        ("objectives", {"period_start": "2026-02-30"}, "invalid_date"),
        ("objectives", {"period_start": "31/03/2026"}, "invalid_date"),
        ("objectives", {"period_start": "20260101"}, "invalid_date"),
        ("check_ins", {"checked_in_at": "yesterday"}, "invalid_timestamp"),
        ("check_ins", {"checked_in_at": 1767225600}, "invalid_timestamp"),
        ("objectives", {"status": "paused"}, "invalid_enum"),
        ("key_results", {"metric_type": "ratio"}, "invalid_enum"),
        ("tasks", {"status": "finished"}, "invalid_enum"),
        ("check_ins", {"confidence": "14"}, "out_of_range"),
        ("check_ins", {"confidence": -1}, "out_of_range"),
        ("key_results", {"weight": "-1"}, "out_of_range"),
        ("milestones", {"weight": "0"}, "out_of_range"),
        ("objectives", {"period_end": "2025-12-31"}, "period_order"),
        ("key_results", {"start_value": "20"}, "target_equals_start"),
        ("tasks", {"title": {"nested": 1}}, "invalid_type"),
        ("tasks", {"task_id": "x" * 300}, "too_long"),
    ],
)
def test_each_rule_has_its_reason(entity: str, changes: dict, reason: str):
    assert _reason(entity, **changes) == reason


def test_missing_fields_are_reported_before_bad_values():
    assert _reason("check_ins", check_in_id="", value="N/A") == "missing_field"


def test_enumerations_match_case_insensitively_and_are_stored_lower_case():
    row = validate(ENTITIES["objectives"], {**OBJECTIVE, "status": " Active", "priority": "HIGH"})
    assert (row["status"], row["priority"]) == ("active", "high")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-15T09:00:00+03:00", datetime(2026, 2, 15, 6, 0)),
        ("2026-02-15T09:00:00Z", datetime(2026, 2, 15, 9, 0)),
        ("2026-02-15T09:00:00", datetime(2026, 2, 15, 9, 0)),
        ("2026-02-15T09:00:00.250-05:00", datetime(2026, 2, 15, 14, 0, 0, 250000)),
        (" 2026-02-15T09:00:00Z ", datetime(2026, 2, 15, 9, 0)),
    ],
)
def test_timestamps_are_stored_in_utc(text: str, expected: datetime):
    row = validate(ENTITIES["check_ins"], {**CHECK_IN, "checked_in_at": text})
    assert row["checked_in_at"] == expected


def test_json_numbers_strings_and_nulls():
    row = validate(
        ENTITIES["check_ins"],
        {**CHECK_IN, "value": 9, "confidence": None, "note": "", "author_id": 42},
    )
    assert (row["value"], row["confidence"], row["note"], row["author_id"]) == (
        9.0,
        None,
        None,
        "42",
    )


_values = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.sampled_from(
        [
            "2026-01-01",
            "2026-13-01",
            "2026-01-01T00:00:00+05:30",
            "Active",
            "DONE",
            "0",
            "-1",
            "11",
            "1e3",
            "  ",
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(entity=st.sampled_from(sorted(ENTITIES)), data=st.data())
def test_validation_never_raises_and_classifies_every_row(entity: str, data: st.DataObject):
    spec = ENTITIES[entity]
    fields = {name: data.draw(_values) for name in spec.field_names if data.draw(st.booleans())}
    fields.update(data.draw(st.dictionaries(st.text(max_size=5), _values, max_size=2)))
    try:
        row = validate(spec, fields)
    except Rejection as rejection:
        assert rejection.reason in REASONS
        assert rejection.field is None or rejection.field in spec.field_names
        return
    assert set(row) == set(spec.field_names)
    for name in spec.required:
        assert row[name] is not None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_in_any_field_is_stored_or_rejected(text: str):
    for entity, valid in VALID.items():
        for name in ENTITIES[entity].field_names:
            try:
                validate(ENTITIES[entity], {**valid, name: text})
            except Rejection as rejection:
                assert rejection.reason in REASONS
