"""What the areas' request and response models share: the error body, pages, the as-of date,
free text that the warehouse can store, timestamps shown in UTC, and an ingest run's report."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from okr_pipeline.core import as_of_instant
from okr_pipeline.errors import InputError

__all__ = [
    "AsOf",
    "ErrorBody",
    "IngestCounts",
    "IngestReport",
    "Instant",
    "Model",
    "PageQuery",
    "Problem",
    "Text",
    "sort_order",
]


class Model(BaseModel):
    """Every request and response model: no field it does not declare, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Pydantic's schema, made once per model and arguments (a copy each time, callers may
        change it): flask-openapi3 asks for a query's or form's schema on every request to
        read its parameters, and making it costs a few milliseconds."""
        key = (cls, args, tuple(sorted(kwargs.items())))
        schema = _SCHEMAS.get(key)
        if schema is None:
            schema = _SCHEMAS[key] = super().model_json_schema(*args, **kwargs)
        return copy.deepcopy(schema)


_SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}


class Problem(Model):
    """One thing wrong with a request: where (`loc`: body, query or path, then the field) and
    what."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(Model):
    """The body of every error response."""

    error: str = Field(description="a short code: not_found, unauthorized, invalid_request...")
    detail: str | list[Problem] = Field(description="what went wrong: a message or the problems")


def _instant(value: object) -> object:
    if isinstance(value, str):
        try:
            return as_of_instant(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None
    return value


# an as-of date: YYYY-MM-DD (the end of that day) or an ISO 8601 timestamp (UTC if it names no
# zone), as the CLI's --as-of
AsOf = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ],
            "description": "YYYY-MM-DD (the end of that day) or an ISO 8601 timestamp; "
            "default: now",
        }
    ),
]

# free text as the warehouse stores it (PostgreSQL refuses NUL in text)
Text = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]+$")]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# a stored timestamp (naive UTC in the warehouse) shown with its zone
Instant = Annotated[datetime, AfterValidator(_utc)]


def sort_order(fields: Iterable[str]) -> Any:
    """The type of a `sort` parameter over `fields`: a field, or `-field` for descending
    order."""
    orders = [order for field in fields for order in (field, f"-{field}")]

    def known(value: str) -> str:
        if value not in orders:
            raise ValueError(f"sort by one of {', '.join(orders)}")
        return value

    return Annotated[
        str,
        AfterValidator(known),
        WithJsonSchema({"type": "string", "enum": orders}),
    ]


class PageQuery(Model):
    """The paging parameters of a list."""

    limit: int | None = Field(
        None, ge=1, description="items per page: default api.page_size, at most api.page_size_max"
    )
    cursor: str | None = Field(
        None, min_length=1, max_length=1024, description="the previous page's next_cursor"
    )


class IngestCounts(Model):
    read: int
    stored: int
    unchanged: int
    quarantined: int
    by_reason: dict[str, int]


class IngestReport(Model):
    """An ingest run's report: `read = stored + unchanged + quarantined` per entity."""

    run_id: str
    source: str
    entities: dict[str, IngestCounts]
    totals: IngestCounts
    warnings: list[str]
    resolved_from_quarantine: int = Field(description="quarantined rows stored now")
