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
from itertools import compress, filterfalse
from math import isfinite
from typing import Any

from okr_pipeline.contract.raw import Origin, RawBatch, RawRecord
from okr_pipeline.contract.rules import ENTITIES, EntitySpec, Rejection, is_text, validate

__all__ = [
    "Origin",
    "Rejected",
    "Row",
    "Validated",
    "chunked",
    "chunked_batch",
    "validate_batch",
    "validate_columns",
    "validate_records",
    "validate_rows",
]

SMALL_BATCH = 32  # below this the per-row path is as fast

Converter = Callable[[Sequence[Any], Any, Any, set[int]], list[Any]]
_TEXT = {str}
_TEXT_OR_NONE = {str, type(None)}
_JSON_NUMBER = {int, float}


def _stripped(raw: Sequence[Any], default: Any, suspect: set[int]) -> list[Any]:
    """Trimmed strings, `default` where missing; anything not a string is suspect."""
    kinds = set(map(type, raw))
    if kinds <= _TEXT:
        return [value.strip() or default for value in raw]
    if kinds <= _TEXT_OR_NONE:
        return [default if value is None else value.strip() or default for value in raw]
    suspect.update(i for i, value in enumerate(raw) if type(value) not in _TEXT_OR_NONE)
    return [value.strip() or default if type(value) is str else default for value in raw]


def _strings(raw: Sequence[Any], default: Any, limit: Any, suspect: set[int]) -> list[Any]:
    values = _stripped(raw, default, suspect)
    present = [v for v in values if v is not None]
    too_long = limit is not None and max(map(len, present), default=0) > limit
    joined = "".join(present)
    if too_long or "\x00" in joined or not is_text(joined):
        suspect.update(
            i
            for i, v in enumerate(values)
            if v is not None and ((limit and len(v) > limit) or "\x00" in v or not is_text(v))
        )
    return values


def _enums(raw: Sequence[Any], default: Any, choices: Any, suspect: set[int]) -> list[Any]:
    values = [v.lower() if v is not None else None for v in _stripped(raw, None, suspect)]
    if not set(values) - {None} <= choices:
        suspect.update(i for i, v in enumerate(values) if v is not None and v not in choices)
    return [default if v is None else v for v in values]


def _numbers(raw: Sequence[Any], default: Any, _limit: Any, suspect: set[int]) -> list[Any]:
    kinds = set(map(type, raw))
    try:
        if kinds <= _JSON_NUMBER:
            values = list(map(float, raw))
        elif kinds <= _TEXT and "_" not in "".join(raw):  # float() would take 1_000
            # float() ignores the blanks around a number, as the contract does
            values = [float(text) if text and not text.isspace() else default for text in raw]
        else:
            values = _numbers_one_by_one(raw, default, suspect)
    except (ValueError, OverflowError):  # some text that is not a number, or a huge integer
        values = _numbers_one_by_one(raw, default, suspect)
    if not all(map(isfinite, (v for v in values if v is not None))):
        suspect.update(i for i, v in enumerate(values) if v is not None and not isfinite(v))
    return values


def _numbers_one_by_one(raw: Sequence[Any], default: Any, suspect: set[int]) -> list[Any]:
    values: list[float | None] = []
    for i, value in enumerate(raw):
        kind = value.__class__
        try:
            if kind is float or kind is int:  # a JSON number (bool is its own class: suspect)
                values.append(float(value))
                continue
            if kind is str:
                text = value.strip()
                if not text:
                    values.append(default)
                    continue
                if "_" not in text:
                    values.append(float(text))
                    continue
            elif value is None:
                values.append(default)
                continue
        except (ValueError, OverflowError):
            pass
        suspect.add(i)
        values.append(None)
    return values


def _dates(raw: Sequence[Any], default: Any, _limit: Any, suspect: set[int]) -> list[Any]:
    values = []
    for i, text in enumerate(_stripped(raw, None, suspect)):
        value = default
        if text is not None:
            try:
                if len(text) != 10 or text[4] != "-" or text[7] != "-":
                    raise ValueError(text)  # fromisoformat takes other forms too
                value = date.fromisoformat(text)
            except ValueError:
                value = None
                suspect.add(i)
        values.append(value)
    return values


def _timestamps(raw: Sequence[Any], default: Any, _limit: Any, suspect: set[int]) -> list[Any]:
    values: list[Any] = []
    for i, text in enumerate(_stripped(raw, None, suspect)):
        value = default
        if text is not None:
            value = None
            zulu = text[-1] == "Z"
            try:
                moment = datetime.fromisoformat(text[:-1] if zulu else text)
                if moment.tzinfo is None:
                    value = moment
                elif not zulu:  # an offset, and a Z besides it, is no timestamp
                    value = moment.astimezone(UTC).replace(tzinfo=None)
            except (ValueError, OverflowError):
                pass
            if value is None:
                suspect.add(i)
        values.append(value)
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
        # a copy without traceback or context: those tie it to the frames holding the batch,
        # a cycle that only the (paused) garbage collector would free
        return Rejection(rejection.reason, rejection.field, rejection.message)


# A valid row: its stored values in the order of the entity's fields (EntitySpec.field_names).
Row = tuple[Any, ...]


def validate_columns(
    spec: EntitySpec, columns: Mapping[str, Sequence[Any]], size: int
) -> list[Row | Rejection]:
    """For each raw row (`columns`: field -> raw value per row), its stored values or the
    Rejection: exactly `validate` per row."""
    names = spec.field_names
    if size < SMALL_BATCH:
        rows = [{name: columns[name][i] for name in names} for i in range(size)]
        return [_as_row(names, _one(spec, fields)) for fields in rows]
    suspect: set[int] = set()
    values: dict[str, list[Any]] = {}
    required = set(spec.required)
    for name, kind, default, limit in spec.plan:
        converted = _CONVERTERS[kind](columns[name], default, limit, suspect)
        if name in required and None in converted:
            suspect.update(i for i, v in enumerate(converted) if v is None)
        values[name] = converted
    suspect.update(list(_breaking_rules(spec, values, size, suspect)))
    results: list[Row | Rejection] = list(zip(*values.values())) if size else []
    for i in suspect:
        results[i] = _as_row(names, _one(spec, {name: columns[name][i] for name in names}))
    return results


def _breaking_rules(
    spec: EntitySpec, values: dict[str, list[Any]], size: int, suspect: set[int]
) -> Iterator[int]:
    """Rows, not yet suspect, that break a row rule: each rule's test runs over its columns."""
    rows: Sequence[int] = range(size)
    if suspect:  # their values may be missing: leave them out
        rows = [i for i in rows if i not in suspect]
    for rule in spec.rules:
        columns = [values[name] for name in rule.fields]
        if suspect:
            columns = [[column[i] for i in rows] for column in columns]
        yield from compress(rows, map(rule.broken, *columns))


def _as_row(names: tuple[str, ...], result: dict[str, Any] | Rejection) -> Row | Rejection:
    return result if isinstance(result, Rejection) else tuple(result[name] for name in names)


def validate_batch(
    spec: EntitySpec, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any] | Rejection]:
    """For each raw row, the row to store or the Rejection: exactly `validate` per row."""
    columns = {name: [fields.get(name) for fields in rows] for name in spec.field_names}
    return [
        result if isinstance(result, Rejection) else dict(zip(spec.field_names, result))
        for result in validate_columns(spec, columns, len(rows))
    ]


@dataclass
class Rejected:
    record: RawRecord
    reason: str
    field: str | None
    message: str


@dataclass
class Validated:
    """Rows of one entity after contract validation: needs no database, so it can be made in
    another process."""

    entity: str
    read: int
    rows: list[Row]  # the valid rows
    origins: list[Origin]  # where each valid row came from
    rejected: list[Rejected]
    warnings: list[str] = field(default_factory=list)
    # Whether the rows' dates and timestamps are the text SQLite stores rather than date and
    # datetime objects: so they come from a child process when the warehouse is SQLite, to be
    # written as they are (making that text costs about a microsecond a value). The text sorts
    # and compares as the values do.
    dates_as_text: bool = False


def validate_rows(batch: RawBatch) -> Validated:
    """Validate a batch: its valid rows, and its rejected ones with the reason."""
    results = validate_columns(ENTITIES[batch.entity], batch.columns, len(batch))
    problems = batch.problems
    rejected = [
        Rejected(batch.record_of(i), reason, None, message)
        for i, (reason, message) in sorted(problems.items())
    ]
    rejections = [
        i for i, result in enumerate(results) if result.__class__ is Rejection and i not in problems
    ]
    if not problems and not rejections:
        return Validated(batch.entity, len(batch), results, batch.origins, rejected)  # type: ignore[arg-type]
    for i in rejections:
        rejection: Rejection = results[i]  # type: ignore[assignment]
        record = batch.record_of(i)
        rejected.append(Rejected(record, rejection.reason, rejection.field, rejection.message))
    bad = problems.keys() | set(rejections)
    good = [i for i in range(len(batch)) if i not in bad]
    rows: list[Row] = [results[i] for i in good]  # type: ignore[misc]
    return Validated(batch.entity, len(batch), rows, [batch.origins[i] for i in good], rejected)


def validate_records(entity: str, records: list[RawRecord]) -> Validated:
    return validate_rows(RawBatch.from_records(entity, records))


def _raw_keys(values: list[Any]) -> list[str | None]:
    """The ids rows will have once validated (ids are trimmed; JSON numbers become text)."""
    try:
        return [value.strip() for value in values]
    except AttributeError:  # None or a JSON number somewhere
        return [
            value.strip() if isinstance(value, str) else None if value is None else str(value)
            for value in values
        ]


def _chunk_rows(keys: list[str | None], size: int) -> Iterator[Sequence[int]]:
    """Rows in chunks of `size`, those sharing an id all in the last one: so a chunk never holds
    a repeat of an id from another chunk, and chunk by chunk ends as the whole would."""
    repeated = {k for k, n in Counter(keys).items() if n > 1 and k}
    if not repeated:
        for start in range(0, len(keys), size):
            yield range(start, min(start + size, len(keys)))
        if not keys:
            yield range(0)
        return
    is_held = list(map(repeated.__contains__, keys))
    held = list(compress(range(len(keys)), is_held))
    rows = list(filterfalse(is_held.__getitem__, range(len(keys))))
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        if start + size >= len(rows):
            part = part + held
            held = []
        yield part
    if held or not rows:
        yield held


def chunked_batch(batch: RawBatch, size: int) -> Iterator[RawBatch]:
    """The batch in chunks of about `size` rows, repeats of an id held in one (see _chunk_rows)."""
    keys = _raw_keys(batch.columns[ENTITIES[batch.entity].key])
    for rows in _chunk_rows(keys, size):
        whole = isinstance(rows, range) and len(rows) == len(batch)
        yield batch if whole else batch.take(rows)


def chunked(entity: str, records: list[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    """The records in chunks, those sharing an id all in the last one (see _chunk_rows)."""
    key = ENTITIES[entity].key
    keys = _raw_keys([record.fields.get(key) if record.fields else None for record in records])
    for rows in _chunk_rows(keys, size):
        yield [records[i] for i in rows]
