"""Lesson 07 helpers: async HTTP helpers, a client that sees 500s, the rows as stored, and a
counter of the queries encode/databases sends."""

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


@pytest.fixture
def post_team() -> Callable[..., Any]:
    """``await post_team(client, "Preventers")``: POST a team, assert 200, return the JSON."""

    async def _post(
        client: httpx.AsyncClient, name: str, headquarters: str | None = None, **extra: Any
    ) -> Any:
        body = {"name": name, "headquarters": headquarters or f"{name} HQ", **extra}
        response = await client.post("/teams/", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    return _post


@pytest.fixture
def post_hero(create_hero: Callable[..., Any]) -> Callable[..., Any]:
    """``await post_hero(client, "Deadpond", age=48)``: the harness's ``create_hero``, which
    returns an awaitable for an async client (POST a hero, assert 200, return the JSON)."""
    return create_hero


@pytest.fixture
async def raw_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``async_client``, but an unhandled error comes back as the 500 a real client gets."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ac:
            yield ac


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
