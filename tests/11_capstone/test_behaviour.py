"""Lesson 11: the capstone's /heroes/ and /teams/ contract, its pool, and its migrations.

Every test runs on a database that `alembic upgrade head` built (the conftest), never on
create_all(), on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import asyncio

import httpx
import jsonschema
import pytest
from http_checks import json_with as raw_json
from sqlalchemy import text

pytestmark = pytest.mark.anyio

BUSY = {"detail": "The database is busy: no connection came free in time. Retry soon."}


def unversioned(hero: dict) -> dict:
    """A hero without version_id: exercise 1 adds it, and these tests hold either way."""
    return {key: value for key, value in hero.items() if key != "version_id"}


# ------------------------------------------------------------------------- the contract


async def test_create_hero_ignores_an_id_in_the_body_and_reads_back(async_client, create_hero):
    response = await async_client.post(
        "/heroes/", json={"id": 999, "name": "Deadpond", "secret_name": "Dive Wilson", "age": 48}
    )
    assert response.status_code == 200, response.text
    hero = response.json()
    assert hero["id"] != 999
    assert unversioned(hero) == {"id": hero["id"], "name": "Deadpond", "age": 48, "team_id": None}
    read = await async_client.get(f"/heroes/{hero['id']}")
    assert read.status_code == 200
    assert read.json() == {**hero, "team": None}


async def test_hero_read_shows_its_team(async_client, create_hero, create_team):
    team = await create_team(async_client, "Preventers")
    hero = await create_hero(async_client, "Rusty-Man", team_id=team["id"])
    read = (await async_client.get(f"/heroes/{hero['id']}")).json()
    assert read["team"] == team


async def test_unknown_ids_are_404(async_client):
    for method, url in [
        ("GET", "/heroes/12345"),
        ("PATCH", "/heroes/12345"),
        ("DELETE", "/heroes/12345"),
        ("GET", "/teams/12345"),
        ("PATCH", "/teams/12345"),
        ("DELETE", "/teams/12345"),
    ]:
        response = await async_client.request(method, url, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, url, response.text)


async def test_duplicate_names_are_409_and_nothing_changes(async_client, create_hero, create_team):
    await create_hero(async_client, "Deadpond")
    other = await create_hero(async_client, "Spider-Boy")
    again = await async_client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert again.status_code == 409
    assert again.json() == {"detail": "A hero named 'Deadpond' already exists"}
    renamed = await async_client.patch(f"/heroes/{other['id']}", json={"name": "Deadpond"})
    assert renamed.status_code == 409
    assert (await async_client.get(f"/heroes/{other['id']}")).json()["name"] == "Spider-Boy"
    await create_team(async_client, "Preventers")
    team = await async_client.post("/teams/", json={"name": "Preventers", "headquarters": "x"})
    assert team.status_code == 409
    assert team.json() == {"detail": "A team named 'Preventers' already exists"}
    assert [h["name"] for h in (await async_client.get("/heroes/")).json()] == [
        "Deadpond",
        "Spider-Boy",
    ]


async def test_invalid_input_is_422(async_client):
    bad = [
        ("POST", "/heroes/", {"name": "No Secret"}),
        ("POST", "/heroes/", {"name": "", "secret_name": "x"}),
        ("POST", "/heroes/", {"name": "Nul\x00", "secret_name": "x"}),
        ("POST", "/heroes/", {"name": "Big", "secret_name": "x", "age": 2**31}),
        ("POST", "/heroes/", {"name": "Lost", "secret_name": "x", "team_id": 77}),
        ("POST", "/teams/", {"name": "No HQ"}),
        ("GET", "/heroes/0", None),
        ("GET", "/teams/2147483648", None),
        ("GET", "/heroes/?limit=101", None),
        ("GET", "/teams/?offset=-1", None),
    ]
    for method, url, body in bad:
        response = await async_client.request(method, url, json=body)
        assert response.status_code == 422, (method, url, response.text)
    assert (await async_client.get("/heroes/")).json() == []


async def test_lists_keep_insertion_order_and_paginate(async_client, create_hero, create_team):
    names = [f"Hero {i:03}" for i in range(105)]
    for name in names:
        await create_hero(async_client, name)
    everything = (await async_client.get("/heroes/")).json()
    assert [h["name"] for h in everything] == names[:100]  # at most 100 a page by default
    page = (await async_client.get("/heroes/?offset=100&limit=10")).json()
    assert [h["name"] for h in page] == names[100:]
    for name in ["Zeta", "Alpha", "Mu"]:
        await create_team(async_client, name)
    teams = (await async_client.get("/teams/?offset=1&limit=1")).json()
    assert [t["name"] for t in teams] == ["Alpha"]


async def test_patch_is_partial_and_null_clears_age(async_client, create_hero):
    hero = await create_hero(async_client, "Deadpond", age=48)
    renamed = await async_client.patch(f"/heroes/{hero['id']}", json={"name": "Deadpool"})
    assert unversioned(renamed.json()) == unversioned({**hero, "name": "Deadpool"})
    cleared = await async_client.patch(f"/heroes/{hero['id']}", json={"age": None})
    assert unversioned(cleared.json()) == unversioned({**hero, "name": "Deadpool", "age": None})
    refused = await async_client.patch(f"/heroes/{hero['id']}", json={"name": None})
    assert refused.status_code == 422
    read = (await async_client.get(f"/heroes/{hero['id']}")).json()
    assert (read["name"], read["age"]) == ("Deadpool", None)


async def test_delete_says_ok_and_a_deleted_team_frees_its_heroes(
    async_client, create_hero, create_team
):
    team = await create_team(async_client, "Preventers")
    hero = await create_hero(async_client, "Rusty-Man", team_id=team["id"])
    assert (await async_client.delete(f"/teams/{team['id']}")).json() == {"ok": True}
    assert (await async_client.get(f"/teams/{team['id']}")).status_code == 404
    assert (await async_client.get(f"/heroes/{hero['id']}")).json()["team_id"] is None
    assert (await async_client.delete(f"/heroes/{hero['id']}")).json() == {"ok": True}
    assert (await async_client.get(f"/heroes/{hero['id']}")).status_code == 404


# ------------------------------------------------------------------------- a team's heroes


async def test_team_heroes_lists_only_that_teams_heroes_in_order(
    async_client, create_hero, create_team
):
    a, b = await create_team(async_client, "Preventers"), await create_team(async_client, "Z-Force")
    names = []
    for i in range(5):
        hero = await create_hero(async_client, f"Preventer {i}", team_id=a["id"])
        names.append(hero["name"])
        await create_hero(async_client, f"Z {i}", team_id=b["id"])
    response = await async_client.get(f"/teams/{a['id']}/heroes")
    assert response.status_code == 200, response.text
    assert [h["name"] for h in response.json()] == names
    assert all("secret_name" not in h for h in response.json())
    page = await async_client.get(f"/teams/{a['id']}/heroes?offset=1&limit=2")
    assert [h["name"] for h in page.json()] == names[1:3]
    too_big = await async_client.get(f"/teams/{a['id']}/heroes?limit=101")
    assert too_big.status_code == 422


async def test_team_heroes_of_an_unknown_team_is_404(async_client):
    response = await async_client.get("/teams/12345/heroes")
    assert response.status_code == 404 and response.json() == {"detail": "Team not found"}


async def test_team_heroes_cost_two_statements_whatever_the_team_size(
    async_client, create_hero, lesson, count_statements, create_team
):
    team = await create_team(async_client, "Preventers")
    for i in range(20):
        await create_hero(async_client, f"Hero {i}", team_id=team["id"])
    await async_client.get("/health")  # a warm pool
    engine = lesson.module("app.core.db").engine
    with count_statements(engine) as log:
        response = await async_client.get(f"/teams/{team['id']}/heroes")
    assert len(response.json()) == 20
    assert log.count == 2, f"one SELECT for the team, one for its heroes; got:\n{log}"


# ------------------------------------------------------------------------- no N+1, no leaks


async def test_every_list_endpoint_has_a_bounded_statement_count(
    async_client, create_hero, lesson, count_statements, create_team
):
    engine = lesson.module("app.core.db").engine
    for t in range(10):
        team = await create_team(async_client, f"Team {t}")
        for h in range(3):
            await create_hero(async_client, f"Hero {t}-{h}", team_id=team["id"])
    await async_client.get("/health")  # a warm pool: no connect-time statements counted
    with count_statements(engine) as log:
        teams = (await async_client.get("/teams/")).json()
    assert len(teams) == 10 and all(len(t["heroes"]) == 3 for t in teams)
    assert log.count <= 2, f"GET /teams/ ran {log.count} statements (N+1?):\n{log}"
    with count_statements(engine) as log:
        heroes = (await async_client.get("/heroes/")).json()
    assert len(heroes) == 30
    assert log.count <= 1, f"GET /heroes/ ran {log.count} statements:\n{log}"


async def test_secret_name_is_in_no_response(async_client, create_hero, create_team):
    team = await create_team(async_client, "Preventers")
    hero = await create_hero(async_client, "Deadpond", "Dive Wilson", team_id=team["id"])
    responses = [
        await async_client.get("/heroes/"),
        await async_client.get(f"/heroes/{hero['id']}"),
        await async_client.patch(f"/heroes/{hero['id']}", json={"secret_name": "Wade"}),
        await async_client.get("/teams/"),
        await async_client.get(f"/teams/{team['id']}"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert "secret_name" not in response.text
        assert "Dive Wilson" not in response.text and "Wade" not in response.text
    assert "secret_name" not in str(hero)


async def test_secret_name_is_in_no_response_schema(async_client):
    spec = (await async_client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    responses = {
        ref.rsplit("/", 1)[-1]
        for path in spec["paths"].values()
        for op in path.values()
        for r in op["responses"].values()
        for content in r.get("content", {}).values()
        for ref in [content["schema"].get("$ref") or content["schema"].get("items", {}).get("$ref")]
        if ref
    }
    assert {"HeroPublic", "HeroPublicWithTeam", "TeamPublicWithHeroes"} <= responses
    for name in responses:
        assert "secret_name" not in schemas[name]["properties"], name
    assert "secret_name" in schemas["HeroCreate"]["properties"]  # it goes in, never out


# ------------------------------------------------------------------------- pool and health


async def test_health_is_200(async_client):
    response = await async_client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.lesson_env(POOL_SIZE="3", MAX_OVERFLOW="0", POOL_TIMEOUT="0.25")
async def test_pool_settings_come_from_the_environment(async_client, lesson):
    settings = lesson.module("app.core.config").settings
    assert (settings.POOL_SIZE, settings.MAX_OVERFLOW, settings.POOL_TIMEOUT) == (3, 0, 0.25)
    pool = lesson.module("app.core.db").engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 0, 0.25)


@pytest.mark.lesson_env(POOL_SIZE="1", MAX_OVERFLOW="0", POOL_TIMEOUT="0.2")
async def test_pool_timeout_is_503_with_retry_after(async_client, lesson):
    engine = lesson.module("app.core.db").engine
    async with engine.connect() as held:  # the pool's only connection, busy
        await held.execute(text("SELECT 1"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await async_client.get("/heroes/")
        elapsed = loop.time() - started
        health = await async_client.get("/health")
    assert (response.status_code, response.json()) == (503, BUSY)
    assert response.headers["Retry-After"] == "1"
    assert elapsed < 2, "the 503 must come after POOL_TIMEOUT, not hang"
    assert health.status_code == 503
    # The connection is free again: the same request succeeds.
    assert (await async_client.get("/heroes/")).status_code == 200


# ------------------------------------------------------------------------- migrations


def test_migrations_upgrade_and_downgrade(migrations):
    assert migrations.tables() == set()
    migrations.upgrade("head")
    assert migrations.current() == (migrations.head,)
    assert {"hero", "team", "alembic_version"} <= migrations.tables()
    migrations.downgrade("base")
    assert migrations.current() == ()
    assert migrations.tables() - {"alembic_version"} == set()
    migrations.upgrade("head")
    assert migrations.current() == (migrations.head,)


def test_alembic_check_is_clean_at_head(migrated):
    assert "No new upgrade operations detected." in migrated.check()


async def test_upgrade_from_inside_the_running_loop_works(migrations, lesson):
    db = lesson.module("app.core.db")
    asyncio.get_running_loop()  # we are inside a running event loop
    try:
        await db.upgrade("head")  # env.py runs on the connection passed to it
        assert migrations.current() == (migrations.head,)
        await db.check_schema_is_current()
    finally:
        await db.engine.dispose()


async def test_the_app_refuses_to_start_before_alembic_upgrade_head(app, lesson):
    with pytest.raises(RuntimeError, match=r"run `alembic upgrade head` in .*11_capstone"):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover
    # The lifespan disposed the engine on the way out: nothing left pooled.
    assert lesson.module("app.core.db").engine.pool.checkedin() == 0


# ------------------------------------------------------------------------- a lost database: 503

LOST = {"detail": "The connection to the database was lost. Retry soon."}
UNAVAILABLE = {"detail": "The database is unavailable"}


@pytest.mark.postgres_only
async def test_a_connection_lost_during_a_request_is_a_503_with_retry_after(
    async_client, create_hero, lose_the_connection_during
):
    hero = await create_hero(async_client, "Deadpond", age=30)
    with lose_the_connection_during("UPDATE"):
        response = await async_client.patch(f"/heroes/{hero['id']}", json={"age": 31})
    assert (response.status_code, response.json()) == (503, LOST)
    assert response.headers["Retry-After"] == "1"
    # The transaction died with the connection, and the same request sent again succeeds.
    assert (await async_client.get(f"/heroes/{hero['id']}")).json()["age"] == 30
    retry = await async_client.patch(f"/heroes/{hero['id']}", json={"age": 31})
    assert (retry.status_code, retry.json()["age"]) == (200, 31)


@pytest.mark.postgres_only
async def test_health_is_503_while_the_server_refuses_us_and_200_once_it_accepts(
    async_client, server
):
    assert (await async_client.get("/health")).status_code == 200
    server.login(allowed=False)
    server.terminate_backends()
    try:
        response = await async_client.get("/health")
    finally:
        server.login(allowed=True)
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response.headers["Retry-After"] == "1"
    assert (await async_client.get("/health")).json() == {"status": "ok"}


@pytest.mark.lesson_env(DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:9/nothing")
async def test_health_is_503_when_nothing_listens_where_the_database_should_be(app, caplog):
    # No lifespan: its schema check could not start the app on this URL at all.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/health")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response.headers["Retry-After"] == "1"
    assert "health check failed: [Errno 111] Connect call failed" in caplog.text


# ------------------------------------------------------------------------- hostile input

JSON = {"content-type": "application/json"}
HERO = {"name": "Rusty-Man", "secret_name": "Tommy Sharp"}
TEAM = {"name": "Z-Force", "headquarters": "Sister Margaret's Bar"}
# (method, url, body, loc): "@" in body marks the field the hostile value goes in.
NUMBER_FIELDS = [
    *(("POST", "/heroes/", {**HERO, f: "@"}, ["body", f]) for f in ("age", "team_id")),
    *(("PATCH", "/heroes/1", {f: "@"}, ["body", f]) for f in ("age", "team_id")),
]
STRING_FIELDS = [
    *(("POST", "/heroes/", {**HERO, f: "@"}, ["body", f]) for f in ("name", "secret_name")),
    *(("PATCH", "/heroes/1", {f: "@"}, ["body", f]) for f in ("name", "secret_name")),
    *(("POST", "/teams/", {**TEAM, f: "@"}, ["body", f]) for f in ("name", "headquarters")),
    *(("PATCH", "/teams/1", {f: "@"}, ["body", f]) for f in ("name", "headquarters")),
]
# JSON text Python's json module reads as a float that is not finite, and what 422 echoes.
NOT_FINITE = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf", "1e400": "inf"}


async def everything(client):
    return (await client.get("/heroes/")).json(), (await client.get("/teams/")).json()


async def test_a_number_that_is_not_finite_is_a_422_naming_the_field_and_stores_nothing(
    raw_client, create_hero, create_team
):
    await create_team(raw_client, "Preventers")
    await create_hero(raw_client, "Deadpond", team_id=1)
    before = await everything(raw_client)
    for method, url, body, loc in NUMBER_FIELDS:
        for literal, echoed in NOT_FINITE.items():
            content = raw_json(body, literal)
            response = await raw_client.request(method, url, content=content, headers=JSON)
            assert response.status_code == 422, (method, url, content, response.text)
            [error] = response.json()["detail"]
            assert (error["loc"], error["input"]) == (loc, echoed), error
    assert await everything(raw_client) == before


async def test_a_lone_surrogate_in_any_string_field_is_a_422_naming_it_and_stores_nothing(
    raw_client, create_hero, create_team
):
    await create_team(raw_client, "Preventers")
    await create_hero(raw_client, "Deadpond")
    before = await everything(raw_client)
    for method, url, body, loc in STRING_FIELDS:
        content = raw_json(body, '"\\ud800x"')  # JSON's escape for a lone surrogate
        response = await raw_client.request(method, url, content=content, headers=JSON)
        assert response.status_code == 422, (method, url, content, response.text)
        [error] = response.json()["detail"]
        assert (error["loc"], error["type"]) == (loc, "string_unicode"), error
        assert error["input"] == "\\ud800x"  # echoed escaped, so UTF-8 can carry it
    assert await everything(raw_client) == before


async def test_a_surrogate_in_the_query_string_arrives_as_replacement_characters(raw_client):
    # A URL carries bytes: the surrogate's would-be UTF-8 bytes are decoded as U+FFFD.
    response = await raw_client.get("/heroes/?offset=%ED%A0%80")
    [error] = response.json()["detail"]
    assert (response.status_code, error["loc"], error["input"]) == (
        422,
        ["query", "offset"],
        "\ufffd" * 3,
    )


# ------------------------------------------------------------------------- declared errors


async def test_an_unknown_team_is_a_422_shaped_like_fastapis_own(async_client):
    response = await async_client.post("/heroes/", json={**HERO, "team_id": 42})
    assert response.status_code == 422
    error = {"type": "value_error", "loc": ["body", "team_id"], "msg": "Team 42 does not exist"}
    assert response.json() == {"detail": [error]}
    spec = (await async_client.get("/openapi.json")).json()
    published = spec["paths"]["/heroes/"]["post"]["responses"]["422"]["content"]
    schema = {**published["application/json"]["schema"], "components": spec["components"]}
    jsonschema.validate(response.json(), schema)  # the schema the route publishes for 422


# The routes outside the exercises, and what each can answer.
DECLARED = {
    ("POST", "/heroes/"): ["200", "400", "409", "422"],
    ("GET", "/heroes/"): ["200", "422"],
    ("GET", "/heroes/{hero_id}"): ["200", "404", "422"],
    ("PATCH", "/heroes/{hero_id}"): ["200", "400", "404", "409", "422"],
    ("DELETE", "/heroes/{hero_id}"): ["200", "404", "409", "422"],
    ("POST", "/teams/"): ["200", "400", "409", "422"],
    ("GET", "/teams/"): ["200", "422"],
    ("GET", "/teams/{team_id}"): ["200", "404", "422"],
    ("PATCH", "/teams/{team_id}"): ["200", "400", "404", "409", "422"],
    ("DELETE", "/teams/{team_id}"): ["200", "404", "409", "422"],
    ("GET", "/teams/{team_id}/heroes"): ["200", "404", "422"],
    ("GET", "/health"): ["200", "503"],
}
EXERCISE_ROUTES = {("POST", "/heroes/{hero_id}/birthday")}


async def test_openapi_declares_every_status_each_route_answers(async_client):
    spec = (await async_client.get("/openapi.json")).json()
    routes = {
        (method.upper(), path): sorted(operation["responses"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if (method.upper(), path) not in EXERCISE_ROUTES
    }
    assert routes == DECLARED


async def test_openapi_gives_every_error_a_body_model(async_client):
    spec = (await async_client.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status == "200":
                    continue
                model = "HTTPValidationError" if status == "422" else "Message"
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{model}"}, (method, path, status)
                assert response["description"], (method, path, status)
