"""Database setup on an async engine: aiosqlite by default, asyncpg on PostgreSQL."""

import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

# No connect_args: SQLAlchemy 2.x passes check_same_thread=False for SQLite files itself.
engine = create_async_engine(SQLALCHEMY_DATABASE_URL)
# expire_on_commit=False, lesson 02's choice: after COMMIT, objects keep the values the
# session wrote and read. Async needs it for a reason of its own: reloading an expired
# attribute would need a query, and a query outside `await` fails (M2).
SessionLocal = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def enable_sqlite_foreign_keys(
    dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry
) -> None:
    # SQLite enforces FOREIGN KEY constraints only on connections that ask for it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


if engine.dialect.name == "sqlite":
    # "connect" runs once for each new DBAPI connection the pool opens. Events are sync
    # code: an async engine takes them on the sync Engine it drives, engine.sync_engine.
    event.listen(engine.sync_engine, "connect", enable_sqlite_foreign_keys)


async def create_db_and_tables() -> None:
    # Every class declared with table=True has registered its table in SQLModel.metadata.
    # create_all is synchronous code: run_sync runs it on the async connection.
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
