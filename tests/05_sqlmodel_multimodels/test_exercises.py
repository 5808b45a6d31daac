"""Lesson 05 exercises. Each test fails until you solve it in lessons/05_sqlmodel_multimodels."""

import pytest


def patch_team(client, team_id, body):
    response = client.patch(f"/teams/{team_id}", json=body)
    assert response.status_code != 405, (
        "PATCH /teams/{team_id} answered 405 Method Not Allowed: add the route in main.py "
        "(@app.patch, response_model=TeamPublic, body TeamUpdate)"
    )
    return response


@pytest.mark.exercise(1)
def test_exercise_1_patch_team_changes_only_the_fields_sent(client, create_team):
    team = create_team(client, "Preventers", "Sharp Tower")
    response = patch_team(client, team["id"], {"headquarters": "Preventers Tower"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": team["id"],
        "name": "Preventers",
        "headquarters": "Preventers Tower",
    }, (
        "only headquarters was sent, so only headquarters changes: apply "
        "team.model_dump(exclude_unset=True) with db_team.sqlmodel_update(...)"
    )
    assert client.get(f"/teams/{team['id']}").json()["headquarters"] == "Preventers Tower", (
        "the change must be committed: GET /teams/{id} should show it"
    )


@pytest.mark.exercise(1)
def test_exercise_1_patch_team_with_null_name_is_422(client, create_team):
    team = create_team(client, "Preventers")
    for field in ("name", "headquarters"):
        response = patch_team(client, team["id"], {field: None})
        assert response.status_code == 422, (
            f"PATCH with {field}: null should be a 422, not a database error: give TeamUpdate "
            "a field_validator that refuses None (see HeroUpdate)"
        )


@pytest.mark.exercise(1)
def test_exercise_1_patch_team_validates_like_create(client, create_team):
    team = create_team(client, "Preventers")
    response = patch_team(client, team["id"], {"name": "x" * 101})
    assert response.status_code == 422, (
        "a 101-character name should be a 422: use the same Field(min_length=1, "
        "max_length=NAME_LENGTH) as TeamBase"
    )
    for field in ("name", "headquarters"):
        response = patch_team(client, team["id"], {field: "Sharp\x00Tower"})
        assert response.status_code == 422, (
            f"a {field} with a NUL character answered {response.status_code}: PostgreSQL "
            "text cannot hold it (a 500 there). Add schema_extra={'pattern': NO_NUL} to the "
            "Field, as in TeamBase"
        )
    assert client.get(f"/teams/{team['id']}").json()["name"] == "Preventers"


@pytest.mark.exercise(1)
def test_exercise_1_patch_team_404_and_409(client, create_team):
    response = patch_team(client, 999, {"name": "Nobody"})
    assert (response.status_code, response.json()) == (404, {"detail": "Team not found"}), (
        "a team that does not exist is 404 {'detail': 'Team not found'}: use get_team_or_404"
    )
    create_team(client, "Preventers")
    team = create_team(client, "Z-Force")
    response = patch_team(client, team["id"], {"name": "Preventers"})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "A team named 'Preventers' already exists"},
    ), "renaming to a name that is taken is a 409: catch IntegrityError like create_team"


@pytest.fixture
def rosters(client, create_hero, create_team):
    preventers = create_team(client, "Preventers")
    create_team(client, "Z-Force")  # a team with nobody
    create_hero(client, "Rusty-Man", age=48, team_id=preventers["id"])
    create_hero(client, "Deadpond")
    create_hero(client, "Tarantula", age=32, team_id=preventers["id"])
    create_hero(client, "Black Lion", age=35, team_id=preventers["id"])


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
        "GET /teams/1/heroes should list the team's heroes as HeroPublic (no secret_name), "
        "ordered by id: select(Hero).where(Hero.team_id == team.id)"
    )
    assert team_heroes(client, 2).json() == [], "a team with no heroes gives an empty list"


@pytest.mark.exercise(2)
def test_exercise_2_team_heroes_pages_with_offset_and_limit(client, rosters):
    page = team_heroes(client, 1, offset=1, limit=1).json()
    assert [h["name"] for h in page] == ["Tarantula"], (
        "offset=1&limit=1 should give the team's second hero: page in SQL with "
        ".offset(offset).limit(limit), after the where()"
    )
    response = team_heroes(client, 1, limit=101)
    assert response.status_code == 422, "limit is at most 100, as on GET /heroes/"


@pytest.mark.exercise(2)
def test_exercise_2_team_heroes_of_a_missing_team_is_404(client, rosters):
    response = team_heroes(client, 999)
    assert (response.status_code, response.json()) == (404, {"detail": "Team not found"}), (
        "a team that does not exist is 404 {'detail': 'Team not found'}, not an empty list: "
        "use get_team_or_404"
    )
