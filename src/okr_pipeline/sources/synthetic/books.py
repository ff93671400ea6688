"""What an exact ingestion into an empty warehouse must report, counted row by row."""

from __future__ import annotations

from typing import Any

from .schema import ENTITIES


class Books:
    def __init__(self) -> None:
        self._counts: dict[str, dict[str, Any]] = {
            e: {"stored": 0, "unchanged": 0, "quarantined": 0, "by_reason": {}} for e in ENTITIES
        }

    def add(self, entity: str, outcome: str) -> None:
        """Count one row: "stored", "unchanged" or the reason it must be quarantined for."""
        c = self._counts[entity]
        if outcome in ("stored", "unchanged"):
            c[outcome] += 1
        else:
            c["quarantined"] += 1
            c["by_reason"][outcome] = c["by_reason"].get(outcome, 0) + 1

    def expected(self) -> dict[str, dict[str, Any]]:
        return {
            e: {
                "read": c["stored"] + c["unchanged"] + c["quarantined"],
                "stored": c["stored"],
                "unchanged": c["unchanged"],
                "quarantined": c["quarantined"],
                "by_reason": dict(sorted(c["by_reason"].items())),
            }
            for e, c in self._counts.items()
        }
