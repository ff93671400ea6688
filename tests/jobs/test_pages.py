"""Cursor pages: walking a list page by page gives every item once, in order, whatever the
values (missing ones, ties) and the page size; a page read by ids ends with the cursor of its
last id only when another page follows."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okr_pipeline.errors import InputError
from okr_pipeline.jobs.pages import decode_id_cursor, encode_cursor, id_page, page_of
from okr_pipeline.warehouse import MAX_ID

KINDS: dict[str, Any] = {"score": "number", "name": "text"}
VALUES = {
    "score": st.one_of(st.none(), st.integers(-3, 3), st.floats(allow_nan=True, width=16)),
    "name": st.one_of(st.none(), st.sampled_from(["", "a", "b", "2026-01-01"])),
}


def _walk(items: list[dict[str, Any]], sort: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(len(items) + 2):
        page = page_of(
            items,
            sort=sort,
            kinds=KINDS,
            value=lambda item, field: item[field],
            item_id=lambda item: item["id"],
            cursor=cursor,
            limit=limit,
        )
        assert len(page.items) <= limit
        seen += [item["id"] for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the pages never end")


@given(
    st.data(),
    st.sampled_from(["score", "-score", "name", "-name"]),
    st.integers(1, 4),
    st.integers(0, 12),
)
def test_walking_the_pages_gives_every_item_once_in_order(
    data: st.DataObject, sort: str, limit: int, count: int
):
    field = sort.removeprefix("-")
    items = [{"id": f"k{i:02d}", field: data.draw(VALUES[field])} for i in range(count)]
    whole = page_of(
        items,
        sort=sort,
        kinds=KINDS,
        value=lambda item, name: item[name],
        item_id=lambda item: item["id"],
        cursor=None,
        limit=count + 1,
    )
    assert whole.next_cursor is None
    assert _walk(items, sort, limit) == [item["id"] for item in whole.items]
    missing = [
        item["id"]
        for item in whole.items
        if item[field] is None
        or (isinstance(item[field], float) and not math.isfinite(item[field]))
    ]
    at = len(whole.items) - len(missing)
    # missing values (and NaN, infinity) last in ascending order, first in descending order
    ids = [item["id"] for item in whole.items]
    assert set(ids[: len(missing)] if sort.startswith("-") else ids[at:]) == set(missing)


def test_a_page_by_ids_names_its_last_id_only_when_another_follows():
    rows = [{"id": i} for i in (9, 7, 4)]
    assert id_page(rows, 2, "log").items == rows[:2]
    assert decode_id_cursor(id_page(rows, 2, "log").next_cursor or "", "log") == 7
    assert id_page(rows, 3, "log").next_cursor is None
    assert id_page([], 3, "log").items == [] and id_page([], 3, "log").next_cursor is None


@pytest.mark.parametrize("position", [[0], [MAX_ID + 1], [True], [1.5], ["1"], [1, 2], []])
def test_an_id_cursor_naming_no_stored_id_is_refused(position: list[Any]):
    with pytest.raises(InputError):
        decode_id_cursor(encode_cursor("log", position), "log")
