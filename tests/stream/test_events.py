"""Reading events: the standard JSON parser's reading, whatever parser finds it."""

from __future__ import annotations

import json

import pytest

from okr_pipeline.stream.events import EventProblem, make_event, parse_event, read_json
from okr_pipeline.stream.log import Message


@pytest.mark.parametrize(
    "text",
    [
        '{"value": 123456789012345678901234567890}',  # beyond 64 bits: still an integer
        '{"value": -9223372036854775809}',
        '{"value": NaN, "other": Infinity}',
        '{"title": "caf\\u00e9 \\ud83d\\ude00", "n": 1.5e300}',
        '{"id": "12345678901234567890", "n": 18446744073709551615}',
        '{"a": 1, "a": 2}',
    ],
)
def test_read_json_agrees_with_the_standard_parser(text: str):
    expected = json.loads(text)
    got = read_json(text.encode())
    assert repr(got) == repr(expected)  # repr: NaN != NaN, and 1 == 1.0 would hide a float


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff{}", "invalid_encoding"),
        (b"{not json", "malformed_event"),
        (b"[]", "malformed_event"),
        (b'{"event_id": 1, "event_type": "check_in.recorded", "payload": {}}', "invalid_type"),
    ],
)
def test_bad_messages_are_problems(value: bytes, reason: str):
    parsed = parse_event(Message("okr.events", 0, 0, None, value, 0))
    assert isinstance(parsed, EventProblem) and parsed.reason == reason


def test_a_made_event_reads_back():
    key, value = make_event("check_ins", {"check_in_id": "C-1", "value": 2**70})
    event = parse_event(Message("okr.events", 0, 0, key, value, 0))
    assert not isinstance(event, EventProblem)
    assert event.entity == "check_ins" and event.payload["value"] == 2**70 and key == b"C-1"
