"""Lesson 03 exercises. Each test fails until you solve its exercise in lessons/03_*."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import InvalidRequestError


@pytest.fixture
def raw(lesson, client):
    """A client that answers 500 instead of raising, so a test can say what went wrong."""
    return TestClient(lesson.app, raise_server_exceptions=False)


def get_or_explain(client: Any, path: str, advice: dict[str, str]) -> Any:
    """GET path; an exception the app raised fails the test with the advice for it."""
    try:
        return client.get(path)
    except Exception as exc:  # the app's own error, raised through the TestClient
        said = str(exc)
        hint = next((tip for fragment, tip in advice.items() if fragment in said), "")
        pytest.fail(f"GET {path} raised {type(exc).__name__}: {said[:300]}\n{hint}")


# ---------------------------------------------------------------- exercise 1: a power's heroes


@pytest.mark.exercise(1)
def test_exercise_1_lists_the_heroes_who_have_the_power_in_insertion_order(
    raw, lesson, db, seed_powers, create_hero, count_statements
):
    powers = seed_powers(raw, powers=2, heroes=3)
    late = create_hero(raw, "Late Bloomer")
    raw.post(f"/heroes/{late['id']}/powers/{powers[0]['id']}")
    with db.engine().begin() as conn:
        # Rewrite the first hero unchanged: PostgreSQL stores the new version after the
        # others, so without ORDER BY it comes last there (SQLite keeps rows in id order).
        conn.execute(text("UPDATE hero SET name = name WHERE id = :id"), {"id": 1})
    with count_statements(lesson.database.engine) as log:
        response = raw.get(f"/powers/{powers[0]['id']}/heroes")
    assert response.status_code == 200, (
        f"GET /powers/{{power_id}}/heroes answered {response.status_code}: add the route in "
        "main.py (response_model=list[HeroPublic]) and crud.get_power_heroes. A 500 from "
        "reading power.heroes: that relationship is lazy='raise' once exercise 3 is done, so "
        "query the heroes through the link table instead"
    )
    assert any("ORDER BY hero.id" in s for s in log.statements), (
        f"GET /powers/{{power_id}}/heroes sent no ORDER BY hero.id:\n{log}\nWithout it the "
        "database returns the rows in whatever order it finds them: say the order in the "
        "query (crud.get_power_heroes)"
    )
    assert response.json() == [*powers[0]["heroes"], late], (
        f"GET /powers/{powers[0]['id']}/heroes answered {response.json()}: the list should "
        "hold exactly the heroes who have this power (not every hero with some power), "
        "ordered by hero id"
    )


@pytest.mark.exercise(1)
def test_exercise_1_a_power_nobody_has_gives_an_empty_list(raw, create_power, seed_powers):
    seed_powers(raw, powers=1, heroes=2)
    power = create_power(raw, "Invisibility")
    response = raw.get(f"/powers/{power['id']}/heroes")
    assert (response.status_code, response.text) == (200, "[]"), (
        f"a power no hero has answered {response.status_code} {response.text}: it should "
        "answer 200 with an empty list, not 404"
    )


@pytest.mark.exercise(1)
def test_exercise_1_a_missing_power_is_404_power_not_found(raw):
    for power_id in (999, 2**31 - 1):
        response = raw.get(f"/powers/{power_id}/heroes")
        assert (response.status_code, response.text) == (404, '{"detail":"Power not found"}'), (
            f"power_id {power_id} answered {response.status_code}, not 404 "
            "{'detail': 'Power not found'}: find the power with get_power_or_404 in main.py"
        )


@pytest.mark.exercise(1)
def test_exercise_1_an_id_no_power_can_have_is_422(raw):
    # Ids below 1 or above INT_MAX: no power has one, and the database would refuse the
    # biggest (a 500). The request itself is malformed.
    for power_id in (0, 2**31, 2**63):
        response = raw.get(f"/powers/{power_id}/heroes")
        loc = response.json()["detail"][0].get("loc") if response.status_code == 422 else None
        assert (response.status_code, loc) == (422, ["path", "power_id"]), (
            f"power_id {power_id} answered {response.status_code} {response.text}: no power "
            "can have this id, so the request is malformed, a 422 naming power_id. Declare "
            "power_id with the Id type, like every other id in main.py"
        )


@pytest.mark.exercise(1)
def test_exercise_1_one_select_of_the_heroes_through_the_link_table(
    raw, lesson, seed_powers, count_statements
):
    powers = seed_powers(raw, powers=3, heroes=5)
    relationship_loads: list[str] = []

    def record(state):
        if state.is_relationship_load:
            relationship_loads.append(str(state.statement))

    event.listen(lesson.database.SessionLocal, "do_orm_execute", record)
    with count_statements(lesson.database.engine) as log:
        response = raw.get(f"/powers/{powers[1]['id']}/heroes")
    assert response.status_code == 200, "add GET /powers/{power_id}/heroes first"
    assert log.count <= 2, (
        f"listing a power's heroes ran {log.count} SQL statements:\n{log}\n"
        "Expected at most 2: find the power, then one SELECT of its heroes joined through "
        "hero_power (crud.get_power_heroes)"
    )
    assert not relationship_loads, (
        "GET /powers/{power_id}/heroes loaded heroes through a relationship (Power.heroes "
        "or Hero.powers). Query the heroes through the link table instead: select the "
        "heroes themselves, joined to this power (crud.get_power_heroes)"
    )


@pytest.mark.exercise(1)
def test_exercise_1_the_route_declares_its_404(raw):
    spec = raw.get("/openapi.json").json()
    operation = spec["paths"].get("/powers/{power_id}/heroes", {}).get("get")
    assert operation is not None, "add GET /powers/{power_id}/heroes in main.py"
    declared = sorted(operation["responses"])
    assert declared == ["200", "404", "422"], (
        f"GET /powers/{{power_id}}/heroes declares {declared} in /openapi.json: declare its "
        "404 in the route's responses=, with the Message model, as GET /powers/{power_id} does"
    )


# ---------------------------------------------------------------- exercise 2: take a power away


def links_of(db, hero_id: int) -> list[int]:
    """The power ids linked to a hero, read through a connection of the test's own."""
    with db.engine().connect() as conn:
        query = text("SELECT power_id FROM hero_power WHERE hero_id = :id ORDER BY power_id")
        return list(conn.scalars(query, {"id": hero_id}))


def power_names(db) -> list[str]:
    with db.engine().connect() as conn:
        return list(conn.scalars(text("SELECT name FROM power ORDER BY id")))


@pytest.fixture
def deadpond(raw, create_hero, create_power):
    """Deadpond, who has Flight and Healing; also Rusty-Man, who has Flight."""
    hero, rusty = create_hero(raw, "Deadpond"), create_hero(raw, "Rusty-Man")
    flight, healing = create_power(raw, "Flight"), create_power(raw, "Healing")
    for who, power in ((hero, flight), (hero, healing), (rusty, flight)):
        assert raw.post(f"/heroes/{who['id']}/powers/{power['id']}").status_code == 200, (
            "giving a hero a power should work (POST /heroes/{hero_id}/powers/{power_id})"
        )
    return hero, flight, healing


@pytest.mark.exercise(2)
def test_exercise_2_answers_the_hero_with_the_powers_left(raw, deadpond):
    hero, flight, healing = deadpond
    response = raw.delete(f"/heroes/{hero['id']}/powers/{flight['id']}")
    assert response.status_code == 200, (
        f"DELETE /heroes/{{hero_id}}/powers/{{power_id}} answered {response.status_code}: add "
        "the route in main.py. A 500: the hero's powers were not loaded before reading "
        "hero.powers (lazy='raise'); load them with the hero, as the POST route does"
    )
    assert response.json() == {**hero, "powers": [healing]}, (
        f"the answer should be Deadpond with the powers left, [Healing]: {response.json()}"
    )


@pytest.mark.exercise(2)
def test_exercise_2_the_link_row_goes_and_the_power_stays(raw, db, deadpond):
    hero, flight, healing = deadpond
    raw.delete(f"/heroes/{hero['id']}/powers/{flight['id']}")
    assert power_names(db) == ["Flight", "Healing"], (
        f"after taking Flight away from Deadpond the power table holds {power_names(db)}: "
        "the power itself must stay (Rusty-Man still has it). Remove the link, not the power"
    )
    assert links_of(db, hero["id"]) == [healing["id"]], (
        f"Deadpond's hero_power rows are {links_of(db, hero['id'])}: only the link to Flight "
        "should be deleted (crud.remove_power)"
    )


@pytest.mark.exercise(2)
def test_exercise_2_taking_away_a_power_the_hero_lacks_changes_nothing(
    raw, db, deadpond, create_power
):
    hero, flight, healing = deadpond
    speed = create_power(raw, "Speed")
    response = raw.delete(f"/heroes/{hero['id']}/powers/{speed['id']}")
    assert (response.status_code, response.json() if response.status_code == 200 else None) == (
        200,
        {**hero, "powers": [flight, healing]},
    ), (
        f"taking Speed from Deadpond, who does not have it, answered {response.status_code}: "
        "it should answer 200 with the hero unchanged and change nothing (a list's remove() "
        "raises ValueError for an item it does not hold)"
    )
    assert links_of(db, hero["id"]) == [flight["id"], healing["id"]], "nothing should change"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/heroes/999/powers/{power}", "Hero not found"),
        ("/heroes/{hero}/powers/999", "Power not found"),
    ],
)
@pytest.mark.exercise(2)
def test_exercise_2_a_missing_hero_or_power_is_404(raw, deadpond, path, detail):
    hero, flight, _ = deadpond
    url = path.format(hero=hero["id"], power=flight["id"])
    response = raw.delete(url)
    assert (response.status_code, response.text) == (404, f'{{"detail":"{detail}"}}'), (
        f"DELETE {url} answered {response.status_code} {response.text}: it should be 404 "
        f"{{'detail': '{detail}'}}, like POST /heroes/{{hero_id}}/powers/{{power_id}}"
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/heroes/2147483648/powers/{power}", "hero_id"),
        ("/heroes/{hero}/powers/0", "power_id"),
    ],
)
@pytest.mark.exercise(2)
def test_exercise_2_an_id_no_row_can_have_is_422(raw, deadpond, path, name):
    hero, flight, _ = deadpond
    url = path.format(hero=hero["id"], power=flight["id"])
    response = raw.delete(url)
    loc = response.json()["detail"][0].get("loc") if response.status_code == 422 else None
    assert (response.status_code, loc) == (422, ["path", name]), (
        f"DELETE {url} answered {response.status_code} {response.text}: no row can have this "
        f"id, so the request is malformed, a 422 naming {name}. Declare both ids with the Id "
        "type, like POST /heroes/{hero_id}/powers/{power_id}"
    )


@pytest.mark.exercise(2)
def test_exercise_2_the_route_declares_its_404_and_409(raw):
    spec = raw.get("/openapi.json").json()
    operation = spec["paths"].get("/heroes/{hero_id}/powers/{power_id}", {}).get("delete")
    assert operation is not None, "add DELETE /heroes/{hero_id}/powers/{power_id} in main.py"
    declared = sorted(operation["responses"])
    assert declared == ["200", "404", "409", "422"], (
        f"DELETE /heroes/{{hero_id}}/powers/{{power_id}} declares {declared} in /openapi.json: "
        "declare its 404 and its 409 in the route's responses=, with the Message model, as "
        "the POST route does"
    )


@pytest.mark.exercise(2)
def test_exercise_2_a_power_another_request_took_away_first_is_409(raw, lesson, db, deadpond):
    hero, flight, healing = deadpond
    done: list[bool] = []

    def another_request(conn, cursor, statement, parameters, context, executemany):
        # Another request takes Flight away from Deadpond, and commits, just before ours.
        if statement.startswith("DELETE FROM hero_power") and not done:
            done.append(True)
            with db.engine().begin() as theirs:
                theirs.execute(
                    text("DELETE FROM hero_power WHERE hero_id = :hero AND power_id = :power"),
                    {"hero": hero["id"], "power": flight["id"]},
                )

    event.listen(lesson.database.engine, "before_cursor_execute", another_request)
    response = raw.delete(f"/heroes/{hero['id']}/powers/{flight['id']}")
    assert done, (
        f"DELETE /heroes/{{hero_id}}/powers/{{power_id}} answered {response.status_code} and "
        "sent no DELETE FROM hero_power: remove the power from hero.powers (crud.remove_power)"
    )
    assert (response.status_code, response.text) == (
        409,
        '{"detail":"Another request changed the same row at the same time; try again"}',
    ), (
        f"another request took Flight away just before yours, and yours answered "
        f"{response.status_code} {response.text}: the DELETE then matches no row, SQLAlchemy "
        "raises StaleDataError, and main.py's changed_meanwhile handler answers 409. Let the "
        "error reach it: do not catch it in crud.remove_power or in the route"
    )
    assert links_of(db, hero["id"]) == [healing["id"]], "Deadpond keeps only Healing"


# ---------------------------------------------------------------- exercise 3: choose the loaders

LIST_ADVICE = {
    "unique()": "joinedload() of Power.heroes repeats each power once per hero (the result "
    "needs unique()). For a page of powers, choose the loader that sends each power once "
    "and all their heroes in one more SELECT (crud.get_powers)",
    "lazy='raise'": "Power.heroes is lazy='raise': crud.get_powers must say how to load the "
    "heroes of the powers it lists",
}
ONE_ADVICE = {
    "unique()": "a joinedload() of a collection repeats the power once per hero: call "
    ".unique() on the result before taking the one power (crud.get_power_with_heroes)",
    "lazy='raise'": "Power.heroes is lazy='raise': crud.get_power_with_heroes must say how "
    "to load the power's heroes",
}


@pytest.mark.exercise(3)
def test_exercise_3_power_heroes_is_lazy_raise_like_every_other_relationship(
    client, lesson, seed_powers
):
    seed_powers(client, powers=1, heroes=1)
    Power = lesson.models.Power
    strategy = inspect(Power).relationships["heroes"].lazy
    assert strategy == "raise", (
        f'Power.heroes is mapped with lazy="{strategy}": set its default to raise in '
        "models.py, so a query that forgets to load the heroes fails instead of quietly "
        "running one more query per power"
    )
    with lesson.database.SessionLocal() as session:
        power = session.get(Power, 1)
        with pytest.raises(InvalidRequestError, match="is not available due to lazy='raise'"):
            power.heroes  # noqa: B018 - the attribute access is what must raise


@pytest.mark.exercise(3)
def test_exercise_3_listing_powers_takes_2_statements_whatever_the_page(
    client, lesson, seed_powers, count_statements
):
    powers = seed_powers(client, powers=10, heroes=2)
    with count_statements(lesson.database.engine) as log:
        response = get_or_explain(client, "/powers/", LIST_ADVICE)
    assert response.json() == powers, "every power should come with its heroes, in id order"
    if log.count == 1:
        why = (
            "one SELECT that JOINs the heroes repeats each power's row once per hero. For a "
            "page of many powers, load all their heroes with a second SELECT ... IN (...)"
        )
    else:
        why = (
            "one SELECT per power is the N+1 problem. Load the heroes of the whole page with "
            "a loader option in crud.get_powers"
        )
    assert log.count == 2 and "IN (" in log.statements[-1], (
        f"GET /powers/ ran {log.count} SQL statements for 10 powers:\n{log}\n"
        f"Expected 2, the second one ... IN (...): {why}"
    )


@pytest.mark.exercise(3)
def test_exercise_3_reading_one_power_with_its_heroes_takes_1_statement(
    client, lesson, seed_powers, count_statements
):
    powers = seed_powers(client, powers=3, heroes=4)
    path = f"/powers/{powers[1]['id']}"
    with count_statements(lesson.database.engine) as log:
        response = get_or_explain(client, path, ONE_ADVICE)
    assert response.json() == powers[1], "the power should come with its heroes, in id order"
    assert log.count == 1, (
        f"GET /powers/{{power_id}} ran {log.count} SQL statements:\n{log}\nExpected 1: one "
        "power and its heroes fit in one SELECT with a LEFT OUTER JOIN, and nothing is "
        "repeated but the one power (crud.get_power_with_heroes)"
    )
