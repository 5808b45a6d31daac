"""Lesson 04 exercises. Each test fails until you solve it in lessons/04_sqlmodel_single."""

import pytest


@pytest.fixture
def heroes(client, create_hero):
    create_hero(client, "Deadpond", age=48)
    create_hero(client, "Spider-Boy", age=16)
    create_hero(client, "Rusty-Man", age=30)
    create_hero(client, "Tarantula")  # no age
    create_hero(client, "Black Lion", age=30)


def names(client, **params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 200, response.text
    return [h["name"] for h in response.json()]


@pytest.mark.exercise(1)
def test_exercise_1_min_and_max_age_keep_heroes_in_the_range(client, heroes):
    assert names(client, min_age=20, max_age=40) == ["Rusty-Man", "Black Lion"], (
        "GET /heroes/?min_age=20&max_age=40 should list the heroes aged 20 to 40, bounds "
        "included: add min_age and max_age, and in crud.get_heroes chain "
        "statement.where(col(Hero.age) >= min_age)"
    )


@pytest.mark.exercise(1)
def test_exercise_1_each_bound_works_alone_and_zero_is_a_real_bound(client, heroes):
    assert names(client, min_age=31) == ["Deadpond"], "min_age alone: heroes aged 31 or more"
    assert names(client, max_age=16) == ["Spider-Boy"], "max_age alone: heroes aged 16 or less"
    assert names(client, max_age=0) == [], (
        "max_age=0 is a real bound (no hero is 0): test `is not None`, not truthiness"
    )


@pytest.mark.exercise(1)
def test_exercise_1_the_filter_applies_before_offset_and_limit(client, heroes):
    assert names(client, min_age=30, limit=1, offset=1) == ["Rusty-Man"], (
        "filter first, then page: min_age=30&offset=1&limit=1 is the second hero aged 30+"
    )


@pytest.mark.exercise(1)
def test_exercise_1_negative_ages_are_422(client):
    response = client.get("/heroes/", params={"min_age": -1})
    assert response.status_code == 422, "min_age=-1 should be refused: use Query(ge=0)"


@pytest.mark.exercise(2)
def test_exercise_2_q_finds_names_containing_it_ignoring_case(client, heroes):
    assert names(client, q="man") == ["Rusty-Man"], (
        "GET /heroes/?q=man should find Rusty-Man: contains, ignoring case "
        "(col(Hero.name).icontains(q))"
    )
    assert names(client, q="LI") == ["Black Lion"], "q=LI should find Black Lion"


@pytest.mark.exercise(2)
def test_exercise_2_q_is_a_literal_string_not_a_pattern(client, heroes, create_hero):
    create_hero(client, "100% Hero")
    assert names(client, q="%") == ["100% Hero"], (
        "q=% must match only names containing a percent sign: pass autoescape=True so "
        "LIKE wildcards in q are escaped"
    )
    assert names(client, q="_") == [], "q=_ is an underscore, not 'any one character'"


@pytest.mark.exercise(2)
def test_exercise_2_empty_q_is_422(client):
    response = client.get("/heroes/", params={"q": ""})
    assert response.status_code == 422, "q must be 1 to 100 characters: Query(min_length=1)"


@pytest.mark.exercise(2)
def test_exercise_2_q_longer_than_100_characters_is_422(client):
    response = client.get("/heroes/", params={"q": "x" * 101})
    assert response.status_code == 422, "q must be 1 to 100 characters: Query(max_length=100)"
    assert response.json()["detail"][0]["loc"] == ["query", "q"]
