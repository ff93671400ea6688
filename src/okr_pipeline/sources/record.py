"""The unit every source hands to validation: one raw row with its origin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RawRecord"]


@dataclass(slots=True)
class RawRecord:
    """One row as read. `fields` is None when the input could not be read as a row at all; then
    `problem` holds (reason, message) and the row goes straight to quarantine."""

    entity: str
    fields: dict[str, Any] | None
    source: str  # file path or topic
    line: int | None  # first line in the file; None where lines mean nothing
    raw: str  # the original content
    problem: tuple[str, str] | None = None
    quarantine_id: int | None = None  # set when the row is retried from the quarantine
