"""Lesson 06: each common mistake from the README, reproduced, then the lesson's way."""

import asyncio
import importlib.metadata
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.exceptions import ResponseValidationError
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
NO_GREENLET = "greenlet_spawn has not been called; can't call await_() here"


@pytest.fixture
def lazy_load_error(db):
    """What an unawaited lazy load raises with the driver in use, and how the message starts.

    aiosqlite needs an await to create the cursor, before the statement runs, so SQLAlchemy
    wraps the MissingGreenlet in a StatementError that shows the SQL; asyncpg gets that far
    and fails on the execute itself, so the MissingGreenlet arrives bare.
    """
    if db.backend == "sqlite":
        return StatementError, f"(sqlalchemy.exc.MissingGreenlet) {NO_GREENLET}"
    return MissingGreenlet, NO_GREENLET


@pytest.fixture
async def preventers(async_client, create_hero, create_team):
    """A team with one hero, created over HTTP; the team's id."""
    team = await create_team(async_client, "Preventers", "Sharp Tower")
    await create_hero(async_client, "Rusty-Man", "Tommy Sharp", team_id=team["id"])
    return team["id"]


# The SELECT the lazy loader of Team.heroes could not run, as aiosqlite's StatementError
# shows it. The bind parameter's name holds an object id, different on every run.
LAZY_SQL = re.compile(
    r"\[SQL: SELECT hero\.name, hero\.age, hero\.team_id, hero\.id, hero\.secret_name \n"
    r"FROM hero \nWHERE \? = hero\.team_id ORDER BY hero\.id\]\n"
    r"\[parameters: \[\{'%\(\d+ param\)s': 1\}\]\]"
)


# ---------------------------------------------------------------- M1: lazy loading


async def test_m1_touching_an_unloaded_relationship_raises_missing_greenlet(
    lesson, preventers, lazy_load_error, unawaited_cursor
):
    error_class, message = lazy_load_error
    async with lesson.database.SessionLocal() as session:
        team = await session.get(lesson.models.Team, preventers)  # no selectinload
        async with unawaited_cursor():
            with pytest.raises(error_class) as info:
                team.heroes  # noqa: B018 - the attribute read is the mistake
            assert type(info.value) is error_class
            assert str(info.value).startswith(message)
            if error_class is StatementError:
                assert type(info.value.orig) is MissingGreenlet
                assert LAZY_SQL.search(str(info.value)), str(info.value)  # the SQL it could not run
            del info


@pytest.fixture
def lazy_route(app, lesson):
    """GET /teams/{id} as a sync-minded port would write it: no selectinload."""

    @app.get("/lazy-teams/{team_id}", response_model=lesson.models.TeamPublicWithHeroes)
    async def read_team_lazily(team_id: int, session: lesson.main.SessionDep):
        return await session.get(lesson.models.Team, team_id)

    return "/lazy-teams/{team_id}"


async def test_m1_returned_from_a_route_it_fails_while_the_response_is_built(
    async_client, lazy_route, preventers, lazy_load_error, unawaited_cursor
):
    error_class, message = lazy_load_error
    async with unawaited_cursor():
        with pytest.raises(ResponseValidationError) as info:
            await async_client.get(lazy_route.format(team_id=preventers))
        (error,) = info.value.errors()
        del info
    # Pydantic reads team.heroes, catches the error and reports it as a validation error.
    assert (error["type"], error["loc"]) == ("get_attribute_error", ("response", "heroes"))
    assert error["msg"].startswith(f"Error extracting attribute: {error_class.__name__}: {message}")
    if error_class is StatementError:
        assert LAZY_SQL.search(error["msg"]), error["msg"]
    assert error["ctx"]["error"] == error["msg"].removeprefix("Error extracting attribute: ")


async def test_m1_the_client_sees_a_bare_500(raw_client, lazy_route, preventers, unawaited_cursor):
    async with unawaited_cursor():
        response = await raw_client.get(lazy_route.format(team_id=preventers))
    assert (response.status_code, response.text) == (500, "Internal Server Error")


async def test_m1_it_fails_for_a_team_with_no_heroes_too(
    async_client, lazy_route, create_team, lazy_load_error, unawaited_cursor
):
    # A collection is not known to be empty until it is loaded: the load needs SQL anyway.
    team = await create_team(async_client, "Z-Force")
    error_class, _ = lazy_load_error
    async with unawaited_cursor():
        with pytest.raises(ResponseValidationError) as info:
            await async_client.get(lazy_route.format(team_id=team["id"]))
        (error,) = info.value.errors()
        del info
    assert error["msg"].startswith(f"Error extracting attribute: {error_class.__name__}: ")


async def test_m1_the_lessons_selectinload_loads_the_heroes_up_front(
    async_client, lesson, preventers, count_statements
):
    async with lesson.database.SessionLocal() as session:
        with count_statements(lesson.database.engine) as log:
            team = await lesson.crud.get_team(session, preventers, with_heroes=True)
        assert log.count == 2, f"the team, then its heroes:\n{log}"
        with count_statements(lesson.database.engine) as log:
            assert [hero.name for hero in team.heroes] == ["Rusty-Man"]
        assert log.count == 0, "already loaded: reading it needs no SQL"
    response = await async_client.get(f"/teams/{preventers}")
    assert [hero["name"] for hero in response.json()["heroes"]] == ["Rusty-Man"]


# ---------------------------------------------------------------- M2: expire_on_commit


@pytest.fixture
def expiring_sessions(lesson):
    """A session factory with the default expire_on_commit=True."""
    return async_sessionmaker(lesson.database.engine, class_=AsyncSession)


async def test_m2_reading_an_attribute_after_commit_raises_missing_greenlet(
    async_client, lesson, expiring_sessions, lazy_load_error, unawaited_cursor
):
    error_class, message = lazy_load_error
    async with expiring_sessions() as session:
        hero = lesson.models.Hero(name="Deadpond", secret_name="Dive Wilson")
        session.add(hero)
        await session.commit()  # every attribute of hero is now expired
        async with unawaited_cursor():
            with pytest.raises(error_class) as info:
                hero.name  # noqa: B018 - reloading it needs a query, outside any await
            assert type(info.value) is error_class
            assert str(info.value).startswith(message)
            del info


@pytest.fixture
def committing_route(app, lesson, expiring_sessions):
    """A create route that commits itself and returns the object, on a chosen session."""
    models = lesson.models

    async def expiring_session():
        async with expiring_sessions() as session:
            yield session

    def add_route(path, dependency):
        @app.post(path, response_model=models.HeroPublic)
        async def create_and_commit(hero: models.HeroCreate, session=Depends(dependency)):
            db_hero = models.Hero.model_validate(hero)
            session.add(db_hero)
            await session.commit()
            return db_hero  # serialized after the commit

    add_route("/expiring-heroes/", expiring_session)
    add_route("/lesson-heroes/", lesson.main.get_session)


async def test_m2_a_route_that_commits_then_returns_the_object_is_a_500_with_the_row_saved(
    async_client, raw_client, committing_route, lesson, stored, lazy_load_error, unawaited_cursor
):
    error_class, message = lazy_load_error
    async with unawaited_cursor():
        with pytest.raises(ResponseValidationError) as info:
            await async_client.post("/expiring-heroes/", json={"name": "A", "secret_name": "a"})
        errors = info.value.errors()
        del info
        response = await raw_client.post(
            "/expiring-heroes/", json={"name": "B", "secret_name": "b"}
        )
    assert {e["type"] for e in errors} == {"get_attribute_error"}
    assert errors[0]["msg"].startswith(
        f"Error extracting attribute: {error_class.__name__}: {message}"
    )
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    # The commit happened: the client was told it failed, yet both rows are there.
    assert stored(select(lesson.models.Hero.name).order_by(lesson.models.Hero.id)) == ["A", "B"]


async def test_m2_the_lessons_sessions_keep_their_values_after_commit(
    async_client, committing_route, lesson, count_statements
):
    async with lesson.database.SessionLocal() as session:
        hero = lesson.models.Hero(name="Deadpond", secret_name="Dive Wilson")
        session.add(hero)
        await session.commit()
        with count_statements(lesson.database.engine) as log:
            assert (hero.id, hero.name) == (1, "Deadpond")
        assert log.count == 0, "expire_on_commit=False: the values are still in memory"
    response = await async_client.post("/lesson-heroes/", json={"name": "B", "secret_name": "b"})
    assert response.json() == {"id": 2, "name": "B", "age": None, "team_id": None}


# ---------------------------------------------------------------- M3: one session, two tasks

ENGINES = {
    # Each way makes the session open (await) a connection, which is when the overlap shows.
    "null-pool": ({"poolclass": NullPool}, False),
    "pre-ping-on-a-warm-pool": ({"pool_pre_ping": True}, True),
    "fresh-engine": ({}, False),
}


@pytest.fixture(params=list(ENGINES))
async def provisioning_engine(request, db, async_client, create_hero):
    """Two heroes, and an engine on which a session's first query must await a connection."""
    await create_hero(async_client, "Deadpond")
    await create_hero(async_client, "Rusty-Man")
    options, warm_up = ENGINES[request.param]
    engine = create_async_engine(db.async_url, **options)
    if warm_up:
        async with engine.connect():
            pass  # a connection now waits in the pool; pre-ping will await a ping on it
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_m3_one_session_shared_by_gather_is_an_invalid_request_error(
    provisioning_engine, lesson
):
    Hero = lesson.models.Hero
    async with AsyncSession(provisioning_engine) as session:
        results = await asyncio.gather(
            session.get(Hero, 1), session.get(Hero, 2), return_exceptions=True
        )
    assert results[0].name == "Deadpond"
    assert type(results[1]) is InvalidRequestError
    assert str(results[1]).startswith(
        "This session is provisioning a new connection; concurrent operations are not permitted"
    )


async def test_m3_one_session_per_task_runs_concurrently(async_client, create_hero, lesson, db):
    await create_hero(async_client, "Deadpond")
    await create_hero(async_client, "Rusty-Man")
    engine = create_async_engine(db.async_url, poolclass=NullPool)  # M3's most hostile engine
    sessions = async_sessionmaker(engine, class_=AsyncSession)

    async def read(hero_id):
        async with sessions() as session:
            return (await session.get(lesson.models.Hero, hero_id)).name

    try:
        assert await asyncio.gather(read(1), read(2)) == ["Deadpond", "Rusty-Man"]
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- M4: blocking the event loop

DELAY = 0.08  # seconds each request spends in its slow call
N = 10  # concurrent requests


@pytest.fixture
def slow_routes(app):
    @app.get("/slow/blocking")
    async def blocking():
        time.sleep(DELAY)  # a blocking call in async def: the event loop stops here
        return {"ok": True}

    @app.get("/slow/awaiting")
    async def awaiting():
        await asyncio.sleep(DELAY)  # the loop serves other requests meanwhile
        return {"ok": True}

    @app.get("/slow/threaded")
    def threaded():
        time.sleep(DELAY)  # plain def: FastAPI runs it in a worker thread
        return {"ok": True}


async def timed(*requests):
    """Seconds it takes to run the requests concurrently; each must answer 200."""
    start = time.perf_counter()
    responses = await asyncio.gather(*requests)
    elapsed = time.perf_counter() - start
    assert [r.status_code for r in responses] == [200] * len(responses)
    return elapsed


async def one_request(client, url):
    """The fastest of three single requests: one request's time, on this machine, now."""
    return min([await timed(client.get(url)) for _ in range(3)])


async def test_m4_a_blocking_call_in_async_def_makes_concurrent_requests_wait_in_line(
    async_client, slow_routes
):
    one = await one_request(async_client, "/slow/blocking")
    blocking = await timed(*(async_client.get("/slow/blocking") for _ in range(N)))
    awaiting = await timed(*(async_client.get("/slow/awaiting") for _ in range(N)))
    # Expected: blocking ~ N x one (one after the other), awaiting ~ 1 x one (all at once).
    assert blocking >= 0.6 * N * one, (blocking, one)
    assert awaiting <= 0.4 * N * one, (awaiting, one)


async def test_m4_a_plain_def_route_runs_in_a_thread_and_does_not_block(async_client, slow_routes):
    one = await one_request(async_client, "/slow/threaded")
    threaded = await timed(*(async_client.get("/slow/threaded") for _ in range(N)))
    assert threaded <= 0.4 * N * one, (threaded, one)


# ---------------------------------------------------------------- M5: no greenlet

# Run in a fresh interpreter: hide greenlet as if it were not installed, then import the
# lesson's database module (main.py fails the same way, a second later: it imports FastAPI first).
IMPORT_WITHOUT_GREENLET = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "greenlet":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
import database
"""


def test_m5_without_greenlet_the_database_module_does_not_even_import(lesson, db):
    env = {**os.environ, "DATABASE_URL": db.async_url, "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_GREENLET],
        cwd=lesson.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 1
    last_line = process.stderr.strip().splitlines()[-1]
    assert last_line == (
        "ImportError: The SQLAlchemy asyncio module requires that the Python 'greenlet' "
        "library is installed.  In order to ensure this dependency is available, use the "
        "'sqlalchemy[asyncio]' install target:  'pip install sqlalchemy[asyncio]'"
    )
    assert "ModuleNotFoundError: No module named 'greenlet'" in process.stderr
    assert 'database.py", line' in process.stderr
    assert "from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine" in (
        process.stderr
    )


def test_m5_the_asyncio_extra_is_what_brings_greenlet():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(d.startswith("sqlalchemy[asyncio]") for d in pyproject["project"]["dependencies"])
    requirements = importlib.metadata.requires("sqlalchemy") or []
    greenlet = [r for r in requirements if r.startswith("greenlet")]
    assert greenlet and all('extra == "asyncio"' in r for r in greenlet), greenlet
    assert importlib.metadata.version("greenlet")
