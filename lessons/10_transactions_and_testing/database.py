"""Database setup: one engine whose connection pool is sized from the environment.

Every setting is read once, at import: DATABASE_URL, POOL_CLASS, POOL_SIZE, MAX_OVERFLOW,
POOL_TIMEOUT, POOL_PRE_PING, POOL_RECYCLE (the README has the table). The pool's events
are logged, so you can watch connections being opened, lent out and given back. On
SQLite, every new connection also switches foreign keys on, as in lesson 05.

The tables are no longer created here: Alembic's migrations create and change them
(`alembic upgrade head`), and migrations/env.py reads the same DATABASE_URL from this module.

On SQLite, SQLAlchemy emits BEGIN itself, so savepoints (`begin_nested()`) work there too.
"""

import logging
import os
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection, StaticPool
from sqlmodel import create_engine

# The default database sits next to this file, wherever uvicorn (or alembic) is started from.
DEFAULT_DATABASE_URL = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
# Alembic's settings, beside this file: where the migrations are, and logging for the CLI.
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"

# A child of uvicorn's logger: it prints where uvicorn prints, at uvicorn's --log-level.
logger = logging.getLogger("uvicorn.error.pool")


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def pool_options(url: URL) -> dict[str, Any]:
    """The create_engine() arguments for the pool: only those the chosen pool takes."""
    if is_sqlite_memory(url):
        # An in-memory database lives inside one connection: every thread must share it.
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    pool_class = os.environ.get("POOL_CLASS", "QueuePool")
    if pool_class == "NullPool":
        # No pool: a new connection per checkout, closed at checkin (e.g. behind PgBouncer).
        return {"poolclass": NullPool}
    if pool_class != "QueuePool":
        raise ValueError(f"POOL_CLASS must be QueuePool or NullPool, not {pool_class!r}")
    pre_ping = os.environ.get("POOL_PRE_PING", "true").lower() not in ("0", "false", "no", "off")
    options: dict[str, Any] = {
        "pool_size": int(os.environ.get("POOL_SIZE", "5")),
        "max_overflow": int(os.environ.get("MAX_OVERFLOW", "10")),
        "pool_timeout": float(os.environ.get("POOL_TIMEOUT", "30")),
        "pool_pre_ping": pre_ping,
    }
    options["pool_recycle"] = float(os.environ.get("POOL_RECYCLE", "-1"))
    return options


engine = create_engine(SQLALCHEMY_DATABASE_URL, **pool_options(make_url(SQLALCHEMY_DATABASE_URL)))
# /health's way to the database: a connection opened for each check and closed after it,
# outside the pool, so a check never queues behind requests waiting for a pooled one.
health_engine = create_engine(SQLALCHEMY_DATABASE_URL, poolclass=NullPool)


def enable_sqlite_foreign_keys(
    dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry
) -> None:
    # SQLite enforces FOREIGN KEY constraints only on connections that ask for it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


if engine.dialect.name == "sqlite":
    # "connect" runs once for each new DBAPI connection the pool opens, whatever the pool.
    # (health_engine only runs SELECT 1: no foreign key to enforce there.) The pragma runs
    # outside any transaction, where SQLite takes it (inside one it is silently ignored).
    event.listen(engine, "connect", enable_sqlite_foreign_keys)

    # Python's sqlite3 driver starts transactions on its own, late, and misses SAVEPOINT:
    # a savepoint opened first would commit when released. Let SQLAlchemy emit BEGIN itself.
    # (The SQLAlchemy docs' other way, connect_args={"autocommit": False}, needs Python
    # 3.12 and always sends a plain BEGIN, never the BEGIN IMMEDIATE below: README, section 4.)
    @event.listens_for(engine, "connect")
    def sqlite_no_implicit_begin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def sqlite_begin(connection: Connection) -> None:
        # BEGIN IMMEDIATE where the connection asks for it (unit_of_work.py): a transaction
        # that will write takes the write lock first, or waits for it (M4). Reads: BEGIN.
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


# Pool events, logged with each DBAPI connection's id: the same id again means reuse.
@event.listens_for(engine, "connect")
def log_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    # A new connection to the database: rare once the pool is warm.
    logger.info("pool connect: opened connection %#x", id(dbapi_connection))


@event.listens_for(engine, "checkout")
def log_checkout(
    dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    logger.debug("pool checkout: connection %#x; %s", id(dbapi_connection), engine.pool.status())


@event.listens_for(engine, "checkin")
def log_checkin(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    if dbapi_connection is not None:  # None: it was invalidated while out, and is closed
        logger.debug("pool checkin: connection %#x", id(dbapi_connection))


@event.listens_for(engine, "invalidate")
def log_invalidate(
    dbapi_connection: DBAPIConnection | None,
    record: ConnectionPoolEntry,
    exception: BaseException | None,
) -> None:
    # A connection found dead (by pre-ping, or by a failed statement) is thrown away.
    logger.warning("pool invalidate: connection %#x discarded: %r", id(dbapi_connection), exception)


def check_schema_is_current() -> None:
    """Refuse to start on a database the migrations have not brought up to date."""
    # alembic.ini says where the migrations are; their head is the schema this code expects.
    script = ScriptDirectory.from_config(Config(ALEMBIC_INI))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    if set(current) != set(script.get_heads()):
        have = ", ".join(current) or "none (an empty database)"
        raise RuntimeError(
            f"The database schema is at revision {have}, but this code needs "
            f"{', '.join(script.get_heads())}: run `alembic upgrade head` in "
            f"{ALEMBIC_INI.parent} first"
        )
