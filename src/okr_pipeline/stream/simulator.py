"""Live activity for demos and soak tests: check-ins and task updates of the open key results,
as an OKR backend would emit them while people work."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from okr_pipeline.core import now_utc
from okr_pipeline.errors import OkrError
from okr_pipeline.stream.events import make_event

__all__ = ["OpenKeyResult", "live_events"]


@dataclass(frozen=True)
class OpenKeyResult:
    """What the simulator needs of a key result open now: its period and its values."""

    key_result_id: str
    begin: datetime
    end: datetime
    start_value: float
    target_value: float


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def live_events(
    open_key_results: Sequence[OpenKeyResult], seed: int
) -> Iterator[tuple[bytes | None, bytes]]:
    """An endless stream of events about the key results open now: about seven check-ins
    (progress moving at each key result's own pace, confidence following it) to three task
    updates. Stops being realistic, not valid, once the key results close."""
    rng = random.Random(seed)
    if not open_key_results:
        raise OkrError("no open key results to simulate activity for: ingest some first")
    momentum = [max(rng.gauss(1.0, 0.35), 0.05) for _ in open_key_results]  # each one's own pace
    run = f"{seed}-{int(now_utc().timestamp())}"
    for n in itertools.count():
        i = rng.randrange(len(open_key_results))
        kr = open_key_results[i]
        moment = now_utc()
        span = max((kr.end - kr.begin).total_seconds(), 86400.0)
        elapsed = min(max((moment - kr.begin).total_seconds() / span, 0.0), 1.0)
        if rng.random() < 0.7:
            progress = momentum[i] * elapsed + rng.gauss(0, 0.04)
            value = kr.start_value + progress * (kr.target_value - kr.start_value)
            pace = progress / max(elapsed, 0.05)
            confidence = min(max(round(5 + 4 * (pace - 0.8) + rng.gauss(0, 1)), 0), 10)
            yield make_event(
                "check_ins",
                {
                    "check_in_id": f"sim-c-{run}-{n}",
                    "key_result_id": kr.key_result_id,
                    "checked_in_at": _stamp(moment),
                    "value": round(value, 2),
                    "confidence": confidence,
                    "note": "simulated check-in",
                },
            )
        else:
            done = rng.random() < 0.6
            yield make_event(
                "tasks",
                {
                    "task_id": f"sim-t-{run}-{n}",
                    "title": "Simulated daily task",
                    "key_result_id": kr.key_result_id,
                    "status": "done" if done else "in_progress",
                    "planned_for": moment.date().isoformat(),
                    "completed_at": _stamp(moment) if done else None,
                    "updated_at": _stamp(moment),
                },
            )
