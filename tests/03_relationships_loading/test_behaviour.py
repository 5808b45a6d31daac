"""Lesson 03: what the README says the app does, each claim proven by one test."""

import asyncio
import json
import math
import re
from typing import Any

import anyio
import jsonschema
import pytest
from http_checks import json_with
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import joinedload

# ---------------------------------------------------------------- the /heroes/ contract of 02


def test_create_returns_the_hero_with_an_id_and_no_team(client):
    response = client.post(
        "/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 48}
    )
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "Deadpond", "age": 48, "team_id": None}


def rewrite_rows(db, table: str, ids: list[int]) -> None:
    """Rewrite these rows unchanged. PostgreSQL stores the new versions after the others, so
    a SELECT without ORDER BY lists them last there; SQLite keeps its rows in id order."""
    with db.engine().begin() as conn:
        conn.execute(
            text(f"UPDATE {table} SET name = name WHERE id IN ({', '.join(map(str, ids))})")
        )


def test_list_is_in_insertion_order_with_offset_and_limit(
    client, lesson, db, create_hero, count_statements
):
    names = [create_hero(client, f"Hero {i}")["name"] for i in range(5)]
    rewrite_rows(db, "hero", [1, 2])
    with count_statements(lesson.database.engine) as log:
        listed = [h["name"] for h in client.get("/heroes/").json()]
        page = [h["name"] for h in client.get("/heroes/", params={"offset": 1, "limit": 2}).json()]
    assert (listed, page) == (names, names[1:3])
    assert all("FROM hero ORDER BY hero.id LIMIT " in s for s in log.statements), str(log)


def test_lists_reject_a_limit_over_100_or_negative_paging_with_422(client):
    for path in ("/heroes/", "/teams/", "/powers/"):
        for params in ({"limit": 101}, {"limit": -1}, {"offset": -1}):
            response = client.get(path, params=params)
            assert response.status_code == 422, (path, params)
            assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/heroes/999"),
        ("PATCH", "/heroes/999"),
        ("DELETE", "/heroes/999"),
        ("POST", "/heroes/999/powers/1"),
    ],
)
def test_missing_hero_is_404_hero_not_found(client, create_power, method, path):
    create_power(client, "Flight")
    response = client.request(method, path, json={} if method == "PATCH" else None)
    assert response.status_code == 404
    assert response.json() == {"detail": "Hero not found"}


def test_patch_changes_only_the_fields_sent(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"age": 17})
    assert response.json() == {**hero, "age": 17}


def test_patch_with_null_name_is_422_not_a_database_error(client, create_hero):
    hero = create_hero(client, "Spider-Boy")
    response = client.patch(f"/heroes/{hero['id']}", json={"name": None})
    assert response.status_code == 422
    assert "may be left out, but not set to null" in response.json()["detail"][0]["msg"]


def test_delete_answers_ok_and_the_hero_is_gone(client, create_hero):
    hero = create_hero(client, "Tarantula")
    assert client.delete(f"/heroes/{hero['id']}").json() == {"ok": True}
    assert client.get(f"/heroes/{hero['id']}").status_code == 404


def test_duplicate_hero_name_is_409(client, create_hero):
    create_hero(client, "Deadpond")
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A hero named 'Deadpond' already exists"}


def test_a_body_without_a_name_is_422(client):
    response = client.post("/heroes/", json={"secret_name": "Nobody"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_the_age_and_name_filters_of_lesson_02_still_work(client, create_hero):
    for name, age in [("Deadpond", 48), ("Spider-Boy", 16), ("Rusty-Man", 48)]:
        create_hero(client, name, age=age)
    found = client.get("/heroes/", params={"min_age": 40, "q": "man"}).json()
    assert [h["name"] for h in found] == ["Rusty-Man"]


def test_startup_creates_four_tables_one_of_them_the_link_table(client, lesson):
    names = sorted(inspect(lesson.database.engine).get_table_names())
    assert names == ["hero", "hero_power", "power", "team"]


# ---------------------------------------------------------------- teams


def test_back_populates_keeps_both_sides_in_step_in_memory(lesson):
    team = lesson.models.Team(name="Preventers", headquarters="Sharp Tower")
    hero = lesson.models.Hero(name="Rusty-Man", secret_name="Tommy Sharp", team=team)
    assert team.heroes == [hero]  # no session, no SQL: the ORM filled the other side


def test_create_team_returns_it_with_an_id(client):
    response = client.post("/teams/", json={"name": "Preventers", "headquarters": "Sharp Tower"})
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "Preventers", "headquarters": "Sharp Tower"}


def test_duplicate_team_name_is_409(client, create_team):
    create_team(client, "Preventers")
    response = client.post("/teams/", json={"name": "Preventers", "headquarters": "x"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A team named 'Preventers' already exists"}


def test_a_hero_can_join_a_team_on_create_and_leave_it_with_patch_null(
    client, create_team, create_hero
):
    team = create_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man", team_id=team["id"])
    assert hero["team_id"] == team["id"]
    response = client.patch(f"/heroes/{hero['id']}", json={"team_id": None})
    assert response.json()["team_id"] is None


def test_an_unknown_team_id_is_422_with_a_clear_detail_and_nothing_changes(client, create_hero):
    hero = create_hero(client, "Rusty-Man")
    created = client.post("/heroes/", json={"name": "X", "secret_name": "x", "team_id": 7})
    patched = client.patch(f"/heroes/{hero['id']}", json={"team_id": 7})
    error = {"type": "value_error", "loc": ["body", "team_id"], "msg": "No team with id 7"}
    for response in (created, patched):
        assert (response.status_code, response.json()) == (422, {"detail": [error]})
    assert client.get("/heroes/").json() == [hero]


def test_read_team_returns_it_with_its_heroes_in_insertion_order(
    client, lesson, db, seed_teams, count_statements
):
    teams = seed_teams(client, teams=2, heroes=3)
    rewrite_rows(db, "hero", [hero["id"] for hero in teams[1]["heroes"][:2]])
    with count_statements(lesson.database.engine) as log:
        assert client.get(f"/teams/{teams[1]['id']}").json() == teams[1]
    # Team.heroes is mapped with order_by="Hero.id": every load of it says ORDER BY.
    assert log.statements[0].endswith("ORDER BY hero_1.id"), str(log)


def test_missing_team_is_404_team_not_found(client):
    for method in ("GET", "DELETE"):
        response = client.request(method, "/teams/999")
        assert (response.status_code, response.json()) == (404, {"detail": "Team not found"})


def test_team_listing_returns_every_team_with_its_heroes_in_id_order(
    client, lesson, db, seed_teams, count_statements
):
    teams = seed_teams(client, teams=3, heroes=2)
    rewrite_rows(db, "team", [teams[0]["id"]])
    rewrite_rows(db, "hero", [team["heroes"][0]["id"] for team in teams])
    with count_statements(lesson.database.engine) as log:
        assert client.get("/teams/").json() == teams
    assert client.get("/teams/", params={"offset": 1, "limit": 1}).json() == teams[1:2]
    teams_sql, heroes_sql = log.statements
    assert "FROM team ORDER BY team.id LIMIT " in teams_sql, teams_sql
    assert heroes_sql.endswith("ORDER BY hero.id"), heroes_sql


def test_nested_responses_point_one_way_so_nothing_recurses(client, seed_teams):
    team = seed_teams(client, teams=1, heroes=1)[0]
    hero = client.get(f"/heroes/{team['heroes'][0]['id']}").json()
    assert hero["team"] == {"id": team["id"], "name": team["name"], "headquarters": "Sharp Tower"}
    assert "team" not in team["heroes"][0]  # a team's heroes don't carry the team again
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TeamPublicWithHeroes"]["properties"]["heroes"]["items"] == {
        "$ref": "#/components/schemas/HeroPublic"
    }
    assert set(schemas["HeroPublic"]["properties"]) == {"id", "name", "age", "team_id"}


# ---------------------------------------------------------------- counting statements


def test_listing_10_teams_with_their_heroes_takes_2_statements_with_selectinload(
    client, lesson, seed_teams, count_statements
):
    teams = seed_teams(client, teams=10, heroes=2)
    with count_statements(lesson.database.engine) as log:
        response = client.get("/teams/")
    assert response.json() == teams
    assert log.count == 2, f"expected 2 statements, got {log.count}:\n{log}"
    assert "WHERE hero.team_id IN (" in log.statements[1]


def test_listing_10_teams_with_their_heroes_takes_1_statement_with_joinedload(
    client, lesson, seed_teams, count_statements
):
    seed_teams(client, teams=10, heroes=2)
    Team = lesson.models.Team
    statement = select(Team).options(joinedload(Team.heroes)).order_by(Team.id)
    with (
        lesson.database.SessionLocal() as session,
        count_statements(lesson.database.engine) as log,
    ):
        teams = session.scalars(statement).unique().all()
        heroes = [hero.name for team in teams for hero in team.heroes]
    assert (len(teams), len(heroes)) == (10, 20)
    assert log.count == 1, f"expected 1 statement, got {log.count}:\n{log}"
    assert "LEFT OUTER JOIN hero" in log.statements[0]


def test_joinedload_with_limit_pages_teams_not_joined_rows(client, lesson, seed_teams):
    seed_teams(client, teams=10, heroes=2)
    Team = lesson.models.Team
    statement = select(Team).options(joinedload(Team.heroes)).order_by(Team.id).limit(3)
    with lesson.database.SessionLocal() as session:
        teams = session.scalars(statement).unique().all()
        assert [len(team.heroes) for team in teams] == [2, 2, 2]
    # SQLAlchemy puts the LIMIT in a subquery on team, then joins the heroes to it.
    assert "LIMIT" in str(statement.compile()).split("LEFT OUTER JOIN")[0]


def test_reading_one_team_with_its_heroes_takes_1_statement(
    client, lesson, seed_teams, count_statements
):
    team = seed_teams(client, teams=3, heroes=3)[1]
    with count_statements(lesson.database.engine) as log:
        assert client.get(f"/teams/{team['id']}").json() == team
    assert log.count == 1, f"expected 1 statement, got {log.count}:\n{log}"


def test_reading_one_hero_with_its_team_takes_1_statement(
    client, lesson, seed_teams, count_statements
):
    hero = seed_teams(client, teams=1, heroes=1)[0]["heroes"][0]
    with count_statements(lesson.database.engine) as log:
        assert client.get(f"/heroes/{hero['id']}").json()["team"]["name"] == "Team 0"
    assert log.count == 1, f"expected 1 statement, got {log.count}:\n{log}"


def statement_kinds(log) -> list[str]:
    """The first word of each statement sent: INSERT, SELECT, UPDATE..."""
    return [statement.split()[0] for statement in log.statements]


def test_patch_and_delete_of_a_hero_load_the_hero_alone_in_2_statements(
    client, lesson, seed_teams, count_statements
):
    hero = seed_teams(client, teams=1, heroes=2)[0]["heroes"][0]
    with count_statements(lesson.database.engine) as patched:
        assert client.patch(f"/heroes/{hero['id']}", json={"age": 30}).json() == {
            **hero,
            "age": 30,
        }
    with count_statements(lesson.database.engine) as deleted:
        assert client.delete(f"/heroes/{hero['id']}").json() == {"ok": True}
    # Neither answer shows the team: no JOIN, no second SELECT for it.
    assert statement_kinds(patched) == ["SELECT", "UPDATE"], str(patched)
    assert statement_kinds(deleted) == ["SELECT", "DELETE"], str(deleted)
    assert not any(" JOIN " in s for s in patched.statements + deleted.statements)


def test_a_patch_that_names_a_team_checks_it_with_one_more_select(
    client, lesson, create_team, create_hero, count_statements
):
    team = create_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man")
    with count_statements(lesson.database.engine) as log:
        response = client.patch(f"/heroes/{hero['id']}", json={"team_id": team["id"]})
    assert response.json() == {**hero, "team_id": team["id"]}
    assert statement_kinds(log) == ["SELECT", "SELECT", "UPDATE"], str(log)
    assert "FROM team WHERE team.id = " in log.statements[1]


def test_giving_a_power_takes_3_statements_and_1_when_the_hero_has_it(
    client, lesson, create_hero, create_power, count_statements
):
    hero, power = create_hero(client, "Deadpond"), create_power(client, "Flight")
    path = f"/heroes/{hero['id']}/powers/{power['id']}"
    with count_statements(lesson.database.engine) as first:
        assert client.post(path).json() == {**hero, "powers": [power]}
    with count_statements(lesson.database.engine) as again:
        assert client.post(path).json() == {**hero, "powers": [power]}
    # The hero with its powers in one JOIN, the power, the link; nothing read back.
    assert statement_kinds(first) == ["SELECT", "SELECT", "INSERT"], str(first)
    assert "LEFT OUTER JOIN (hero_power" in first.statements[0]
    assert first.statements[2].startswith("INSERT INTO hero_power")
    # The power came with the hero's powers: the session has it, and nothing is inserted.
    assert statement_kinds(again) == ["SELECT"], str(again)


def test_listing_heroes_takes_1_statement_and_loads_no_relationship(
    client, lesson, seed_teams, count_statements
):
    seed_teams(client, teams=5, heroes=2)
    with count_statements(lesson.database.engine) as log:
        assert len(client.get("/heroes/").json()) == 10
    assert log.count == 1, f"expected 1 statement, got {log.count}:\n{log}"


# ---------------------------------------------------------------- lazy="raise"


def test_touching_an_unloaded_relationship_raises_because_of_lazy_raise(client, lesson, seed_teams):
    seed_teams(client, teams=1, heroes=1)
    with lesson.database.SessionLocal() as session:
        for model, attribute in [("Team", "heroes"), ("Hero", "team"), ("Hero", "powers")]:
            instance = session.get(getattr(lesson.models, model), 1)
            with pytest.raises(
                InvalidRequestError,
                match=rf"^'{model}\.{attribute}' is not available due to lazy='raise'$",
            ):
                getattr(instance, attribute)


# ---------------------------------------------------------------- deleting


def test_the_model_says_on_delete_set_null_for_a_heros_team(client, lesson):
    (foreign_key,) = inspect(lesson.database.engine).get_foreign_keys("hero")
    assert foreign_key["referred_table"] == "team"
    assert foreign_key["options"] == {"ondelete": "SET NULL"}


def test_deleting_a_team_keeps_its_heroes_with_team_id_null_in_the_database(
    client, lesson, seed_teams, create_hero
):
    teams = seed_teams(client, teams=2, heroes=2)
    loner = create_hero(client, "Loner")
    assert client.delete(f"/teams/{teams[0]['id']}").json() == {"ok": True}
    Hero, Team = lesson.models.Hero, lesson.models.Team
    with lesson.database.SessionLocal() as session:
        assert session.scalars(select(Team.name)).all() == ["Team 1"]
        rows = session.execute(select(Hero.name, Hero.team_id).order_by(Hero.id)).all()
    assert [tuple(row) for row in rows] == [
        ("Hero 0-0", None),
        ("Hero 0-1", None),
        ("Hero 1-0", teams[1]["id"]),
        ("Hero 1-1", teams[1]["id"]),
        (loner["name"], None),
    ]


def test_deleting_a_team_sends_one_delete_and_leaves_its_heroes_to_the_database(
    client, lesson, seed_teams, count_statements
):
    team = seed_teams(client, teams=1, heroes=3)[0]
    with count_statements(lesson.database.engine) as log:
        client.delete(f"/teams/{team['id']}")
    # passive_deletes=True: no SELECT of the heroes, no UPDATE hero; ON DELETE SET NULL does it.
    assert [s.split(" ")[0] for s in log.statements] == ["SELECT", "DELETE"], str(log)
    assert "FROM team" in log.statements[0] and "DELETE FROM team" in log.statements[1]


def test_deleting_a_hero_deletes_its_power_links_but_not_the_powers(client, lesson, seed_powers):
    powers = seed_powers(client, powers=2, heroes=2)
    assert client.delete(f"/heroes/{powers[0]['heroes'][0]['id']}").json() == {"ok": True}
    with lesson.database.SessionLocal() as session:
        links = session.scalar(select(func.count()).select_from(lesson.models.hero_power))
        kept = session.scalar(select(func.count()).select_from(lesson.models.Power))
    assert (links, kept) == (3, 2)


# ---------------------------------------------------------------- powers


def test_create_power_returns_it_with_an_id(client):
    response = client.post("/powers/", json={"name": "Flight"})
    assert (response.status_code, response.json()) == (200, {"id": 1, "name": "Flight"})


def test_duplicate_power_name_is_409(client, create_power):
    create_power(client, "Flight")
    response = client.post("/powers/", json={"name": "Flight"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A power named 'Flight' already exists"}


def test_giving_a_hero_a_power_returns_the_hero_with_its_powers(client, create_hero, create_power):
    hero = create_hero(client, "Deadpond")
    flight, healing = create_power(client, "Flight"), create_power(client, "Healing")
    client.post(f"/heroes/{hero['id']}/powers/{healing['id']}")
    response = client.post(f"/heroes/{hero['id']}/powers/{flight['id']}")
    assert response.status_code == 200
    assert response.json() == {**hero, "powers": [flight, healing]}


def test_giving_the_same_power_twice_stores_one_link(client, lesson, create_hero, create_power):
    hero, power = create_hero(client, "Deadpond"), create_power(client, "Flight")
    for _ in range(2):
        response = client.post(f"/heroes/{hero['id']}/powers/{power['id']}")
        assert response.json()["powers"] == [power]
    with lesson.database.SessionLocal() as session:
        assert session.scalar(select(func.count()).select_from(lesson.models.hero_power)) == 1


def test_giving_a_missing_power_is_404_power_not_found(client, create_hero):
    hero = create_hero(client, "Deadpond")
    response = client.post(f"/heroes/{hero['id']}/powers/999")
    assert (response.status_code, response.json()) == (404, {"detail": "Power not found"})


# Power.heroes is mapped with order_by=Hero.id: however its heroes are loaded (lazily, with
# selectinload() or with joinedload(), whose alias is hero_1), the SQL says ORDER BY.
HEROES_IN_ID_ORDER = re.compile(r"ORDER BY hero(_1)?\.id$")


def test_power_listing_returns_every_power_with_its_heroes_in_id_order(
    client, lesson, db, seed_powers, count_statements
):
    powers = seed_powers(client, powers=3, heroes=2)
    rewrite_rows(db, "power", [powers[0]["id"]])
    rewrite_rows(db, "hero", [power["heroes"][0]["id"] for power in powers])
    with count_statements(lesson.database.engine) as log:
        assert client.get("/powers/").json() == powers
    powers_sql, *heroes_sql = log.statements
    assert "FROM power ORDER BY power.id LIMIT " in powers_sql, powers_sql
    assert heroes_sql and all(HEROES_IN_ID_ORDER.search(s) for s in heroes_sql), str(log)


def test_read_power_returns_it_with_its_heroes_in_insertion_order(
    client, lesson, db, seed_powers, count_statements
):
    powers = seed_powers(client, powers=3, heroes=3)
    rewrite_rows(db, "hero", [hero["id"] for hero in powers[1]["heroes"][:2]])
    with count_statements(lesson.database.engine) as log:
        assert client.get(f"/powers/{powers[1]['id']}").json() == powers[1]
    assert HEROES_IN_ID_ORDER.search(log.statements[-1]), str(log)


def test_a_heros_powers_come_in_power_id_order_whatever_order_they_were_given_in(
    client, lesson, db, create_hero, create_power, count_statements
):
    hero = create_hero(client, "Deadpond")
    flight, healing, speed = (create_power(client, name) for name in ("Flight", "Healing", "Speed"))
    for power in (speed, healing, flight):  # links stored in the opposite order
        client.post(f"/heroes/{hero['id']}/powers/{power['id']}")
    rewrite_rows(db, "power", [flight["id"]])
    with count_statements(lesson.database.engine) as log:
        response = client.post(f"/heroes/{hero['id']}/powers/{healing['id']}")  # has it already
    assert response.json()["powers"] == [flight, healing, speed]
    # Hero.powers is mapped with order_by="Power.id": the JOIN that loads them says so.
    assert log.statements[0].endswith("ORDER BY power_1.id"), str(log)


def test_missing_power_is_404_power_not_found(client):
    response = client.get("/powers/999")
    assert (response.status_code, response.json()) == (404, {"detail": "Power not found"})


# ---------------------------------------------------------------- 422 and 404, never 500

# Lesson 02's limits, carried over to every field and id this lesson adds: a name or
# headquarters with a NUL character (PostgreSQL text refuses it) or over 100 characters,
# an int outside 1..INT_MAX (PostgreSQL's INTEGER is 32-bit, SQLite's 64-bit). Without
# them each one was a 500 on one backend or both.
BAD_HERO_FIELDS = [
    ({"name": "Dead\x00pond"}, "name", "String should match pattern '^[^\\x00]*$'"),
    ({"secret_name": "Dive\x00Wilson"}, "secret_name", "String should match pattern"),
    ({"age": 2**31}, "age", "Input should be less than or equal to 2147483647"),
    ({"age": 10**20}, "age", "Input should be less than or equal to 2147483647"),
    ({"team_id": 0}, "team_id", "Input should be greater than or equal to 1"),
    ({"team_id": -(2**63) - 1}, "team_id", "Input should be greater than or equal to 1"),
    ({"team_id": 2**31}, "team_id", "Input should be less than or equal to 2147483647"),
    ({"team_id": 2**63}, "team_id", "Input should be less than or equal to 2147483647"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_HERO_FIELDS)
def test_bad_hero_body_is_422_naming_the_field(client, change, field, message):
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "D", **change})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert message in response.json()["detail"][0]["msg"]
    assert client.get("/heroes/").json() == []


@pytest.mark.parametrize(("change", "field", "message"), BAD_HERO_FIELDS)
def test_bad_hero_patch_is_422_naming_the_field_and_changes_nothing(
    client, create_team, create_hero, change, field, message
):
    team = create_team(client, "Preventers")
    hero = create_hero(client, "Spider-Boy", age=16, team_id=team["id"])
    response = client.patch(f"/heroes/{hero['id']}", json=change)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert message in response.json()["detail"][0]["msg"]
    assert client.get("/heroes/").json() == [hero]


BAD_TEAM_AND_POWER_BODIES = [
    ("/teams/", {"name": "Pre\x00venters", "headquarters": "Sharp Tower"}, "name"),
    ("/teams/", {"name": "x" * 101, "headquarters": "Sharp Tower"}, "name"),
    ("/teams/", {"name": "Preventers", "headquarters": "Sharp\x00Tower"}, "headquarters"),
    ("/teams/", {"name": "Preventers", "headquarters": "x" * 101}, "headquarters"),
    ("/powers/", {"name": "Fli\x00ght"}, "name"),
    ("/powers/", {"name": "x" * 101}, "name"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_TEAM_AND_POWER_BODIES)
def test_bad_team_or_power_body_is_422_naming_the_field(client, path, body, field):
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert client.get(path).json() == []


ROUTES_WITH_IDS = [
    ("GET", "/heroes/{}", "hero_id", "Hero not found"),
    ("PATCH", "/heroes/{}", "hero_id", "Hero not found"),
    ("DELETE", "/heroes/{}", "hero_id", "Hero not found"),
    ("POST", "/heroes/{}/powers/1", "hero_id", "Hero not found"),
    ("POST", "/heroes/1/powers/{}", "power_id", "Power not found"),
    ("GET", "/powers/{}", "power_id", "Power not found"),
    ("GET", "/teams/{}", "team_id", "Team not found"),
    ("DELETE", "/teams/{}", "team_id", "Team not found"),
]


@pytest.mark.parametrize("row_id", [0, -1, 2**31, 2**63])
@pytest.mark.parametrize(("method", "path", "name", "detail"), ROUTES_WITH_IDS)
def test_an_id_no_row_can_have_is_422_naming_it_before_the_database_is_asked(
    client, lesson, create_hero, create_power, count_statements, method, path, name, detail, row_id
):
    create_hero(client, "Deadpond")
    create_power(client, "Flight")
    with count_statements(lesson.database.engine) as log:
        response = client.request(
            method, path.format(row_id), json={} if method == "PATCH" else None
        )
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["path", name]]
    assert log.count == 0, str(log)


@pytest.mark.parametrize(("method", "path", "name", "detail"), ROUTES_WITH_IDS)
def test_the_largest_id_an_integer_holds_is_well_formed_and_free_so_404(
    client, create_hero, create_power, method, path, name, detail
):
    create_hero(client, "Deadpond")
    create_power(client, "Flight")
    url = path.format(2**31 - 1)
    response = client.request(method, url, json={} if method == "PATCH" else None)
    assert (response.status_code, response.json()) == (404, {"detail": detail})


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/heroes/", {"offset": 2**31}),
        ("/heroes/", {"offset": 2**63}),
        ("/teams/", {"offset": 2**31}),
        ("/teams/", {"offset": 2**63}),
        ("/powers/", {"offset": 2**31}),
        ("/powers/", {"offset": 2**63}),
        ("/heroes/", {"min_age": 2**31}),
        ("/heroes/", {"max_age": 10**20}),
        ("/heroes/", {"q": "Dead\x00pond"}),
    ],
)
def test_query_parameters_the_database_cannot_take_are_422(client, create_hero, path, params):
    create_hero(client, "Deadpond", age=48)
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


# ---------------------------------------------------------------- a 422 can always be sent

# Lesson 02's handler and limits, on every field this lesson has. Python's json module
# reads NaN, Infinity, -Infinity, and 1e400 as float('inf'); the 422 echoes them as strings.
UNSENDABLE_NUMBERS = [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e400", "inf")]
JSON = {"content-type": "application/json"}
SURROGATE_ERROR = {
    "type": "string_unicode",
    "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
}


def raw_body(body: dict[str, Any], field: str, literal: str) -> bytes:
    """`body` as JSON text, with `literal` written as is for `field` (NaN, 1e400...)."""
    return json_with({**body, field: "@"}, literal)


def stored(db, table: str) -> list[tuple]:
    """Every row of `table`, read through a connection of the test's own."""
    with db.engine().connect() as conn:
        return [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]


HERO = {"name": "Deadpond", "secret_name": "Dive Wilson"}


@pytest.mark.anyio
@pytest.mark.parametrize(("number", "echoed"), UNSENDABLE_NUMBERS)
@pytest.mark.parametrize("field", ["age", "team_id"])
async def test_a_number_json_cannot_carry_is_422_echoed_as_a_string(
    raw_client, db, field, number, echoed
):
    response = await raw_client.post(
        "/heroes/", content=raw_body(HERO, field, number), headers=JSON
    )
    assert (response.status_code, response.json()["detail"], stored(db, "hero")) == (
        422,
        [
            {
                "type": "finite_number",
                "loc": ["body", field],
                "msg": "Input should be a finite number",
                "input": echoed,
            }
        ],
        [],
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("number", "echoed"), UNSENDABLE_NUMBERS)
@pytest.mark.parametrize("field", ["age", "team_id"])
async def test_a_number_json_cannot_carry_in_a_patch_is_422_and_changes_nothing(
    raw_client, db, create_hero, field, number, echoed
):
    hero = await create_hero(raw_client, "Deadpond", age=48)
    before = stored(db, "hero")
    body = raw_body({}, field, number)
    response = await raw_client.patch(f"/heroes/{hero['id']}", content=body, headers=JSON)
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", field])
    assert (response.json()["detail"][0]["input"], stored(db, "hero")) == (echoed, before)


STRING_FIELDS = [
    ("/heroes/", "hero", HERO, "name"),
    ("/heroes/", "hero", HERO, "secret_name"),
    ("/teams/", "team", {"name": "Preventers", "headquarters": "Sharp Tower"}, "name"),
    ("/teams/", "team", {"name": "Preventers", "headquarters": "Sharp Tower"}, "headquarters"),
    ("/powers/", "power", {"name": "Flight"}, "name"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "table", "body", "field"), STRING_FIELDS)
async def test_a_lone_surrogate_in_a_string_field_is_422_naming_it(
    raw_client, db, path, table, body, field
):
    content = json.dumps({**body, field: "Dead\ud800pond"}).encode()  # written as \\ud800
    response = await raw_client.post(path, content=content, headers=JSON)
    assert (response.status_code, response.json()["detail"], stored(db, table)) == (
        422,
        [{**SURROGATE_ERROR, "loc": ["body", field], "input": "Dead\\ud800pond"}],
        [],
    )


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["name", "secret_name"])
async def test_a_lone_surrogate_in_a_patch_is_422_naming_it_and_changes_nothing(
    raw_client, db, create_hero, field
):
    hero = await create_hero(raw_client, "Deadpond")
    before = stored(db, "hero")
    content = json.dumps({field: "Dead\udfffpond"}).encode()
    response = await raw_client.patch(f"/heroes/{hero['id']}", content=content, headers=JSON)
    assert (response.status_code, response.json()["detail"], stored(db, "hero")) == (
        422,
        [{**SURROGATE_ERROR, "loc": ["body", field], "input": "Dead\\udfffpond"}],
        before,
    )


@pytest.mark.anyio
async def test_a_lone_surrogate_in_the_query_string_arrives_as_replacement_characters(
    raw_client, create_hero
):
    replaced = await create_hero(raw_client, "\ufffd\ufffd\ufffd")
    # %ED%A0%80 is "\ud800" encoded as UTF-8 would, if it could: not valid UTF-8, so the
    # server decodes it as three U+FFFD replacement characters, and q finds that name.
    response = await raw_client.get("/heroes/?q=%ED%A0%80")
    assert (response.status_code, response.json()) == (200, [replaced])


def test_json_safe_makes_what_json_and_utf8_cannot_carry_sendable(lesson):
    unsendable = {"age": [math.nan, math.inf, -math.inf], "Dead\ud800pond": ("x\udfff",)}
    assert lesson.main.json_safe(unsendable) == {
        "age": ["nan", "inf", "-inf"],
        "Dead\\ud800pond": ["x\\udfff"],
    }


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/heroes/", "/teams/", "/powers/"])
async def test_a_body_that_is_not_utf8_is_the_declared_400(raw_client, path):
    response = await raw_client.post(path, content=b'{"name": "\xff"}', headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "There was an error parsing the body"},
    )


# ---------------------------------------------------------------- errors are declared

# What each route answers besides 200 and 422. The routes of exercises 1 and 2 are checked
# by their exercise tests.
DECLARED = {
    "POST /heroes/": ["200", "400", "409", "422"],
    "GET /heroes/": ["200", "422"],
    "GET /heroes/{hero_id}": ["200", "404", "422"],
    "PATCH /heroes/{hero_id}": ["200", "400", "404", "409", "422"],
    "DELETE /heroes/{hero_id}": ["200", "404", "422"],
    "POST /heroes/{hero_id}/powers/{power_id}": ["200", "404", "409", "422"],
    "POST /teams/": ["200", "400", "409", "422"],
    "GET /teams/": ["200", "422"],
    "GET /teams/{team_id}": ["200", "404", "422"],
    "DELETE /teams/{team_id}": ["200", "404", "422"],
    "POST /powers/": ["200", "400", "409", "422"],
    "GET /powers/": ["200", "422"],
    "GET /powers/{power_id}": ["200", "404", "422"],
}


def declared_statuses(client) -> dict[str, list[str]]:
    spec = client.get("/openapi.json").json()
    return {
        f"{method.upper()} {path}": sorted(operation["responses"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def test_openapi_declares_every_status_each_route_answers(client):
    declared = declared_statuses(client)
    assert {route: declared.get(route) for route in DECLARED} == DECLARED


def test_every_declared_error_but_422_has_the_message_model(client):
    spec = client.get("/openapi.json").json()
    models = {
        f"{method.upper()} {path} {status}": response["content"]["application/json"]["schema"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status not in ("200", "422")
    }
    assert set(map(str, models.values())) == {str({"$ref": "#/components/schemas/Message"})}


def test_the_apps_own_422_for_an_unknown_team_matches_the_published_schema(client):
    response = client.post("/heroes/", json={**HERO, "team_id": 7})
    spec = client.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/HTTPValidationError", **spec}
    assert response.status_code == 422
    jsonschema.validate(response.json(), schema)  # raises if the shape is wrong


# ---------------------------------------------------------------- races with another request

CHANGED_MEANWHILE = {"detail": "Another request changed the same row at the same time; try again"}


LINK = "INSERT INTO hero_power (hero_id, power_id) VALUES (:hero, :power)"


async def post_power(client, name: str) -> dict[str, Any]:
    response = await client.post("/powers/", json={"name": name})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.anyio
async def test_a_power_another_request_gave_first_is_409_and_stored_once(
    raw_client, lesson, db, create_hero, before_statement
):
    hero, power = (
        await create_hero(raw_client, "Deadpond"),
        await post_power(raw_client, "Flight"),
    )
    ids = {"hero": hero["id"], "power": power["id"]}
    done = before_statement(lesson.database.engine, "INSERT INTO hero_power", LINK, **ids)
    response = await raw_client.post(f"/heroes/{hero['id']}/powers/{power['id']}")
    assert done, "POST /heroes/{id}/powers/{id} sent no INSERT INTO hero_power"
    assert (response.status_code, response.json(), stored(db, "hero_power")) == (
        409,
        CHANGED_MEANWHILE,
        [(hero["id"], power["id"])],
    )


@pytest.mark.anyio
async def test_after_that_409_a_retry_answers_200_with_the_power(
    raw_client, lesson, create_hero, before_statement
):
    hero, power = await create_hero(raw_client, "Deadpond"), await post_power(raw_client, "Flight")
    ids = {"hero": hero["id"], "power": power["id"]}
    before_statement(lesson.database.engine, "INSERT INTO hero_power", LINK, **ids)
    path = f"/heroes/{hero['id']}/powers/{power['id']}"
    assert (await raw_client.post(path)).status_code == 409
    retry = await raw_client.post(path)
    assert (retry.status_code, retry.json()) == (200, {**hero, "powers": [power]})


@pytest.mark.anyio
async def test_20_concurrent_requests_giving_one_power_answer_200_or_409_and_store_one_link(
    raw_client, db, create_hero
):
    hero, power = (
        await create_hero(raw_client, "Deadpond"),
        await post_power(raw_client, "Flight"),
    )
    path = f"/heroes/{hero['id']}/powers/{power['id']}"
    with anyio.fail_after(60):
        responses = await asyncio.gather(*(raw_client.post(path) for _ in range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    assert stored(db, "hero_power") == [(hero["id"], power["id"])]


@pytest.mark.anyio
async def test_a_power_given_to_a_hero_another_request_deleted_first_is_409(
    raw_client, lesson, db, create_hero, before_statement
):
    hero, power = (
        await create_hero(raw_client, "Deadpond"),
        await post_power(raw_client, "Flight"),
    )
    sql = "DELETE FROM hero WHERE id = :hero"
    done = before_statement(lesson.database.engine, "INSERT INTO hero_power", sql, hero=hero["id"])
    response = await raw_client.post(f"/heroes/{hero['id']}/powers/{power['id']}")
    assert done, "POST /heroes/{id}/powers/{id} sent no INSERT INTO hero_power"
    assert (response.status_code, response.json(), stored(db, "hero_power")) == (
        409,
        CHANGED_MEANWHILE,
        [],
    )


def test_a_power_given_twice_at_once_is_an_integrity_error_in_crud_add_power(
    client, lesson, db, create_hero, create_power, before_statement
):
    hero, power = create_hero(client, "Deadpond"), create_power(client, "Flight")
    ids = {"hero": hero["id"], "power": power["id"]}
    before_statement(lesson.database.engine, "INSERT INTO hero_power", LINK, **ids)
    fragment = (
        "UNIQUE constraint failed: hero_power.hero_id, hero_power.power_id"
        if db.backend == "sqlite"
        else 'duplicate key value violates unique constraint "hero_power_pkey"'
    )
    with lesson.database.SessionLocal() as session:
        db_hero = lesson.crud.get_hero_with_powers(session, hero["id"])
        db_power = lesson.crud.get_power(session, power["id"])
        with pytest.raises(IntegrityError, match=fragment):
            lesson.crud.add_power(session, db_hero, db_power)


@pytest.mark.anyio
async def test_a_patch_of_a_hero_deleted_before_its_update_is_409(
    raw_client, lesson, db, create_hero, before_statement
):
    hero = await create_hero(raw_client, "Deadpond")
    sql = "DELETE FROM hero WHERE id = :hero"
    done = before_statement(lesson.database.engine, "UPDATE hero", sql, hero=hero["id"])
    response = await raw_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert done, "PATCH /heroes/{id} sent no UPDATE"
    assert (response.status_code, response.json(), stored(db, "hero")) == (
        409,
        CHANGED_MEANWHILE,
        [],
    )


def delete_hero_through_the_apps_engine(lesson, hero_id: int) -> None:
    """Another request deletes the hero and commits, on a connection of the app's engine, as a
    request would (on SQLite, that is one with foreign keys on: the hero's links go too)."""
    with lesson.database.engine.begin() as theirs:
        theirs.execute(text("DELETE FROM hero WHERE id = :hero"), {"hero": hero_id})


@pytest.mark.anyio
async def test_a_patch_answers_what_it_wrote_when_the_hero_is_deleted_right_after_its_commit(
    raw_client, lesson, db, create_hero, after_commit
):
    hero = await create_hero(raw_client, "Deadpond", age=48)
    done = after_commit(lambda: delete_hero_through_the_apps_engine(lesson, hero["id"]))
    response = await raw_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert done, "PATCH /heroes/{id} never committed"
    # The UPDATE happened, and the DELETE after it: the PATCH's answer is what it wrote.
    assert (response.status_code, response.json(), stored(db, "hero")) == (
        200,
        {**hero, "age": 30},
        [],
    )


@pytest.mark.anyio
async def test_a_power_given_answers_what_it_wrote_when_the_hero_is_deleted_right_after(
    raw_client, lesson, db, create_hero, after_commit
):
    hero, power = await create_hero(raw_client, "Deadpond"), await post_power(raw_client, "Flight")
    done = after_commit(lambda: delete_hero_through_the_apps_engine(lesson, hero["id"]))
    response = await raw_client.post(f"/heroes/{hero['id']}/powers/{power['id']}")
    assert done, "POST /heroes/{id}/powers/{id} never committed"
    # The link was stored, then went with the hero (ON DELETE CASCADE).
    assert (response.status_code, response.json(), stored(db, "hero_power")) == (
        200,
        {**hero, "powers": [power]},
        [],
    )


# ---------------------------------------------------------------- the SQLite connect event


@pytest.mark.sqlite_only
def test_every_sqlite_connection_of_the_lessons_engine_has_foreign_keys_on(client, lesson):
    engine = lesson.database.engine
    assert event.contains(engine, "connect", lesson.database.enable_sqlite_foreign_keys)
    engine.dispose()  # the next connections are new ones: the listener runs for each
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.postgres_only
def test_the_sqlite_listener_is_not_installed_on_other_databases(lesson):
    engine = lesson.database.engine
    assert engine.dialect.name == "postgresql"
    assert not event.contains(engine, "connect", lesson.database.enable_sqlite_foreign_keys)
