"""Alembic's entry point, async: every alembic command runs this file to reach the database.

The migrations themselves are synchronous code; on an async engine they run through
`connection.run_sync`. Two ways in:

* From the command line (`alembic upgrade head`) no event loop is running: env.py opens its
  own async engine and drives it with `asyncio.run()`.
* From code that is already inside an event loop (the app, an async test), `asyncio.run()`
  would raise "asyncio.run() cannot be called from a running event loop" (mistake M1).
  That code opens the connection itself and passes it in `config.attributes["connection"]`
  (Alembic's cookbook pattern: `upgrade()` in app/core/db.py), and env.py uses it.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (importing it registers every table in SQLModel.metadata)
from app.core.config import settings

config = context.config

# Logging for the command line only, from alembic.ini: a caller passing a connection has
# its own logging, which fileConfig would replace.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name)

# The schema the code expects: what autogenerate and `alembic check` compare against.
target_metadata = SQLModel.metadata


def configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate writes batch operations (lesson 09).
        render_as_batch=True,
        compare_server_default=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Write the migrations' SQL to stdout (`alembic upgrade head --sql`): no database."""
    configure(url=settings.DATABASE_URL, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """The synchronous part: run on a sync view of an async connection, via run_sync."""
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open a connection on a one-off async engine and run the migrations through it."""
    # One connection for one command: nothing to pool.
    connectable = create_async_engine(settings.DATABASE_URL, poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # The command line: no loop is running yet, so start one.
        asyncio.run(run_async_migrations())
    else:
        # Called through run_sync by code inside a running loop: its connection, its loop.
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
