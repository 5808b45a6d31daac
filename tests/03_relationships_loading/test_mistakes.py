"""Lesson 03: each common mistake from the README, reproduced, then the lesson's way."""

import re

import pytest
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.exc import DetachedInstanceError

# ---------------------------------------------------------------- M1: N+1


@pytest.fixture
def lazy_team_listing(lesson, monkeypatch):
    """crud.get_teams as most tutorials write it: the teams only, their heroes loaded lazily."""
    Team = lesson.models.Team

    def get_teams(session, offset=0, limit=100):
        # lazyload() brings back SQLAlchemy's default for this query: a SELECT per team, on use.
        statement = select(Team).options(lazyload(Team.heroes))
        return session.scalars(statement.order_by(Team.id).offset(offset).limit(limit)).all()

    monkeypatch.setattr(lesson.crud, "get_teams", get_teams)


def test_m1_lazy_loading_lists_10_teams_in_11_statements(
    client, lesson, seed_teams, count_statements, lazy_team_listing
):
    teams = seed_teams(client, teams=10, heroes=2)
    with count_statements(lesson.database.engine) as log:
        response = client.get("/teams/")
    assert response.json() == teams  # the answer is right: only the cost is wrong
    assert log.count == 11, f"expected 1 + 10 statements, got {log.count}:\n{log}"
    assert log.statements[0].startswith("SELECT team.id")
    # Then one SELECT of heroes per team, each for a single team_id.
    assert all("FROM hero WHERE" in s and "= hero.team_id" in s for s in log.statements[1:])


def test_m1_lazy_loading_costs_one_more_statement_per_team(
    client, lesson, seed_teams, count_statements, lazy_team_listing
):
    seed_teams(client, teams=20, heroes=1)
    counts = {}
    for limit in (5, 20):
        with count_statements(lesson.database.engine) as log:
            client.get("/teams/", params={"limit": limit})
        counts[limit] = log.count
    assert counts == {5: 6, 20: 21}


def test_m1_with_lazy_raise_forgetting_the_eager_load_is_an_error_not_n_queries(
    client, lesson, seed_teams, monkeypatch
):
    seed_teams(client, teams=2, heroes=1)
    Team = lesson.models.Team

    def get_teams(session, offset=0, limit=100):
        return session.scalars(select(Team).order_by(Team.id).offset(offset).limit(limit)).all()

    monkeypatch.setattr(lesson.crud, "get_teams", get_teams)
    with pytest.raises(ResponseValidationError) as caught:
        client.get("/teams/")
    # FastAPI reads team.heroes while building the response, and reports what it raised.
    error = caught.value.errors()[0]
    assert error["type"] == "get_attribute_error"
    assert error["ctx"]["error"] == (
        "InvalidRequestError: 'Team.heroes' is not available due to lazy='raise'"
    )


def test_m1_the_lessons_selectinload_takes_2_statements_whatever_the_page_size(
    client, lesson, seed_teams, count_statements
):
    teams = seed_teams(client, teams=20, heroes=1)
    for limit in (5, 20):
        with count_statements(lesson.database.engine) as log:
            assert client.get("/teams/", params={"limit": limit}).json() == teams[:limit]
        assert log.count == 2, f"expected 2 statements, got {log.count}:\n{log}"


# ---------------------------------------------------------------- M2: joinedload without unique()


def test_m2_joinedload_of_a_collection_without_unique_raises(client, lesson, seed_teams):
    seed_teams(client, teams=2, heroes=2)
    Team = lesson.models.Team
    statement = select(Team).options(joinedload(Team.heroes))
    with (
        lesson.database.SessionLocal() as session,
        pytest.raises(
            InvalidRequestError,
            match=r"The unique\(\) method must be invoked on this Result, as it contains "
            "results that include joined eager loads against collections",
        ),
    ):
        session.scalars(statement).all()


def test_m2_the_lessons_unique_gives_each_team_once_with_all_its_heroes(client, lesson, seed_teams):
    teams = seed_teams(client, teams=2, heroes=2)
    Hero, Team = lesson.models.Hero, lesson.models.Team
    statement = select(Team).options(joinedload(Team.heroes)).order_by(Team.id)
    with lesson.database.SessionLocal() as session:
        # Why unique() is needed: the JOIN returns each team once per hero.
        rows = session.execute(select(Team.name, Hero.name).join(Team.heroes)).all()
        assert sorted(team for team, _ in rows) == ["Team 0", "Team 0", "Team 1", "Team 1"]
        found = session.scalars(statement).unique().all()
        assert [[h.name for h in t.heroes] for t in found] == [
            [h["name"] for h in t["heroes"]] for t in teams
        ]
        one = lesson.crud.get_team_with_heroes(session, teams[1]["id"])
        assert [h.name for h in one.heroes] == ["Hero 1-0", "Hero 1-1"]
        # joinedload() of a single object repeats nothing: no unique() needed.
        statement = select(Hero).options(joinedload(Hero.team)).order_by(Hero.id)
        heroes = session.scalars(statement).all()
        assert [h.team.name for h in heroes] == ["Team 0", "Team 0", "Team 1", "Team 1"]


# ---------------------------------------------------------------- M3: SQLite foreign keys


@pytest.mark.sqlite_only
def test_m3_sqlite_without_the_pragma_accepts_a_hero_whose_team_does_not_exist(client, lesson, db):
    plain = db.engine()  # create_engine(url) and nothing else: no connect listener
    with plain.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    Hero, Team = lesson.models.Hero, lesson.models.Team
    with Session(plain) as session:
        session.add(Hero(name="Ghost", secret_name="Nobody", team_id=999))
        session.commit()  # no error: SQLite did not check the foreign key
    with lesson.database.SessionLocal() as session:
        assert session.scalars(select(Hero.team_id)).all() == [999]
        assert session.get(Team, 999) is None


@pytest.mark.sqlite_only
def test_m3_sqlite_without_the_pragma_deleting_a_team_leaves_heroes_pointing_at_nothing(
    client, lesson, db, app, seed_teams
):
    team = seed_teams(client, teams=1, heroes=1)[0]
    plain = db.engine()  # what the app would use without the connect listener

    def get_session_without_pragma():
        with Session(plain) as session:
            yield session

    app.dependency_overrides[lesson.main.get_session] = get_session_without_pragma
    try:
        assert client.delete(f"/teams/{team['id']}").json() == {"ok": True}
    finally:
        app.dependency_overrides.clear()
    hero = client.get(f"/heroes/{team['heroes'][0]['id']}").json()
    # Wrong data: ON DELETE SET NULL never ran, so the hero names a team that is gone.
    assert (hero["team_id"], hero["team"]) == (team["id"], None)


@pytest.mark.sqlite_only
def test_m3_with_the_lessons_pragma_a_missing_team_is_an_integrity_error(client, lesson):
    with lesson.database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="Ghost", secret_name="Nobody", team_id=999))
        with pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed"):
            session.commit()


@pytest.mark.postgres_only
def test_m3_postgresql_enforces_foreign_keys_on_every_connection(client, lesson, db):
    plain = db.engine()  # no listener, and none is needed
    with Session(plain) as session:
        session.add(lesson.models.Hero(name="Ghost", secret_name="Nobody", team_id=999))
        with pytest.raises(
            IntegrityError, match='violates foreign key constraint "hero_team_id_fkey"'
        ):
            session.commit()


def test_m3_the_api_answers_422_before_the_database_is_asked(client, lesson, count_statements):
    with count_statements(lesson.database.engine) as log:
        response = client.post("/heroes/", json={"name": "Ghost", "secret_name": "x", "team_id": 9})
    error = {"type": "value_error", "loc": ["body", "team_id"], "msg": "No team with id 9"}
    assert (response.status_code, response.json()) == (422, {"detail": [error]})
    assert not any(s.startswith("INSERT") for s in log.statements)


# ---------------------------------------------------------------- M4: after the session closed


def add_own_session_route(lesson, *options):
    """GET /mistake/teams/{team_id}: opens and closes its own session, then returns the team."""
    Team = lesson.models.Team

    def read_team(team_id: int):
        with lesson.database.SessionLocal() as session:
            return session.get(Team, team_id, options=list(options))
        # the session is closed here; FastAPI builds the response only after the return

    lesson.app.add_api_route(
        "/mistake/teams/{team_id}",
        read_team,
        response_model=lesson.schemas.TeamPublicWithHeroes,
    )


DETACHED = (
    r"Parent instance <Team at 0x[0-9a-f]+> is not bound to a Session; "
    r"lazy load operation of attribute 'heroes' cannot proceed"
)


def test_m4_touching_a_lazy_relationship_after_the_session_closed_is_detached_instance_error(
    client, lesson, seed_teams
):
    team_id = seed_teams(client, teams=1, heroes=2)[0]["id"]
    Team = lesson.models.Team
    with lesson.database.SessionLocal() as session:
        team = session.get(Team, team_id, options=[lazyload(Team.heroes)])
    assert team.name == "Team 0"  # columns were loaded while the session was open
    with pytest.raises(DetachedInstanceError, match=f"^{DETACHED}"):
        team.heroes  # noqa: B018 - the attribute access is the mistake


def test_m4_returned_from_an_endpoint_it_is_a_500_reported_as_response_validation_error(
    client, lesson, seed_teams
):
    team_id = seed_teams(client, teams=1, heroes=2)[0]["id"]
    add_own_session_route(lesson, lazyload(lesson.models.Team.heroes))
    with pytest.raises(ResponseValidationError) as caught:
        client.get(f"/mistake/teams/{team_id}")
    error = caught.value.errors()[0]
    assert (error["type"], error["loc"]) == ("get_attribute_error", ("response", "heroes"))
    assert re.match(f"DetachedInstanceError: {DETACHED}", error["ctx"]["error"])
    with TestClient(lesson.app, raise_server_exceptions=False) as raw:
        response = raw.get(f"/mistake/teams/{team_id}")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_m4_with_lazy_raise_the_same_mistake_fails_with_the_lazy_raise_error(
    client, lesson, seed_teams
):
    team_id = seed_teams(client, teams=1, heroes=2)[0]["id"]
    add_own_session_route(lesson)  # the lesson's mapping: lazy="raise"
    with pytest.raises(ResponseValidationError) as caught:
        client.get(f"/mistake/teams/{team_id}")
    assert caught.value.errors()[0]["ctx"]["error"] == (
        "InvalidRequestError: 'Team.heroes' is not available due to lazy='raise'"
    )


def test_m4_heroes_loaded_eagerly_are_still_there_after_the_session_closed(
    client, lesson, seed_teams
):
    team = seed_teams(client, teams=1, heroes=2)[0]
    with lesson.database.SessionLocal() as session:
        loaded = lesson.crud.get_team_with_heroes(session, team["id"])
    # Closed: nothing more can be loaded, but what was loaded is plain data on the object.
    public = lesson.schemas.TeamPublicWithHeroes.model_validate(loaded)
    assert public.model_dump() == team


def test_m4_the_lessons_session_dependency_is_still_open_while_the_response_is_built(
    client, lesson, seed_teams
):
    team = seed_teams(client, teams=1, heroes=2)[0]
    Team = lesson.models.Team

    def read_team(team_id: int, session: lesson.main.SessionDep):
        return session.get(Team, team_id, options=[lazyload(Team.heroes)])

    lesson.app.add_api_route(
        "/lazy/teams/{team_id}", read_team, response_model=lesson.schemas.TeamPublicWithHeroes
    )
    # Even a lazy load works here (one query more): FastAPI closes SessionDep after serializing.
    assert client.get(f"/lazy/teams/{team['id']}").json() == team
