"""Database setup: one engine whose connection pool is sized from the environment.

Every setting is read once, at import: DATABASE_URL, POOL_CLASS, POOL_SIZE, MAX_OVERFLOW,
POOL_TIMEOUT, POOL_PRE_PING, POOL_RECYCLE (the README has the table). The pool's events
are logged, so you can watch connections being opened, lent out and given back. On
SQLite, every new connection also switches foreign keys on, as in lesson 05.
"""

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection, StaticPool
from sqlmodel import SQLModel, create_engine

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

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
    # >>> exercise 3
    pre_ping = os.environ.get("POOL_PRE_PING", "true") == "true"
    # <<< exercise 3
    options: dict[str, Any] = {
        "pool_size": int(os.environ.get("POOL_SIZE", "5")),
        "max_overflow": int(os.environ.get("MAX_OVERFLOW", "10")),
        "pool_timeout": float(os.environ.get("POOL_TIMEOUT", "30")),
        # >>> exercise 3
        "pool_pre_ping": pre_ping,
        # <<< exercise 3
    }
    # >>> exercise 2
    options["pool_recycle"] = float(os.environ.get("POOL_RECYCLE", "-1"))
    # <<< exercise 2
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
    # (health_engine only runs SELECT 1: no foreign key to enforce there.)
    event.listen(engine, "connect", enable_sqlite_foreign_keys)


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


def create_db_and_tables() -> None:
    # Every class declared with table=True has registered its table in SQLModel.metadata.
    SQLModel.metadata.create_all(engine)
