"""The async engine, its pool sized from the settings, /health's own engine outside the
pool, the session factory, and the migrations driven from inside the event loop
(upgrade, and the startup check).

The pool gets only the arguments its class takes (lesson 08; mistake M2). The pool's events
are logged, so you can watch connections being opened, lent out and given back.

On SQLite, every new connection switches foreign keys on (lesson 05), and SQLAlchemy
emits BEGIN itself (lesson 10): savepoints work, and a unit of work
asks for BEGIN IMMEDIATE, the write lock taken before its first read. aiosqlite runs
sqlite3 in a thread of its own; the events below are the same as lesson 10's, on
engine.sync_engine, the sync engine an AsyncEngine drives.
"""

import logging
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection, StaticPool
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import ALEMBIC_INI, settings

# A child of uvicorn's logger: it prints where uvicorn prints, at uvicorn's --log-level.
logger = logging.getLogger("uvicorn.error.pool")


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def pool_options(url: URL) -> dict[str, Any]:
    """The create_async_engine() arguments for the pool: only those the chosen pool takes."""
    if is_sqlite_memory(url):
        # An in-memory database lives inside one connection: every session must share it.
        return {"poolclass": StaticPool}
    if settings.POOL_CLASS == "NullPool":
        # No pool: a new connection per checkout, closed at checkin (e.g. behind PgBouncer).
        return {"poolclass": NullPool}
    # QueuePool: an async engine uses its asyncio version, AsyncAdaptedQueuePool.
    return {
        "pool_size": settings.POOL_SIZE,
        "max_overflow": settings.MAX_OVERFLOW,
        "pool_timeout": settings.POOL_TIMEOUT,
        "pool_pre_ping": settings.POOL_PRE_PING,
        "pool_recycle": settings.POOL_RECYCLE,
    }


engine = create_async_engine(settings.DATABASE_URL, **pool_options(make_url(settings.DATABASE_URL)))
# /health's way to the database: a connection opened for each check and closed after it,
# outside the pool, so a check never queues behind requests waiting for a pooled one.
health_engine = create_async_engine(settings.DATABASE_URL, poolclass=NullPool)


def enable_sqlite_foreign_keys(
    dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry
) -> None:
    # SQLite enforces FOREIGN KEY constraints only on connections that ask for it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


if engine.dialect.name == "sqlite":
    # "connect" runs once for each new DBAPI connection the pool opens, whatever the pool;
    # an AsyncEngine's events are its sync_engine's. (health_engine only runs SELECT 1: no
    # foreign key to enforce there.) The pragma runs outside any transaction, where SQLite
    # takes it (inside one it is silently ignored).
    event.listen(engine.sync_engine, "connect", enable_sqlite_foreign_keys)

    # aiosqlite's sqlite3 starts transactions on its own, late, and misses SAVEPOINT: a
    # savepoint opened first would commit when released. Let SQLAlchemy emit BEGIN itself.
    @event.listens_for(engine.sync_engine, "connect")
    def sqlite_no_implicit_begin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def sqlite_begin(connection: Connection) -> None:
        # BEGIN IMMEDIATE where the connection asks for it (app/unit_of_work.py): a
        # transaction that will write takes the write lock first, or waits for it. Reads: BEGIN.
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


# Pool events, logged with each DBAPI connection's id: the same id again means reuse.
@event.listens_for(engine.sync_engine, "connect")
def log_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    # A new connection to the database: rare once the pool is warm.
    logger.info("pool connect: opened connection %#x", id(dbapi_connection))


@event.listens_for(engine.sync_engine, "checkout")
def log_checkout(
    dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    logger.debug("pool checkout: connection %#x; %s", id(dbapi_connection), engine.pool.status())


@event.listens_for(engine.sync_engine, "checkin")
def log_checkin(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    if dbapi_connection is not None:  # None: it was invalidated while out, and is closed
        logger.debug("pool checkin: connection %#x", id(dbapi_connection))


@event.listens_for(engine.sync_engine, "invalidate")
def log_invalidate(
    dbapi_connection: DBAPIConnection | None,
    record: ConnectionPoolEntry,
    exception: BaseException | None,
) -> None:
    # A connection found dead (by pre-ping, or by a failed statement) is thrown away.
    logger.warning("pool invalidate: connection %#x discarded: %r", id(dbapi_connection), exception)


# expire_on_commit=False: after a commit, objects keep the values this session loaded or
# wrote; reading an expired one would need a query, and that fails outside `await`.
SessionLocal = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """The lesson's alembic.ini; with a connection, env.py runs the migrations on it."""
    config = Config(ALEMBIC_INI)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def set_sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    # On the DBAPI connection itself: through SQLAlchemy, the pragma would come after a
    # BEGIN (the "begin" listener above), and SQLite ignores it inside a transaction.
    cursor = connection.connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


def _upgrade(connection: Connection, revision: str) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # The app's connections have foreign keys on; a batch rebuild of team (DROP TABLE
        # team) would then set every hero's team_id to NULL (lesson 09). Off while migrating.
        set_sqlite_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            command.upgrade(alembic_config(connection), revision)
    finally:
        if sqlite:
            set_sqlite_foreign_keys(connection, on=True)  # it goes back to the app's pool


async def upgrade(revision: str = "head") -> None:
    """`alembic upgrade` from inside a running event loop: on our connection, via run_sync.

    command.upgrade() alone would reach env.py's asyncio.run() and fail (mistake M1).
    """
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade, revision)


async def check_schema_is_current() -> None:
    """Refuse to start on a database the migrations have not brought up to date (lesson 09)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_heads()
        )
    if set(current) != set(heads):
        have = ", ".join(current) or "none (an empty database)"
        raise RuntimeError(
            f"The database schema is at revision {have}, but this code needs "
            f"{', '.join(heads)}: run `python -m app.prestart` (or `alembic upgrade head`) "
            f"in {ALEMBIC_INI.parent} first"
        )
