"""Lists a page at a time. A page ends with an opaque cursor naming the position of its last
item (its sort value and id), and the next page starts after that position: pages stay whole
and in order while rows are added, which an offset would not give.

Missing values sort last in ascending order and first in descending order, as PostgreSQL sorts
NULLs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from okr_pipeline.errors import InputError
from okr_pipeline.warehouse import MAX_ID

__all__ = [
    "Page",
    "decode_cursor",
    "decode_id_cursor",
    "encode_cursor",
    "id_page",
    "page_of",
    "parse_sort",
]

T = TypeVar("T")
Kind = Literal["number", "text"]
# a position: (value missing, the value or a placeholder, id); tuples of it compare in order
Position = tuple[bool, Any, str]
_PLACEHOLDER: dict[Kind, Any] = {"number": 0, "text": ""}


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None: this is the last page

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def encode_cursor(sort: str, position: list[Any]) -> str:
    """The cursor after `position` in a list sorted by `sort`."""
    text = json.dumps({"s": sort, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The position a cursor of a list sorted by `sort` names; InputError if the cursor is not
    one this API gave for that order."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        data = json.loads(text)
    except (binascii.Error, ValueError):  # bad base64, UTF-8 or JSON
        raise InputError(f"cursor {cursor!r} is not a cursor this API gave") from None
    if not (isinstance(data, dict) and isinstance(data.get("p"), list)):
        raise InputError(f"cursor {cursor!r} is not a cursor this API gave")
    if data.get("s") != sort:
        raise InputError(f"cursor {cursor!r} belongs to another sort order than {sort!r}")
    position: list[Any] = data["p"]
    return position


def decode_id_cursor(cursor: str, sort: str) -> int:
    """The id a cursor of a list in the order of its ids (`encode_cursor(sort, [id])`) names;
    InputError if it is not one this API gave (an id beyond MAX_ID is none a table holds)."""
    position = decode_cursor(cursor, sort)
    last = position[0] if len(position) == 1 else None
    if not (isinstance(last, int) and not isinstance(last, bool) and 0 < last <= MAX_ID):
        raise InputError(f"cursor {cursor!r} is not a cursor this API gave")
    return last


def id_page(items: list[dict[str, Any]], limit: int, sort: str) -> Page[dict[str, Any]]:
    """The page of the first `limit` of `items` (read in the order of their ids, one more than
    a page to tell whether another follows), its cursor naming the last one's id."""
    shown = items[:limit]
    more = len(items) > limit
    return Page(shown, encode_cursor(sort, [shown[-1]["id"]]) if more else None)


def parse_sort(sort: str, fields: dict[str, Kind]) -> tuple[str, Kind, bool]:
    """`field` or `-field` (descending) as (field, its kind, descending)."""
    descending = sort.startswith("-")
    field = sort.removeprefix("-")
    if field not in fields:
        raise InputError(f"cannot sort by {field!r}; by one of {', '.join(sorted(fields))}")
    return field, fields[field], descending


def _position(value: Any, kind: Kind, item_id: str) -> Position:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return (True, _PLACEHOLDER[kind], item_id)
    return (False, value, item_id)


def _valid_position(position: list[Any], kind: Kind) -> Position | None:
    """A decoded position as a tuple comparable with the list's, or None if it is not one."""
    if len(position) != 3:
        return None
    missing, value, item_id = position
    if not (isinstance(missing, bool) and isinstance(item_id, str)):
        return None
    if missing:
        return (True, _PLACEHOLDER[kind], item_id) if value == _PLACEHOLDER[kind] else None
    if kind == "number":
        valid = isinstance(value, int | float) and not isinstance(value, bool)
        valid = valid and math.isfinite(value)
    else:
        valid = isinstance(value, str)
    return (False, value, item_id) if valid else None


def page_of(
    items: list[T],
    *,
    sort: str,
    kinds: dict[str, Kind],
    value: Callable[[T, str], Any],
    item_id: Callable[[T], str],
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """The page of `items` sorted by `sort` (a field of `kinds`, `-` first for descending) that
    starts after `cursor` (at the start without one), at most `limit` long. `value(item, field)`
    is an item's value to sort by: a number, or text that sorts as the values do (ISO dates)."""
    field, kind, descending = parse_sort(sort, kinds)
    ordered = sorted(
        ((_position(value(item, field), kind, item_id(item)), item) for item in items),
        key=lambda pair: pair[0],
        reverse=descending,
    )
    if cursor is not None:
        after = _valid_position(decode_cursor(cursor, sort), kind)
        if after is None:
            raise InputError(f"cursor {cursor!r} is not a cursor this API gave")
        ordered = [pair for pair in ordered if (pair[0] < after if descending else pair[0] > after)]
    taken = ordered[:limit]
    more = len(ordered) > limit
    next_cursor = encode_cursor(sort, list(taken[-1][0])) if more and taken else None
    return Page([item for _, item in taken], next_cursor)
