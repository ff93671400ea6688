"""The streams the stream benchmarks send: the realistic mix of the contract's five event
types, and the chaos bench's check-ins."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from okr_pipeline.sources.files import read_path
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.stream.events import make_event

Keyed = tuple[bytes | None, bytes]

# when a row of each entity happens, for the order of the stream
_WHEN = {
    "objectives": ("period_start",),
    "key_results": ("created_at", "updated_at"),
    "check_ins": ("checked_in_at",),
    "milestones": ("completed_at", "due_date"),
    "tasks": ("completed_at", "planned_date", "updated_at"),
}
UPDATED = 0.05  # of stored key results and tasks sent again, changed
REDELIVERED = 0.02  # of all events sent twice


def realistic_mix(work: Path, scale: float, seed: int) -> tuple[list[Keyed], Counter[str]]:
    """The messages of the realistic mix, and how many of each event type."""
    bundle = work / "mix-bundle"
    generate_bundle(bundle, seed=seed, scale=scale, messy=True, as_of=date(2026, 5, 20))
    rng = random.Random(seed)
    timed: list[tuple[str, float, str, dict[str, Any]]] = []
    for entity, records in read_path(bundle).records.items():
        for record in records:
            if record.fields is None:
                continue
            when = next((str(record.fields[f]) for f in _WHEN[entity] if record.fields.get(f)), "")
            timed.append((when[:10] or "9999", rng.random(), entity, record.fields))
    timed.sort(key=lambda item: item[:2])  # by day, then shuffled within the day
    events = [(entity, fields) for _, _, entity, fields in timed]
    for entity, fields in list(events):  # updates: a stored row changed later
        if entity in ("key_results", "tasks") and rng.random() < UPDATED:
            changed = dict(fields, title=f"{fields.get('title')} (revised)")
            if "updated_at" in changed:
                changed["updated_at"] = "2026-05-19T12:00:00+00:00"
            events.append((entity, changed))
    messages = [make_event(entity, fields) for entity, fields in events]
    messages += [
        messages[rng.randrange(len(messages))] for _ in range(int(len(messages) * REDELIVERED))
    ]
    return messages, Counter(entity for entity, _ in events)


KEY_RESULTS = 50


def stream_of(events: int, seed: int) -> tuple[list[tuple[bytes | None, bytes]], dict[str, int]]:
    """The messages and what they must leave behind."""
    rng = random.Random(seed)
    messages = [
        make_event(
            "objectives",
            {
                "objective_id": "O-chaos",
                "title": "Chaos",
                "period_start": "2026-01-01",
                "period_end": "2026-03-31",
            },
        )
    ]
    messages += [
        make_event(
            "key_results",
            {
                "key_result_id": f"KR-{k}",
                "objective_id": "O-chaos",
                "title": f"KR {k}",
                "metric_type": "number",
                "target_value": 100,
            },
        )
        for k in range(KEY_RESULTS)
    ]
    check_ins = garbage = bad_values = redelivered = 0
    valid_at: list[int] = []  # positions of valid check-in events, for redelivery
    while len(messages) < events:
        roll = rng.random()
        if roll < 0.01:
            garbage += 1
            kind = rng.randrange(3)
            if kind == 0:
                messages.append((None, b"{not json"))
            elif kind == 1:
                body = {"event_id": f"g-{garbage}", "event_type": "kr.deleted", "payload": {}}
                messages.append((b"x", json.dumps(body).encode()))
            else:
                bad_values += 1
                messages.append(
                    make_event(
                        "check_ins",
                        {
                            "check_in_id": f"bad-{garbage}",
                            "key_result_id": "KR-1",
                            "checked_in_at": "2026-02-01T00:00:00Z",
                            "value": "N/A",
                        },
                    )
                )
        elif roll < 0.03 and valid_at:
            redelivered += 1
            messages.append(messages[rng.choice(valid_at)])
        else:
            check_ins += 1
            valid_at.append(len(messages))
            messages.append(
                make_event(
                    "check_ins",
                    {
                        "check_in_id": f"C-{check_ins}",
                        "key_result_id": f"KR-{rng.randrange(KEY_RESULTS)}",
                        "checked_in_at": f"2026-02-{1 + check_ins % 28:02d}T10:00:00Z",
                        "value": rng.randint(0, 100),
                        "confidence": rng.randint(0, 10),
                    },
                )
            )
    expected = {
        "messages": len(messages),
        "check_ins": check_ins,
        "garbage": garbage,
        "redelivered": redelivered,
        # events with a readable id that were stored or dead-lettered (a bad value)
        "processed_events": 1 + KEY_RESULTS + check_ins + bad_values,
    }
    return messages, expected
