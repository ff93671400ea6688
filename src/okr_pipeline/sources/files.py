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
from functools import cached_property
from pathlib import Path
from typing import Any

from okr_pipeline.contract import ENTITIES
from okr_pipeline.errors import InputError
from okr_pipeline.gcpause import gc_paused
from okr_pipeline.sources.batch import RawBatch
from okr_pipeline.sources.record import RawRecord

__all__ = ["Bundle", "BundleFile", "discover", "read_files", "read_path"]

PLAN_TASKS = "plan_tasks.json"
csv.field_size_limit(16 * 1024 * 1024)  # long notes are data, not an attack on a 128 KiB default


@dataclass
class Bundle:
    """What a path held: the rows of each entity and warnings about the files themselves."""

    batches: dict[str, RawBatch] = field(
        default_factory=lambda: {e: RawBatch.empty(e) for e in ENTITIES}
    )
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @cached_property
    def records(self) -> dict[str, list[RawRecord]]:
        """The rows as RawRecords, one per row (the per-row view of `batches`)."""
        return {entity: batch.records() for entity, batch in self.batches.items()}

    @property
    def size(self) -> int:
        return sum(len(batch) for batch in self.batches.values())


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
    """Read the given contract files into rows per entity (files of one entity in order)."""
    bundle = Bundle()
    parts: dict[str, list[RawBatch]] = {entity: [] for entity in ENTITIES}
    with gc_paused():
        for file_path, entity, fmt in files:
            batch = _read_file(file_path, entity, fmt, bundle)
            if batch is not None:
                parts[entity].append(batch)
        bundle.batches = {entity: RawBatch.concat(entity, parts[entity]) for entity in ENTITIES}
    return bundle


def read_path(path: Path) -> Bundle:
    """Read a bundle directory or a single entity file."""
    files, warnings = discover(path)
    bundle = read_files(files)
    bundle.warnings[:0] = warnings
    return bundle


def _read_file(path: Path, entity: str, fmt: str, bundle: Bundle) -> RawBatch | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    bundle.files.append(str(path))
    text, clean = _decode(data)
    if not clean:
        bundle.warnings.append(f"{path}: not valid UTF-8; rows with bad bytes are quarantined")
    if not text or text.isspace():
        bundle.warnings.append(f"{path}: empty file")
        return None
    reader = {"csv": _csv_batch, "jsonl": _jsonl_batch, "plan_tasks": _plan_batch}[fmt]
    batch, names = reader(text, entity, str(path), clean)
    unknown = names - set(ENTITIES[entity].field_names)
    if unknown:
        bundle.warnings.append(
            f"{path}: unknown columns ignored: {', '.join(sorted(map(str, unknown)))}"
        )
    return batch


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


_BAD_BYTES = ("invalid_encoding", "the row holds bytes that are not UTF-8")

# A file's rows, and the field names its readable rows hold (for the unknown-columns warning).
FileRows = tuple[RawBatch, set[str]]


def _csv_batch(text: str, entity: str, source: str, clean: bool) -> FileRows:
    # split only at \r, \n and \r\n, as csv does (str.splitlines would also split at \u2028)
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error):
        return RawBatch.empty(entity), set()
    first = reader.line_num  # lines before the first row
    rows: list[list[str] | None] = []  # None: a row csv could not read
    ends: list[int] = []  # lines read after each row
    errors: dict[int, str] = {}
    while True:
        try:
            for row in reader:
                rows.append(row)
                ends.append(reader.line_num)
            break
        except csv.Error as exc:
            errors[len(rows)] = f"unreadable CSV row: {exc}"
            rows.append(None)
            ends.append(reader.line_num)
    width = len(header)
    if width and not errors and len(rows) == len(lines) - first and {*map(len, rows)} <= {width}:
        # the common case: every line one row of the right width
        lines_of = range(first + 1, len(lines) + 1)
        raws = lines[first:]
        problems: dict[int, tuple[str, str]] = {}
        good = rows
    else:
        lines_of, raws, problems, good = _csv_rows(lines, first, rows, ends, errors, width)
    if not clean:
        for i, raw in enumerate(raws):
            if _has_bad_bytes(raw):
                problems[i] = _BAD_BYTES
                good[i] = None
    # the row's values, by column; a row with a problem has none
    missing = [None] * width
    transposed = list(zip(*[missing if row is None else row for row in good])) or [()] * width
    index = {name: i for i, name in enumerate(header)}  # a repeated name: the last one wins
    columns = {
        name: list(transposed[index[name]]) if name in index else [None] * len(good)
        for name in ENTITIES[entity].field_names
    }
    origins = [(source, line, raw, None) for line, raw in zip(lines_of, raws)]

    def record_of(i: int) -> RawRecord:
        row = good[i]
        fields = None if row is None else dict(zip(header, row))
        return RawRecord(entity, fields, source, lines_of[i], raws[i], problems.get(i))

    names = set(header) if len(problems) < len(good) else set()
    return RawBatch(entity, columns, origins, record_of, problems), names


def _csv_rows(
    lines: list[str],
    first: int,
    rows: list[list[str] | None],
    ends: list[int],
    errors: dict[int, str],
    width: int,
) -> tuple[list[int], list[str], dict[int, tuple[str, str]], list[list[str] | None]]:
    """Line numbers, raw content, problems and readable values of rows that span lines, are
    blank, ragged or unreadable."""
    lines_of: list[int] = []
    raws: list[str] = []
    problems: dict[int, tuple[str, str]] = {}
    good: list[list[str] | None] = []
    start = first  # index of the row's first line; the line number is one more
    for i, (row, end) in enumerate(zip(rows, ends)):
        if row is not None and not row:  # a blank line is not a row
            start = end
            continue
        problem = None
        if row is None:
            problem = ("malformed_row", errors[i])
        elif len(row) != width:
            problem = ("malformed_row", f"{len(row)} fields where the header has {width}")
        if problem is not None:
            problems[len(good)] = problem
            row = None
        # the raw content: the row's line(s), as they stood in the file
        lines_of.append(start + 1)
        raws.append(lines[start] if end - start == 1 else "".join(lines[start:end]))
        good.append(row)
        start = end
    return lines_of, raws, problems, good


_scan = json.JSONDecoder().scan_once  # json.loads without its Python layers, for one object


def _json_object(raw: str) -> dict[str, Any] | tuple[str, str]:
    """A JSON line's object, or the problem with it (what json.loads would say)."""
    if raw[:1] == "{" and raw[-1:] == "}":  # the common case: one object, nothing around it
        try:
            value, end = _scan(raw, 0)
            if end == len(raw):
                return value
        except (ValueError, StopIteration):
            pass
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ("malformed_row", f"not JSON: {exc.msg}")
    if not isinstance(value, dict):
        return ("malformed_row", "a JSON line must hold an object")
    return value


def _jsonl_batch(text: str, entity: str, source: str, clean: bool) -> FileRows:
    rows: list[dict[str, Any]] = []
    lines_of: list[int] = []
    raws: list[str] = []
    problems: dict[int, tuple[str, str]] = {}
    nothing: dict[str, Any] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        raw = line.removesuffix("\r")
        value = _BAD_BYTES if not clean and _has_bad_bytes(raw) else _json_object(raw)
        if value.__class__ is tuple:
            problems[len(rows)] = value  # type: ignore[assignment]
            value = nothing
        rows.append(value)  # type: ignore[arg-type]
        lines_of.append(number)
        raws.append(raw)
    columns = {name: [row.get(name) for row in rows] for name in ENTITIES[entity].field_names}
    origins = [(source, line, raw, None) for line, raw in zip(lines_of, raws)]

    def record_of(i: int) -> RawRecord:
        problem = problems.get(i)
        fields = None if problem else rows[i]
        return RawRecord(entity, fields, source, lines_of[i], raws[i], problem)

    readable = (row for i, row in enumerate(rows) if i not in problems) if problems else rows
    names = set().union(*readable)
    return RawBatch(entity, columns, origins, record_of, problems), names


def _plan_batch(text: str, entity: str, source: str, clean: bool) -> FileRows:
    records = list(_plan_records(text, entity, source))
    if not clean:
        for record in records:
            if _has_bad_bytes(record.raw):
                record.fields = None
                record.problem = _BAD_BYTES
    return RawBatch.from_records(entity, records), set()


# json.dumps(value, ensure_ascii=False) without building an encoder per call
_as_json = json.JSONEncoder(ensure_ascii=False).encode


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
                _as_json(plan),
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
            _as_json(task),
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
    yield RawRecord(entity, fields, where, None, _as_json(own))
    children = task.get("planTask")
    if children is None:
        return
    if not isinstance(children, list):
        yield RawRecord(
            entity,
            None,
            f"{where}.planTask",
            None,
            _as_json(children),
            ("malformed_row", "planTask must be an array"),
        )
        return
    for d, daily in enumerate(children):
        # daily tasks belong to no plan of their own: plan_id stays the weekly plan's
        yield from _plan_task(
            daily, plan_id, task.get("id"), key_result_id, f"{where}.planTask[{d}]", entity
        )
