"""Bulk writes: many rows of one table in few round trips.

SQLAlchemy's executemany processes every parameter of every row in Python, which dominates the
cost of a large SQLite ingest. On SQLite the rows therefore go to the driver directly, with dates
and timestamps turned into the exact text SQLAlchemy's SQLite types store (a test holds the two
to the same format); other dialects take SQLAlchemy's own executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Table, insert
from sqlalchemy.types import TypeEngine

__all__ = ["chunks", "insert_rows", "insert_tuples", "sqlite_text"]

CHUNK = 5000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _timestamp_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(" ", "microseconds")


def _date_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def sqlite_text(column_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite dialect stores values of this type as text, if it does."""
    if isinstance(column_type, DateTime):
        return _timestamp_text
    if isinstance(column_type, Date):
        return _date_text
    return None


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) into the table."""
    if rows:
        names = list(rows[0])
        insert_tuples(conn, table, names, [tuple(row[n] for n in names) for row in rows])


def insert_tuples(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert rows (values in the order of `names`) into the table; `constants` gives columns
    that hold the same value in every row."""
    if not rows:
        return
    constants = constants or {}
    if conn.dialect.name != "sqlite":
        for chunk in chunks(rows):
            conn.execute(insert(table), [dict(zip(names, row)) | constants for row in chunk])
        return
    converters = [sqlite_text(table.c[name].type) for name in names]
    quote = conn.dialect.identifier_preparer
    every = [*names, *constants]
    sql = (
        f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(n) for n in every)}) "
        f"VALUES ({', '.join('?' * len(every))})"
    )
    fixed = []
    for name, value in constants.items():
        convert = sqlite_text(table.c[name].type)
        fixed.append(value if convert is None else convert(value))
    for chunk in chunks(rows):
        columns = [
            values if convert is None else list(map(convert, values))
            for values, convert in zip(zip(*chunk), converters)
        ]
        columns += [[value] * len(chunk) for value in fixed]
        conn.exec_driver_sql(sql, list(zip(*columns)))
