"""Lesson 07 helpers: async HTTP helpers, a client that sees 500s, the rows as stored, and a
counter of the queries encode/databases sends."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest


@pytest.fixture
def stored(db: Any) -> Callable[[Any], list[Any]]:
    """``stored(select(hero_table.c.name))``: what is really in the database.

    Read on a separate, synchronous engine (sqlite3 or psycopg), so nothing the lesson's
    `databases` connection holds can answer for the database. A one-column SELECT gives
    plain values, a wider one tuples.
    """
    engine = db.engine()

    def _read(statement: Any) -> list[Any]:
        with engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [row[0] if len(row) == 1 else tuple(row) for row in rows]

    return _read


@dataclass
class QueryLog:
    """The SQL statements encode/databases logged while the counter was open."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"  {i}. {s}" for i, s in enumerate(self.statements, 1))


@pytest.fixture
def count_queries(caplog: pytest.LogCaptureFixture) -> Callable[[], Any]:
    """``with count_queries() as log: ...`` then ``log.count``.

    databases does not go through an SQLAlchemy engine, so the harness's
    ``count_statements`` sees nothing. It logs every query it sends at DEBUG level on the
    "databases" logger ("Query: ... Args: ..."): this counts those records. BEGIN, COMMIT
    and ROLLBACK of `database.transaction()` are not logged, so they are not counted.
    """

    @contextmanager
    def _count() -> Iterator[QueryLog]:
        log = QueryLog()
        start = len(caplog.records)
        with caplog.at_level(logging.DEBUG, logger="databases"):
            yield log
            for record in caplog.records[start:]:
                message = record.getMessage()
                if record.name == "databases" and message.startswith("Query: "):
                    log.statements.append(" ".join(message.split()))

    return _count
