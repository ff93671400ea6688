"""Key results as of a date: progress, score, open or closed, outcome (contract section 2)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from okr_pipeline.core import days, instant
from okr_pipeline.features import load_history

__all__ = ["KeyResultState", "key_result_states"]


@dataclass(frozen=True)
class KeyResultState:
    """A key result as known at `as_of` (contract section 2)."""

    key_result_id: str
    objective_id: str
    due_date: date
    state: str  # open: due date not passed; closed: passed
    progress: float  # of the latest check-in at or before as_of; 0 before the first
    score: float  # progress clipped to [0, 1]
    last_check_in_at: datetime | None
    final_score: float | None  # score at the due date, for closed key results
    outcome: str | None  # achieved | missed for closed ones; None if open or cancelled
    cancelled: bool  # its objective is cancelled: it never gets an outcome

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_date"] = self.due_date.isoformat()
        data["last_check_in_at"] = self.last_check_in_at and self.last_check_in_at.isoformat()
        return data


def key_result_states(
    conn: Connection,
    as_of: datetime,
    threshold: float,
    state: str | None = None,
    key_result_ids: Collection[str] | None = None,
) -> list[KeyResultState]:
    """Every key result as of `as_of` (those of `key_result_ids` only, if given: a few); `state`
    filters open or closed ones."""
    history = load_history(conn, threshold, key_result_ids)
    now = days(as_of)
    states = []
    for kr_id, latest in sorted(history.key_results.items()):
        kr = latest.as_of(now)  # its due date, start and target as they were then
        closed = kr.end < now
        if state is not None and state != ("closed" if closed else "open"):
            continue
        progress = kr.progress_at(now)
        seen = bisect_right(kr.checkin_times, now)
        missed = history.outcome(kr_id) if closed else None
        states.append(
            KeyResultState(
                key_result_id=kr_id,
                objective_id=kr.objective_id,
                due_date=kr.due_date,
                state="closed" if closed else "open",
                progress=progress,
                score=min(max(progress, 0.0), 1.0),
                last_check_in_at=instant(kr.checkin_times[seen - 1]) if seen else None,
                final_score=history.final_score(kr_id) if closed else None,
                outcome=None if missed is None else "missed" if missed else "achieved",
                cancelled=kr.cancelled,
            )
        )
    return states
