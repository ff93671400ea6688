"""Validating many rows of one entity at once, in chunks: the same results as
`contract.validate` per row, computed a column at a time. Nothing here touches the database, so
it can run in another process than the storage.

Each column converter takes the values it can turn into their stored form without doubt (the
common case: clean strings, numbers, enumerations, dates and timestamps) and marks every other row
as suspect. Suspect rows then go through `contract.validate`, which alone decides what is wrong
with a row, so the two paths cannot disagree about a rejection; a property test holds them equal.
Working by column replaces a Python call per field and row by list comprehensions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from math import isfinite
from typing import Any

from okr_pipeline.contract import ENTITIES, EntitySpec, Rejection, validate
from okr_pipeline.sources.record import RawRecord

__all__ = ["Origin", "Rejected", "Validated", "chunked", "validate_batch", "validate_records"]

SMALL_BATCH = 32  # below this the per-row path is as fast

Converter = Callable[[list[Any], Any, Any, set[int]], list[Any]]


def _stripped(raw: list[Any], default: Any, suspect: set[int]) -> list[Any]:
    """Trimmed strings, `default` where missing; anything not a string is suspect."""
    try:
        return [value.strip() or default for value in raw]
    except AttributeError:  # None or a JSON number/bool/list somewhere in the column
        values = []
        for i, value in enumerate(raw):
            if value.__class__ is str:
                values.append(value.strip() or default)
            else:
                if value is not None:
                    suspect.add(i)
                values.append(default)
        return values


def _strings(raw: list[Any], default: Any, limit: Any, suspect: set[int]) -> list[Any]:
    values = _stripped(raw, default, suspect)
    present = [v for v in values if v is not None]
    too_long = limit is not None and max(map(len, present), default=0) > limit
    if too_long or "\x00" in "".join(present):
        suspect.update(
            i
            for i, v in enumerate(values)
            if v is not None and ((limit and len(v) > limit) or "\x00" in v)
        )
    return values


def _enums(raw: list[Any], default: Any, choices: Any, suspect: set[int]) -> list[Any]:
    values = [v.lower() if v is not None else None for v in _stripped(raw, None, suspect)]
    if not set(values) - {None} <= choices:
        suspect.update(i for i, v in enumerate(values) if v is not None and v not in choices)
    return [default if v is None else v for v in values]


def _numbers(raw: list[Any], default: Any, _limit: Any, suspect: set[int]) -> list[Any]:
    values = []
    for i, value in enumerate(raw):
        kind = value.__class__
        if kind is float or kind is int:  # a JSON number (bool is its own class: suspect)
            values.append(float(value))
            continue
        if kind is str:
            text = value.strip()
            if not text:
                values.append(default)
                continue
            if "_" not in text:
                try:
                    values.append(float(text))
                    continue
                except ValueError:
                    pass
        elif value is None:
            values.append(default)
            continue
        suspect.add(i)
        values.append(None)
    if not all(map(isfinite, (v for v in values if v is not None))):
        suspect.update(i for i, v in enumerate(values) if v is not None and not isfinite(v))
    return values


def _dates(raw: list[Any], default: Any, _limit: Any, suspect: set[int]) -> list[Any]:
    values = []
    for i, text in enumerate(_stripped(raw, None, suspect)):
        if text is None:
            values.append(default)
        elif len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                values.append(date.fromisoformat(text))
            except ValueError:
                suspect.add(i)
                values.append(None)
        else:
            suspect.add(i)
            values.append(None)
    return values


def _timestamps(raw: list[Any], default: Any, _limit: Any, suspect: set[int]) -> list[Any]:
    values = []
    for i, text in enumerate(_stripped(raw, None, suspect)):
        if text is None:
            values.append(default)
            continue
        try:
            if text[-1] == "Z":
                moment = datetime.fromisoformat(text[:-1])
                if moment.tzinfo is None:
                    values.append(moment)
                    continue
            else:
                moment = datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    values.append(moment)
                else:
                    values.append(moment.astimezone(UTC).replace(tzinfo=None))
                continue
        except (ValueError, OverflowError):
            pass
        suspect.add(i)
        values.append(None)
    return values


_CONVERTERS: dict[str, Converter] = {
    "string": _strings,
    "enum": _enums,
    "number": _numbers,
    "date": _dates,
    "timestamp": _timestamps,
}


def _one(spec: EntitySpec, fields: Mapping[str, Any]) -> dict[str, Any] | Rejection:
    try:
        return validate(spec, fields)
    except Rejection as rejection:
        return rejection


def validate_batch(
    spec: EntitySpec, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any] | Rejection]:
    """For each raw row, the row to store or the Rejection: exactly `validate` per row."""
    if len(rows) < SMALL_BATCH:
        return [_one(spec, fields) for fields in rows]
    suspect: set[int] = set()
    columns = []
    required = set(spec.required)
    for name, kind, default, limit in spec.plan:
        raw = [fields.get(name) for fields in rows]
        values = _CONVERTERS[kind](raw, default, limit, suspect)
        if name in required and None in values:
            suspect.update(i for i, v in enumerate(values) if v is None)
        columns.append(values)
    names = spec.field_names
    results: list[dict[str, Any] | Rejection] = [
        dict(zip(names, values)) for values in zip(*columns)
    ]
    for i, row in enumerate(results):
        if i not in suspect:
            try:
                for rule in spec.rules:
                    rule(row)  # type: ignore[arg-type]
            except Rejection:
                suspect.add(i)
    for i in suspect:
        results[i] = _one(spec, rows[i])
    return results


@dataclass
class Rejected:
    record: RawRecord
    reason: str
    field: str | None
    message: str


# Where a valid row came from: (source, line, raw content, quarantine id). A plain tuple, as
# validated rows may cross a process boundary by the hundred thousand.
Origin = tuple[str, int | None, str, int | None]


@dataclass
class Validated:
    """Rows of one entity after contract validation: needs no database, so it can be made in
    another process."""

    entity: str
    read: int
    valid: list[tuple[Origin, dict[str, Any]]]
    rejected: list[Rejected]
    warnings: list[str] = field(default_factory=list)


def validate_records(entity: str, records: list[RawRecord]) -> Validated:
    spec = ENTITIES[entity]
    valid: list[tuple[Origin, dict[str, Any]]] = []
    rejected = []
    readable = []
    for record in records:
        if record.problem is None:
            readable.append(record)
        else:
            reason, message = record.problem
            rejected.append(Rejected(record, reason, None, message))
    results = validate_batch(spec, [record.fields or {} for record in readable])
    for record, result in zip(readable, results):
        if isinstance(result, Rejection):
            rejected.append(Rejected(record, result.reason, result.field, result.message))
        else:
            origin = (record.source, record.line, record.raw, record.quarantine_id)
            valid.append((origin, result))
    return Validated(entity, len(records), valid, rejected)


def _raw_key(record: RawRecord, key: str) -> str | None:
    """The id a record will have once validated (ids are trimmed; JSON numbers become text)."""
    value = record.fields.get(key) if record.fields else None
    return value.strip() if isinstance(value, str) else None if value is None else str(value)


def chunked(entity: str, records: list[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    """The records in chunks, those sharing an id all in the last one: so a chunk never holds
    a repeat of an id from another chunk, and chunk by chunk ends as the whole would."""
    key = ENTITIES[entity].key
    keys = [_raw_key(record, key) for record in records]
    repeated = {k for k, n in Counter(keys).items() if n > 1 and k}
    held = []
    if repeated:
        held = [r for r, k in zip(records, keys) if k in repeated]
        records = [r for r, k in zip(records, keys) if k not in repeated]
    for start in range(0, len(records), size):
        part = records[start : start + size]
        if start + size >= len(records):
            part = part + held
            held = []
        yield part
    if held or not records:
        yield held
