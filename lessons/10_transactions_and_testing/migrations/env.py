"""Alembic's entry point: every alembic command runs this file to reach the database.

It connects with the app's own URL (database.py: DATABASE_URL, or heroes.db beside the
code) and compares the database with the app's models, so `alembic revision
--autogenerate` can write the difference as a migration. Online mode runs the migrations
on a connection; offline mode (`alembic upgrade head --sql`) prints their SQL instead.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import models  # noqa: F401  (importing it registers every table in SQLModel.metadata)
from database import SQLALCHEMY_DATABASE_URL

config = context.config

# Logging for the command line, from alembic.ini.
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

# The schema the code expects: what autogenerate and `alembic check` compare against.
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    """Write the migrations' SQL to stdout, for a DBA to review or run: no database needed."""
    context.configure(
        url=SQLALCHEMY_DATABASE_URL,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a connection, each in the transaction Alembic opens."""
    # One connection for one command: nothing to pool. An engine of its own, not the app's:
    # on SQLite the app's connections switch foreign keys on, and a batch rebuild of team
    # (DROP TABLE team) would then set every hero's team_id to NULL.
    connectable = create_engine(SQLALCHEMY_DATABASE_URL, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things: autogenerate writes batch operations, which
            # copy the table when needed (lesson 09). Other databases run them as ALTERs.
            render_as_batch=True,
            # Also compare server defaults (like hero.rank's), not only columns and types.
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
