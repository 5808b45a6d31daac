"""Lesson 06 helpers: async HTTP helpers, a client that sees 500s, and the database as stored."""

import gc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlmodel import Session


@pytest.fixture
def post_team() -> Callable[..., Any]:
    """``await post_team(client, "Preventers")``: POST a team, assert 200, return the JSON."""

    async def _post(client: httpx.AsyncClient, name: str, headquarters: str | None = None) -> Any:
        body = {"name": name, "headquarters": headquarters or f"{name} HQ"}
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
