"""Validated chunks as bytes, to cross from one process to another: by column with marshal,
dates and timestamps as the text SQLite stores. Many times cheaper than pickling rows of date
and datetime objects and namedtuples one by one."""

from __future__ import annotations

import marshal
import pickle
from typing import Any

from sqlalchemy import Column

from okr_pipeline.contract import ENTITIES, Origin, Validated
from okr_pipeline.warehouse import ENTITY_TABLES, from_sqlite_text, sqlite_text

__all__ = ["decode_chunk", "encode_chunk"]


def _dated(entity: str) -> list[tuple[int, Column[Any]]]:
    """(position, column) of the date and timestamp fields of an entity's rows."""
    table = ENTITY_TABLES[entity]
    names = ENTITIES[entity].field_names
    return [(i, table.c[name]) for i, name in enumerate(names) if sqlite_text(table.c[name].type)]


def encode_chunk(chunk: Validated) -> tuple[bytes, bytes]:
    """A validated chunk as bytes: a small pickled part, and its bulk (rows and origins by
    column, dates and timestamps as the text SQLite stores). Marshal format 2 keeps no table of
    objects seen (the costly part of later formats): only the few distinct sources are written
    with it."""
    columns: list[Any] = list(zip(*chunk.rows)) or [()] * len(ENTITIES[chunk.entity].fields)
    for i, column in _dated(chunk.entity):
        columns[i] = list(map(sqlite_text(column.type), columns[i]))  # type: ignore[arg-type]
    sources, lines, raws, quarantine_ids = list(zip(*chunk.origins)) or [()] * 4
    bulk = marshal.dumps((columns, lines, raws, quarantine_ids), 2)
    meta = (chunk.entity, chunk.read, chunk.rejected, chunk.warnings, marshal.dumps(sources))
    return pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL), bulk


def decode_chunk(meta: bytes, bulk: bytes | memoryview, dates_as_text: bool = False) -> Validated:
    """The chunk that `encode_chunk` turned into `meta` and `bulk`; with `dates_as_text`, its dates
    and timestamps stay text (see Validated.dates_as_text)."""
    entity, read, rejected, warnings, sources = pickle.loads(meta)
    columns, lines, raws, quarantine_ids = marshal.loads(bulk)
    if not dates_as_text:
        for i, column in _dated(entity):
            parse = from_sqlite_text(column.type)
            columns[i] = [None if text is None else parse(text) for text in columns[i]]  # type: ignore[misc]
    rows = list(zip(*columns))
    origins = list(map(Origin, marshal.loads(sources), lines, raws, quarantine_ids))
    return Validated(entity, read, rows, origins, rejected, warnings, dates_as_text)
