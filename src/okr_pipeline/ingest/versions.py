"""Versions of the mutable rows an ingestion stores (objectives, key results, milestones,
tasks; warehouse.VERSION_TABLES), written in the ingestion's transaction: each row inserted or
updated adds a version valid from its updated_at, else from the run's time (or its origin's own
time, an event's occurred_at); a row with an updated_at that did not become the stored row adds
a version valid from then unless one of that id is valid from that instant already. A
redelivery adds none. `store.Ingestion` decides which rows; this writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, literal, select, update

from okr_pipeline.contract import EntitySpec, Origin, Row
from okr_pipeline.warehouse import (
    ENTITY_TABLES,
    LOOKUP_CHUNK,
    VERSION_TABLES,
    chunks,
    ingest_runs,
    insert_tuples,
)

__all__ = ["Versions"]

READ_BACK_CHUNK = 20000  # rows read back after an upsert at a time (a stored chunk's size)


def _field(spec: EntitySpec, name: str) -> int:
    return spec.field_names.index(name)


class Versions:
    """The version writer of one ingestion run (`run_id`, at `now`; `times`: by origin
    (source, line), when a row without updated_at became true, where it knows)."""

    def __init__(
        self,
        conn: Connection,
        run_id: str,
        now: datetime,
        times: Mapping[tuple[str, int | None], datetime],
    ) -> None:
        self.conn = conn
        self.run_id = run_id
        self.now = now
        self.times = times

    def event_times(
        self, spec: EntitySpec, keys: list[str], rows: list[Row], origins: list[Origin]
    ) -> None:
        """The versions this run wrote valid from now, for rows without updated_at whose origin
        has a time of its own (`times`): valid from that time instead."""
        if not self.times:
            return
        at = _field(spec, "updated_at") if spec.versioned else None
        moved = [
            {"b_key": key, "b_time": time}
            for key, row, origin in zip(keys, rows, origins)
            if (at is None or row[at] is None)
            and (time := self.times.get((origin.source, origin.line))) is not None
        ]
        if not moved:
            return
        table = VERSION_TABLES[spec.name]
        self.conn.execute(
            update(table)
            .where(
                table.c[spec.key] == bindparam("b_key"),
                table.c.run_id == self.run_id,
                table.c.valid_from == self.now,
            )
            .values(valid_from=bindparam("b_time")),
            moved,
        )

    def last_rowid(self, table: Table) -> int:
        """SQLite: the highest rowid of the table. Rows inserted next get higher ones (no
        AUTOINCREMENT: max + 1), and nobody else writes meanwhile (one writer at a time)."""
        name = self.conn.dialect.identifier_preparer.format_table(table)
        return int(self.conn.exec_driver_sql(f"SELECT max(rowid) FROM {name}").scalar() or 0)

    def copy_inserted(self, spec: EntitySpec, last: int) -> None:
        """SQLite: a version of each row inserted since rowid `last`, copied by one statement
        (valid from its updated_at, else now): no Python work per row."""
        quote = self.conn.dialect.identifier_preparer
        table = quote.format_table(ENTITY_TABLES[spec.name])
        names = ", ".join(quote.quote(name) for name in spec.field_names)
        since = "COALESCE(updated_at, ?)" if spec.versioned else "?"
        self.conn.exec_driver_sql(
            f"INSERT INTO {quote.format_table(VERSION_TABLES[spec.name])} "
            f"({names}, valid_from, run_id) SELECT {names}, {since}, run_id FROM {table} "
            "WHERE rowid > ? ORDER BY rowid",
            (self.now.isoformat(" ", "microseconds"), last),
        )

    def add(self, spec: EntitySpec, rows: list[Row], dates_as_text: bool) -> None:
        """A version for each row inserted or updated: valid from its updated_at, else now."""
        if not rows:
            return
        now: Any = self.now.isoformat(" ", "microseconds") if dates_as_text else self.now
        if spec.versioned:
            at = _field(spec, "updated_at")
            versions = [(*row, now if row[at] is None else row[at]) for row in rows]
        else:
            versions = [(*row, now) for row in rows]
        insert_tuples(
            self.conn,
            VERSION_TABLES[spec.name],
            [*spec.field_names, "valid_from"],
            versions,
            {"run_id": self.run_id},
            dates_as_text=dates_as_text,
        )

    def add_late(self, spec: EntitySpec, rows: list[Row], maybe_stored: bool) -> None:
        """Versions for rows with an updated_at that did not become the stored row: each is
        kept, valid from its updated_at, unless a version of its id is valid from that instant
        already (a redelivery, or the stored row itself); with `maybe_stored` false (on SQLite,
        the table was empty before this run) there is none to look for. Dates and timestamps
        are objects."""
        if not spec.versioned or not rows:
            return
        at = _field(spec, "updated_at")
        key_at = _field(spec, spec.key)
        wanted: dict[tuple[str, datetime], Row] = {}
        for row in rows:
            if row[at] is not None:
                wanted.setdefault((row[key_at], row[at]), row)
        if not wanted:
            return
        table = VERSION_TABLES[spec.name]
        key = table.c[spec.key]
        query = select(key, table.c.valid_from).where(key.in_(bindparam("ids", expanding=True)))
        if maybe_stored:
            for chunk in chunks(sorted({k for k, _ in wanted}), LOOKUP_CHUNK):
                for found in self.conn.execute(query, {"ids": list(chunk)}):
                    wanted.pop((found[0], found[1]), None)
        versions = [(*row, row[at]) for row in wanted.values()]
        insert_tuples(
            self.conn,
            table,
            [*spec.field_names, "valid_from"],
            versions,
            {"run_id": self.run_id},
        )

    def add_written(self, spec: EntitySpec, keys: list[str]) -> None:
        """`add` after an upsert: a version for each of the rows that this run wrote,
        read back from the table (one statement per chunk), unless this run wrote it already."""
        entity, table = ENTITY_TABLES[spec.name], VERSION_TABLES[spec.name]
        now = literal(self.now, ingest_runs.c.started_at.type)
        since = func.coalesce(entity.c.updated_at, now) if spec.versioned else now
        names = list(spec.field_names)
        stored_key, version_key = entity.c[spec.key], table.c[spec.key]
        written = (
            select(*(entity.c[n] for n in names), since, entity.c.run_id)
            .where(
                entity.c.run_id == self.run_id,
                stored_key.in_(bindparam("ids", expanding=True)),
                ~select(version_key)
                .where(
                    and_(
                        version_key == stored_key,
                        table.c.run_id == self.run_id,
                        table.c.valid_from == since,
                    )
                )
                .exists(),
            )
            .order_by(stored_key)
        )
        statement = insert(table).from_select([*names, "valid_from", "run_id"], written)
        for chunk in chunks(sorted(keys), READ_BACK_CHUNK):
            self.conn.execute(statement, {"ids": list(chunk)})
