"""The per-row reading of CSV and JSON Lines files as it stood before the columnar readers: one
RawRecord per row, built as the file is read. Kept as the oracle that the columnar readers of
`okr_pipeline.sources.files` must match record for record (test_files_columnar.py)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from okr_pipeline.contract import ENTITIES
from okr_pipeline.sources.files import _decode, _has_bad_bytes
from okr_pipeline.sources.record import RawRecord


def read_file(path: Path, entity: str, fmt: str) -> tuple[list[RawRecord], list[str]]:
    """The records of one CSV or JSONL file, and the warnings about it."""
    records: list[RawRecord] = []
    warnings: list[str] = []
    text, clean = _decode(path.read_bytes())
    if not clean:
        warnings.append(f"{path}: not valid UTF-8; rows with bad bytes are quarantined")
    if not text.strip():
        warnings.append(f"{path}: empty file")
        return records, warnings
    reader = {"csv": _csv_records, "jsonl": _jsonl_records}[fmt]
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
