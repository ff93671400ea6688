"""Export bundles: CSV and JSON Lines per entity, and plan_tasks.json (contract sections 1 and 3).

Reading never fails on content: a row that cannot be read (ragged CSV, broken JSON, bytes that
are not UTF-8, beyond the limits of config.Limits) becomes a RawRecord with a problem, to be
quarantined like any other bad row. Only a path that cannot be used at all is an error; only
regular files are read (a FIFO or a device would be read forever).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import Any, cast

from okr_pipeline.config import Limits
from okr_pipeline.contract import (
    DEFAULT_LIMITS,
    ENTITIES,
    SHAPE,
    Origin,
    RawBatch,
    RawRecord,
    RowColumns,
    Scanner,
    Unacceptable,
    check_depth,
    check_encodable,
    has_long_number,
    loads,
    might_hold_surrogates,
    parse,
    strict_scanner,
    too_deep,
)
from okr_pipeline.core import gc_paused
from okr_pipeline.errors import InputError

__all__ = [
    "Bundle",
    "BundleFile",
    "LoadedBundle",
    "LoadedFile",
    "discover",
    "is_contract_file",
    "load_bundle",
    "load_files",
    "parse_file",
    "read_files",
    "read_path",
    "read_regular_file",
]

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


def is_contract_file(name: str) -> bool:
    """Whether a file of this name belongs in a bundle (ENTITY.csv, ENTITY.jsonl, plan_tasks.json,
    in any case)."""
    return _file_kind(Path(name)) is not None


# A file of a bundle: its path, the entity it holds and its format (csv, jsonl, plan_tasks).
BundleFile = tuple[Path, str, str]


def discover(path: Path) -> tuple[list[BundleFile], list[str]]:
    """The contract files at a path (a bundle directory or one file), and warnings about the
    rest; a path that cannot be used at all is an InputError."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not path.is_dir():
        if not path.is_file():
            raise InputError(f"{path}: {_NOT_REGULAR}")
        kind = _file_kind(path)
        if kind is None:
            raise InputError(
                f"{path}: not a contract file name (ENTITY.csv, ENTITY.jsonl or {PLAN_TASKS})"
            )
        return [(path, *kind)], []
    try:
        everything = sorted(path.iterdir())
    except PermissionError:
        raise InputError(f"{path}: directory is not readable") from None
    entries = [p for p in everything if p.is_file()]
    known = [(p, *kind) for p in entries if (kind := _file_kind(p))]
    odd = [p.name for p in everything if _file_kind(p) and not p.is_file()]
    if not known:
        expected = ", ".join(f"{e}.csv|.jsonl" for e in ENTITIES) + f", {PLAN_TASKS}"
        raise InputError(f"{path}: no known files (expected {expected})")
    ignored = [p.name for p in entries if not _file_kind(p) and not p.name.startswith(".")]
    warnings = (
        [f"{path}: ignored files not in the contract: {', '.join(ignored)}"] if ignored else []
    )
    if odd:
        warnings.append(f"{path}: skipped, {_NOT_REGULAR}: {', '.join(odd)}")
    return known, warnings


_NOT_REGULAR = "not a regular file (a FIFO, device or directory is not read)"


def read_regular_file(path: Path) -> bytes:
    """A regular file's bytes; anything else, or a file that cannot be read, is an InputError,
    found before reading. Opened without waiting: opening a FIFO would wait for a writer."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise InputError(f"{path}: {_NOT_REGULAR}")
            return file.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


@dataclass(frozen=True, eq=False)
class LoadedFile:
    """A contract file's bytes, read before any of it is parsed."""

    path: Path
    entity: str
    fmt: str  # csv, jsonl or plan_tasks
    data: bytes


@dataclass(eq=False)
class LoadedBundle:
    """The contract files at a path, loaded, and warnings about the path itself."""

    source: str
    files: list[LoadedFile]
    warnings: list[str]

    @property
    def estimated_rows(self) -> int:
        """About how many rows the files hold (lines, plan tasks), without parsing them."""
        return sum(
            f.data.count(b'"task"') if f.fmt == "plan_tasks" else f.data.count(b"\n")
            for f in self.files
        )


def load_files(files: list[BundleFile]) -> list[LoadedFile]:
    """The bytes of each file; one that cannot be read is an InputError."""
    return [LoadedFile(path, entity, fmt, read_regular_file(path)) for path, entity, fmt in files]


def load_bundle(path: Path) -> LoadedBundle:
    """Load a bundle directory or a single entity file (see `discover`)."""
    files, warnings = discover(path)
    return LoadedBundle(str(path), load_files(files), warnings)


def read_files(files: list[BundleFile], limits: Limits = DEFAULT_LIMITS) -> Bundle:
    """Read the given contract files into rows per entity (files of one entity in order)."""
    bundle = Bundle()
    parts: dict[str, list[RawBatch]] = {entity: [] for entity in ENTITIES}
    with gc_paused():
        for file in load_files(files):
            bundle.files.append(str(file.path))
            batch, warnings = parse_file(file, limits)
            bundle.warnings += warnings
            if batch is not None:
                parts[file.entity].append(batch)
        bundle.batches = {entity: RawBatch.concat(entity, parts[entity]) for entity in ENTITIES}
    return bundle


def read_path(path: Path, limits: Limits = DEFAULT_LIMITS) -> Bundle:
    """Read a bundle directory or a single entity file."""
    files, warnings = discover(path)
    bundle = read_files(files, limits)
    bundle.warnings[:0] = warnings
    return bundle


def parse_file(
    file: LoadedFile, limits: Limits = DEFAULT_LIMITS
) -> tuple[RawBatch | None, list[str]]:
    """A loaded file's rows (None if it holds nothing), and warnings about the file."""
    path = file.path
    warnings = []
    text, clean = _decode(file.data)
    if not clean:
        warnings.append(f"{path}: not valid UTF-8; rows with bad bytes are quarantined")
    if not text or text.isspace():
        warnings.append(f"{path}: empty file")
        return None, warnings
    reader = {"csv": _csv_batch, "jsonl": _jsonl_batch, "plan_tasks": _plan_batch}[file.fmt]
    reading = _Reading(limits, None if file.fmt == "csv" else file.data)
    batch, names = reader(text, file.entity, str(path), clean, reading)
    unknown = names - set(ENTITIES[file.entity].field_names)
    if unknown:
        warnings.append(f"{path}: unknown columns ignored: {', '.join(sorted(map(str, unknown)))}")
    return batch, warnings


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _decode(data: bytes) -> tuple[str, bool]:
    """Text and whether it was clean; a byte-order mark (UTF-8 or UTF-16) is honoured."""
    if data.startswith(_UTF16_BOMS):
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
# json.loads without its Python layers, for one object (scan_once: not in typeshed)
_scan: Scanner = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class _Reading:
    """How a file's rows are read: within `limits`. What one pass over a JSON file's bytes
    (json_input.SHAPE) tells decides the checks its rows need: `strict`, each number checked
    for its length (the file holds a run of digits that long); `openers`, how many objects and
    arrays it might hold; `surrogates`, whether it might escape a surrogate."""

    def __init__(self, limits: Limits, data: bytes | None = None) -> None:
        self.limits = limits
        if data is None:  # CSV: no JSON in it
            self.strict, self.openers, self.surrogates = False, 0, False
        elif data.startswith(_UTF16_BOMS):  # UTF-16 bytes show nothing: every check is made
            self.strict, self.openers, self.surrogates = True, len(data), True
        else:
            shape = data.translate(SHAPE)
            self.strict = has_long_number(shape, limits)
            self.openers = shape.count(b"{")
            self.surrogates = might_hold_surrogates(data)
        self.scan = strict_scanner(limits) if self.strict else _scan
        self.too_large = ("too_large", f"the row is larger than {limits.max_raw_bytes} bytes")

    def oversized(self, raws: list[str]) -> list[int]:
        """The rows whose raw content is more than max_raw_bytes (UTF-8)."""
        limit = self.limits.max_raw_bytes
        if max(map(len, raws), default=0) <= limit // 4:  # the common case: none can be
            return []
        return [
            i
            for i, raw in enumerate(raws)
            if len(raw) > limit // 4 and len(raw.encode("utf-8", "surrogatepass")) > limit
        ]


# A file's rows, and the field names its readable rows hold (for the unknown-columns warning).
FileRows = tuple[RawBatch, set[str]]


def _csv_batch(text: str, entity: str, source: str, clean: bool, reading: _Reading) -> FileRows:
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
    if (
        width
        and not errors  # then no row is None
        and len(rows) == len(lines) - first
        and {*map(len, cast("list[list[str]]", rows))} <= {width}
    ):
        # the common case: every line one row of the right width
        lines_of: Sequence[int] = range(first + 1, len(lines) + 1)
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
    for i in reading.oversized(raws):
        problems[i] = reading.too_large
        good[i] = None
    # the row's values, by column; a row with a problem has none
    missing = [None] * width
    transposed = list(zip(*[missing if row is None else row for row in good])) or [()] * width
    index = {name: i for i, name in enumerate(header)}  # a repeated name: the last one wins
    columns = {
        name: list(transposed[index[name]]) if name in index else [None] * len(good)
        for name in ENTITIES[entity].field_names
    }
    origins = list(map(Origin, repeat(source), lines_of, raws))

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


def _json_object(raw: str, reading: _Reading) -> dict[str, Any] | tuple[str, str]:
    """A JSON line's object, or the problem with it (what json.loads would say, or the limit
    it is beyond)."""
    if raw[:1] == "{" and raw[-1:] == "}":  # the common case: one object, nothing around it
        try:
            value, end = reading.scan(raw, 0)
            if end == len(raw):
                return value
        except (ValueError, StopIteration, RecursionError, Unacceptable):
            pass  # json_input.loads says why
    try:
        value = loads(raw, reading.limits)
    except json.JSONDecodeError as exc:
        return ("malformed_row", f"not JSON: {exc.msg}")
    except Unacceptable as exc:
        return (exc.reason, exc.detail)
    if not isinstance(value, dict):
        return ("malformed_row", "a JSON line must hold an object")
    return value


def _jsonl_batch(text: str, entity: str, source: str, clean: bool, reading: _Reading) -> FileRows:
    rows: list[dict[str, Any]] = []
    lines_of: list[int] = []
    raws: list[str] = []
    problems: dict[int, tuple[str, str]] = {}
    nothing: dict[str, Any] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        raw = line.removesuffix("\r")
        value = _BAD_BYTES if not clean and _has_bad_bytes(raw) else _json_object(raw, reading)
        if value.__class__ is tuple:
            problems[len(rows)] = value
            value = nothing
        rows.append(value)  # type: ignore[arg-type]  # a dict: mypy narrows `__class__ is` one way
        lines_of.append(number)
        raws.append(raw)
    for i, problem in _jsonl_limits(rows, raws, problems, reading):
        problems[i] = problem
        rows[i] = nothing
    columns = RowColumns(rows, ENTITIES[entity].field_names)
    origins = list(map(Origin, repeat(source), lines_of, raws))

    def record_of(i: int) -> RawRecord:
        problem = problems.get(i)
        fields = None if problem else rows[i]
        return RawRecord(entity, fields, source, lines_of[i], raws[i], problem)

    readable = (row for i, row in enumerate(rows) if i not in problems) if problems else rows
    return RawBatch(entity, columns, origins, record_of, problems), set().union(*readable)


def _jsonl_limits(
    rows: list[dict[str, Any]],
    raws: list[str],
    problems: dict[int, tuple[str, str]],
    reading: _Reading,
) -> Iterator[tuple[int, tuple[str, str]]]:
    """The rows read fast (scan_once) that are beyond the limits after all, with the problem:
    too large, nested too deep, or holding a lone surrogate."""
    for i in reading.oversized(raws):
        yield i, reading.too_large
    read = len(rows) - len(problems)
    # each object read has an opening brace; one nested too deep, max_depth more brackets
    if reading.openers >= read + reading.limits.max_depth:
        for i, row in enumerate(rows):
            if i not in problems:
                try:
                    check_depth(row, reading.limits)
                except Unacceptable as exc:
                    yield i, (exc.reason, exc.detail)
    if reading.surrogates:
        for i, raw in enumerate(raws):
            if i not in problems and might_hold_surrogates(raw):
                try:
                    check_encodable(rows[i])
                except Unacceptable as exc:
                    yield i, (exc.reason, exc.detail)


# json.dumps(value, ensure_ascii=False) without building an encoder per call
_as_json = json.JSONEncoder(ensure_ascii=False).encode

# The fields a plan task has, in the order its fields dict holds them.
_PLAN_FIELDS = (
    "task_id",
    "title",
    "plan_id",
    "parent_task_id",
    "key_result_id",
    "weight",
    "priority",
    "status",
)


@dataclass
class _PlanRows:
    """Tasks as found in plan_tasks.json: per row its place, raw content and values (in
    _PLAN_FIELDS order), or the problem that kept it from being a task."""

    wheres: list[str] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    values: list[tuple[Any, ...]] = field(default_factory=list)
    problems: dict[int, tuple[str, str]] = field(default_factory=dict)
    # the document's arrays and objects that make up its plans and tasks, and the deepest level
    # of a task among them: where those are all there is, nothing else nests deeper
    containers: int = 0
    deepest: int = 0

    def add(
        self,
        where: str,
        raw: str,
        values: tuple[Any, ...] = (None,) * len(_PLAN_FIELDS),
        problem: tuple[str, str] | None = None,
        line: int | None = None,
    ) -> None:
        if problem is not None:
            self.problems[len(self.raws)] = problem
        self.wheres.append(where)
        self.lines.append(line)
        self.raws.append(raw)
        self.values.append(values)


def _plan_batch(text: str, entity: str, source: str, clean: bool, reading: _Reading) -> FileRows:
    rows = _plan_rows(text, source, reading)
    problems = rows.problems
    if not clean:
        for i, raw in enumerate(rows.raws):
            if _has_bad_bytes(raw):
                problems[i] = _BAD_BYTES
    if reading.surrogates:  # in a task's own content, or in what it inherits (its plan's id)
        for i, raw in enumerate(rows.raws):
            try:
                check_encodable((raw, rows.values[i]))
            except Unacceptable as exc:
                problems.setdefault(i, (exc.reason, exc.detail))
    for i in reading.oversized(rows.raws):
        problems[i] = reading.too_large
    nothing = (None,) * len(_PLAN_FIELDS)
    values = [nothing if i in problems else v for i, v in enumerate(rows.values)]
    by_name = dict(zip(_PLAN_FIELDS, zip(*values))) if values else {}
    columns = {
        name: list(by_name[name]) if name in by_name else [None] * len(values)
        for name in ENTITIES[entity].field_names
    }
    origins = list(map(Origin, rows.wheres, rows.lines, rows.raws))

    def record_of(i: int) -> RawRecord:
        problem = problems.get(i)
        fields = None if problem else dict(zip(_PLAN_FIELDS, values[i]))
        return RawRecord(entity, fields, rows.wheres[i], rows.lines[i], rows.raws[i], problem)

    return RawBatch(entity, columns, origins, record_of, problems), set()


def _plan_rows(text: str, source: str, reading: _Reading) -> _PlanRows:
    """The tasks of a plan_tasks.json document; a document that is not JSON, or beyond the
    limits (nesting, numbers), is one bad row. Its nesting is measured only where it holds
    more than plans and tasks (a walk of the whole document costs as much as parsing it)."""
    rows = _PlanRows()
    limits = reading.limits
    try:
        document = parse(text, limits, reading.strict)
        _plan_document(document, text, source, rows)
        if reading.openers > rows.containers:
            check_depth(document, limits)
        elif rows.deepest > limits.max_depth:
            raise too_deep(limits)
    except json.JSONDecodeError as exc:
        rows = _PlanRows()
        rows.add(source, text, problem=("malformed_row", f"not JSON: {exc.msg}"), line=exc.lineno)
    except (Unacceptable, RecursionError) as exc:  # Recursion: daily tasks nested too deep
        refused = exc if isinstance(exc, Unacceptable) else too_deep(limits)
        rows = _PlanRows()
        rows.add(source, text, problem=(refused.reason, refused.detail))
    return rows


def _plan_document(document: Any, text: str, source: str, rows: _PlanRows) -> None:
    """Weekly plans -> tasks; daily tasks (planTask) get parent_task_id; keyResultId inherits."""
    plans = document.get("data") if isinstance(document, dict) else document
    if not isinstance(plans, list):
        problem = ("malformed_row", 'expected an array of weekly plans or {"data": [...]}')
        rows.add(source, text, problem=problem)
        return
    level = 2 if plans is not document else 1  # of the plans array
    rows.containers += level
    for p, plan in enumerate(plans):
        where = f"{source}#plans[{p}]"
        if not isinstance(plan, dict) or not isinstance(plan.get("tasks", []), list):
            problem = ("malformed_row", "a weekly plan must be an object with a tasks array")
            rows.add(where, _as_json(plan), problem=problem)
            continue
        rows.containers += 1 + ("tasks" in plan)
        for t, task in enumerate(plan.get("tasks") or []):
            _plan_task(
                rows,
                task,
                plan.get("id"),
                None,
                plan.get("keyResultId"),
                f"{where}.tasks[{t}]",
                level + 3,
            )


def _plan_task(
    rows: _PlanRows,
    task: Any,
    plan_id: Any,
    parent_id: Any,
    key_result_id: Any,
    where: str,
    level: int,
) -> None:
    if not isinstance(task, dict):
        rows.add(where, _as_json(task), problem=("malformed_row", "a plan task must be an object"))
        return
    rows.containers += 1
    rows.deepest = max(rows.deepest, level)
    get = task.get
    key_result_id = get("keyResultId") or key_result_id
    children = get("planTask")
    # the raw content: the task without its daily tasks
    own = {k: v for k, v in task.items() if k != "planTask"} if "planTask" in task else task
    values = (
        get("id"),
        get("task"),
        plan_id,
        parent_id,
        key_result_id,
        get("weight"),
        get("priority"),
        get("status"),
    )
    rows.add(where, _as_json(own), values)
    if children is None:
        return
    if not isinstance(children, list):
        problem = ("malformed_row", "planTask must be an array")
        rows.add(f"{where}.planTask", _as_json(children), problem=problem)
        return
    rows.containers += 1
    for d, daily in enumerate(children):
        # daily tasks belong to no plan of their own: plan_id stays the weekly plan's
        where_daily = f"{where}.planTask[{d}]"
        _plan_task(rows, daily, plan_id, get("id"), key_result_id, where_daily, level + 2)
