"""What the consumer will make of event messages, told before they are published: the envelope
checks of `parse_event` and the payload's row rules (the contract's validation, which needs no
database), each a message's reason to be dead-lettered, with the message key it goes under.

Two outcomes are the warehouse's to decide and cannot be told here: an event whose parent has
not arrived waits for it (parked) rather than failing, and an event whose id was processed
before is a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from okr_pipeline.config import Limits
from okr_pipeline.contract import DEFAULT_LIMITS, ENTITIES, RawRecord, validate_records
from okr_pipeline.stream.events import Event, EventProblem, parse_event
from okr_pipeline.stream.log import Message

__all__ = ["Verdict", "judge_events"]


@dataclass(frozen=True, slots=True)
class Verdict:
    key: bytes | None  # the message key: the payload's entity id (None without one)
    reason: str | None  # why the consumer will dead-letter it; None: it will take it
    detail: str | None = None


def _key(event: Event) -> bytes | None:
    value = event.payload.get(ENTITIES[event.entity].key)
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text.encode("utf-8", "surrogatepass") if text else None


def judge_events(values: Sequence[bytes], limits: Limits = DEFAULT_LIMITS) -> list[Verdict]:
    """A verdict per message, in order."""
    verdicts: list[Verdict | None] = [None] * len(values)
    events: list[tuple[int, Event]] = []
    for i, value in enumerate(values):
        parsed = parse_event(Message("", 0, i, None, value, 0), limits)
        if isinstance(parsed, EventProblem):
            verdicts[i] = Verdict(None, parsed.reason, parsed.detail)
        else:
            events.append((i, parsed))
    by_entity: dict[str, list[RawRecord]] = {}
    for i, event in events:
        record = RawRecord(event.entity, event.payload, "", i, "")
        by_entity.setdefault(event.entity, []).append(record)
    rejected: dict[int, tuple[str, str]] = {}
    for entity, records in by_entity.items():
        for problem in validate_records(entity, records).rejected:
            rejected[problem.record.line or 0] = (problem.reason, problem.message)
    for i, event in events:
        reason, detail = rejected.get(i, (None, None))
        verdicts[i] = Verdict(_key(event), reason, detail)
    return [verdict for verdict in verdicts if verdict is not None]
