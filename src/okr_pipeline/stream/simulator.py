"""Live activity for demos and soak tests: check-ins and task updates of the open key results,
as an OKR backend would emit them while people work."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import datetime

from okr_pipeline.asof import now_utc
from okr_pipeline.errors import OkrError
from okr_pipeline.features import History, days, open_at
from okr_pipeline.stream.events import make_event

__all__ = ["live_events"]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def live_events(history: History, seed: int) -> Iterator[tuple[bytes | None, bytes]]:
    """An endless stream of events about the key results open now: about seven check-ins
    (progress moving at each key result's own pace, confidence following it) to three task
    updates. Stops being realistic, not valid, once the key results close."""
    rng = random.Random(seed)
    open_ids = [k for k in open_at(history, now_utc()) if not history.key_results[k].cancelled]
    if not open_ids:
        raise OkrError("no open key results to simulate activity for: ingest some first")
    momentum = {k: max(rng.gauss(1.0, 0.35), 0.05) for k in open_ids}  # each one's own pace
    run = f"{seed}-{int(now_utc().timestamp())}"
    for n in itertools.count():
        kr = history.key_results[rng.choice(open_ids)]
        moment = now_utc()
        elapsed = min(max((days(moment) - kr.begin) / max(kr.end - kr.begin, 1.0), 0.0), 1.0)
        if rng.random() < 0.7:
            progress = momentum[kr.id] * elapsed + rng.gauss(0, 0.04)
            value = kr.start_value + progress * (kr.target_value - kr.start_value)
            pace = progress / max(elapsed, 0.05)
            confidence = min(max(round(5 + 4 * (pace - 0.8) + rng.gauss(0, 1)), 0), 10)
            yield make_event(
                "check_ins",
                {
                    "check_in_id": f"sim-c-{run}-{n}",
                    "key_result_id": kr.id,
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
                    "key_result_id": kr.id,
                    "status": "done" if done else "in_progress",
                    "planned_for": moment.date().isoformat(),
                    "completed_at": _stamp(moment) if done else None,
                    "updated_at": _stamp(moment),
                },
            )
