"""Lesson 05 exercises. Each test fails until you solve it in lessons/05_sqlmodel_multimodels.

Besides the JSON, they look at what the database holds (read through a connection of
their own) and at the SQL each request sends.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text


@pytest.fixture
def raw(app):
    """A client that gets a server error as a 500 response, as a real client would."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def stored_team(db, team_id):
    """(name, headquarters) of a team as the database holds it."""
    with db.engine().connect() as connection:
        statement = text("SELECT name, headquarters FROM team WHERE id = :id")
        return tuple(connection.execute(statement, {"id": team_id}).one())


def columns_set(update):
    """The columns an UPDATE sets: `UPDATE team SET name=?, ... WHERE ...` gives name, ..."""
    assignments = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return [part.split("=", 1)[0].strip() for part in assignments.split(",")]


# ------------------------------------------------- exercise 1: PATCH /teams/{team_id}


def patch_team(client, team_id, body):
    response = client.patch(f"/teams/{team_id}", json=body)
    assert response.status_code != 405, (
        "PATCH /teams/{team_id} answered 405 Method Not Allowed: the route does not exist "
        "yet (main.py)"
    )
    return response


@pytest.mark.exercise(1)
def test_exercise_1_patch_team_changes_only_the_fields_sent(client, db, create_team):
    team = create_team(client, "Preventers", "Sharp Tower")
    response = patch_team(client, team["id"], {"headquarters": "Preventers Tower"})
    assert response.status_code == 200, (
        f"PATCH /teams/1 with only headquarters answered {response.status_code} "
        f"{response.text}: only the fields the client sent may change, a field left out keeps "
        "its stored value (crud.update_team)"
    )
    assert response.json() == {
        "id": team["id"],
        "name": "Preventers",
        "headquarters": "Preventers Tower",
    }, "PATCH /teams/{team_id} answers the team as TeamPublic: id, name and headquarters"
    assert stored_team(db, team["id"]) == ("Preventers", "Preventers Tower"), (
        "the database should hold the new headquarters and the old name: commit the change "
        "(crud.update_team)"
    )


@pytest.mark.exercise(1)
def test_exercise_1_the_update_statement_sets_only_the_column_sent(
    client, lesson, create_team, count_statements
):
    team = create_team(client, "Preventers", "Sharp Tower")
    with count_statements(lesson.database.engine) as log:
        patch_team(client, team["id"], {"headquarters": "Preventers Tower"})
    updates = [s for s in log.statements if s.startswith("UPDATE")]
    assert [columns_set(u) for u in updates] == [["headquarters"]], (
        "PATCH with only headquarters should send one UPDATE that sets headquarters and "
        f"nothing else; it sent {updates}: apply only the fields the client sent "
        "(crud.update_team)"
    )


@pytest.mark.exercise(1)
@pytest.mark.parametrize("field", ["name", "headquarters"])
def test_exercise_1_patch_team_with_null_for_a_not_null_column_is_422(raw, db, create_team, field):
    team = create_team(raw, "Preventers", "Sharp Tower")
    response = patch_team(raw, team["id"], {field: None})
    assert response.status_code == 422, (
        f"PATCH with {field}: null answered {response.status_code} {response.text}. The "
        "column is NOT NULL, so TeamUpdate must refuse null with a 422: a field may be left "
        "out, but not set to null (models.py)"
    )
    assert stored_team(db, team["id"]) == ("Preventers", "Sharp Tower")


@pytest.mark.exercise(1)
@pytest.mark.parametrize(
    "body",
    [{"name": "x" * 101}, {"name": ""}, {"name": "Sharp\x00"}, {"headquarters": "Sharp\x00"}],
    ids=["101-characters", "empty", "nul-in-name", "nul-in-headquarters"],
)
def test_exercise_1_patch_team_checks_what_create_checks(raw, db, create_team, body):
    team = create_team(raw, "Preventers", "Sharp Tower")
    response = patch_team(raw, team["id"], body)
    assert response.status_code == 422, (
        f"PATCH /teams/1 with {body!r} answered {response.status_code}: TeamUpdate must "
        "check the same limits as TeamBase (length, and no NUL character, which PostgreSQL "
        "text cannot hold), so a bad value is a 422 before the database sees it (models.py)"
    )
    assert stored_team(db, team["id"]) == ("Preventers", "Sharp Tower")


@pytest.mark.exercise(1)
@pytest.mark.parametrize("field", ["name", "headquarters"])
def test_exercise_1_a_lone_surrogate_in_a_team_field_is_422_naming_it(raw, db, create_team, field):
    team = create_team(raw, "Preventers", "Sharp Tower")
    body = b'{"%s": "Sharp\\ud800Tower"}' % field.encode()  # raw JSON: httpx cannot encode it
    response = raw.patch(
        f"/teams/{team['id']}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code != 405, "PATCH /teams/{team_id} does not exist yet (main.py)"
    loc = response.json()["detail"][0]["loc"] if response.status_code == 422 else None
    assert (response.status_code, loc) == (422, ["body", field]), (
        f"PATCH /teams/1 with a lone surrogate in {field} answered {response.status_code} "
        f"{response.text}: UTF-8 cannot store it, so TeamUpdate must refuse it as TeamBase "
        "does, with the same pattern (models.py)"
    )
    assert stored_team(db, team["id"]) == ("Preventers", "Sharp Tower")


@pytest.mark.exercise(1)
def test_exercise_1_patch_of_a_missing_team_is_404(client):
    response = patch_team(client, 999, {"name": "Nobody"})
    assert (response.status_code, response.json()) == (404, {"detail": "Team not found"}), (
        "a team that does not exist is 404 {'detail': 'Team not found'}, as on GET /teams/999"
    )


@pytest.mark.exercise(1)
def test_exercise_1_renaming_to_a_taken_name_is_409(client, create_team):
    create_team(client, "Preventers")
    team = create_team(client, "Z-Force")
    response = patch_team(client, team["id"], {"name": "Preventers"})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "A team named 'Preventers' already exists"},
    ), "renaming to a name another team has is a 409, as on POST /teams/ (main.py)"


def declared(client, method, path):
    """The statuses a route declares in /openapi.json, or None if the route is not there."""
    operation = client.get("/openapi.json").json()["paths"].get(path, {}).get(method)
    return None if operation is None else sorted(operation["responses"])


@pytest.mark.exercise(1)
def test_exercise_1_the_route_declares_the_errors_it_answers(client):
    statuses = declared(client, "patch", "/teams/{team_id}")
    assert statuses == ["200", "400", "404", "409", "422"], (
        f"PATCH /teams/{{team_id}} declares {statuses} in /openapi.json: it answers 400 (a "
        "body that is not UTF-8), 404 and 409 too, so declare them in the route's responses, "
        "each with the Message model, as PATCH /heroes/{hero_id} does (main.py)"
    )


# ------------------------------------------------- exercise 2: a page of a team's heroes


@pytest.fixture
def rosters(client, db, create_hero, create_team):
    preventers = create_team(client, "Preventers")
    create_team(client, "Z-Force")  # a team with nobody
    create_hero(client, "Rusty-Man", age=48, team_id=preventers["id"])
    create_hero(client, "Deadpond")
    create_hero(client, "Tarantula", age=32, team_id=preventers["id"])
    create_hero(client, "Black Lion", age=35, team_id=preventers["id"])
    # PostgreSQL writes the new version of an updated row elsewhere in the table (here after
    # the others): without ORDER BY, a scan would now find Rusty-Man last.
    with db.engine().begin() as conn:
        conn.execute(text("UPDATE hero SET secret_name = 'Tommy Sharp' WHERE id = 1"))


def team_heroes(client, team_id, **params):
    response = client.get(f"/teams/{team_id}/heroes", params=params)
    assert response.status_code != 404 or response.json() != {"detail": "Not Found"}, (
        "GET /teams/{team_id}/heroes does not exist yet: add the route in main.py"
    )
    return response


@pytest.mark.exercise(2)
def test_exercise_2_team_heroes_lists_the_teams_heroes_in_insertion_order(client, rosters):
    response = team_heroes(client, 1)
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"id": 1, "name": "Rusty-Man", "age": 48, "team_id": 1},
        {"id": 3, "name": "Tarantula", "age": 32, "team_id": 1},
        {"id": 4, "name": "Black Lion", "age": 35, "team_id": 1},
    ], (
        "GET /teams/1/heroes should list the team's heroes, and only them, as HeroPublic "
        "(no secret_name), in id order"
    )
    assert team_heroes(client, 2).json() == [], "a team with no heroes gives an empty list"


@pytest.mark.exercise(2)
def test_exercise_2_team_heroes_pages_with_offset_and_limit(client, rosters):
    page = team_heroes(client, 1, offset=1, limit=1).json()
    assert [h["name"] for h in page] == ["Tarantula"], (
        "offset=1&limit=1 should give the team's second hero: the page is taken from the "
        "team's heroes, after they are chosen and ordered"
    )
    response = team_heroes(client, 1, limit=101)
    assert response.status_code == 422, "limit is at most 100, as on GET /heroes/"


@pytest.mark.exercise(2)
def test_exercise_2_the_database_cuts_the_page(client, lesson, rosters, count_statements):
    with count_statements(lesson.database.engine) as log:
        team_heroes(client, 1, offset=1, limit=1)
    reads = [s for s in log.statements if "FROM hero" in s]
    assert len(reads) == 1 and " LIMIT " in reads[0] and " OFFSET " in reads[0], (
        f"the heroes were read with {reads}: without LIMIT and OFFSET the database sends "
        "every hero of the team to return one page. Cut the page in SQL, not in Python "
        "(loading team.heroes reads them all): crud.get_team_heroes"
    )


@pytest.mark.exercise(2)
def test_exercise_2_the_page_query_orders_by_id(client, lesson, rosters, count_statements):
    with count_statements(lesson.database.engine) as log:
        team_heroes(client, 1, offset=1, limit=1)
    reads = [s for s in log.statements if "FROM hero" in s]
    assert len(reads) == 1 and " ORDER BY hero.id" in reads[0], (
        f"the heroes were read with {reads}: without ORDER BY the database may return rows in "
        "any order, so offset=1 is not reliably the second hero (crud.get_team_heroes)"
    )


@pytest.mark.exercise(2)
def test_exercise_2_a_page_costs_two_statements(client, lesson, rosters, count_statements):
    with count_statements(lesson.database.engine) as log:
        team_heroes(client, 1)
    assert log.count == 2, (
        f"GET /teams/1/heroes sent {log.count} statements; it needs two, one that finds the "
        f"team (for the 404) and one for the page of heroes:\n{log}"
    )


@pytest.mark.exercise(2)
def test_exercise_2_team_heroes_of_a_missing_team_is_404(client, rosters):
    response = team_heroes(client, 999)
    assert (response.status_code, response.json()) == (404, {"detail": "Team not found"}), (
        "a team that does not exist is 404 {'detail': 'Team not found'}, not an empty list: "
        "look the team up first, as GET /teams/{team_id} does (main.py)"
    )


@pytest.mark.exercise(2)
def test_exercise_2_the_route_declares_its_404(client):
    statuses = declared(client, "get", "/teams/{team_id}/heroes")
    assert statuses == ["200", "404", "422"], (
        f"GET /teams/{{team_id}}/heroes declares {statuses} in /openapi.json: it answers 404 "
        "for a missing team, so declare it in the route's responses, with the Message model, "
        "as GET /teams/{team_id} does (main.py)"
    )
