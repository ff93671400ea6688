"""Bulk writes: many rows of one table in few round trips.

SQLAlchemy's executemany processes every parameter of every row in Python, which dominates the
cost of a large SQLite ingest. On SQLite the rows therefore go to the driver directly, with dates
and timestamps turned into the exact text SQLAlchemy's SQLite types store (a test holds the two
to the same format); a value that already is that text goes as it is. Other dialects take
SQLAlchemy's own executemany.

Concurrent writers: SQLite has one writer at a time, so what a transaction looked up stays true
until it commits. On PostgreSQL this project's writers take turns (warehouse.locks), and their
rows are written with INSERT ... ON CONFLICT (`upsert`), in key order: a statement that meets a
row another transaction wrote meanwhile waits for it, then updates or leaves the row it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Table,
    bindparam,
    insert,
    select,
)
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.types import TypeEngine

__all__ = [
    "bulk_page_cache",
    "chunks",
    "existing_values",
    "from_sqlite_text",
    "insert_rows",
    "insert_tuples",
    "sqlite_text",
    "upsert",
    "upserts",
]

CHUNK = 5000
LOOKUP_CHUNK = 900  # values per IN (...) list: below every dialect's limit (Oracle: 1000)
BULK_CACHE_KIB = 256 * 1024  # SQLite's page cache while a bulk write runs


@contextmanager
def bulk_page_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a page cache as large as a bulk write needs while it runs: its inserts touch
    every index at random places, and a page pushed out of a small cache is written to the WAL
    and read back. The usual size comes back afterwards (freeing the pages). Use it around a
    transaction; other dialects are left alone."""
    if conn.dialect.name != "sqlite":
        yield
        return
    usual = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    conn.commit()
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(usual)}")
        conn.commit()


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _timestamp_text(value: datetime | str | None) -> str | None:
    if value is None or value.__class__ is str:
        return value
    return value.isoformat(" ", "microseconds")  # type: ignore[union-attr]  # not a str: mypy narrows `__class__ is` one way


def _date_text(value: date | str | None) -> str | None:
    if value is None or value.__class__ is str:
        return value
    return value.isoformat()  # type: ignore[union-attr]  # not a str: mypy narrows `__class__ is` one way


def sqlite_text(column_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite dialect stores values of this type as text, if it does."""
    if isinstance(column_type, DateTime):
        return _timestamp_text
    if isinstance(column_type, Date):
        return _date_text
    return None


def from_sqlite_text(column_type: TypeEngine[Any]) -> Callable[[str], Any] | None:
    """The value that `sqlite_text` turned into text, for the types it turns."""
    if isinstance(column_type, DateTime):
        return datetime.fromisoformat
    if isinstance(column_type, Date):
        return date.fromisoformat
    return None


def upserts(conn: Connection) -> bool:
    """Whether writers on this connection's database run at once and write with `upsert`."""
    return conn.dialect.name == "postgresql"


_ROWCOUNT = {"preserve_rowcount": True}  # SQLAlchemy keeps an INSERT's row count only when told

# The rows a conflict found: `excluded` in PostgreSQL's ON CONFLICT, by column name.
Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: str | tuple[str, ...],
    changes: Callable[[Excluded], Mapping[str, Any]] | None = None,
    when: Callable[[Excluded], ColumnElement[bool]] | None = None,
) -> int:
    """PostgreSQL (see `upserts`): insert the rows (dicts with the same keys); where their `key`
    (a unique column, or several) is taken, by a concurrent transaction too, set
    `changes(excluded)` if `when(excluded)` holds, or keep the stored row if `changes` is None.
    Returns how many rows were inserted or changed."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert  # loads with the driver

    names = (key,) if isinstance(key, str) else key
    statement = pg_insert(table)
    if changes is None:
        statement = statement.on_conflict_do_nothing(index_elements=names)
    else:
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=names,
            set_=changes(excluded),
            where=None if when is None else when(excluded),
        )
    # no RETURNING: the driver's pipelined executemany, whose row count is the sum of its rows'
    written = 0
    for chunk in chunks(sorted(rows, key=itemgetter(*names))):
        written += conn.execute(statement, list(chunk), execution_options=_ROWCOUNT).rowcount
    return written


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
    constants: dict[str, Any] | None = None,
    *,
    dates_as_text: bool = False,
) -> None:
    """Insert rows (values in the order of `names`) into the table; `constants` gives columns
    that hold the same value in every row. With `dates_as_text`, every date and timestamp of
    the rows already is the text SQLite stores."""
    if not rows:
        return
    constants = constants or {}
    if conn.dialect.name != "sqlite":
        for chunk in chunks(rows):
            conn.execute(insert(table), [dict(zip(names, row)) | constants for row in chunk])
        return
    converters = [sqlite_text(table.c[name].type) for name in names]
    fixed: dict[str, Any] = {}  # constants bound with every row
    literals: dict[str, str] = {}  # constants written once into the statement: no row copied
    for name, value in constants.items():
        convert = sqlite_text(table.c[name].type)
        value = value if convert is None else convert(value)
        if value.__class__ is str and "\x00" not in value:
            literals[name] = "'" + value.replace("'", "''") + "'"
        else:
            fixed[name] = value
    quote = conn.dialect.identifier_preparer
    every = [*names, *fixed, *literals]
    sql = (
        f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(n) for n in every)}) "
        f"VALUES ({', '.join(['?'] * (len(names) + len(fixed)) + list(literals.values()))})"
    )
    bound = list(fixed.values())
    for chunk in chunks(rows):
        if dates_as_text or not any(converters):  # nothing to convert: no column by column
            conn.exec_driver_sql(sql, [(*row, *bound) for row in chunk] if bound else chunk)
            continue
        columns = [
            values if convert is None else _as_text(values, convert)
            for values, convert in zip(zip(*chunk), converters)
        ]
        columns += [[value] * len(chunk) for value in bound]
        conn.exec_driver_sql(sql, list(zip(*columns)))


def _as_text(values: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any]:
    # no call for what needs none: a missing value, or one that already is text
    return [v if v is None or v.__class__ is str else convert(v) for v in values]


def existing_values(conn: Connection, column: Column[Any], values: Sequence[Any]) -> set[Any]:
    """Which of the values (strings or integers) the column holds. On SQLite the query goes to
    the driver as it is: SQLAlchemy's expansion of a long IN list costs more than the query."""
    found: set[Any] = set()
    if conn.dialect.name == "sqlite":
        quote = conn.dialect.identifier_preparer
        name = quote.quote(column.name)
        select_in = f"SELECT {name} FROM {quote.format_table(column.table)} WHERE {name} IN "
        for part in chunks(values, LOOKUP_CHUNK):
            rows = conn.exec_driver_sql(f"{select_in}({','.join('?' * len(part))})", tuple(part))
            found.update(value for (value,) in rows)
        return found
    query = select(column).where(column.in_(bindparam("values", expanding=True)))
    for part in chunks(values, LOOKUP_CHUNK):
        found.update(conn.execute(query, {"values": list(part)}).scalars())
    return found
