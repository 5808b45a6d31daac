"""Database setup with encode/databases: aiosqlite by default, asyncpg on PostgreSQL."""

import os
import sqlite3
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
from databases import Database
from sqlalchemy.ext.asyncio import create_async_engine

from models import metadata

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

# databases reads SQLAlchemy's URL but only its dialect, the part before "+": sqlite runs
# on aiosqlite, postgresql on asyncpg. Nothing opens until `await database.connect()`.
database = Database(SQLALCHEMY_DATABASE_URL)

# databases passes the driver's own exceptions through, not SQLAlchemy's (mistake M5).
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


async def create_db_and_tables() -> None:
    # databases has no create_all: a short-lived SQLAlchemy engine runs it, then goes away.
    engine = create_async_engine(SQLALCHEMY_DATABASE_URL)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
