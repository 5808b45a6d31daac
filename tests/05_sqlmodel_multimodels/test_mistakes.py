"""Lesson 05: each common mistake from the README, reproduced, then the lesson's way."""

import inspect
import re
from typing import get_args

import pytest
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlmodel import Session, select

# ---------------------------------------------------------------- M1: the table model as response


def table_classes_in(annotation) -> set[str]:
    """The table classes an annotation or a response model names: Hero in list[Hero]."""
    found = {annotation.__name__} if hasattr(annotation, "__table__") else set()
    for argument in get_args(annotation):
        found |= table_classes_in(argument)
    return found


@pytest.fixture
def leaky_routes(app, lesson):
    """Routes that answer with the table model: FastAPI takes the return annotation as the
    response model when there is no response_model=, or response_model=Hero says so."""
    Hero, SessionDep = lesson.models.Hero, lesson.main.SessionDep

    @app.get("/annotated-heroes/{hero_id}")
    def read_hero_annotated(hero_id: int, session: SessionDep) -> Hero:
        return lesson.main.get_hero_or_404(session, hero_id, with_team=True)

    @app.get("/table-model-heroes/{hero_id}", response_model=Hero)
    def read_hero_table_model(hero_id: int, session: SessionDep) -> Hero:
        return lesson.main.get_hero_or_404(session, hero_id, with_team=True)

    return ["/annotated-heroes/{hero_id}", "/table-model-heroes/{hero_id}"]


LEAKED = {"id": 1, "age": 48, "team_id": 1, "name": "Rusty-Man", "secret_name": "Tommy Sharp"}


def test_m1_a_route_whose_response_model_is_the_table_leaks_secret_name_and_drops_the_team(
    client, leaky_routes, create_hero, create_team
):
    create_team(client, "Preventers")
    create_hero(client, "Rusty-Man", secret_name="Tommy Sharp", age=48, team_id=1)
    answers = [client.get(route.format(hero_id=1)) for route in leaky_routes]
    # The route loaded hero.team, but a Relationship is not a field: it is never sent.
    assert [answer.json() for answer in answers] == [LEAKED, LEAKED]


def test_m1_the_openapi_walk_finds_secret_name_in_the_leaky_routes(
    client, leaky_routes, schema_properties
):
    found = schema_properties(client.get("/openapi.json").json())
    for route in leaky_routes:
        assert "secret_name" in found[f"GET {route} 200"]
        assert "team" not in found[f"GET {route} 200"]


def test_m1_response_model_wins_over_the_return_annotation(
    client, app, lesson, create_hero, create_team
):
    Hero, SessionDep = lesson.models.Hero, lesson.main.SessionDep

    # The leaky route, word for word, plus response_model=: what every route here does.
    @app.get("/public-heroes/{hero_id}", response_model=lesson.models.HeroPublicWithTeam)
    def read_hero_public(hero_id: int, session: SessionDep) -> Hero:
        return lesson.main.get_hero_or_404(session, hero_id, with_team=True)

    create_team(client, "Preventers", "Sharp Tower")
    create_hero(client, "Rusty-Man", secret_name="Tommy Sharp", age=48, team_id=1)
    assert client.get("/public-heroes/1").json() == {
        "name": "Rusty-Man",
        "age": 48,
        "team_id": 1,
        "id": 1,
        "team": {"name": "Preventers", "headquarters": "Sharp Tower", "id": 1},
    }


def test_m1_every_route_returns_table_objects_and_none_answers_with_a_table_model(lesson):
    routes = [route for route in lesson.app.routes if isinstance(route, APIRoute)]
    returns = {
        f"{min(route.methods)} {route.path}": table_classes_in(
            inspect.signature(route.endpoint).return_annotation
        )
        for route in routes
    }
    answers = {
        f"{min(route.methods)} {route.path}": table_classes_in(route.response_model)
        for route in routes
    }
    assert {route for route, tables in returns.items() if tables} >= {
        "POST /heroes/",
        "GET /heroes/",
        "GET /heroes/{hero_id}",
        "PATCH /heroes/{hero_id}",
        "POST /teams/",
        "GET /teams/",
        "GET /teams/{team_id}",
    }
    assert {route: tables for route, tables in answers.items() if tables} == {}


def test_m1_the_lessons_public_models_keep_it_inside(client, create_hero, create_team):
    team = create_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man", secret_name="Tommy Sharp", team_id=team["id"])
    public = client.get(f"/heroes/{hero['id']}").json()
    assert "secret_name" not in public
    assert public["team"]["name"] == "Preventers"


# ---------------------------------------------------------------- M2: nesting both ways


TEAM_REPR = re.compile(r"Team\(([^()]*)\)")


def cut_team_reprs(text: str) -> tuple[str, list[list[str]]]:
    """The text with each `Team(...)` repr cut out, and the fields each one showed. The
    order of those fields changes from one run of Python to the next."""
    fields = [sorted(found.group(1).split(", ")) for found in TEAM_REPR.finditer(text)]
    return TEAM_REPR.sub("Team(...)", text), fields


@pytest.fixture
def looping_models(lesson):
    """Response models that nest both ways: a hero's team lists its heroes, with their team."""
    models = lesson.models

    class HeroPublicWithTeamAndTeammates(models.HeroPublic):
        team: "TeamPublicWithHeroesAndTheirTeam | None" = None

    class TeamPublicWithHeroesAndTheirTeam(models.TeamPublic):
        heroes: list[HeroPublicWithTeamAndTeammates] = []

    HeroPublicWithTeamAndTeammates.model_rebuild()
    return HeroPublicWithTeamAndTeammates


def with_team_and_teammates(lesson):
    """The loader options the two-way model needs: the hero's team, and the team's heroes
    (every relationship is lazy="raise", so the route must load both levels itself)."""
    Hero, Team = lesson.models.Hero, lesson.models.Team
    return [joinedload(Hero.team).selectinload(Team.heroes)]


@pytest.fixture
def looping_route(app, lesson, looping_models):
    @app.get("/looping-heroes/{hero_id}", response_model=looping_models)
    def read_hero_looping(hero_id: int, session: lesson.main.SessionDep):
        Hero = lesson.models.Hero
        return session.get(Hero, hero_id, options=with_team_and_teammates(lesson))

    return "/looping-heroes/{hero_id}"


def test_m2_two_way_nesting_hits_the_cycle_and_fails_the_response(
    client, looping_route, create_hero, create_team
):
    team = create_team(client, "Preventers", "Sharp Tower")
    hero = create_hero(client, "Rusty-Man", team_id=team["id"])
    # Not an endless loop: Pydantic notices it is back at an object it is already validating.
    with pytest.raises(ResponseValidationError, match="cyclic reference detected") as info:
        client.get(looping_route.format(hero_id=hero["id"]))
    message, teams = cut_team_reprs(str(info.value))
    assert message.split("\n")[:2] == [
        "1 validation error:",
        "  {'type': 'recursion_loop', 'loc': ('response', 'team', 'heroes', 0, 'team'), "
        "'msg': 'Recursion error - cyclic reference detected', 'input': Team(...)}",
    ]
    assert teams == [["headquarters='Sharp Tower'", "id=1", "name='Preventers'"]]


def test_m2_the_client_sees_a_bare_500(lesson, looping_route, create_hero, create_team):
    with TestClient(lesson.app, raise_server_exceptions=False) as client:
        team = create_team(client, "Preventers")
        hero = create_hero(client, "Rusty-Man", team_id=team["id"])
        response = client.get(looping_route.format(hero_id=hero["id"]))
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_m2_it_only_fails_once_the_hero_has_a_team(client, looping_route, create_hero):
    hero = create_hero(client, "Deadpond")  # no team: no cycle, so a quick test passes
    response = client.get(looping_route.format(hero_id=hero["id"]))
    assert (response.status_code, response.json()["team"]) == (200, None)
    # The schemas may refer to each other: /openapi.json renders, /docs shows nothing wrong.
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TeamPublicWithHeroesAndTheirTeam"]["properties"]["heroes"]["items"] == {
        "$ref": "#/components/schemas/HeroPublicWithTeamAndTeammates"
    }


def test_m2_model_validate_reports_the_same_cycle(client, lesson, looping_models, create_hero):
    team = client.post("/teams/", json={"name": "Preventers", "headquarters": "Sharp Tower"})
    create_hero(client, "Rusty-Man", team_id=team.json()["id"])
    with Session(lesson.database.engine) as session:
        statement = select(lesson.models.Hero).options(*with_team_and_teammates(lesson))
        hero = session.exec(statement).one()
        with pytest.raises(ValidationError) as info:
            looping_models.model_validate(hero)
    message, _ = cut_team_reprs(str(info.value))  # Pydantic shortens this one in the middle
    assert message == (
        "1 validation error for HeroPublicWithTeamAndTeammates\n"
        "team.heroes.0.team\n"
        "  Recursion error - cyclic reference detected [type=recursion_loop, "
        "input_value=Team(...), input_type=Team]\n"
        "    For further information visit https://errors.pydantic.dev/2.14/v/recursion_loop"
    )


def test_m2_one_level_each_way_does_not_loop(client, create_hero, create_team):
    team = create_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man", team_id=team["id"])
    assert client.get(f"/heroes/{hero['id']}").json()["team"]["id"] == team["id"]
    assert client.get(f"/teams/{team['id']}").json()["heroes"][0]["id"] == hero["id"]


# ---------------------------------------------------------------- M3: the table model as input


@pytest.fixture
def unchecked_route(app, lesson):
    """A create route that takes the table model as its body, as lesson 04 did."""
    Hero = lesson.models.Hero

    @app.post("/unchecked-heroes/", response_model=lesson.models.HeroPublic)
    def create_hero_unchecked(hero: Hero, session: lesson.main.SessionDep) -> Hero:
        session.add(hero)
        session.commit()
        return hero

    return "/unchecked-heroes/"


def test_m3_a_table_model_body_lets_bad_data_into_the_database(client, lesson, unchecked_route):
    body = {"name": "", "secret_name": "x", "age": -5, "id": 42}
    # The row is committed first; only the response model, which does validate, objects.
    with pytest.raises(ResponseValidationError, match="2 validation errors") as info:
        client.post(unchecked_route, json=body)
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        (("response", "name"), "string_too_short"),
        (("response", "age"), "greater_than_equal"),
    ]
    with Session(lesson.database.engine) as session:
        stored = session.exec(select(lesson.models.Hero)).one()
    assert (stored.id, stored.name, stored.age) == (42, "", -5)


def test_m3_the_table_model_constructor_does_not_validate(lesson):
    hero = lesson.models.Hero(name="", age=-5)
    assert (hero.name, hero.age) == ("", -5)
    with pytest.raises(ValidationError, match="3 validation errors for HeroCreate"):
        lesson.models.HeroCreate(name="", age=-5)


def test_m3_the_lessons_create_model_answers_422(client, lesson):
    response = client.post("/heroes/", json={"name": "", "secret_name": "x", "age": -5})
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [
        (["body", "name"], "string_too_short"),
        (["body", "age"], "greater_than_equal"),
    ]
    with Session(lesson.database.engine) as session:
        assert session.exec(select(lesson.models.Hero)).all() == []


# ---------------------------------------------------------------- M4: null for a NOT NULL column


@pytest.fixture
def tutorial_patch_route(app, lesson):
    """PATCH as the official FastAPI tutorial writes it: every field optional, no guard."""
    models = lesson.models

    class HeroUpdateAsInTheTutorial(models.HeroBase):
        name: str | None = None
        age: int | None = None
        secret_name: str | None = None

    @app.patch("/tutorial-heroes/{hero_id}", response_model=models.HeroPublic)
    def update_hero_as_in_the_tutorial(
        hero_id: int, hero: HeroUpdateAsInTheTutorial, session: lesson.main.SessionDep
    ):
        hero_db = lesson.main.get_hero_or_404(session, hero_id)
        hero_db.sqlmodel_update(hero.model_dump(exclude_unset=True))
        session.add(hero_db)
        session.commit()
        session.refresh(hero_db)
        return hero_db

    return "/tutorial-heroes/{hero_id}"


def test_m4_null_for_a_not_null_column_reaches_the_database(
    client, db, tutorial_patch_route, create_hero
):
    hero = create_hero(client, "Spider-Boy")
    fragment = (
        "NOT NULL constraint failed: hero.name"
        if db.backend == "sqlite"
        else 'null value in column "name" of relation "hero" violates not-null constraint'
    )
    with pytest.raises(IntegrityError, match=fragment):
        client.patch(tutorial_patch_route.format(hero_id=hero["id"]), json={"name": None})


def test_m4_the_client_sees_a_bare_500(lesson, tutorial_patch_route, create_hero):
    with TestClient(lesson.app, raise_server_exceptions=False) as client:
        hero = create_hero(client, "Spider-Boy")
        response = client.patch(
            tutorial_patch_route.format(hero_id=hero["id"]), json={"name": None}
        )
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_m4_the_lessons_update_model_refuses_null_with_422(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "Value error, may be left out, but not set to null"
    )
    # Leaving name out, and sending null where null is allowed, still work.
    assert client.patch(f"/heroes/{hero['id']}", json={"age": None}).json()["name"] == "Spider-Boy"
