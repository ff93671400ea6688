"""The per-row reading of CSV, JSON Lines and plan_tasks.json files as it stood before the
columnar readers: one RawRecord per row, built as the file is read. Kept as the oracle that the
columnar readers of `okr_pipeline.sources.files` must match record for record
(sources/test_files_columnar.py)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from okr_pipeline.contract.raw import RawRecord
from okr_pipeline.contract.rules import ENTITIES
from okr_pipeline.sources.files import _decode, _has_bad_bytes


def read_file(path: Path, entity: str, fmt: str) -> tuple[list[RawRecord], list[str]]:
    """The records of one contract file, and the warnings about it."""
    records: list[RawRecord] = []
    warnings: list[str] = []
    text, clean = _decode(path.read_bytes())
    if not clean:
        warnings.append(f"{path}: not valid UTF-8; rows with bad bytes are quarantined")
    if not text.strip():
        warnings.append(f"{path}: empty file")
        return records, warnings
    reader = {"csv": _csv_records, "jsonl": _jsonl_records, "plan_tasks": _plan_records}[fmt]
    unknown: set[str] = set()
    known = set(ENTITIES[entity].field_names)
    for record in reader(text, entity, str(path)):
        if not clean and _has_bad_bytes(record.raw):
            record.fields = None
            record.problem = ("invalid_encoding", "the row holds bytes that are not UTF-8")
        elif record.fields is not None and not record.fields.keys() <= known:
            unknown.update(record.fields.keys() - known)
        records.append(record)
    if unknown:
        warnings.append(f"{path}: unknown columns ignored: {', '.join(sorted(map(str, unknown)))}")
    return records, warnings


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
