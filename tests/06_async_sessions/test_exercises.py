"""Lesson 06 exercises. Each test fails until you solve it in lessons/06_async_sessions."""

import gc
import warnings

import pytest
from fastapi.exceptions import ResponseValidationError
from sqlalchemy.exc import MissingGreenlet, StatementError

pytestmark = pytest.mark.anyio


async def get(client, url, hint, **params):
    """GET url; a relationship read outside an await becomes a failure with a hint, not a crash."""
    problem = None
    with warnings.catch_warnings():
        # A lazy load that failed on aiosqlite leaves its cursor() coroutine unawaited; the
        # failure below says what went wrong, so its warning is not reported again.
        warnings.filterwarnings("ignore", "coroutine 'Connection.cursor' was never awaited")
        try:
            response = await client.get(url, params=params)
        except (ResponseValidationError, StatementError, MissingGreenlet) as error:
            problem = f"{type(error).__name__}: {str(error)[:300]}"
        if problem:
            gc.collect()  # now, while the warning is ignored, not in a later test
    if problem:
        pytest.fail(
            f"GET {url} read a relationship outside an await (mistake M1): {problem}\n{hint}",
            pytrace=False,
        )
    if response.status_code == 404 and response.json() == {"detail": "Not Found"}:
        pytest.fail(f"GET {url} answered 404 Not Found: no such route yet. {hint}", pytrace=False)
    return response


@pytest.fixture
async def league(async_client, lesson):
    """Ten teams of three heroes, then a team with none; stored in one transaction."""
    Hero, Team = lesson.models.Hero, lesson.models.Team
    async with lesson.database.SessionLocal() as session:
        teams = [Team(name=f"Team {t}", headquarters=f"HQ {t}") for t in range(11)]
        for t, team in enumerate(teams):
            size = 3 if t < 10 else 0
            team.heroes = [Hero(name=f"Hero {t}-{h}", secret_name="s", age=h) for h in range(size)]
        session.add_all(teams)
        await session.commit()
        return [
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
        ]


# ---------------------------------------------------------------- exercise 1: GET /rosters/

ROSTERS = (
    "Add GET /rosters/ (response_model=list[TeamPublicWithHeroes]) and crud.get_rosters: "
    "select(Team).options(selectinload(Team.heroes)), ordered by id, with offset and limit."
)


@pytest.mark.exercise(1)
async def test_exercise_1_rosters_lists_every_team_with_its_heroes(async_client, league):
    response = await get(async_client, "/rosters/", ROSTERS)
    assert response.status_code == 200, response.text
    assert response.json() == league, (
        "GET /rosters/ should answer every team in id order, each with its heroes in id order "
        "(HeroPublic: no secret_name), and an empty list for a team with no heroes"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_rosters_takes_2_statements_for_10_teams(
    async_client, lesson, league, count_statements
):
    with count_statements(lesson.database.engine) as log:
        response = await get(async_client, "/rosters/", ROSTERS, limit=10)
    assert [team["name"] for team in response.json()] == [f"Team {t}" for t in range(10)]
    assert log.count <= 2, (
        f"GET /rosters/?limit=10 ran {log.count} SQL statements; it needs 2: one SELECT for "
        "the teams and one for all their heroes. Load them with "
        f".options(selectinload(Team.heroes)) in crud.get_rosters.\n{log}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_rosters_pages_with_offset_and_limit(async_client, league):
    page = (await get(async_client, "/rosters/", ROSTERS, offset=9, limit=2)).json()
    assert [team["name"] for team in page] == ["Team 9", "Team 10"], (
        "offset=9&limit=2 should give the 10th and 11th teams: page in SQL with "
        ".order_by(col(Team.id)).offset(offset).limit(limit)"
    )
    response = await get(async_client, "/rosters/", ROSTERS, limit=101)
    assert response.status_code == 422, "limit is at most 100, as on GET /teams/"


# ---------------------------------------------------------------- exercise 2: teammates

TEAMMATES = (
    "Add GET /heroes/{hero_id}/teammates (response_model=list[HeroPublic]): "
    "team = await hero.awaitable_attrs.team, then await team.awaitable_attrs.heroes."
)


@pytest.mark.exercise(2)
async def test_exercise_2_teammates_are_the_other_heroes_of_the_team(async_client, league):
    hero = league[3]["heroes"][1]
    response = await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    assert response.status_code == 200, response.text
    others = [h for h in league[3]["heroes"] if h["id"] != hero["id"]]
    assert response.json() == others, (
        "the teammates are the other heroes of the hero's team, in id order, without the "
        "hero itself and without secret_name"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_a_hero_without_a_team_has_no_teammates(async_client, create_hero):
    hero = await create_hero(async_client, "Deadpond")
    response = await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    assert (response.status_code, response.json()) == (200, []), (
        "a hero with no team has no teammates: when the awaited team is None, return []"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_teammates_of_a_missing_hero_is_404(async_client):
    response = await get(async_client, "/heroes/999/teammates", TEAMMATES)
    assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"}), (
        "a hero that does not exist is 404 {'detail': 'Hero not found'}: use get_hero_or_404"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_teammates_reads_one_team_not_every_hero(
    async_client, lesson, league, count_statements
):
    hero = league[0]["heroes"][0]
    with count_statements(lesson.database.engine) as log:
        await get(async_client, f"/heroes/{hero['id']}/teammates", TEAMMATES)
    one_teams_heroes = [
        s for s in log.statements if "FROM hero" in s and "team_id" in s.partition("WHERE")[2]
    ]
    assert log.count <= 3 and one_teams_heroes, (
        f"expected at most 3 statements: the hero, its team, and the heroes WHERE their "
        f"team_id is the hero's team (not every hero, filtered in Python); got {log.count}:\n{log}"
    )
