"""Engine and sessions: SQLite in WAL mode by default, PostgreSQL (psycopg 3) by URL; the schema brought
up to date with Alembic."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from nlp.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The API answers from a thread pool while the worker writes: enough connections for both without
# exhausting a shared server's max_connections (100 by default) when a few services share it.
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
# Seconds to wait for the server at start-up before the service reports it cannot be reached.
PG_CONNECT_TIMEOUT = 10


def database_url(url: str) -> URL:
    """`url` parsed; ``postgresql://`` and ``postgres://`` mean psycopg 3 (the `postgres` extra), since
    SQLAlchemy would otherwise look for psycopg2, which kesheng does not install."""
    try:
        parsed = make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError; the URL may hold a password: not echoed
        raise ConfigError(f"db_url (KESHENG_DB_URL / --db): not a database URL ({type(error).__name__})") from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for `url`.

    SQLite: the folder is created and WAL, foreign keys and a busy timeout set. WAL lets the API read
    while the worker writes; the busy timeout makes a second writer wait its turn instead of failing
    with "database is locked".
    PostgreSQL: a bounded pool whose connections are checked before use (a restarted server or an
    idle-timeout must not fail the next request) and named ``kesheng`` in pg_stat_activity.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted and overwritten rows (an edited note, a removed session) are zeroed, not left in free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        try:
            return create_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=PG_POOL_SIZE,
                max_overflow=PG_MAX_OVERFLOW,
                connect_args={"connect_timeout": PG_CONNECT_TIMEOUT, "application_name": "kesheng"},
            )
        except ModuleNotFoundError as error:
            raise ConfigError(
                f"db_url: PostgreSQL needs the driver {error.name!r}: pip install 'kesheng[postgres]'"
            ) from error
    return create_engine(parsed, pool_pre_ping=True)


def is_postgresql(bind: Session | Connection | Engine) -> bool:
    """Whether `bind` talks to PostgreSQL."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return dialect.name == "postgresql"


def serialize(bind: Session | Connection, name: str) -> None:
    """Hold the lock `name` until the current transaction ends, so that transactions doing `name` run
    one after another.

    SQLite already runs writing transactions one at a time; PostgreSQL runs them side by side, so a
    read-then-write (migrations, alert evaluation) takes a transaction-level advisory lock there.
    """
    if not is_postgresql(bind):
        return
    key = int.from_bytes(hashlib.sha256(f"kesheng:{name}".encode()).digest()[:8], "big", signed=True)
    bind.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def migrate(engine: Engine) -> tuple[str | None, str | None]:
    """Upgrade the database to the newest schema (Alembic, migrations shipped in api/migrations); the
    revision found and the revision left.

    However many processes start together against one PostgreSQL database (an API and its workers),
    the migrations run once: each upgrades inside one transaction that first takes an advisory lock, so
    they go one after another, and the ones after the first find the schema at head and do nothing.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        serialize(connection, "migrate")
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together at the end, or rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    """Raise when the database cannot be reached."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
