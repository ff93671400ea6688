"""Opening the warehouse: engine set-up per dialect and in-place migration to the newest schema."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from okr_pipeline.config import Settings
from okr_pipeline.errors import ConfigError, OkrError
from okr_pipeline.warehouse.locks import schema_lock, sqlite_schema_lock

__all__ = ["close_warehouses", "create_warehouse_engine", "migrate", "open_warehouse"]

log = logging.getLogger(__name__)
# Alembic is imported by the functions that migrate: its 80 ms are not paid by processes that
# import the warehouse's tables but never open one (the stream's read-ahead worker).
MIGRATIONS = Path(__file__).with_name("migrations")
# One engine per warehouse per process, migrated when first opened (see open_warehouse).
_OPEN: dict[tuple[object, ...], Engine] = {}
_OPENING = threading.Lock()  # threads (the API's, live scores') open it once between them


def _parse_url(url: str) -> URL:
    """The URL as SQLAlchemy reads it; what it cannot read is a ConfigError that never shows the
    URL itself (it may hold a password)."""
    example = "e.g. postgresql+psycopg://user:password@host:5432/okr or sqlite:///path/okr.db"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"warehouse.url is not a database URL ({example})") from None
    except ValueError:  # a port that is not a number
        raise ConfigError(f"warehouse.url has a port that is not a number ({example})") from None
    # make_url splits at the first `@`, so an `@` in the password ends up in the host name
    if parsed.host and "@" in parsed.host:
        raise ConfigError(
            "warehouse.url: the user name or password holds '@' (or another reserved "
            "character); percent-encode it, '@' as %40, ':' as %3A, '/' as %2F"
        )
    return parsed


def create_warehouse_engine(
    url: str,
    *,
    echo: bool = False,
    busy_timeout_ms: int = 30000,
    connect_timeout_seconds: int = 10,
    statement_timeout_seconds: float = 0.0,
) -> Engine:
    """An engine for the URL; SQLite files get WAL and a busy timeout so readers never block.
    PostgreSQL connections give up after the connect timeout (a server that accepts and never
    answers would otherwise hang every command) and end statements at the statement timeout."""
    parsed = _parse_url(url)
    backend = parsed.get_backend_name()
    if backend != "sqlite":
        connect_args: dict[str, object] = {}
        if backend == "postgresql":
            connect_args["connect_timeout"] = connect_timeout_seconds
            if statement_timeout_seconds:
                milliseconds = max(1, round(statement_timeout_seconds * 1000))
                connect_args["options"] = f"-c statement_timeout={milliseconds}"
        try:
            return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args)
        except NoSuchModuleError:
            raise ConfigError(
                f"warehouse.url: unsupported database {parsed.drivername!r} "
                "(use postgresql+psycopg:// or sqlite:///)"
            ) from None
        except ImportError as exc:
            raise ConfigError(
                f"warehouse.url: the driver for {parsed.drivername!r} is not installed "
                f"({exc.name or exc})"
            ) from None
    if parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the warehouse folder {folder}: {exc.strerror}"
            ) from None
    engine = create_engine(parsed, echo=echo)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
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
    from alembic import command  # see MIGRATIONS
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with sqlite_schema_lock(engine), engine.begin() as connection:
        schema_lock(connection)  # until the upgrade is committed
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_warehouse(settings: Settings) -> Engine:
    """The configured warehouse, migrated; an unreachable database is a clear error. The
    engine (and its pool) is made and the schema migrated once per process: every later call
    with the same warehouse settings returns the same engine."""
    options = settings.warehouse
    key = (
        settings.warehouse_url,
        options.echo,
        options.sqlite_busy_timeout_ms,
        options.connect_timeout_seconds,
        options.statement_timeout_seconds,
    )
    with _OPENING:
        engine = _OPEN.get(key)
        if engine is None:
            engine = _OPEN[key] = _open_migrated(settings)
        return engine


def close_warehouses() -> None:
    """Dispose of every engine `open_warehouse` made (their pooled connections closed)."""
    with _OPENING:
        while _OPEN:
            _OPEN.popitem()[1].dispose()


def _open_migrated(settings: Settings) -> Engine:
    engine = create_warehouse_engine(
        settings.warehouse_url,
        echo=settings.warehouse.echo,
        busy_timeout_ms=settings.warehouse.sqlite_busy_timeout_ms,
        connect_timeout_seconds=settings.warehouse.connect_timeout_seconds,
        statement_timeout_seconds=settings.warehouse.statement_timeout_seconds,
    )
    shown = engine.url.render_as_string(hide_password=True)
    from alembic.util.exc import CommandError  # see MIGRATIONS

    try:
        migrate(engine)
    except OperationalError as exc:
        raise OkrError(f"cannot open the warehouse at {shown}: {_first_line(exc.orig)}") from None
    except CommandError as exc:
        unknown = _unknown_revisions(engine)
        if unknown:
            raise OkrError(
                f"the warehouse at {shown} was made by a newer okr-pipeline (revision "
                f"{', '.join(unknown)}); upgrade okr-pipeline"
            ) from None
        raise OkrError(f"cannot migrate the warehouse at {shown}: {exc}") from None
    return engine


def _unknown_revisions(engine: Engine) -> list[str]:
    """Schema revisions recorded in the warehouse that this code's migrations do not know."""
    from alembic.runtime.migration import MigrationContext  # see MIGRATIONS
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return sorted(set(current) - known)


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
