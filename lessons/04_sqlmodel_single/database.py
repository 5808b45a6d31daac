"""Database setup with SQLModel: one engine; the tables live in `SQLModel.metadata`."""

import os
from pathlib import Path

from sqlmodel import SQLModel, create_engine

# The default database sits next to this file, wherever uvicorn is started from.
DEFAULT_DATABASE_URL = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
SQLALCHEMY_DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

# No connect_args: SQLAlchemy 2.x passes check_same_thread=False for SQLite files itself.
engine = create_engine(SQLALCHEMY_DATABASE_URL)


def create_db_and_tables() -> None:
    # Every class declared with table=True has registered its table in SQLModel.metadata.
    SQLModel.metadata.create_all(engine)
