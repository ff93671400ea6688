"""The entity files (CSV or JSON Lines) with their file-level mess, and what was written to them.

Every row goes through ``Output``, which writes it, books the outcome ingestion must report,
holds rows back that turn up later in a file, and reports progress.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .books import Books
from .context import Context
from .schema import COLUMNS, ENTITIES, Row

PROGRESS_EVERY = 5000  # rows between progress callbacks

# (BOM, CRLF line ends, extra legacy column) per entity file in messy bundles.
_FILE_MESS = {
    "objectives": (True, False, False),
    "key_results": (False, True, True),
    "check_ins": (False, False, False),
    "milestones": (True, True, False),
    "tasks": (True, False, True),
}
_NO_MESS = (False, False, False)


class Sink:
    """One entity file, CSV or JSON Lines (by suffix), with the requested file-level mess."""

    def __init__(
        self,
        path: Path,
        entity: str,
        *,
        bom: bool,
        crlf: bool,
        legacy: bool,
        messy: bool,
        rng: random.Random,
    ) -> None:
        self.columns = COLUMNS[entity]
        self.rows = 0
        self._json = path.suffix == ".jsonl"
        self._legacy = legacy
        self._messy = messy
        self._rng = rng
        encoding = "utf-8-sig" if bom else "utf-8"
        self._f: IO[str] = open(path, "w", encoding=encoding, newline="")  # noqa: SIM115
        if not self._json:
            self._w = csv.writer(self._f, lineterminator="\r\n" if crlf else "\n")
            self._w.writerow(list(self.columns) + (["legacy_code"] if legacy else []))

    def write(self, row: Row, *, resend: bool = False) -> None:
        self.rows += 1
        if self._json:
            self._f.write(json.dumps(self._json_row(row, resend), ensure_ascii=False) + "\n")
            return
        values = [row.get(c) for c in self.columns]
        if self._legacy:  # an unknown column the contract says to ignore
            n = self.rows
            values.append("" if n % 3 == 0 else f"{chr(65 + n % 26)}{n % 10}")
        self._w.writerow(values)

    def _json_row(self, row: Row, resend: bool) -> Row:
        # A re-send says the same thing in other words: numbers as strings, "" for absent.
        rng = self._rng
        as_text = 0.8 if resend else (0.2 if self._messy else 0.0)
        out: Row = {}
        for c in self.columns:
            v = row.get(c)
            if v is None:
                if resend:
                    out[c] = "" if rng.random() < 0.6 else None
                elif self._messy:  # absent, null or empty
                    r = rng.random()
                    if r < 0.25:
                        out[c] = None
                    elif r < 0.4:
                        out[c] = ""
                continue
            if as_text and isinstance(v, int | float) and rng.random() < as_text:
                v = str(v)
            out[c] = v
        return out

    def close(self) -> None:
        self._f.close()


# (entity, row, expected outcome, written as a re-send)
Deferred = tuple[str, Row, str, bool]


class Output:
    """The bundle's entity files; every row written is booked and counted for progress."""

    def __init__(self, out: Path, ctx: Context, progress: Callable[[int], None] | None) -> None:
        self.books = Books()
        self.files: dict[str, list[str]] = {}
        self._sinks: dict[str, Sink] = {}
        self._plan_rows = 0
        self._pending: dict[int, list[Deferred]] = {}
        self._progress = progress
        self._written = 0
        self._reported = 0
        # At least one entity as JSON Lines; messy bundles always ship check_ins.jsonl.
        jsonl = "check_ins" if ctx.messy or ctx.seed % 2 == 0 else "milestones"
        for i, entity in enumerate(ENTITIES):
            ext, other = ("jsonl", "csv") if entity == jsonl else ("csv", "jsonl")
            (out / f"{entity}.{other}").unlink(missing_ok=True)  # never both formats
            bom, crlf, legacy = _FILE_MESS[entity] if ctx.messy else _NO_MESS
            self._sinks[entity] = Sink(
                out / f"{entity}.{ext}",
                entity,
                bom=bom,
                crlf=crlf,
                legacy=legacy,
                messy=ctx.messy,
                rng=random.Random(f"sink-{ctx.seed}-{i}"),
            )
            self.files[entity] = [f"{entity}.{ext}"]
        self.files["tasks"].append("plan_tasks.json")

    def emit(self, entity: str, row: Row, outcome: str = "stored", resend: bool = False) -> None:
        self._sinks[entity].write(row, resend=resend)
        self.books.add(entity, outcome)
        self._tick()

    def count_plan_task(self, outcome: str) -> None:
        """Book a task that goes to plan_tasks.json (written as a whole at the end)."""
        self.books.add("tasks", outcome)
        self._plan_rows += 1
        self._tick()

    def defer(self, slot: int, entity: str, row: Row, outcome: str, resend: bool = False) -> None:
        """Hold a row back until ``release(slot)``: after the children of key result ``slot``."""
        self._pending.setdefault(slot, []).append((entity, row, outcome, resend))

    def release(self, slot: int) -> None:
        for entity, row, outcome, resend in self._pending.pop(slot, ()):
            self.emit(entity, row, outcome, resend)

    def release_all(self) -> None:
        for slot in sorted(self._pending):
            self.release(slot)

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()

    def finish(self) -> dict[str, int]:
        """Report the rest of the progress; rows written per entity."""
        if self._progress is not None and self._written > self._reported:
            self._report(self._progress)
        rows = {e: self._sinks[e].rows for e in ENTITIES}
        rows["tasks"] += self._plan_rows
        return rows

    def _tick(self) -> None:
        self._written += 1
        if self._progress is not None and self._written % PROGRESS_EVERY == 0:
            self._report(self._progress)

    def _report(self, progress: Callable[[int], None]) -> None:
        progress(self._written - self._reported)  # an increment, for a bar's update(n)
        self._reported = self._written
