"""Opening the warehouse: engine set-up per dialect and in-place migration to the newest schema."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from okr_pipeline.config import Settings
from okr_pipeline.errors import ConfigError, OkrError

__all__ = ["create_warehouse_engine", "migrate", "open_warehouse"]

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x6F6B725F6D696772  # "okr_migr": the advisory lock key of schema upgrades


def create_warehouse_engine(
    url: str, *, echo: bool = False, busy_timeout_ms: int = 30000
) -> Engine:
    """An engine for the URL; SQLite files get WAL and a busy timeout so readers never block."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"warehouse.url is not a database URL: {url!r}") from None
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, echo=echo)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # For a new file only (it sets how the file is laid out): a bulk write's commit writes
        # and checkpoints each page it changed with a system call or two, a quarter as many
        # with 16 KiB pages as with the default 4 KiB.
        cursor.execute("PRAGMA page_size=16384")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk upserts touch many pages
        cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, in place (an empty database is created).
    On PostgreSQL, commands started at once migrate one after another: the first creates the
    schema, the others then find it current (SQLite has one writer at a time anyway)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # held until this transaction ends, so until the upgrade is committed
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_warehouse(settings: Settings) -> Engine:
    """The configured warehouse, migrated; an unreachable database is a clear error."""
    engine = create_warehouse_engine(
        settings.warehouse_url,
        echo=settings.warehouse.echo,
        busy_timeout_ms=settings.warehouse.sqlite_busy_timeout_ms,
    )
    try:
        migrate(engine)
    except OperationalError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        raise OkrError(f"cannot open the warehouse at {shown}: {exc.orig}") from None
    return engine
