"""Lesson 01 exercises. Each test fails until you solve its exercise in lessons/01_legacy_orm."""

import pytest


@pytest.mark.exercise(1)
def test_exercise_1_name_filter_returns_only_the_hero_with_that_name(client, create_hero):
    for name in ("Deadpond", "Spider-Boy", "Rusty-Man"):
        create_hero(client, name)
    found = client.get("/heroes/", params={"name": "Spider-Boy"}).json()
    assert [h["name"] for h in found] == ["Spider-Boy"], (
        "GET /heroes/?name=Spider-Boy should return only Spider-Boy: add a `name` query "
        "parameter and filter with Query.filter in crud.get_heroes"
    )
    assert client.get("/heroes/", params={"name": "Nobody"}).json() == [], (
        "a name nobody has should give an empty list"
    )
    assert len(client.get("/heroes/").json()) == 3, "without ?name= every hero is listed"


@pytest.mark.exercise(1)
def test_exercise_1_name_filter_matches_the_exact_name_only(client, create_hero):
    for name in ("Spider-Boy", "Spider-Man"):
        create_hero(client, name)
    for almost in ("Spider", "spider-boy"):
        found = client.get("/heroes/", params={"name": almost}).json()
        assert found == [], (
            f"?name={almost} should find nobody, not {[h['name'] for h in found]}: compare "
            "with == (exact and case-sensitive), not contains() or ilike()"
        )
    assert [h["name"] for h in client.get("/heroes/", params={"name": "Spider-Boy"}).json()] == [
        "Spider-Boy"
    ], "?name=Spider-Boy should find Spider-Boy"


@pytest.mark.exercise(1)
def test_exercise_1_a_name_with_a_nul_character_is_422(client):
    response = client.get("/heroes/", params={"name": "Spider\x00Boy"})
    assert response.status_code == 422, (
        f"?name= with a NUL character answered {response.status_code}: PostgreSQL cannot "
        "compare text holding NUL, so refuse it like the body fields do: "
        "name: str | None = Query(default=None, pattern=models.NO_NUL)"
    )
    assert response.json()["detail"][0]["loc"] == ["query", "name"]


@pytest.mark.exercise(1)
def test_exercise_1_name_filter_applies_before_offset_and_limit(client, create_hero):
    for i in range(3):
        create_hero(client, f"Hero {i}")
    found = client.get("/heroes/", params={"name": "Hero 2", "limit": 1}).json()
    assert [h["name"] for h in found] == ["Hero 2"], (
        "filter first, then page: ?name=Hero 2&limit=1 should still find Hero 2"
    )


@pytest.mark.exercise(2)
def test_exercise_2_put_replaces_every_field(client, lesson, create_hero):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    response = client.put(
        f"/heroes/{hero['id']}", json={"name": "Spider-Man", "secret_name": "Peter"}
    )
    assert response.status_code == 200, (
        f"PUT /heroes/{{id}} answered {response.status_code}: add the endpoint in main.py"
    )
    assert response.json() == {"id": hero["id"], "name": "Spider-Man", "age": None}, (
        "PUT replaces the whole hero: age was not sent, so it goes back to its default, None"
    )
    with lesson.database.SessionLocal() as db:
        stored = db.get(lesson.models.Hero, hero["id"])
        assert (stored.name, stored.secret_name, stored.age) == ("Spider-Man", "Peter", None), (
            "PUT must store every field of the body, secret_name included, then commit"
        )


@pytest.mark.exercise(2)
def test_exercise_2_put_on_a_missing_hero_is_404(client):
    response = client.put("/heroes/999", json={"name": "X", "secret_name": "Y"})
    assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"}), (
        "PUT on a hero that does not exist should answer 404 {'detail': 'Hero not found'}"
    )


@pytest.mark.exercise(2)
def test_exercise_2_put_needs_a_full_body(client, create_hero):
    hero = create_hero(client, "Spider-Boy")
    response = client.put(f"/heroes/{hero['id']}", json={"age": 3})
    assert response.status_code == 422, (
        f"PUT with only {{'age': 3}} answered {response.status_code}: PUT takes a full "
        "HeroCreate body, so a body without name and secret_name is a 422"
    )
    assert client.get(f"/heroes/{hero['id']}").json() == hero, "a refused PUT changes nothing"
