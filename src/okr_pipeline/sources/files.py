"""Export bundles: CSV and JSON Lines per entity, and plan_tasks.json (contract sections 1 and 3).

Reading never fails on content: a row that cannot be read (ragged CSV, broken JSON, bytes that
are not UTF-8) becomes a RawRecord with a problem, to be quarantined like any other bad row.
Only a path that cannot be used at all is an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from okr_pipeline.contract import ENTITIES
from okr_pipeline.errors import InputError
from okr_pipeline.gcpause import gc_paused
from okr_pipeline.sources.record import RawRecord

__all__ = ["Bundle", "BundleFile", "discover", "read_files", "read_path"]

PLAN_TASKS = "plan_tasks.json"
csv.field_size_limit(16 * 1024 * 1024)  # long notes are data, not an attack on a 128 KiB default


@dataclass
class Bundle:
    """What a path held: raw records per entity and warnings about the files themselves."""

    records: dict[str, list[RawRecord]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(rows) for rows in self.records.values())


def _file_kind(path: Path) -> tuple[str, str] | None:
    """(entity, format) for a known file name, else None."""
    name = path.name.lower()
    if name == PLAN_TASKS:
        return "tasks", "plan_tasks"
    stem, _, suffix = name.rpartition(".")
    if stem in ENTITIES and suffix in ("csv", "jsonl"):
        return stem, suffix
    return None


# A file of a bundle: its path, the entity it holds and its format (csv, jsonl, plan_tasks).
BundleFile = tuple[Path, str, str]


def discover(path: Path) -> tuple[list[BundleFile], list[str]]:
    """The contract files at a path (a bundle directory or one file), and warnings about the
    rest; a path that cannot be used at all is an InputError."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not path.is_dir():
        kind = _file_kind(path)
        if kind is None:
            raise InputError(
                f"{path}: not a contract file name (ENTITY.csv, ENTITY.jsonl or {PLAN_TASKS})"
            )
        return [(path, *kind)], []
    try:
        entries = sorted(p for p in path.iterdir() if p.is_file())
    except PermissionError:
        raise InputError(f"{path}: directory is not readable") from None
    known = [(p, *kind) for p in entries if (kind := _file_kind(p))]
    if not known:
        expected = ", ".join(f"{e}.csv|.jsonl" for e in ENTITIES) + f", {PLAN_TASKS}"
        raise InputError(f"{path}: no known files (expected {expected})")
    ignored = [p.name for p in entries if not _file_kind(p) and not p.name.startswith(".")]
    warnings = (
        [f"{path}: ignored files not in the contract: {', '.join(ignored)}"] if ignored else []
    )
    return known, warnings


def read_files(files: list[BundleFile]) -> Bundle:
    """Read the given contract files into raw records."""
    bundle = Bundle()
    with gc_paused():
        for file_path, entity, fmt in files:
            _read_file(file_path, entity, fmt, bundle)
    return bundle


def read_path(path: Path) -> Bundle:
    """Read a bundle directory or a single entity file."""
    files, warnings = discover(path)
    bundle = read_files(files)
    bundle.warnings[:0] = warnings
    return bundle


def _read_file(path: Path, entity: str, fmt: str, bundle: Bundle) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    bundle.files.append(str(path))
    text, clean = _decode(data)
    if not clean:
        bundle.warnings.append(f"{path}: not valid UTF-8; rows with bad bytes are quarantined")
    if not text.strip():
        bundle.warnings.append(f"{path}: empty file")
        return
    reader = {"csv": _csv_records, "jsonl": _jsonl_records, "plan_tasks": _plan_records}[fmt]
    unknown: set[str] = set()
    known = set(ENTITIES[entity].field_names)
    for record in reader(text, entity, str(path)):
        if not clean and _has_bad_bytes(record.raw):
            record.fields = None
            record.problem = ("invalid_encoding", "the row holds bytes that are not UTF-8")
        elif record.fields is not None and not record.fields.keys() <= known:
            unknown.update(record.fields.keys() - known)
        bundle.records[entity].append(record)
    if unknown:
        bundle.warnings.append(
            f"{path}: unknown columns ignored: {', '.join(sorted(map(str, unknown)))}"
        )


def _decode(data: bytes) -> tuple[str, bool]:
    """Text and whether it was clean; a byte-order mark (UTF-8 or UTF-16) is honoured."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), True
        except UnicodeDecodeError:
            pass
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        # keep the bad bytes as surrogates so the rows around them can still be read
        return data.decode("utf-8", "surrogateescape"), False


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _csv_records(text: str, entity: str, source: str) -> Iterator[RawRecord]:
    # split only at \r, \n and \r\n, as csv does (str.splitlines would also split at \u2028)
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error):
        return
    width = len(header)
    end = reader.line_num
    while True:
        start = end  # index of the row's first line; the line number is one more
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield RawRecord(
                entity,
                None,
                source,
                start + 1,
                "".join(lines[start:end]),
                ("malformed_row", f"unreadable CSV row: {exc}"),
            )
            continue
        end = reader.line_num
        if not row:
            continue  # a blank line is not a row
        # the raw content: the row's line(s), as they stood in the file
        raw = lines[start] if end - start == 1 else "".join(lines[start:end])
        if len(row) != width:
            yield RawRecord(
                entity,
                None,
                source,
                start + 1,
                raw,
                ("malformed_row", f"{len(row)} fields where the header has {width}"),
            )
            continue
        yield RawRecord(entity, dict(zip(header, row)), source, start + 1, raw)


def _jsonl_records(text: str, entity: str, source: str) -> Iterator[RawRecord]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        raw = line.removesuffix("\r")
        try:
            fields = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield RawRecord(
                entity, None, source, number, raw, ("malformed_row", f"not JSON: {exc.msg}")
            )
            continue
        if not isinstance(fields, dict):
            yield RawRecord(
                entity,
                None,
                source,
                number,
                raw,
                ("malformed_row", "a JSON line must hold an object"),
            )
            continue
        yield RawRecord(entity, fields, source, number, raw)


def _plan_records(text: str, entity: str, source: str) -> Iterator[RawRecord]:
    """Weekly plans -> tasks; daily tasks (planTask) get parent_task_id; keyResultId inherits."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        yield RawRecord(
            entity, None, source, exc.lineno, text, ("malformed_row", f"not JSON: {exc.msg}")
        )
        return
    plans = document.get("data") if isinstance(document, dict) else document
    if not isinstance(plans, list):
        yield RawRecord(
            entity,
            None,
            source,
            None,
            text,
            ("malformed_row", 'expected an array of weekly plans or {"data": [...]}'),
        )
        return
    for p, plan in enumerate(plans):
        where = f"{source}#plans[{p}]"
        if not isinstance(plan, dict) or not isinstance(plan.get("tasks", []), list):
            yield RawRecord(
                entity,
                None,
                where,
                None,
                json.dumps(plan, ensure_ascii=False),
                ("malformed_row", "a weekly plan must be an object with a tasks array"),
            )
            continue
        for t, task in enumerate(plan.get("tasks") or []):
            yield from _plan_task(
                task, plan.get("id"), None, plan.get("keyResultId"), f"{where}.tasks[{t}]", entity
            )


def _plan_task(
    task: Any, plan_id: Any, parent_id: Any, key_result_id: Any, where: str, entity: str
) -> Iterator[RawRecord]:
    if not isinstance(task, dict):
        yield RawRecord(
            entity,
            None,
            where,
            None,
            json.dumps(task, ensure_ascii=False),
            ("malformed_row", "a plan task must be an object"),
        )
        return
    key_result_id = task.get("keyResultId") or key_result_id
    own = {k: v for k, v in task.items() if k != "planTask"}
    fields = {
        "task_id": task.get("id"),
        "title": task.get("task"),
        "plan_id": plan_id,
        "parent_task_id": parent_id,
        "key_result_id": key_result_id,
        "weight": task.get("weight"),
        "priority": task.get("priority"),
        "status": task.get("status"),
    }
    yield RawRecord(entity, fields, where, None, json.dumps(own, ensure_ascii=False))
    children = task.get("planTask")
    if children is None:
        return
    if not isinstance(children, list):
        yield RawRecord(
            entity,
            None,
            f"{where}.planTask",
            None,
            json.dumps(children, ensure_ascii=False),
            ("malformed_row", "planTask must be an array"),
        )
        return
    for d, daily in enumerate(children):
        # daily tasks belong to no plan of their own: plan_id stays the weekly plan's
        yield from _plan_task(
            daily, plan_id, task.get("id"), key_result_id, f"{where}.planTask[{d}]", entity
        )
