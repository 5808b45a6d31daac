"""Lesson 06 helpers: async HTTP helpers, a client that sees 500s, and the database as stored."""

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@pytest.fixture
def unawaited_cursor(db: Any) -> Callable[[], Any]:
    """``with unawaited_cursor(): ...`` around a lazy load that fails outside the greenlet.

    On aiosqlite the failed load leaves behind the `cursor()` coroutine it could not await,
    and Python warns "coroutine 'Connection.cursor' was never awaited" when that object is
    collected. Collect it here, inside the block, and assert the warning, so it cannot
    surface at a random moment in a later test. asyncpg leaves nothing behind.
    """

    @contextmanager
    def _expect() -> Iterator[None]:
        if db.backend != "sqlite":
            yield
            gc.collect()
            return
        with pytest.warns(RuntimeWarning, match="coroutine 'Connection.cursor' was never awaited"):
            yield
            gc.collect()

    return _expect
