"""Events (contract section 4): one JSON object per message, carrying one entity row.

`parse_event` turns a message into an `Event` or an `EventProblem` (the reason it goes to the
dead-letter topic). Payload rules are the contract's, checked later by the ingestion like rows of
a file; here only the envelope is checked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from okr_pipeline.config import Limits
from okr_pipeline.contract import (
    DEFAULT_LIMITS,
    MAX_ID_LENGTH,
    SHAPE,
    Unacceptable,
    check_depth,
    check_encodable,
    loads,
    might_hold_surrogates,
)
from okr_pipeline.stream.log import Message

__all__ = [
    "ENTITY_OF",
    "EVENT_TYPE_OF",
    "Event",
    "EventProblem",
    "make_event",
    "parse_event",
    "read_json",
]

ENTITY_OF = {
    "objective.upserted": "objectives",
    "key_result.upserted": "key_results",
    "check_in.recorded": "check_ins",
    "milestone.upserted": "milestones",
    "task.upserted": "tasks",
}
EVENT_TYPE_OF = {entity: event_type for event_type, entity in ENTITY_OF.items()}
_LONG_RUN = b"0" * 19  # in a message's SHAPE: a run of 19 digits (2**63 has 19)


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    entity: str
    payload: dict[str, Any]
    message: Message
    occurred_at: datetime | None = None  # the envelope's, in UTC; None if absent or unreadable


@dataclass(frozen=True, slots=True)
class EventProblem:
    # malformed_event | missing_field | invalid_type | unknown_event_type | too_long | too_large
    # | invalid_encoding
    reason: str
    detail: str
    message: Message


def read_json(value: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The standard parser's reading of the JSON, found fast by orjson where the two agree;
    json_input.Unacceptable beyond the limits (see json_input.loads)."""
    shape = value.translate(SHAPE)  # one pass: what the checks below need to know
    # orjson reads an integer of more than 64 bits as a float: such input goes to the standard
    if _LONG_RUN not in shape:
        try:
            body = orjson.loads(value)
        except orjson.JSONDecodeError:
            pass  # the standard parser says why, or reads what orjson refuses (NaN, "\ud800")
        else:
            if shape.count(b"{") > limits.max_depth:
                check_depth(body, limits)
            return body
    body = loads(value.decode("utf-8"), limits)
    if might_hold_surrogates(value):
        check_encodable(body)
    return body


def parse_event(message: Message, limits: Limits = DEFAULT_LIMITS) -> Event | EventProblem:
    def problem(reason: str, detail: str) -> EventProblem:
        return EventProblem(reason, detail, message)

    if len(message.value) > limits.max_raw_bytes:
        return problem("too_large", f"the message is larger than {limits.max_raw_bytes} bytes")
    try:
        body = read_json(message.value, limits)
    except UnicodeDecodeError:
        return problem("invalid_encoding", "the message is not UTF-8")
    except json.JSONDecodeError as exc:
        return problem("malformed_event", f"not JSON: {exc.msg}")
    except Unacceptable as exc:
        return problem(exc.reason, exc.detail)
    if not isinstance(body, dict):
        return problem("malformed_event", "an event must be a JSON object")
    event_id, event_type, payload = (
        body.get("event_id"),
        body.get("event_type"),
        body.get("payload"),
    )
    for name, value in (("event_id", event_id), ("event_type", event_type), ("payload", payload)):
        if value is None or value == "":
            return problem("missing_field", f"{name}: required field is missing")
    if not isinstance(event_id, str):
        return problem("invalid_type", f"event_id: expected a string, got {event_id!r}")
    if event_id.isspace():  # blank is missing, as in a row (contract.validate): never a key
        return problem("missing_field", "event_id: required field is missing")
    if len(event_id) > MAX_ID_LENGTH:
        return problem("too_long", f"event_id: longer than {MAX_ID_LENGTH} characters")
    if "\x00" in event_id:  # no database stores NUL in text (contract.validate)
        return problem("invalid_encoding", "event_id: holds a NUL character")
    if event_type.__class__ is not str or event_type not in ENTITY_OF:  # a list: unhashable
        return problem(
            "unknown_event_type",
            f"event_type: {event_type!r} is not one of " + ", ".join(ENTITY_OF),
        )
    if not isinstance(payload, dict):
        return problem("malformed_event", "payload must be a JSON object")
    return Event(
        event_id.strip(), ENTITY_OF[event_type], payload, message, _moment(body.get("occurred_at"))
    )


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as naive UTC (no zone: UTC); None for anything else. The envelope's
    occurred_at is optional: an unreadable one is left out, never a reason to refuse the event."""
    if value.__class__ is not str or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None
    return moment


def make_event(
    entity: str,
    payload: dict[str, Any],
    source: str = "okr-pipeline",
    occurred_at: str | None = None,
) -> tuple[bytes | None, bytes]:
    """(key, value) of the event carrying one row; no key if the row has no id. The event id is
    a hash of the row: producing the same row again gives the same event, which the consumer
    then skips."""
    key_field = {
        "objectives": "objective_id",
        "key_results": "key_result_id",
        "check_ins": "check_in_id",
        "milestones": "milestone_id",
        "tasks": "task_id",
    }[entity]
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    event_id = hashlib.sha256(f"{entity}\0{body}".encode()).hexdigest()[:32]
    event = {
        "event_id": event_id,
        "event_type": EVENT_TYPE_OF[entity],
        "source": source,
        "payload": payload,
    }
    if occurred_at:
        event["occurred_at"] = occurred_at
    key = payload.get(key_field)
    return (
        str(key).encode() if key is not None else None,
        json.dumps(event, ensure_ascii=False, default=str).encode(),
    )
