"""Database setup in SQLAlchemy 2.0 style, with SQLite's foreign keys switched on."""

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

# No connect_args: SQLAlchemy 2.x passes check_same_thread=False for SQLite files itself.
engine = create_engine(SQLALCHEMY_DATABASE_URL)
# autoflush stays on (the default): a query sees the changes its session has not sent yet.
# expire_on_commit=False: after COMMIT, objects keep the values the session wrote and read,
# so a route answers with them instead of reloading the row. The README explains both.
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


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


class Base(DeclarativeBase):
    pass
