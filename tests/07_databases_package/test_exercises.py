"""Lesson 07 exercises. Each test fails until you solve it in lessons/07_databases_package."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.anyio

# ---------------------------------------------------------------- exercise 1: POST /heroes/bulk

BULK = "POST /heroes/bulk in main.py and crud.create_heroes"
# What a batch with a taken name answers (the README's exercise 1).
BATCH_TAKEN = {"detail": "A hero name in the batch is already taken: nothing was saved"}


async def post_bulk(client, lesson, heroes):
    """POST /heroes/bulk; a missing route or a driver error is a failure that says where to look."""
    bodies = [{"secret_name": f"{hero['name']} secret", **hero} for hero in heroes]
    try:
        response = await client.post("/heroes/bulk", json=bodies)
    except lesson.database.INTEGRITY_ERRORS as error:
        pytest.fail(
            f"POST /heroes/bulk let the driver's {type(error).__module__}.{type(error).__name__} "
            f"through ({error}): a taken name must be a 409. databases raises the driver's own "
            f"exceptions, not SQLAlchemy's (mistake M5). Look at {BULK}",
            pytrace=False,
        )
    detail = response.json().get("detail") if response.status_code in (404, 405) else None
    if detail in ("Not Found", "Method Not Allowed"):
        pytest.fail(
            f"POST /heroes/bulk answered {response.status_code} {detail}: no such route yet. "
            f"Look at {BULK}",
            pytrace=False,
        )
    return response


@pytest.fixture
def stored_names(stored, lesson):
    """The hero names really stored, read through another connection than the app's."""
    hero_table = lesson.models.hero_table
    return lambda: stored(select(hero_table.c.name).order_by(hero_table.c.id))


@pytest.mark.exercise(1)
async def test_exercise_1_bulk_creates_every_hero_in_order(
    async_client, lesson, create_team, stored_names
):
    team = await create_team(async_client, "Preventers")
    batch = [{"name": "Rusty-Man", "age": 48, "team_id": team["id"]}, {"name": "Deadpond"}]
    batch.append({"name": "Tarantula", "age": 32})
    response = await post_bulk(async_client, lesson, batch)
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"id": 1, "name": "Rusty-Man", "age": 48, "team_id": team["id"]},
        {"id": 2, "name": "Deadpond", "age": None, "team_id": None},
        {"id": 3, "name": "Tarantula", "age": 32, "team_id": None},
    ], (
        "POST /heroes/bulk should answer the created heroes in the order sent, as HeroPublic, "
        f"with the ids the database gave them; got {response.json()}. Look at {BULK}"
    )
    assert stored_names() == ["Rusty-Man", "Deadpond", "Tarantula"], (
        f"the three heroes should be stored, in the order sent. Look at {BULK}"
    )


@pytest.mark.exercise(1)
@pytest.mark.parametrize(
    "batch",
    [
        [{"name": "Rusty-Man"}, {"name": "Tarantula"}, {"name": "Deadpond"}],
        [{"name": "Black Lion"}, {"name": "Black Lion"}],
    ],
    ids=["taken_already", "twice_in_the_batch"],
)
async def test_exercise_1_a_taken_name_is_409_and_saves_none_of_the_batch(
    async_client, lesson, create_hero, stored_names, batch
):
    await create_hero(async_client, "Deadpond")
    response = await post_bulk(async_client, lesson, batch)
    assert response.status_code == 409, (
        f"a batch with a name that is taken should answer 409, got {response.status_code} "
        f"{response.text}. Look at {BULK}"
    )
    assert response.json() == BATCH_TAKEN, (
        f"the 409 of a batch should say what became of the whole batch, {BATCH_TAKEN}, not "
        f"name one hero of it; got {response.json()}. Look at {BULK}"
    )
    saved = [name for name in stored_names() if name != "Deadpond"]
    assert saved == [], (
        f"the heroes of the batch before the clash were saved ({saved}, read through another "
        "connection): every INSERT of the batch must run in one transaction, on the "
        f"connection of the request's task, so that they are rolled back together. Look at {BULK}"
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
        response = await post_bulk(async_client, lesson, batch)
    except RuntimeError:
        response = None
    assert failing.inserts >= 3, (
        "POST /heroes/bulk should insert through the `db` the route receives (DatabaseDep), "
        f"one hero at a time; it sent {failing.inserts} INSERTs through it. Look at {BULK}"
    )
    assert response is None or response.status_code >= 400
    assert stored_names() == [], (
        "the first two INSERTs stayed after the third one failed (read through another "
        "connection): they must all be in one transaction, rolled back when anything inside "
        f"raises. Look at {BULK}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_an_unknown_team_is_422_and_saves_nothing(
    async_client, lesson, stored_names
):
    batch = [{"name": "Rusty-Man"}, {"name": "X", "team_id": 9}]
    response = await post_bulk(async_client, lesson, batch)
    assert response.status_code == 422, (
        "a hero whose team_id names no team is a 422, as for POST /heroes/ (SQLite does not "
        f"check foreign keys): check that every team_id exists; got {response.status_code} "
        f"{response.text}. Look at {BULK}"
    )
    detail = response.json()["detail"]
    assert isinstance(detail, list) and [error.get("msg") for error in detail] == [
        "No team with id 9"
    ], (
        "the 422 has FastAPI's own shape, a list of errors each with type, loc and msg, here "
        f"one whose msg is 'No team with id 9': raise it with check_team_exists; got "
        f"{detail}. Look at {BULK}"
    )
    assert stored_names() == [], f"nothing of the batch may be saved. Look at {BULK}"


@pytest.mark.exercise(1)
async def test_exercise_1_a_batch_holds_at_most_100_heroes(async_client, lesson, stored_names):
    recruits = [{"name": f"Recruit {i:03}"} for i in range(101)]
    too_many = await post_bulk(async_client, lesson, recruits)
    assert too_many.status_code == 422, (
        f"a batch of 101 heroes answered {too_many.status_code}: the body of POST /heroes/bulk "
        "holds at most 100 heroes, and a longer one is refused with a 422 before any INSERT, "
        f"so no request holds a transaction for as long as it likes. Look at {BULK}"
    )
    assert stored_names() == [], f"a refused batch saves nothing. Look at {BULK}"
    full = await post_bulk(async_client, lesson, recruits[:100])
    assert (full.status_code, len(stored_names())) == (200, 100), (
        f"a batch of exactly 100 heroes is allowed, and saved. Look at {BULK}"
    )


@pytest.mark.exercise(1)
async def test_exercise_1_bulk_publishes_its_limit_and_its_409(async_client):
    paths = (await async_client.get("/openapi.json")).json()["paths"]
    route = paths.get("/heroes/bulk", {}).get("post")
    assert route is not None, f"POST /heroes/bulk is not written yet. Look at {BULK}"
    body = route["requestBody"]["content"]["application/json"]["schema"]
    assert body.get("maxItems") == 100, (
        f"the OpenAPI schema of the body should say it holds at most 100 heroes (maxItems: "
        f"100), which it does when the limit is part of the body's declaration; got {body}. "
        f"Look at {BULK}"
    )
    declared = route["responses"].get("409", {}).get("content", {})
    assert declared == {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}, (
        "the route answers 409 when a name is taken, so its OpenAPI must say so: declare 409 "
        "with the Message model in the route's responses=, as POST /heroes/ does; declared "
        f"now: {sorted(route['responses'])}. Look at {BULK}"
    )


# ---------------------------------------------------------------- exercise 2: forward.get_team

GET_TEAM = "get_team in forward.py"


class SpyConnection:
    """An AsyncConnection that records each statement sent with execute() and the rows it got.

    The rows are recorded as SQLAlchemy built them, before any Pydantic model saw them;
    the caller gets a result that replays them.
    """

    def __init__(self, connection):
        self._connection = connection
        self.calls = []

    def __getattr__(self, name):
        return getattr(self._connection, name)

    async def execute(self, statement, *args, **kwargs):
        result = await self._connection.execute(statement, *args, **kwargs)
        frozen = result.freeze()
        self.calls.append((statement, list(frozen.data)))
        return frozen()


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
        pytest.fail(
            "forward.py has no get_team(connection, team_id) yet: write it there", pytrace=False
        )
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
                f"forward.get_team should return a TeamPublic, got {team!r}. Look at {GET_TEAM}"
            )
            assert team == expected, (
                f"team {team_id}: forward gave {team!r}, crud {expected!r}. Look at {GET_TEAM}"
            )
        assert await get_team(connection, 999) is None, (
            f"a team that does not exist is None, not an exception. Look at {GET_TEAM}"
        )


@pytest.mark.exercise(2)
async def test_exercise_2_the_rows_hold_a_real_boolean_before_pydantic_sees_them(
    forward, lesson, tmp_path
):
    # On SQLite, whatever the backend of this run: PostgreSQL returns real booleans to raw
    # SQL, so only SQLite, which stores 0 and 1, shows whether the types were declared.
    get_team = get_team_of(forward)
    team_table = lesson.models.team_table
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'booleans.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lesson.models.metadata.create_all)
            old_guard = {"name": "Old Guard", "headquarters": "Cellar", "active": False}
            await connection.execute(team_table.insert().values(old_guard))
            spy = SpyConnection(connection)
            await get_team(spy, 1)
    finally:
        await engine.dispose()
    rows = [row for _, rows in spy.calls for row in rows]
    assert rows, (
        "forward.get_team(connection, 2) read no row through connection.execute(): send the "
        f"SELECT on the connection it is given. Look at {GET_TEAM}"
    )
    values = [row._mapping.get("active") for row in rows]
    assert all(type(value) is bool for value in values), (
        f"the row SQLAlchemy returned has active={values[0]!r} ({type(values[0]).__name__}), "
        "before Pydantic sees it: raw SQL carries no column types, and SQLite stores a boolean "
        "as 0 or 1 (mistake M3). TeamPublic hides it by turning 0 into False; anything else "
        "reading the row would not. Declare the result columns' types on the text() statement. "
        f"Look at {GET_TEAM}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_get_team_sends_one_statement_on_the_connection_it_is_given(forward):
    get_team = get_team_of(forward)
    async with forward.engine.connect() as connection:
        spy = SpyConnection(connection)
        await get_team(spy, 12345)
    assert len(spy.calls) == 1, (
        f"forward.get_team sent {len(spy.calls)} statements through the connection it was "
        "given, with execute(): it should send one, there, and open no connection of its own. "
        f"Look at {GET_TEAM}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_get_team_binds_the_id_as_a_parameter(forward, count_statements):
    get_team = get_team_of(forward)
    with count_statements(forward.engine) as log:
        async with forward.engine.connect() as connection:
            assert await get_team(connection, 12345) is None
    assert log.count >= 1 and not any("12345" in s for s in log.statements), (
        "the id is pasted into the SQL text (mistake M1): send it as a bind parameter, a "
        f":name in the SQL and its value beside the statement. Look at {GET_TEAM}\n{log}"
    )


@pytest.mark.exercise(2)
async def test_exercise_2_get_team_sees_the_callers_transaction(forward, lesson):
    get_team = get_team_of(forward)
    team_table = lesson.models.team_table
    async with forward.engine.connect() as connection, connection.begin() as transaction:
        statement = team_table.insert().values(name="New Team", headquarters="Tent")
        (team_id,) = (await connection.execute(statement.returning(team_table.c.id))).one()
        team = await get_team(connection, team_id)
        await transaction.rollback()
    assert team is not None and team.name == "New Team", (
        f"inside the caller's transaction, forward.get_team(connection, {team_id}) should see "
        f"the team that transaction just inserted; got {team!r}. A connection of its own "
        f"cannot see it: use the one you are given. Look at {GET_TEAM}"
    )
