"""Database setup in SQLAlchemy 2.0 style: a `DeclarativeBase` subclass and `sessionmaker`."""

import os
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

# No connect_args: SQLAlchemy 2.x passes check_same_thread=False for SQLite files itself.
engine = create_engine(SQLALCHEMY_DATABASE_URL)
# autoflush stays on (the default): a query sees the changes its session has not sent yet.
# expire_on_commit=False: after COMMIT, objects keep the values the session wrote and read,
# so a route answers with them instead of reloading the row. The README explains both.
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass
