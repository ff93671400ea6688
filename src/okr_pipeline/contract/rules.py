"""The data contract (docs/data-contract.md) as schemas.

`validate(entity, fields)` turns one raw row (CSV strings or JSON values) into a stored row, or
raises `Rejection` with the rule it broke. It is the single place that knows the contract's types,
enumerations, defaults and per-row rules; references between entities are resolved by the
ingestion, which sees the whole batch and the warehouse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

__all__ = [
    "ENTITIES",
    "ENTITY_ORDER",
    "REASONS",
    "EntitySpec",
    "FieldSpec",
    "Rejection",
    "RowRule",
    "is_text",
    "validate",
]

# Rejection reasons. The first nine are the contract's rules; the rest describe input that could
# not be read as a row at all.
REASONS = (
    "missing_field",
    "invalid_number",
    "invalid_date",
    "invalid_timestamp",
    "invalid_enum",
    "out_of_range",
    "period_order",
    "target_equals_start",
    "unknown_reference",
    "invalid_type",
    "too_long",
    "malformed_row",
    "invalid_encoding",
    "too_large",  # beyond a limit of config.Limits (size, nesting, digits)
)

MAX_ID_LENGTH = 255


class Rejection(Exception):
    """A row broke a contract rule: `reason` is one of REASONS, `field` the culprit if any."""

    def __init__(self, reason: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message


def is_text(value: str) -> bool:
    """Whether the string is text every database stores: no lone surrogate (NUL aside)."""
    if value.isascii():  # the common case, known without a look at the characters
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- value parsers: raw value (not missing) -> typed value, or Rejection ----------------------


def _text_from_json(name: str, value: Any) -> str:
    """A JSON number where a string is expected is taken as its text; anything else is wrong."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Rejection("invalid_type", name, f"{name}: expected a string, got {value!r}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Rejection("invalid_number", name, f"{name}: {value!r} is not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise Rejection("invalid_number", name, f"{name}: {value!r} is not a number") from None
    if not math.isfinite(number) or (isinstance(value, str) and "_" in value):
        raise Rejection("invalid_number", name, f"{name}: {value!r} is not a number")
    return number


def _date(name: str, value: Any) -> date:
    text = value.strip() if isinstance(value, str) else None
    if text is None or len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise Rejection("invalid_date", name, f"{name}: {value!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Rejection("invalid_date", name, f"{name}: {value!r} is not a valid date") from None


def _timestamp(name: str, value: Any) -> datetime:
    """ISO 8601; a zone converts to UTC, none means UTC. Stored naive, in UTC."""
    try:
        text = value.strip()
        utc = text[-1:] in ("Z", "z")  # the common case: parse without the zone conversion
        moment = datetime.fromisoformat(text[:-1] if utc else text)
        if moment.tzinfo is not None:
            if utc:
                raise ValueError("two zones")
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (AttributeError, TypeError, ValueError, OverflowError):  # Overflow: year 1, +zone
        raise Rejection(
            "invalid_timestamp", name, f"{name}: {value!r} is not an ISO 8601 timestamp"
        ) from None
    return moment


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: str  # string | number | date | timestamp | enum
    required: bool = False
    default: Any = None
    choices: frozenset[str] = frozenset()
    max_length: int | None = None


@dataclass(frozen=True)
class EntitySpec:
    """One contract entity: its fields, key, references and how repeats are resolved."""

    name: str
    key: str
    fields: tuple[FieldSpec, ...]
    # (field, entity): a reference that must name a known row; `required` says if it may be empty
    reference: tuple[str, str] | None = None
    versioned: bool = False  # has updated_at: the newer one wins
    immutable: bool = False  # a repeat never changes the stored row (check-ins)
    rules: tuple[RowRule, ...] = ()

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @cached_property
    def plan(self) -> tuple[tuple[str, str, Any, Any], ...]:
        """(name, kind, default, limit) per field: what `validate` loops over."""
        return tuple(
            (f.name, f.kind, f.default, f.choices if f.kind == "enum" else f.max_length)
            for f in self.fields
        )


def _short(name: str, required: bool = True) -> FieldSpec:
    """A bounded string: ids, names, units (indexable on every dialect)."""
    return FieldSpec(name, "string", required=required, max_length=MAX_ID_LENGTH)


def _text(name: str, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "string", required=required)


def _enum(name: str, choices: str, default: str | None = None, required: bool = False) -> FieldSpec:
    return FieldSpec(
        name, "enum", required=required, default=default, choices=frozenset(choices.split())
    )


PRIORITIES = "low medium high critical"


@dataclass(frozen=True, slots=True)
class RowRule:
    """A rule over fields of a row whose values are each valid. `broken` takes the values of
    `fields`, in that order, and says whether the row breaks the rule: the batch validation
    calls it column by column, so that the rule has this one definition."""

    fields: tuple[str, ...]
    broken: Callable[..., bool]
    reason: str
    field: str
    message: Callable[..., str]

    def __call__(self, row: Mapping[str, Any]) -> None:
        """Raise Rejection if the row breaks the rule."""
        values = [row[name] for name in self.fields]
        if self.broken(*values):
            raise Rejection(self.reason, self.field, self.message(*values))


_period_order = RowRule(
    ("period_start", "period_end"),
    lambda start, end: end < start,
    "period_order",
    "period_end",
    lambda start, end: "period_end is before period_start",
)

_target_differs = RowRule(
    ("start_value", "target_value"),
    lambda start, target: target == start,
    "target_equals_start",
    "target_value",
    lambda start, target: "target_value equals start_value",
)


def _positive(field: str) -> RowRule:
    return RowRule(
        (field,),
        lambda value: value <= 0,
        "out_of_range",
        field,
        lambda value: f"{field}: {value:g} is not > 0",
    )


_confidence_scale = RowRule(
    ("confidence",),
    lambda confidence: confidence is not None and not 0 <= confidence <= 10,
    "out_of_range",
    "confidence",
    lambda confidence: f"confidence: {confidence:g} is outside 0..10",
)


ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            "objectives",
            key="objective_id",
            fields=(
                _short("objective_id"),
                _text("title", required=True),
                _short("department", required=False),
                _short("owner_id", required=False),
                FieldSpec("period_start", "date", required=True),
                FieldSpec("period_end", "date", required=True),
                _enum("status", "active completed cancelled on_hold", default="active"),
                _enum("priority", PRIORITIES),
                _short("parent_objective_id", required=False),
                FieldSpec("updated_at", "timestamp"),
            ),
            versioned=True,
            rules=(_period_order,),
        ),
        EntitySpec(
            "key_results",
            key="key_result_id",
            fields=(
                _short("key_result_id"),
                _short("objective_id"),
                _text("title", required=True),
                _enum("metric_type", "percentage number currency boolean milestone", required=True),
                FieldSpec("start_value", "number", default=0.0),
                FieldSpec("target_value", "number", required=True),
                _short("unit", required=False),
                FieldSpec("weight", "number", default=1.0),
                _short("owner_id", required=False),
                FieldSpec("due_date", "date"),
                FieldSpec("updated_at", "timestamp"),
            ),
            reference=("objective_id", "objectives"),
            versioned=True,
            rules=(_target_differs, _positive("weight")),
        ),
        EntitySpec(
            "check_ins",
            key="check_in_id",
            fields=(
                _short("check_in_id"),
                _short("key_result_id"),
                FieldSpec("checked_in_at", "timestamp", required=True),
                FieldSpec("value", "number", required=True),
                FieldSpec("confidence", "number"),
                _text("note"),
                _short("author_id", required=False),
            ),
            reference=("key_result_id", "key_results"),
            immutable=True,
            rules=(_confidence_scale,),
        ),
        EntitySpec(
            "milestones",
            key="milestone_id",
            fields=(
                _short("milestone_id"),
                _short("key_result_id"),
                _text("title", required=True),
                FieldSpec("due_date", "date"),
                FieldSpec("completed_at", "timestamp"),
                FieldSpec("weight", "number", default=1.0),
            ),
            reference=("key_result_id", "key_results"),
            rules=(_positive("weight"),),
        ),
        EntitySpec(
            "tasks",
            key="task_id",
            fields=(
                _short("task_id"),
                _text("title", required=True),
                _short("plan_id", required=False),
                _short("parent_task_id", required=False),
                _short("key_result_id", required=False),
                FieldSpec("weight", "number", default=1.0),
                _enum("priority", PRIORITIES),
                _enum("status", "todo in_progress done blocked cancelled", default="todo"),
                FieldSpec("planned_for", "date"),
                FieldSpec("completed_at", "timestamp"),
                FieldSpec("updated_at", "timestamp"),
            ),
            reference=("key_result_id", "key_results"),
            versioned=True,
            rules=(_positive("weight"),),
        ),
    )
}

# Parents before children, so references resolve whatever the order of the input.
ENTITY_ORDER = ("objectives", "key_results", "check_ins", "milestones", "tasks")


_PARSERS = {"number": _number, "timestamp": _timestamp, "date": _date}


def validate(spec: EntitySpec, fields: Mapping[str, Any]) -> dict[str, Any]:
    """One raw row -> the row to store (contract types and defaults), or raise Rejection.

    Checks run in a fixed order so that a row breaking several rules always gets the same
    reason: required fields first, then each field's type in contract order, then row rules.
    Strings and enumerations are handled inline: this loop runs for every row ingested.
    """
    get: Callable[[str], Any] = fields.get
    for name in spec.required:
        value = get(name)
        if value is None or value == "" or (value.__class__ is str and value.isspace()):
            raise Rejection("missing_field", name, f"{name}: required field is missing")
    row: dict[str, Any] = {}
    for name, kind, default, limit in spec.plan:
        value = get(name)
        if value.__class__ is str:
            value = value.strip()
            if not value:
                row[name] = default
                continue
        elif value is None:
            row[name] = default
            continue
        elif kind == "string" or kind == "enum":
            value = _text_from_json(name, value) if kind == "string" else None
        if kind == "string":
            if limit is not None and len(value) > limit:
                raise Rejection("too_long", name, f"{name}: longer than {limit} characters")
            if "\x00" in value:  # no database stores NUL in text
                raise Rejection("invalid_encoding", name, f"{name}: holds a NUL character")
            if not is_text(value):  # nor a lone surrogate (a "\ud800" escape in JSON)
                raise Rejection("invalid_encoding", name, f"{name}: holds a lone surrogate")
            row[name] = value
        elif kind == "enum":
            # matched case-insensitively, stored lower-case
            lowered = value.lower() if value is not None else None
            if lowered not in limit:
                allowed = ", ".join(sorted(limit))
                raise Rejection(
                    "invalid_enum", name, f"{name}: {get(name)!r} is not one of {allowed}"
                )
            row[name] = lowered
        else:
            row[name] = _PARSERS[kind](name, value)
    for rule in spec.rules:
        rule(row)
    return row
