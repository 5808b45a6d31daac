"""Lesson 02 exercises. Each test fails until you solve it in lessons/02_sqlalchemy2_mapped."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError, PendingRollbackError


@pytest.fixture
def raw(lesson, client):
    """A client that answers 500 instead of raising, so a test can say what went wrong."""
    return TestClient(lesson.app, raise_server_exceptions=False)


@pytest.fixture
def heroes(client, create_hero):
    create_hero(client, "Deadpond", age=48)
    create_hero(client, "Spider-Boy", age=16)
    create_hero(client, "Rusty-Man", age=30)
    create_hero(client, "Tarantula")  # no age
    create_hero(client, "Black Lion", age=30)
    create_hero(client, "Newborn", age=0)


def names(client, **params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 200, response.text
    return [h["name"] for h in response.json()]


# ---------------------------------------------------------------- exercise 1: age range


@pytest.mark.exercise(1)
def test_exercise_1_min_and_max_age_keep_heroes_in_the_range(client, heroes):
    assert names(client, min_age=20, max_age=40) == ["Rusty-Man", "Black Lion"], (
        "GET /heroes/?min_age=20&max_age=40 should list the heroes aged 20 to 40, in id "
        "order: add min_age and max_age to read_heroes in main.py and filter on them with "
        "the statement in crud.get_heroes"
    )


@pytest.mark.exercise(1)
def test_exercise_1_the_bounds_are_included(client, heroes):
    assert names(client, min_age=30, max_age=30) == ["Rusty-Man", "Black Lion"], (
        "?min_age=30&max_age=30 should list the two heroes aged exactly 30: both bounds "
        "are included (>= and <=, in crud.get_heroes)"
    )


@pytest.mark.exercise(1)
def test_exercise_1_each_bound_works_alone(client, heroes):
    assert names(client, min_age=31) == ["Deadpond"], "min_age alone: heroes aged 31 or more"
    assert names(client, max_age=16) == ["Spider-Boy", "Newborn"], (
        "max_age alone: heroes aged 16 or less"
    )


@pytest.mark.exercise(1)
def test_exercise_1_min_age_0_is_a_real_bound(client, heroes):
    found = names(client, min_age=0)
    assert "Tarantula" not in found and len(found) == 5, (
        f"?min_age=0 listed {found}: min_age=0 must be a real bound, which leaves out "
        "Tarantula, who has no age. 0 is falsy in Python: crud.get_heroes must test whether "
        "min_age was given (None or not), not its truth value"
    )


@pytest.mark.exercise(1)
def test_exercise_1_max_age_0_is_a_real_bound(client, heroes):
    found = names(client, max_age=0)
    assert found == ["Newborn"], (
        f"?max_age=0 listed {found}: max_age=0 must be a real bound, which keeps only "
        "Newborn, aged 0. 0 is falsy in Python: crud.get_heroes must test whether max_age "
        "was given (None or not), not its truth value"
    )


@pytest.mark.parametrize(("bound", "comparison"), [("min_age", ">="), ("max_age", "<=")])
@pytest.mark.exercise(1)
def test_exercise_1_a_bound_of_0_is_in_the_sql_where_clause(
    client, lesson, heroes, count_statements, bound, comparison
):
    with count_statements(lesson.database.engine) as log:
        client.get("/heroes/", params={bound: 0})
    assert any(f"hero.age {comparison} " in s for s in log.statements), (
        f"GET /heroes/?{bound}=0 sent no WHERE hero.age {comparison} ...:\n{log}\n"
        f"{bound}=0 must be a real bound: crud.get_heroes dropped it because 0 is falsy "
        "(test `is not None`)"
    )


@pytest.mark.parametrize("bound", ["min_age", "max_age"])
@pytest.mark.exercise(1)
def test_exercise_1_negative_ages_are_422(raw, bound):
    response = raw.get("/heroes/", params={bound: -1})
    assert response.status_code == 422, (
        f"{bound}=-1 answered {response.status_code}: no age is negative, so refuse it in "
        "the query parameter's declaration in main.py (a 422 naming it)"
    )
    assert response.json()["detail"][0]["loc"] == ["query", bound], (
        f"the 422 should name the `{bound}` query parameter: declare the limit on it in main.py"
    )


@pytest.mark.parametrize("bound", ["min_age", "max_age"])
@pytest.mark.parametrize("age", [2**31, 10**20])
@pytest.mark.exercise(1)
def test_exercise_1_ages_no_integer_column_holds_are_422(raw, bound, age):
    response = raw.get("/heroes/", params={bound: age})
    assert response.status_code == 422, (
        f"{bound}={age} answered {response.status_code}: an age above INT_MAX "
        "(2147483647) is more than the column holds, and PostgreSQL refuses to compare it "
        "(a 500 there): give the query parameter in main.py an upper limit of INT_MAX"
    )
    assert response.json()["detail"][0]["loc"] == ["query", bound], (
        f"the 422 should name the `{bound}` query parameter: declare the limit on it in main.py"
    )


# ---------------------------------------------------------------- exercise 2: name search


@pytest.mark.exercise(2)
def test_exercise_2_q_finds_names_containing_it_ignoring_case(client, heroes):
    assert names(client, q="man") == ["Rusty-Man"], (
        "GET /heroes/?q=man should find Rusty-Man: names that contain q, ignoring case "
        "(crud.get_heroes)"
    )
    assert names(client, q="LI") == ["Black Lion"], "q=LI should find Black Lion"


@pytest.mark.exercise(2)
def test_exercise_2_the_query_itself_ignores_case_not_sqlites_like(client, lesson, db, heroes):
    if db.backend == "sqlite":
        # SQLite's LIKE ignores ASCII case by default, PostgreSQL's never does. This pragma
        # makes SQLite's LIKE case-sensitive too, on every connection the app takes.
        def case_sensitive_like(dbapi_connection, record, proxy):
            dbapi_connection.execute("PRAGMA case_sensitive_like = ON")

        event.listen(lesson.database.engine, "checkout", case_sensitive_like)
    assert names(client, q="man") == ["Rusty-Man"], (
        "with a case-sensitive LIKE (PostgreSQL's, or SQLite's with case_sensitive_like), "
        "?q=man finds nobody: the query itself must ignore case, for example by lowering "
        "both sides (a plain contains() only works on SQLite by accident)"
    )


@pytest.mark.exercise(2)
def test_exercise_2_q_is_a_literal_string_not_a_pattern(client, heroes, create_hero):
    create_hero(client, "100% Hero")
    assert names(client, q="%") == ["100% Hero"], (
        "q=% must match only names containing a percent sign: % and _ in q are LIKE "
        "wildcards unless they are escaped (crud.get_heroes)"
    )
    assert names(client, q="_") == [], "q=_ is an underscore, not 'any one character'"


@pytest.mark.exercise(2)
def test_exercise_2_q_with_a_quote_is_data_not_sql(client, heroes, create_hero):
    create_hero(client, "O'Hara")
    assert names(client, q="'") == ["O'Hara"], (
        "q=' should find O'Hara: let the ORM bind q as a parameter, never paste it into SQL"
    )


@pytest.mark.exercise(2)
def test_exercise_2_q_with_a_nul_character_is_422(raw):
    response = raw.get("/heroes/", params={"q": "Dead\x00pond"})
    assert response.status_code == 422, (
        f"q with a NUL character answered {response.status_code}: PostgreSQL cannot compare "
        "text holding NUL (a 500 there), so the `q` parameter in main.py must refuse it"
    )
    assert response.json()["detail"][0]["loc"] == ["query", "q"], (
        "the 422 should name the `q` query parameter: declare the pattern on it in main.py"
    )


@pytest.mark.exercise(2)
def test_exercise_2_q_is_1_to_100_characters(raw):
    response = raw.get("/heroes/", params={"q": ""})
    assert response.status_code == 422, (
        f"an empty q answered {response.status_code}: q must be 1 to 100 characters "
        "(the `q` parameter in main.py)"
    )
    too_long = raw.get("/heroes/", params={"q": "x" * 101})
    assert too_long.status_code == 422, (
        f"a q of 101 characters answered {too_long.status_code}: q must be 1 to 100 "
        "characters (the `q` parameter in main.py)"
    )


# ---------------------------------------------------------------- exercise 3: 409


def stored_names(db) -> list[str]:
    """The hero names in the database, read through a connection of the test's own."""
    with db.engine().connect() as conn:
        return list(conn.scalars(text("SELECT name FROM hero ORDER BY id")))


@pytest.mark.exercise(3)
def test_exercise_3_duplicate_name_on_create_is_409_with_a_clear_detail(raw, db, create_hero):
    create_hero(raw, "Deadpond")
    response = raw.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert response.status_code == 409, (
        f"a second POST of Deadpond answered {response.status_code}: the unique index refuses "
        "it (IntegrityError), and create_hero in main.py must turn that into 409 Conflict"
    )
    assert response.json() == {"detail": "A hero named 'Deadpond' already exists"}, (
        f"the 409's body should be {{'detail': \"A hero named 'Deadpond' already exists\"}}, "
        f"not {response.json()} (name_taken in main.py)"
    )
    assert stored_names(db) == ["Deadpond"], "the duplicate must not be stored"


@pytest.mark.exercise(3)
def test_exercise_3_duplicate_name_on_patch_is_409_and_the_row_is_unchanged(raw, db, create_hero):
    create_hero(raw, "Deadpond")
    hero = create_hero(raw, "Rusty-Man")
    response = raw.patch(f"/heroes/{hero['id']}", json={"name": "Deadpond"})
    assert response.status_code == 409, (
        f"renaming Rusty-Man to Deadpond answered {response.status_code}: PATCH can hit the "
        "unique index too, so update_hero in main.py must answer 409 like create_hero"
    )
    assert response.json() == {"detail": "A hero named 'Deadpond' already exists"}, (
        f"the 409's body should be {{'detail': \"A hero named 'Deadpond' already exists\"}}, "
        f"not {response.json()} (name_taken in main.py)"
    )
    assert stored_names(db) == ["Deadpond", "Rusty-Man"], "the refused rename changes nothing"


@pytest.mark.exercise(3)
def test_exercise_3_name_taken_rolls_back_the_failed_transaction(client, lesson, create_hero):
    create_hero(client, "Deadpond")
    Hero = lesson.models.Hero
    name_taken = getattr(lesson.main, "name_taken", None)
    assert name_taken is not None, "write name_taken(session, name) in main.py"
    with lesson.database.SessionLocal() as session:
        session.add(Hero(name="Deadpond", secret_name="x"))
        with pytest.raises(IntegrityError):
            session.commit()
        error = name_taken(session, "Deadpond")
        assert (error.status_code, error.detail) == (
            409,
            "A hero named 'Deadpond' already exists",
        ), f"name_taken(session, 'Deadpond') built a {error.status_code} {error.detail!r}"
        try:
            kept = [h.name for h in session.scalars(select(Hero))]
        except PendingRollbackError:
            pytest.fail(
                "after name_taken(session, ...) the session still refuses every query "
                "(PendingRollbackError): name_taken must roll the session back, since a "
                "failed flush leaves its transaction unusable until rollback()"
            )
        assert kept == ["Deadpond"], f"after the rollback only the first Deadpond is stored: {kept}"


@pytest.mark.exercise(3)
def test_exercise_3_the_app_serves_again_after_a_409(raw, create_hero):
    create_hero(raw, "Deadpond")
    duplicate = raw.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert duplicate.status_code == 409, (
        f"a second POST of Deadpond answered {duplicate.status_code}, not 409 (main.py)"
    )
    rusty = raw.post("/heroes/", json={"name": "Rusty-Man", "secret_name": "Tommy Sharp"})
    listed = [h["name"] for h in raw.get("/heroes/").json()]
    assert (rusty.status_code, listed) == (200, ["Deadpond", "Rusty-Man"]), (
        f"after a 409 the next POST answered {rusty.status_code} and the list is {listed}: "
        "a refused name must leave nothing behind that breaks the next request"
    )


@pytest.mark.exercise(3)
def test_exercise_3_a_name_taken_between_a_check_and_the_insert_is_still_409(raw, lesson, db):
    # Another request stores Deadpond just before this one's INSERT: the race a check with
    # SELECT cannot see, and the unique index always catches.
    other = db.engine()
    done: list[bool] = []

    def another_request(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO hero") and not done:
            done.append(True)
            with other.begin() as their:
                their.execute(
                    text("INSERT INTO hero (name, secret_name) VALUES ('Deadpond', 'theirs')")
                )

    event.listen(lesson.database.engine, "before_cursor_execute", another_request)
    response = raw.post("/heroes/", json={"name": "Deadpond", "secret_name": "mine"})
    assert done, "POST /heroes/ never sent its INSERT"
    assert response.status_code == 409, (
        f"another request stored Deadpond between your check and your INSERT, and the client "
        f"got {response.status_code}. A SELECT first cannot see the future: only the unique "
        "index decides, so create_hero in main.py must turn its IntegrityError into the 409"
    )
    assert stored_names(db) == ["Deadpond"], "only the other request's Deadpond is stored"
