"""Bulk writes: many rows of one table in few round trips.

SQLAlchemy's executemany processes every parameter of every row in Python, which dominates the
cost of a large SQLite ingest; on SQLite the rows go to the driver directly, with the column
types' own bind processors applied only where a type has one (dates and timestamps).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert

__all__ = ["chunks", "insert_rows"]

CHUNK = 5000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) into the table."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        for chunk in chunks(rows):
            conn.execute(insert(table), chunk)
        return
    columns = list(rows[0])
    pick = itemgetter(*columns)
    processors = [
        (i, processor)
        for i, name in enumerate(columns)
        if (processor := table.c[name].type._cached_bind_processor(conn.dialect))
    ]
    quoted = conn.dialect.identifier_preparer
    sql = (
        f"INSERT INTO {quoted.format_table(table)} "
        f"({', '.join(quoted.quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    for chunk in chunks(rows):
        params = [pick(row) for row in chunk]
        if processors:
            lists = [list(values) for values in params]
            for i, processor in processors:
                for values in lists:
                    values[i] = processor(values[i])
            params = [tuple(values) for values in lists]
        conn.exec_driver_sql(sql, params)
