"""Lesson 07 exercises. Each test fails until you solve it in lessons/07_databases_package."""

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.anyio

# ---------------------------------------------------------------- exercise 1: POST /heroes/bulk

BULK = (
    'Add @app.post("/heroes/bulk", response_model=list[HeroPublic]) in main.py and '
    "crud.create_heroes(db, heroes), which runs create_hero for each hero inside "
    "`async with db.transaction():`."
)


async def post_bulk(client, heroes):
    """POST /heroes/bulk; a missing route is a failure with a hint, not a confusing 405."""
    bodies = [{"secret_name": f"{hero['name']} secret", **hero} for hero in heroes]
    response = await client.post("/heroes/bulk", json=bodies)
    detail = response.json().get("detail") if response.status_code in (404, 405) else None
    if detail in ("Not Found", "Method Not Allowed"):
        pytest.fail(
            f"POST /heroes/bulk answered {response.status_code} {detail}: no such route yet. "
            + BULK,
            pytrace=False,
        )
    return response


@pytest.fixture
def stored_names(stored, lesson):
    hero_table = lesson.models.hero_table
    return lambda: stored(select(hero_table.c.name).order_by(hero_table.c.id))


@pytest.mark.exercise(1)
async def test_exercise_1_bulk_creates_every_hero_in_order(async_client, create_team, stored_names):
    team = await create_team(async_client, "Preventers")
    batch = [{"name": "Rusty-Man", "age": 48, "team_id": team["id"]}, {"name": "Deadpond"}]
    batch.append({"name": "Tarantula", "age": 32})
    response = await post_bulk(async_client, batch)
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"id": 1, "name": "Rusty-Man", "age": 48, "team_id": team["id"]},
        {"id": 2, "name": "Deadpond", "age": None, "team_id": None},
        {"id": 3, "name": "Tarantula", "age": 32, "team_id": None},
    ], "answer the created heroes in the order sent, as HeroPublic (ids from the database)"
    assert stored_names() == ["Rusty-Man", "Deadpond", "Tarantula"]


@pytest.mark.exercise(1)
async def test_exercise_1_a_taken_name_is_409_and_saves_none_of_the_batch(
    async_client, create_hero, stored_names
):
    await create_hero(async_client, "Deadpond")
    for batch in (
        [{"name": "Rusty-Man"}, {"name": "Tarantula"}, {"name": "Deadpond"}],  # taken already
        [{"name": "Black Lion"}, {"name": "Black Lion"}],  # twice in the batch
    ):
        response = await post_bulk(async_client, batch)
        assert response.status_code == 409, (
            f"a batch with a name that is taken should answer 409, got "
            f"{response.status_code} {response.text}: catch INTEGRITY_ERRORS"
        )
        assert stored_names() == ["Deadpond"], (
            "the heroes of the batch before the clash were saved: run every INSERT inside "
            "one `async with db.transaction():` so they are rolled back together"
        )


class FailingDatabase:
    """The lesson's Database, except that the third INSERT fails, as a dropped connection would.

    Everything else, db.transaction() included, is the real Database.
    """

    def __init__(self, database):
        self._database = database
        self.inserts = 0

    def __getattr__(self, name):
        return getattr(self._database, name)

    def _count(self, query):
        if str(query).lstrip().upper().startswith("INSERT"):
            self.inserts += 1
            if self.inserts == 3:
                raise RuntimeError("the connection dropped during the third INSERT")

    async def fetch_all(self, query, values=None):
        self._count(query)
        return await self._database.fetch_all(query, values)

    async def fetch_one(self, query, values=None):
        self._count(query)
        return await self._database.fetch_one(query, values)

    async def execute(self, query, values=None):
        self._count(query)
        return await self._database.execute(query, values)


@pytest.mark.exercise(1)
async def test_exercise_1_a_failure_midway_rolls_back_the_heroes_before_it(
    app, async_client, lesson, stored_names
):
    failing = FailingDatabase(lesson.database.database)
    app.dependency_overrides[lesson.main.get_database] = lambda: failing
    batch = [{"name": f"Hero {i}"} for i in range(4)]
    try:
        response = await post_bulk(async_client, batch)
    except RuntimeError:
        response = None
    assert failing.inserts >= 3, (
        "the route should insert through the `db` it receives (DatabaseDep), one hero at a time"
    )
    assert response is None or response.status_code >= 400
    assert stored_names() == [], (
        "the first two INSERTs stayed after the third one failed: put them all in one "
        "`async with db.transaction():`, which rolls back everything when anything inside raises"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_an_unknown_team_is_422_and_saves_nothing(async_client, stored_names):
    response = await post_bulk(async_client, [{"name": "Rusty-Man"}, {"name": "X", "team_id": 9}])
    assert (response.status_code, response.json()) == (422, {"detail": "Team 9 does not exist"}), (
        "call check_team_exists(db, hero.team_id) for every hero before inserting any"
    )
    assert stored_names() == []


# ---------------------------------------------------------------- exercise 2: forward.get_team

GET_TEAM = (
    "Write `async def get_team(connection: AsyncConnection, team_id: int) -> TeamPublic | None` "
    "in forward.py: crud.get_team's SQL, run with await connection.execute(statement, "
    '{"team_id": team_id}).'
)


@pytest.fixture
async def forward(async_client, lesson, create_team):
    """The forward module, with two teams stored; its engine is disposed afterwards."""
    await create_team(async_client, "Preventers", "Sharp Tower")
    await create_team(async_client, "Old Guard", "Cellar", active=False)
    yield lesson.forward
    await lesson.forward.engine.dispose()


def get_team_of(forward):
    """forward.get_team, or a failure with a hint (in the test, not in its setup)."""
    if not hasattr(forward, "get_team"):
        pytest.fail(f"forward.py has no get_team yet. {GET_TEAM}", pytrace=False)
    return forward.get_team


@pytest.mark.exercise(2)
async def test_exercise_2_get_team_gives_what_crud_gives(forward, lesson):
    get_team = get_team_of(forward)
    database, TeamPublic = lesson.database.database, lesson.models.TeamPublic
    async with forward.engine.connect() as connection:
        for team_id in (1, 2):
            team = await get_team(connection, team_id)
            expected = TeamPublic.model_validate(
                (await lesson.crud.get_team(database, team_id)).model_dump(exclude={"heroes"})
            )
            assert isinstance(team, TeamPublic), (
                f"forward.get_team should return a TeamPublic, got {team!r}: "
                "TeamPublic.model_validate(row._mapping)"
            )
            assert team == expected, f"team {team_id}: forward gave {team!r}, crud {expected!r}"
        assert await get_team(connection, 999) is None, (
            "a team that does not exist is None: result.one_or_none()"
        )


@pytest.mark.exercise(2)
async def test_exercise_2_get_team_returns_a_real_boolean(forward):
    get_team = get_team_of(forward)
    async with forward.engine.connect() as connection:
        team = await get_team(connection, 2)
    assert team is not None and team.active is False and type(team.active) is bool, (
        f"forward.get_team(connection, 2) should be the Old Guard team, not active, as a "
        f"TeamPublic whose active is False; got {team!r}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_get_team_sends_one_statement_with_the_id_bound(forward, count_statements):
    get_team = get_team_of(forward)
    with count_statements(forward.engine) as log:
        async with forward.engine.connect() as connection:
            assert await get_team(connection, 12345) is None
    assert log.count == 1, f"one SELECT, on the AsyncConnection you were given:\n{log}"
    assert "12345" not in log.statements[0], (
        "the id is pasted into the SQL text (mistake M1): send it as a bind parameter, "
        f':team_id in the SQL and {{"team_id": team_id}} beside it\n{log}'
    )
