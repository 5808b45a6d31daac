"""Lesson 03 exercises. Each test fails until you solve its exercise in lessons/03_*."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlalchemy.exc import InvalidRequestError

# ---------------------------------------------------------------- exercise 1: eager powers


@pytest.mark.exercise(1)
def test_exercise_1_listing_10_powers_with_their_heroes_takes_2_statements(
    client, lesson, seed_powers, count_statements
):
    powers = seed_powers(client, powers=10, heroes=2)
    # A client that answers 500 instead of raising, so a half-done exercise gets a hint below.
    with (
        TestClient(lesson.app, raise_server_exceptions=False) as raw,
        count_statements(lesson.database.engine) as log,
    ):
        response = raw.get("/powers/")
    assert response.status_code == 200, (
        f"GET /powers/ answered {response.status_code}: if Power.heroes is lazy='raise', "
        "crud.get_powers must load the heroes with selectinload(Power.heroes)"
    )
    assert response.json() == powers, "every power should come with its heroes, in id order"
    assert log.count == 2, (
        f"GET /powers/ ran {log.count} SQL statements for 10 powers (one per power: N+1):\n"
        f"{log}\nExpected 2: one SELECT for the powers and one for all their heroes. "
        "Add .options(selectinload(Power.heroes)) in crud.get_powers."
    )


@pytest.mark.exercise(1)
def test_exercise_1_power_heroes_is_lazy_raise_like_every_other_relationship(
    client, lesson, seed_powers
):
    seed_powers(client, powers=1, heroes=1)
    Power = lesson.models.Power
    strategy = inspect(Power).relationships["heroes"].lazy
    assert strategy == "raise", (
        f'Power.heroes is mapped with lazy="{strategy}": set lazy="raise" in models.py, so a '
        "query that forgets to load the heroes fails instead of running one query per power"
    )
    with lesson.database.SessionLocal() as session:
        power = session.get(Power, 1)
        with pytest.raises(InvalidRequestError, match="is not available due to lazy='raise'"):
            power.heroes  # noqa: B018 - the attribute access is what must raise


# ---------------------------------------------------------------- exercise 2: a power's heroes


@pytest.mark.exercise(2)
def test_exercise_2_lists_the_heroes_who_have_the_power_in_insertion_order(
    client, seed_powers, create_hero
):
    powers = seed_powers(client, powers=2, heroes=3)
    late = create_hero(client, "Late Bloomer")
    client.post(f"/heroes/{late['id']}/powers/{powers[0]['id']}")
    response = client.get(f"/powers/{powers[0]['id']}/heroes")
    assert response.status_code == 200, (
        f"GET /powers/{{power_id}}/heroes answered {response.status_code}: add the endpoint "
        "in main.py (response_model=list[HeroPublic]) and crud.get_power_heroes"
    )
    assert response.json() == [*powers[0]["heroes"], late], (
        "the list should hold exactly the heroes who have this power, ordered by hero id"
    )


@pytest.mark.exercise(2)
def test_exercise_2_a_power_nobody_has_gives_an_empty_list(client, create_power, seed_powers):
    seed_powers(client, powers=1, heroes=2)
    power = create_power(client, "Invisibility")
    response = client.get(f"/powers/{power['id']}/heroes")
    assert (response.status_code, response.json()) == (200, []), (
        "a power that no hero has should answer 200 with an empty list, not 404"
    )


@pytest.mark.exercise(2)
def test_exercise_2_a_missing_power_is_404_power_not_found(client):
    # 2**31 and up: ids no power can have, which the database would refuse (a 500).
    for power_id in (999, 0, 2**31, 2**63):
        response = client.get(f"/powers/{power_id}/heroes")
        assert (response.status_code, response.json()) == (404, {"detail": "Power not found"}), (
            f"power_id {power_id} should answer 404 {{'detail': 'Power not found'}}: "
            "use get_power_or_404 from main.py"
        )


@pytest.mark.exercise(2)
def test_exercise_2_takes_at_most_2_statements(client, lesson, seed_powers, count_statements):
    powers = seed_powers(client, powers=3, heroes=5)
    with count_statements(lesson.database.engine) as log:
        response = client.get(f"/powers/{powers[1]['id']}/heroes")
    assert response.status_code == 200, "add GET /powers/{power_id}/heroes first"
    assert log.count <= 2, (
        f"listing a power's heroes ran {log.count} SQL statements:\n{log}\n"
        "Expected at most 2: find the power, then one SELECT of its heroes "
        "(select(Hero).join(Hero.powers).where(Power.id == power.id))."
    )
