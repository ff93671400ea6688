"""SQLite's own cost of storing what a run stored: its rows inserted again into an empty
warehouse by plain executemany, with no Python work per row. A floor for the benches."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate


def sqlite_insert_seconds(source_db: Path, work: Path, tables: Sequence[str]) -> tuple[float, int]:
    """Seconds to insert the tables' rows (and the ingest runs they name) into an empty copy of
    the schema in one transaction, and how many rows that was."""
    target = work / "floor.db"
    target.unlink(missing_ok=True)
    engine = create_warehouse_engine(f"sqlite:///{target}")
    migrate(engine)
    engine.dispose()
    source = sqlite3.connect(source_db)
    rows = {name: source.execute(f"SELECT * FROM {name}").fetchall() for name in tables}
    runs = source.execute("SELECT * FROM ingest_runs").fetchall()
    source.close()
    db = sqlite3.connect(target)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-65536")
    db.executemany(f"INSERT INTO ingest_runs VALUES ({','.join('?' * len(runs[0]))})", runs)
    db.commit()
    start = time.perf_counter()
    for name, values in rows.items():
        if values:
            marks = ",".join("?" * len(values[0]))
            db.executemany(f"INSERT INTO {name} VALUES ({marks})", values)
    db.commit()
    seconds = time.perf_counter() - start
    db.close()
    return seconds, sum(len(v) for v in rows.values())
