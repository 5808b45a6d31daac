"""Lesson 11's exercise: GET /teams/{team_id}/heroes, paginated, in a bounded statement count."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def get_team_heroes(client: httpx.AsyncClient, url: str) -> httpx.Response:
    response = await client.get(url)
    assert response.status_code != 405 and not (
        response.status_code == 404 and response.json() == {"detail": "Not Found"}
    ), "add GET /teams/{team_id}/heroes to app/api/routes/teams.py (exercise 1)"
    return response


@pytest.mark.exercise(1)
async def test_team_heroes_lists_only_that_teams_heroes_in_order(
    async_client, create_hero, create_team
):
    a, b = await create_team(async_client, "Preventers"), await create_team(async_client, "Z-Force")
    names = []
    for i in range(5):
        hero = await create_hero(async_client, f"Preventer {i}", team_id=a["id"])
        names.append(hero["name"])
        await create_hero(async_client, f"Z {i}", team_id=b["id"])
    response = await get_team_heroes(async_client, f"/teams/{a['id']}/heroes")
    assert response.status_code == 200, response.text
    assert [h["name"] for h in response.json()] == names, "only team A's heroes, by id"
    assert all("secret_name" not in h for h in response.json()), "use response_model=HeroPublic"
    page = await get_team_heroes(async_client, f"/teams/{a['id']}/heroes?offset=1&limit=2")
    assert [h["name"] for h in page.json()] == names[1:3], "apply offset and limit"
    too_big = await get_team_heroes(async_client, f"/teams/{a['id']}/heroes?limit=101")
    assert too_big.status_code == 422, "limit is at most 100: use the Limit annotation"


@pytest.mark.exercise(1)
async def test_team_heroes_of_an_unknown_team_is_404(async_client):
    response = await get_team_heroes(async_client, "/teams/12345/heroes")
    assert response.status_code == 404 and response.json() == {"detail": "Team not found"}, (
        "an unknown team is a 404 (get_team_or_404), not an empty list"
    )


@pytest.mark.exercise(1)
async def test_team_heroes_statement_count_is_bounded(
    async_client, create_hero, lesson, count_statements, create_team
):
    team = await create_team(async_client, "Preventers")
    for i in range(20):
        await create_hero(async_client, f"Hero {i}", team_id=team["id"])
    await async_client.get("/health")  # a warm pool
    engine = lesson.module("app.core.db").engine
    with count_statements(engine) as log:
        response = await get_team_heroes(async_client, f"/teams/{team['id']}/heroes")
    assert len(response.json()) == 20
    assert log.count <= 2, f"one SELECT for the team, one for its heroes; got:\n{log}"
