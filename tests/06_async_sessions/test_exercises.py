"""Lesson 06 exercises. Each test fails until you solve it in lessons/06_async_sessions."""

import gc
import warnings

import pytest
from fastapi.exceptions import ResponseValidationError
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError

pytestmark = pytest.mark.anyio

M1 = "read a relationship outside an await (mistake M1)"
RAISE = (
    'Hero.team is lazy="raise": neither a plain read nor awaitable_attrs loads it. '
    "Ask for it in the query that loads the hero (get_hero_or_404's with_team=True)."
)


def lazy_load_problem(error):
    """The error's text when it is an unawaited lazy load (M1), else None."""
    text = f"{type(error).__name__}: {str(error)[:300]}"
    if isinstance(error, MissingGreenlet | StatementError) or "MissingGreenlet" in str(error):
        return text
    return None


async def get(client, url, where, **params):
    """GET url; an exception from the app becomes a failure that says where to look."""
    problem = None
    with warnings.catch_warnings():
        # A lazy load that failed on aiosqlite leaves its cursor() coroutine unawaited; the
        # failure below says what went wrong, so its warning is not reported again.
        warnings.filterwarnings("ignore", "coroutine 'Connection.cursor' was never awaited")
        try:
            response = await client.get(url, params=params)
        except (ResponseValidationError, InvalidRequestError, StatementError) as error:
            lazy = lazy_load_problem(error)
            problem = (
                f"GET {url} {M1}: {lazy}"
                if lazy
                else f"GET {url} raised {type(error).__name__}: {error}"
            )
            if "lazy='raise'" in str(error):
                problem += f"\n{RAISE}"
        if problem:
            gc.collect()  # now, while the warning is ignored, not in a later test
    if problem:
        pytest.fail(f"{problem}\nLook at {where}.", pytrace=False)
    if response.status_code == 404 and response.json() == {"detail": "Not Found"}:
        pytest.fail(f"GET {url} answered 404 Not Found: no such route yet ({where})", pytrace=False)
    return response


@pytest.fixture
async def league(async_client, lesson):
    """Ten teams of three heroes, a team with none, then two heroes with no team."""
    Hero, Team = lesson.models.Hero, lesson.models.Team
    async with lesson.database.SessionLocal() as session:
        teams = [Team(name=f"Team {t}", headquarters=f"HQ {t}") for t in range(11)]
        for t, team in enumerate(teams):
            size = 3 if t < 10 else 0
            team.heroes = [Hero(name=f"Hero {t}-{h}", secret_name="s", age=h) for h in range(size)]
        loners = [Hero(name=name, secret_name="s") for name in ("Deadpond", "Spider-Boy")]
        session.add_all([*teams, *loners])
        await session.commit()
        return {
            "teams": [
                {
                    "id": team.id,
                    "name": team.name,
                    "headquarters": team.headquarters,
                    "heroes": [
                        {"id": h.id, "name": h.name, "age": h.age, "team_id": team.id}
                        for h in team.heroes
                    ],
                }
                for team in teams
            ],
            "loners": [hero.id for hero in loners],
        }


# ---------------------------------------------------------------- exercise 1: teammates

TEAMMATES = "read_teammates in main.py (GET /heroes/{hero_id}/teammates)"


@pytest.mark.exercise(1)
async def test_exercise_1_teammates_are_the_other_heroes_of_the_team(async_client, league):
    team = league["teams"][3]
    hero = team["heroes"][1]
    response = await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    assert response.status_code == 200, response.text
    others = [h for h in team["heroes"] if h["id"] != hero["id"]]
    assert response.json() == others, (
        f"GET /heroes/{hero['id']}/teammates should answer the other heroes of Team 3, in id "
        f"order, without the hero itself and without secret_name (HeroPublic); "
        f"got {response.json()}. Look at {TEAMMATES}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_a_hero_without_a_team_has_no_teammates(async_client, league):
    deadpond = league["loners"][0]
    response = await get(async_client, f"/heroes/{deadpond}/teammates", TEAMMATES)
    assert (response.status_code, response.json()) == (200, []), (
        "a hero with no team has no teammates, even though other heroes have no team either "
        f"(team_id IS NULL is not a team); got {response.status_code} {response.json()}. "
        f"Look at {TEAMMATES}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_teammates_of_a_missing_hero_is_404(async_client, league):
    response = await get(async_client, "/heroes/999/teammates", TEAMMATES)
    assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"}), (
        "a hero that does not exist is 404 {'detail': 'Hero not found'}, like GET /heroes/999; "
        f"got {response.status_code} {response.json()}. Look at {TEAMMATES}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_teammates_declares_its_404_in_openapi(async_client):
    paths = (await async_client.get("/openapi.json")).json()["paths"]
    route = paths.get("/heroes/{hero_id}/teammates", {}).get("get")
    assert route is not None, f"GET /heroes/{{hero_id}}/teammates is not written yet: {TEAMMATES}"
    declared = route["responses"].get("404", {}).get("content", {})
    assert declared == {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}, (
        "the route answers 404 for a missing hero, so its OpenAPI must say so: declare "
        "404 with the Message model in the route's responses=, as GET /heroes/{hero_id} does; "
        f"declared now: {sorted(route['responses'])}. Look at {TEAMMATES}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_teammates_take_at_most_3_statements(
    async_client, lesson, league, count_statements
):
    hero = league["teams"][0]["heroes"][0]
    with count_statements(lesson.database.engine) as log:
        await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    assert log.count <= 3, (
        f"GET /heroes/{hero['id']}/teammates ran {log.count} SQL statements; it needs at most "
        f"3 (the hero, its team, the team's heroes). Look at {TEAMMATES}:\n{log}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_teammates_select_one_teams_heroes_not_every_hero(
    async_client, lesson, league, count_statements
):
    hero = league["teams"][0]["heroes"][0]
    with count_statements(lesson.database.engine) as log:
        await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    heroes_read = [s for s in log.statements if "FROM hero" in s and "hero.id = " not in s]
    assert heroes_read and all("team_id" in s.partition("WHERE")[2] for s in heroes_read), (
        "the teammates should come from one SELECT of the heroes WHERE their team_id is the "
        "hero's team, not from every hero, filtered in Python. Look at "
        f"{TEAMMATES}:\n{log}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_teammates_come_in_id_order_because_the_sql_says_so(
    async_client, lesson, league, count_statements
):
    team = league["teams"][0]
    hero, first, second = team["heroes"]
    # On PostgreSQL an UPDATE writes the row's new version after the others: without an
    # ORDER BY, the first teammate would now come last.
    await async_client.patch(f"/heroes/{first['id']}", json={"age": 40})
    with count_statements(lesson.database.engine) as log:
        response = await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    heroes_read = [s for s in log.statements if "FROM hero" in s and "hero.id = " not in s]
    ordered = [s for s in heroes_read if "ORDER BY hero.id" in s]
    got = [h["id"] for h in response.json()]
    assert got == [first["id"], second["id"]] and ordered, (
        f"the teammates should come in id order, and only an ORDER BY makes that sure: got ids "
        f"{got}, from a SELECT of the heroes without ORDER BY hero.id. Team.heroes is "
        f"declared with one; a query of your own needs it too. Look at {TEAMMATES}:\n{log}"
    )


# ---------------------------------------------------------------- exercise 2: GET /rosters/

ROSTERS = "crud.get_rosters (GET /rosters/ returns what it gives)"


@pytest.mark.exercise(2)
async def test_exercise_2_rosters_lists_every_team_with_its_heroes(async_client, league):
    response = await get(async_client, "/rosters/", ROSTERS)
    assert response.status_code == 200, response.text
    assert response.json() == league["teams"], (
        "GET /rosters/ should answer every team in id order, each with its heroes in id order "
        f"(no secret_name), and an empty list for a team with none. Look at {ROSTERS}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_rosters_take_2_statements_for_10_teams(
    async_client, lesson, league, count_statements
):
    with count_statements(lesson.database.engine) as log:
        response = await get(async_client, "/rosters/", ROSTERS, limit=10)
    assert [team["name"] for team in response.json()] == [f"Team {t}" for t in range(10)]
    assert log.count <= 2, (
        f"GET /rosters/?limit=10 ran {log.count} SQL statements for 10 teams: the heroes of "
        "the whole page must come in one SELECT (2 statements in all), not one SELECT per "
        f"team, awaited or not (lesson 03's N+1). Look at {ROSTERS}:\n{log}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_get_rosters_returns_the_heroes_already_loaded(
    async_client, lesson, league, count_statements, unawaited_cursor
):
    async with lesson.database.SessionLocal() as session:
        try:
            teams = await lesson.crud.get_rosters(session, limit=3)
        except InvalidRequestError as error:
            pytest.fail(f"crud.get_rosters raised {type(error).__name__}: {error}", pytrace=False)
        problem = None
        async with unawaited_cursor(expected=False):
            with count_statements(lesson.database.engine) as log:
                try:
                    sizes = [len(team.heroes) for team in teams]
                except (InvalidRequestError, StatementError) as error:
                    problem = lazy_load_problem(error) or f"{type(error).__name__}: {error}"
    if problem:
        pytest.fail(
            f"reading team.heroes on what crud.get_rosters returned: {M1}: {problem}\n"
            f"Load them in {ROSTERS}, inside its await.",
            pytrace=False,
        )
    assert (sizes, log.count) == ([3, 3, 3], 0), (
        "the teams crud.get_rosters returns should hold their heroes already: reading "
        f"team.heroes afterwards needs no SQL; it ran {log.count}:\n{log}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_rosters_come_in_id_order_because_the_sql_says_so(
    async_client, lesson, league, count_statements
):
    # On PostgreSQL an UPDATE writes the row's new version after the others: without an
    # ORDER BY, these teams and heroes would now come last.
    for team in league["teams"][:2]:
        await async_client.patch(f"/teams/{team['id']}", json={"headquarters": "Moved"})
        await async_client.patch(f"/heroes/{team['heroes'][0]['id']}", json={"age": 40})
    with count_statements(lesson.database.engine) as log:
        response = await get(async_client, "/rosters/", ROSTERS, limit=5)
    orders = [s.partition(" ORDER BY ")[2] for s in log.statements]
    got = [(t["id"], [h["id"] for h in t["heroes"]]) for t in response.json()]
    expected = [(t["id"], [h["id"] for h in t["heroes"]]) for t in league["teams"][:5]]
    assert got == expected and any("team.id" in o for o in orders), (
        "GET /rosters/ should list the teams in id order, each with its heroes in id order, "
        f"and only an ORDER BY makes that sure: got {got}, from SQL without ORDER BY team.id. "
        f"Keep get_rosters' order_by. Look at {ROSTERS}:\n{log}"
    )
    assert any("hero.id" in o for o in orders), f"the heroes' SELECT lost its ORDER BY:\n{log}"
