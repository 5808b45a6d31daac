"""Lesson 06 helpers: async HTTP helpers, a client that sees 500s, and the database as stored."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session


@pytest.fixture
def stored(db: Any) -> Callable[[Any], list[Any]]:
    """``stored(select(Hero.name))``: what is really in the database, read on a sync engine.

    A separate engine and driver (sqlite3, psycopg), so nothing the lesson's session holds
    in memory can answer for the database.
    """
    engine = db.engine()

    def _read(statement: Any) -> list[Any]:
        with Session(engine) as session:
            return list(session.exec(statement).all())

    return _read
