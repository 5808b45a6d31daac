"""Database setup with SQLModel: one engine, with SQLite's foreign keys switched on."""

import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel, create_engine

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

# No connect_args: SQLAlchemy 2.x passes check_same_thread=False for SQLite files itself.
engine = create_engine(SQLALCHEMY_DATABASE_URL)


def enable_sqlite_foreign_keys(
    dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry
) -> None:
    # SQLite enforces FOREIGN KEY constraints only on connections that ask for it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


if engine.dialect.name == "sqlite":
    # "connect" runs once for each new DBAPI connection the pool opens.
    event.listen(engine, "connect", enable_sqlite_foreign_keys)


def create_db_and_tables() -> None:
    # Every class declared with table=True has registered its table in SQLModel.metadata.
    SQLModel.metadata.create_all(engine)
