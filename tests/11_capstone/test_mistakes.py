"""Lesson 11's mistakes: where the pieces of earlier lessons meet on the async stack.

M1: `alembic.command.upgrade(cfg, "head")` called from inside a running event loop (an
async test, the app's lifespan) reaches env.py's asyncio.run(), which refuses to start a
second loop. The fix: open the connection in the running loop and hand it to env.py
through `config.attributes["connection"]`, inside `connection.run_sync`.

M2: the pool's queue settings passed to a pool that has no queue (an in-memory SQLite
database, NullPool): create_async_engine() refuses them with a TypeError at import.

M3: lesson 10's "try again" handler registered for OperationalError: with asyncpg, a
deadlock arrives as a plain DBAPIError, and the handler never sees it: a 500.
"""

import asyncio
import gc

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

pytestmark = pytest.mark.anyio

API = "/api/v1"


# ---------------------------------------------------------------- M1


async def test_m1_command_upgrade_inside_a_running_loop_raises(migrations):
    # asyncio.run() refuses before awaiting env.py's coroutine: Python then warns that the
    # coroutine was never awaited, when it is collected. Collect it here, and assert both.
    with pytest.warns(RuntimeWarning, match="coroutine 'run_async_migrations' was never awaited"):
        with pytest.raises(
            RuntimeError, match=r"^asyncio\.run\(\) cannot be called from a running event loop$"
        ):
            command.upgrade(migrations.cfg, "head")
        gc.collect()
    assert migrations.current() == ()  # nothing was migrated


async def test_m1_the_connection_passed_in_config_attributes_works(migrations, lesson):
    db = lesson.module("app.core.db")
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(db.alembic_config(sync), "head"))
    finally:
        await db.engine.dispose()
    assert migrations.current() == (migrations.head,)


def test_m1_outside_a_loop_env_py_starts_its_own(migrations):
    # The command line's path: no loop is running, so env.py's asyncio.run() is right.
    command.upgrade(migrations.cfg, "head")
    assert migrations.current() == (migrations.head,)


# ---------------------------------------------------------------- M2

QUEUE_SETTINGS = {"pool_size": 5, "max_overflow": 10, "pool_timeout": 30.0}


def refused(configuration: str) -> str:
    return (
        r"^Invalid argument\(s\) 'pool_size','max_overflow','pool_timeout' sent to "
        rf"create_engine\(\), using configuration {configuration}\.  Please check that the "
        r"keyword arguments are appropriate for this combination of components\.$"
    )


def test_m2_queue_settings_for_an_in_memory_database_are_a_type_error():
    with pytest.raises(TypeError, match=refused("SQLiteDialect_aiosqlite/StaticPool/Engine")):
        create_async_engine("sqlite+aiosqlite://", **QUEUE_SETTINGS)


def test_m2_queue_settings_for_nullpool_are_a_type_error(db):
    dialect = "SQLiteDialect_aiosqlite" if db.backend == "sqlite" else "PGDialect_asyncpg"
    with pytest.raises(TypeError, match=refused(f"{dialect}/NullPool/Engine")):
        create_async_engine(db.async_url, poolclass=NullPool, **QUEUE_SETTINGS)


@pytest.mark.lesson_env(DATABASE_URL="sqlite+aiosqlite://", POOL_SIZE="3")
def test_m2_the_capstone_gives_an_in_memory_database_no_queue_settings(lesson):
    db = lesson.module("app.core.db")  # it imported: no TypeError
    assert db.pool_options(db.engine.url) == {"poolclass": db.StaticPool}
    assert type(db.engine.pool).__name__ == "StaticPool"


@pytest.mark.lesson_env(POOL_CLASS="NullPool", POOL_SIZE="3")
def test_m2_the_capstone_gives_nullpool_no_queue_settings(lesson):
    db = lesson.module("app.core.db")
    assert db.pool_options(db.engine.url) == {"poolclass": NullPool}
    assert type(db.engine.pool) is NullPool


# ---------------------------------------------------------------- M3


async def a_real_deadlock(lesson):
    """Two transactions on the app's engine, each locking one hero and then the other's:
    PostgreSQL ends one of them. The error SQLAlchemy raised there."""
    engine = lesson.module("app.core.db").engine
    lock = "SELECT id FROM hero WHERE id = :id FOR UPDATE"
    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await second.begin()
        await first.execute(text(lock), {"id": 1})
        await second.execute(text(lock), {"id": 2})
        results = await asyncio.gather(
            first.execute(text(lock), {"id": 2}),
            second.execute(text(lock), {"id": 1}),
            return_exceptions=True,
        )
        await first.rollback()
        await second.rollback()
    [error] = [result for result in results if isinstance(result, Exception)]
    return error


@pytest.fixture
async def two_heroes(async_client, create_hero):
    for name in ("Deadpond", "Rusty-Man"):
        await create_hero(async_client, name)


@pytest.mark.postgres_only
async def test_m3_on_asyncpg_a_deadlock_is_a_dbapi_error_not_an_operational_error(
    lesson, two_heroes
):
    error = await a_real_deadlock(lesson)
    assert type(error) is DBAPIError and not isinstance(error, OperationalError)
    assert str(error).startswith(
        "(sqlalchemy.dialects.postgresql.asyncpg.Error) deadlock detected\n"
        "[SQL: SELECT id FROM hero WHERE id = $1 FOR UPDATE]"
    )
    assert error.orig.sqlstate == "40P01"


@pytest.fixture
async def transfers_hit_by(lesson, monkeypatch):
    """``await transfers_hit_by(error)``: the transfer's lock raises ``error``; the answers of
    the lesson's app and of the same routes with lesson 10's handler, on OperationalError."""
    from fastapi import FastAPI

    main = lesson.module("app.main")
    repositories = lesson.module("app.repositories")

    async def send(error):
        async def locked_out(self, hero_ids):
            raise error

        monkeypatch.setattr(repositories.HeroRepository, "lock", locked_out)
        lesson10 = FastAPI(routes=main.app.router.routes)
        lesson10.add_exception_handler(OperationalError, main.contention_handler)
        answers = []
        for app in (main.app, lesson10):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                body = {"hero_ids": [1, 2], "to_team_id": 2}
                answers.append(await client.post(f"{API}/teams/1/transfer", json=body))
        return answers

    return send


@pytest.mark.postgres_only
async def test_m3_a_handler_on_operational_error_lets_asyncpgs_deadlock_through_as_a_500(
    async_client, create_team, two_heroes, lesson, transfers_hit_by
):
    for name in ("Preventers", "Z-Force"):
        await create_team(async_client, name)
    error = await a_real_deadlock(lesson)
    capstone, lesson10 = await transfers_hit_by(error)
    assert (lesson10.status_code, lesson10.text) == (500, "Internal Server Error")
    # The capstone's handler takes every DBAPIError and reads its SQLSTATE: 503, retry.
    retry = {"detail": "Another request held what this one needed. Retry soon."}
    assert (capstone.status_code, capstone.json()) == (503, retry)
    assert capstone.headers["Retry-After"] == "1"
