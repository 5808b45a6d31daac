"""Lesson 07: each common mistake from the README, reproduced, then the lesson's way."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

pytestmark = pytest.mark.anyio

HOSTILE = "' OR '1'='1"  # the same crafted name as the behaviour test
UNION = "' UNION SELECT id, secret_name, age, team_id FROM hero --"


@pytest.fixture
async def three_heroes(async_client, create_hero):
    for name, secret in [("Deadpond", "Dive Wilson"), ("Rusty-Man", "Tommy Sharp")]:
        await create_hero(async_client, name, secret)
    await create_hero(async_client, "Spider-Boy", "Pedro Parqueador")


# ---------------------------------------------------------------- M1: SQL built with an f-string


async def test_m1_a_crafted_name_makes_the_f_string_query_return_every_row(three_heroes, lesson):
    database, crud = lesson.database.database, lesson.crud
    assert await crud.find_heroes_unsafe(database, "Nobody") == [], "harmless input: no row"
    heroes = await crud.find_heroes_unsafe(database, HOSTILE)
    assert [h.name for h in heroes] == ["Deadpond", "Rusty-Man", "Spider-Boy"]


async def test_m1_or_worse_a_union_reads_columns_the_query_never_selects(three_heroes, lesson):
    heroes = await lesson.crud.find_heroes_unsafe(lesson.database.database, UNION)
    assert sorted(h.name for h in heroes) == ["Dive Wilson", "Pedro Parqueador", "Tommy Sharp"]


async def test_m1_the_bound_version_returns_nothing_for_the_same_input(three_heroes, lesson):
    database, crud = lesson.database.database, lesson.crud
    assert await crud.find_heroes(database, HOSTILE) == []
    assert await crud.find_heroes(database, UNION) == []
    assert [h.name for h in await crud.find_heroes(database, "Rusty-Man")] == ["Rusty-Man"]


def test_m1_no_route_uses_the_unsafe_function(app, lesson):
    unsafe = lesson.crud.find_heroes_unsafe
    endpoints = [route.endpoint for route in app.routes if hasattr(route, "endpoint")]
    assert len(endpoints) > 10 and unsafe not in endpoints
    assert [e.__name__ for e in endpoints if "find_heroes_unsafe" in e.__code__.co_names] == []
    # Nor anything the routes call: its name appears once in the lesson, where it is defined.
    mentions = {
        path.name: path.read_text().count("find_heroes_unsafe(")
        for path in Path(lesson.dir).glob("*.py")
    }
    assert {name: n for name, n in mentions.items() if n} == {"crud.py": 1}


# ---------------------------------------------------------------- M2: querying before connect()


@pytest.mark.postgres_only
async def test_m2_on_postgresql_a_query_before_connect_is_an_assertion_error(lesson):
    database = lesson.database.database
    with pytest.raises(AssertionError) as info:
        await database.fetch_all(select(lesson.models.hero_table))
    assert str(info.value) == "DatabaseBackend is not running"


PYTHON_O = """
import asyncio, database
asyncio.run(database.database.fetch_all("SELECT 1"))
"""


@pytest.mark.postgres_only
def test_m2_under_python_o_the_assertion_is_gone_and_the_error_is_obscure(lesson, db):
    env = {**os.environ, "DATABASE_URL": db.async_url, "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.run(
        [sys.executable, "-O", "-c", PYTHON_O],
        cwd=lesson.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    last_line = process.stderr.strip().splitlines()[-1]
    assert last_line == "AttributeError: 'NoneType' object has no attribute 'acquire'"


@pytest.mark.sqlite_only
async def test_m2_on_sqlite_a_query_before_connect_silently_works(lesson):
    database = lesson.database.database
    await lesson.database.create_db_and_tables()  # the tables, without the rest of the lifespan
    assert not database.is_connected
    assert await database.fetch_all(select(lesson.models.hero_table)) == []  # no error at all


@pytest.fixture
async def client_without_lifespan(app):
    """What a test gets from ASGITransport alone: the lifespan never runs."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_m2_without_the_lifespan_the_driver_fails_in_its_own_way(
    app, lesson, client_without_lifespan, db
):
    # Without the lesson's guard: the route gets the Database as it is.
    app.dependency_overrides[lesson.main.get_database] = lambda: lesson.database.database
    if db.backend == "sqlite":
        # Nothing stops the query; the tables the lifespan would have made are missing.
        with pytest.raises(sqlite3.OperationalError, match="^no such table: hero$"):
            await client_without_lifespan.get("/heroes/")
    else:
        with pytest.raises(AssertionError, match="^DatabaseBackend is not running$"):
            await client_without_lifespan.get("/heroes/")


async def test_m2_the_lessons_guard_gives_one_clear_error_on_every_backend(
    client_without_lifespan,
):
    with pytest.raises(RuntimeError) as info:
        await client_without_lifespan.get("/heroes/")
    assert str(info.value) == "The database is not connected: did the app's lifespan run?"


async def test_m2_with_the_lifespan_run_it_works(async_client, create_hero):
    await create_hero(async_client, "Deadpond")
    assert [h["name"] for h in (await async_client.get("/heroes/")).json()] == ["Deadpond"]


# ---------------------------------------------------------------- M3: booleans from raw SQL

UNTYPED = "SELECT id, name, headquarters, active FROM team ORDER BY id"


@pytest.fixture
async def two_teams(async_client, create_team):
    await create_team(async_client, "Preventers")
    await create_team(async_client, "Old Guard", active=False)


@pytest.fixture
def untyped_route(app, lesson):
    """A route that returns raw rows as dicts, the way Starlette's databases example does."""

    @app.get("/untyped-teams/")
    async def untyped_teams(db: lesson.main.DatabaseDep):
        return [dict(row._mapping) for row in await db.fetch_all(UNTYPED)]

    return "/untyped-teams/"


@pytest.mark.sqlite_only
async def test_m3_on_sqlite_raw_sql_returns_booleans_as_0_and_1(
    two_teams, async_client, untyped_route, lesson
):
    rows = await lesson.database.database.fetch_all(UNTYPED)
    assert [row._mapping["active"] for row in rows] == [1, 0]
    assert [type(row._mapping["active"]) for row in rows] == [int, int]
    response = await async_client.get(untyped_route)
    assert [team["active"] for team in response.json()] == [1, 0], "and so does the JSON"
    # Pydantic's lax bool turns 1 into True, which is why a response model hides the bug.
    TeamPublic = lesson.models.TeamPublic
    assert TeamPublic.model_validate(dict(rows[0]._mapping)).active is True


@pytest.mark.postgres_only
async def test_m3_on_postgresql_asyncpg_returns_real_booleans(
    two_teams, async_client, untyped_route, lesson
):
    rows = await lesson.database.database.fetch_all(UNTYPED)
    assert [row._mapping["active"] for row in rows] == [True, False]
    response = await async_client.get(untyped_route)
    assert [team["active"] for team in response.json()] == [True, False]


async def test_m3_declaring_the_column_types_gives_booleans_on_both(two_teams, lesson):
    team_table = lesson.models.team_table
    typed = text(UNTYPED).columns(*team_table.c)  # id, name, headquarters, active: typed
    rows = await lesson.database.database.fetch_all(typed)
    assert [row._mapping["active"] for row in rows] == [True, False]


async def test_m3_the_lessons_raw_queries_return_booleans_before_pydantic_sees_them(
    two_teams, lesson, monkeypatch
):
    database = lesson.database.database
    seen = []
    fetch_all, fetch_one = database.fetch_all, database.fetch_one

    async def spy_all(query, values=None):
        rows = await fetch_all(query, values)
        seen.extend(row._mapping["active"] for row in rows)
        return rows

    async def spy_one(query, values=None):
        row = await fetch_one(query, values)
        seen.append(row._mapping["active"])
        return row

    monkeypatch.setattr(database, "fetch_all", spy_all)
    monkeypatch.setattr(database, "fetch_one", spy_one)
    crud, models = lesson.crud, lesson.models
    await crud.get_teams(database)
    await crud.get_team(database, 2)
    await crud.create_team(database, models.TeamCreate(name="New", headquarters="x"))
    assert seen == [True, False, False, True]
    assert all(type(value) is bool for value in seen)


# ---------------------------------------------------------------- M4: model_validate(row._mapping)


async def test_m4_model_validate_of_row_mapping_is_a_validation_error(two_teams, lesson, db):
    row = await lesson.database.database.fetch_one(lesson.models.team_table.select())
    with pytest.raises(ValidationError) as info:
        lesson.models.TeamPublic.model_validate(row._mapping)
    errors = [(e["loc"][0], e["type"], e["msg"]) for e in info.value.errors()]
    if db.backend == "sqlite":
        # databases' own Row class: reading a column as an attribute breaks on SQLAlchemy 2.x.
        assert type(row._mapping).__name__ == "Row"
        message = (
            "Error extracting attribute: "
            "TypeError: tuple indices must be integers or slices, not tuple"
        )
        assert errors == [
            (field, "get_attribute_error", message)
            for field in ("name", "headquarters", "active", "id")
        ]
    else:
        # asyncpg's Record has no attributes at all: every field is "missing", and `active`,
        # which has a default, would silently have taken it.
        assert type(row._mapping).__name__ == "Record"
        assert errors == [
            (field, "missing", "Field required") for field in ("name", "headquarters", "id")
        ]


async def test_m4_dict_of_the_mapping_validates(two_teams, lesson, forward_engine):
    row = await lesson.database.database.fetch_one(lesson.models.team_table.select())
    team = lesson.models.TeamPublic.model_validate(dict(row._mapping))
    assert team.model_dump() == {
        "id": 1,
        "name": "Preventers",
        "headquarters": "Preventers HQ",
        "active": True,
    }
    # SQLAlchemy's own row._mapping is a real Mapping: there it validates as it is.
    async with forward_engine.connect() as connection:
        row = (await connection.execute(lesson.models.team_table.select())).first()
    assert lesson.models.TeamPublic.model_validate(row._mapping) == team


@pytest.fixture
async def forward_engine(async_client, lesson):
    engine = lesson.forward.engine
    yield engine
    await engine.dispose()


# ---------------------------------------------------------------- M5: SQLAlchemy's IntegrityError


@pytest.fixture
def sqlalchemy_minded_route(app, lesson):
    """POST /teams/ as lesson 06 wrote it: catching sqlalchemy.exc.IntegrityError."""

    @app.post("/sqlalchemy-minded-teams/", response_model=lesson.models.TeamPublic)
    async def create_team(team: lesson.models.TeamCreate, db: lesson.main.DatabaseDep):
        try:
            return await lesson.crud.create_team(db, team)
        except IntegrityError:  # never raised: databases does not wrap driver errors
            raise lesson.main.name_taken(team.name, "team") from None

    return "/sqlalchemy-minded-teams/"


@pytest.fixture
def duplicate_error(db):
    if db.backend == "sqlite":
        return sqlite3.IntegrityError, "UNIQUE constraint failed: team.name"
    return (
        asyncpg.UniqueViolationError,
        'duplicate key value violates unique constraint "ix_team_name"',
    )


async def test_m5_the_driver_error_passes_sqlalchemys_except_clause(
    async_client, raw_client, create_team, sqlalchemy_minded_route, duplicate_error
):
    await create_team(async_client, "Preventers")
    body = {"name": "Preventers", "headquarters": "x"}
    error_class, message = duplicate_error
    with pytest.raises(error_class) as info:
        await async_client.post(sqlalchemy_minded_route, json=body)
    assert type(info.value) is error_class and str(info.value).startswith(message)
    assert not isinstance(info.value, IntegrityError)
    response = await raw_client.post(sqlalchemy_minded_route, json=body)
    assert (response.status_code, response.text) == (500, "Internal Server Error")


async def test_m5_the_lesson_catches_the_drivers_classes(
    async_client, create_team, lesson, duplicate_error
):
    assert issubclass(duplicate_error[0], lesson.database.INTEGRITY_ERRORS)
    await create_team(async_client, "Preventers")
    response = await async_client.post("/teams/", json={"name": "Preventers", "headquarters": "x"})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "A team named 'Preventers' already exists"},
    )


# ---------------------------------------------------------------- M6: a literal % on SQLite


@pytest.mark.sqlite_only
async def test_m6_on_sqlite_a_percent_sign_in_the_sql_text_is_a_value_error(three_heroes, lesson):
    hero_table = lesson.models.hero_table
    statement = select(hero_table.c.name).where(hero_table.c.name.icontains("man"))
    with pytest.raises(ValueError) as info:
        await lesson.database.database.fetch_all(statement)
    assert str(info.value).startswith("unsupported format character")
    with pytest.raises(ValueError, match="^unsupported format character"):
        await lesson.database.database.fetch_all("SELECT name FROM hero WHERE name LIKE '%man'")


@pytest.mark.postgres_only
async def test_m6_on_postgresql_the_same_statement_works(three_heroes, lesson):
    hero_table = lesson.models.hero_table
    statement = select(hero_table.c.name).where(hero_table.c.name.icontains("man"))
    rows = await lesson.database.database.fetch_all(statement)
    assert [row._mapping["name"] for row in rows] == ["Rusty-Man"]


async def test_m6_the_lesson_puts_the_wildcards_in_the_value(async_client, three_heroes, lesson):
    found = (await async_client.get("/heroes/", params={"q": "MAN"})).json()
    assert [h["name"] for h in found] == ["Rusty-Man"]
    for literal in ("%", "_", "/"):
        assert (await async_client.get("/heroes/", params={"q": literal})).json() == []
