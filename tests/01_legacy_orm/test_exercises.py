"""Lesson 01 exercises. Each test fails until you solve its exercise in lessons/01_legacy_orm."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool

# ---------------------------------------------------------------- exercise 1: Query.filter


@pytest.fixture
def raw(lesson, client):
    """A client that answers 500 instead of raising, so a test can say what went wrong."""
    return TestClient(lesson.app, raise_server_exceptions=False)


def names(client, **params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 200, response.text
    return [h["name"] for h in response.json()]


@pytest.mark.exercise(1)
def test_exercise_1_name_filter_returns_only_the_hero_with_that_name(client, create_hero):
    for name in ("Deadpond", "Spider-Boy", "Rusty-Man"):
        create_hero(client, name)
    assert names(client, name="Spider-Boy") == ["Spider-Boy"], (
        "GET /heroes/?name=Spider-Boy should list only Spider-Boy: read a `name` query "
        "parameter in main.py's read_heroes and filter on it in crud.get_heroes"
    )
    assert names(client, name="Nobody") == [], "a name nobody has should give an empty list"
    assert len(names(client)) == 3, "without ?name= every hero is listed, as before"


@pytest.mark.exercise(1)
def test_exercise_1_name_filter_matches_the_exact_name_only(client, create_hero):
    for name in ("Spider-Boy", "Spider-Man"):
        create_hero(client, name)
    for almost in ("Spider", "spider-boy"):
        found = names(client, name=almost)
        assert found == [], (
            f"?name={almost} found {found}: the name filter is an exact, case-sensitive "
            "match (==), not contains() or ilike() (crud.get_heroes)"
        )


@pytest.mark.exercise(1)
def test_exercise_1_a_name_with_a_nul_character_is_422(raw):
    response = raw.get("/heroes/", params={"name": "Spider\x00Boy"})
    assert response.status_code == 422, (
        f"?name= with a NUL character answered {response.status_code}: PostgreSQL cannot "
        "compare text holding NUL (a 500 there), so the `name` query parameter in main.py "
        "must refuse it with the same pattern as the body fields"
    )
    assert response.json()["detail"][0]["loc"] == ["query", "name"], (
        "the 422 should name the `name` query parameter: declare the refusal on it in main.py"
    )


@pytest.mark.exercise(1)
def test_exercise_1_name_filter_applies_before_offset_and_limit(client, create_hero):
    for i in range(3):
        create_hero(client, f"Hero {i}")
    assert names(client, name="Hero 2", limit=1) == ["Hero 2"], (
        "?name=Hero 2&limit=1 found nobody: the page was cut before it was filtered. "
        "Filter in the query, in crud.get_heroes, not on the list the query returned"
    )


@pytest.mark.exercise(1)
def test_exercise_1_the_filter_is_in_the_sql_where_clause(
    client, lesson, create_hero, count_statements
):
    for name in ("Deadpond", "Spider-Boy"):
        create_hero(client, name)
    with count_statements(lesson.database.engine) as log:
        client.get("/heroes/", params={"name": "Spider-Boy"})
    selects = [s for s in log.statements if s.startswith("SELECT")]
    assert any("WHERE hero.name = " in s for s in selects), (
        f"GET /heroes/?name=Spider-Boy sent no SELECT ... WHERE hero.name = ...:\n{log}\n"
        "The database must do the filtering: add it to the Query in crud.get_heroes, "
        "instead of filtering the heroes in Python after the query ran"
    )


# ---------------------------------------------------------------- exercise 2: shutdown


@pytest.mark.exercise(2)
def test_exercise_2_stopping_the_app_closes_the_pools_connections(lesson, app, create_hero):
    engine = lesson.database.engine
    with TestClient(app) as client:
        create_hero(client, "Deadpond")
        assert engine.pool.checkedin() >= 1, "a connection should wait in the pool"
    held = engine.pool.checkedin()
    assert held == 0, (
        f"after the app stopped, the engine's pool still holds {held} open connection(s). "
        "Closing sessions only gives connections back to the pool, it does not close them: "
        "main.py needs a shutdown hook that disposes the engine"
    )


@pytest.mark.exercise(2)
def test_exercise_2_connections_are_closed_at_shutdown_not_before(lesson, app, create_hero):
    closed: list[int] = []
    event.listen(lesson.database.engine, "close", lambda conn, record: closed.append(id(conn)))
    with TestClient(app) as client:
        create_hero(client, "Deadpond")
        assert client.get("/heroes/").status_code == 200, "GET /heroes/ should answer 200"
        while_serving = len(closed)
    assert while_serving == 0, (
        f"{while_serving} connection(s) were closed while the app was still serving: the "
        'engine is disposed too early. Register the hook for the "shutdown" event, not '
        '"startup", in main.py'
    )
    assert closed, (
        "no connection was closed when the app stopped: main.py needs a shutdown hook "
        "that disposes the engine"
    )


@pytest.mark.postgres_only
@pytest.mark.exercise(2)
def test_exercise_2_postgresql_sees_no_connection_of_the_app_after_it_stopped(
    lesson, app, db, create_hero
):
    observer = db.engine(poolclass=NullPool)  # its one connection closes after each look

    def backends() -> int:
        # Every other connection the server has for this test's role: the app's.
        with observer.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE usename = current_user AND pid <> pg_backend_pid()"
                )
            )

    with TestClient(app) as client:
        create_hero(client, "Deadpond")
        assert backends() >= 1, "the app's pooled connection should show on the server"
    left = backends()
    assert left == 0, (
        f"PostgreSQL still has {left} connection(s) from the app after it stopped: each one "
        "holds a server process until it times out. Dispose the engine in a shutdown hook "
        "in main.py"
    )


# ---------------------------------------------------------------- exercise 3: counting


def seed_heroes(lesson, count: int) -> None:
    """`count` heroes stored through the lesson's models, in one transaction (fast)."""
    with lesson.database.SessionLocal() as db:
        db.add_all(
            lesson.models.Hero(name=f"Hero {i}", secret_name=f"Secret {i}") for i in range(count)
        )
        db.commit()


@pytest.mark.exercise(3)
def test_exercise_3_counts_every_hero_not_one_page(client, lesson):
    seed_heroes(lesson, 105)
    response = client.get("/heroes/count")
    assert response.status_code == 200, (
        f"GET /heroes/count answered {response.status_code}: add the route in main.py, "
        "before GET /heroes/{hero_id} (or that route takes the path and answers 422)"
    )
    assert response.json() == {"count": 105}, (
        f"GET /heroes/count answered {response.json()} for 105 heroes: count every hero, "
        "not the list's page (GET /heroes/ stops at 100)"
    )


@pytest.mark.exercise(3)
def test_exercise_3_name_counts_only_the_heroes_with_that_name(client, create_hero):
    for name in ("Deadpond", "Spider-Boy", "Rusty-Man"):
        create_hero(client, name)
    for name, expected in (("Spider-Boy", 1), ("Spider", 0)):
        response = client.get("/heroes/count", params={"name": name})
        assert response.json() == {"count": expected}, (
            f"GET /heroes/count?name={name} answered {response.json()}, not "
            f"{{'count': {expected}}}: count with the same exact-name filter as the list"
        )


@pytest.mark.exercise(3)
def test_exercise_3_the_database_counts_in_one_statement(client, lesson, count_statements):
    seed_heroes(lesson, 30)
    with count_statements(lesson.database.engine) as log:
        response = client.get("/heroes/count")
    assert response.status_code == 200, "add GET /heroes/count first"
    assert any("count(" in s.lower() for s in log.statements), (
        f"GET /heroes/count sent no SELECT count(...):\n{log}\n"
        "That is loading heroes into Python to len() them, every row and column. Ask the "
        "database for the number instead, in crud.count_heroes"
    )
    assert log.count == 1, (
        f"GET /heroes/count sent {log.count} statements:\n{log}\nOne SELECT that counts is enough"
    )


@pytest.mark.exercise(3)
def test_exercise_3_a_name_with_a_nul_character_is_422(raw):
    response = raw.get("/heroes/count", params={"name": "Spider\x00Boy"})
    assert response.status_code == 422, (
        f"GET /heroes/count?name= with a NUL character answered {response.status_code}: "
        "refuse it like GET /heroes/ does (PostgreSQL cannot compare text holding NUL)"
    )
    assert response.json()["detail"][0]["loc"] == ["query", "name"], (
        "the 422 should name the `name` query parameter of GET /heroes/count"
    )
