"""Lesson 04 exercises. Each test fails until you solve it in lessons/04_sqlmodel_single.

They pay down two costs of the single model inside the one class: PATCH that wipes what
the client left out (M3), and bodies nobody validated (M4). They look at what reaches the
database: the stored rows, read through a connection of their own, and the SQL sent.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text


@pytest.fixture
def raw(app):
    """A client that gets a server error as a 500 response, as a real client would."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def stored(db):
    """Every hero as the database holds it: (id, name, secret_name, age), in id order."""
    with db.engine().connect() as connection:
        rows = connection.execute(text("SELECT id, name, secret_name, age FROM hero ORDER BY id"))
        return [tuple(row) for row in rows]


def statements(log, verb):
    return [s for s in log.statements if s.startswith(verb)]


def columns_set(update):
    """The columns an UPDATE sets: `UPDATE hero SET name=?, age=? WHERE ...` gives name, age."""
    assignments = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return [part.split("=", 1)[0].strip() for part in assignments.split(",")]


def error_fields(response):
    """The field each error of a 422 names (the last part of its loc), or None if not a 422."""
    if response.status_code != 422 or not isinstance(response.json().get("detail"), list):
        return None
    return sorted({error["loc"][-1] for error in response.json()["detail"]})


# ------------------------------------------------- exercise 1: PATCH keeps what was left out


@pytest.mark.exercise(1)
def test_exercise_1_patch_keeps_the_fields_the_client_left_out(client, db, create_hero):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"name": "Spider-Youngster"})
    assert response.status_code == 200, response.text
    assert stored(db) == [(hero["id"], "Spider-Youngster", "Pedro Parqueador", 16)], (
        "PATCH /heroes/1 with only a name must keep the stored age (16): crud.update_hero "
        "copies every field of the body, and a field the client left out comes back as its "
        "default. Copy only the fields the client sent"
    )


@pytest.mark.exercise(1)
def test_exercise_1_the_update_statement_sets_only_the_columns_sent(
    client, lesson, create_hero, count_statements
):
    hero = create_hero(client, "Spider-Boy", age=16)
    with count_statements(lesson.database.engine) as log:
        client.patch(f"/heroes/{hero['id']}", json={"name": "Spider-Youngster"})
    updates = statements(log, "UPDATE")
    assert [columns_set(u) for u in updates] == [["name"]], (
        f"PATCH with only a name should send one UPDATE that sets only name; it sent {updates}. "
        "crud.update_hero must copy only the fields the client sent onto the stored hero"
    )


@pytest.mark.exercise(1)
def test_exercise_1_a_field_sent_as_null_is_a_change_a_field_left_out_is_not(
    client, db, create_hero
):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    client.patch(f"/heroes/{hero['id']}", json={"name": "Spider-Youngster"})
    assert stored(db)[0][3] == 16, (
        "after PATCH {'name': ...} the age must still be 16: a field the client left out is "
        "not a change (crud.update_hero)"
    )
    client.patch(f"/heroes/{hero['id']}", json={"age": None})
    assert stored(db)[0][3] is None, (
        "PATCH {'age': null} must clear the age: a field sent as null is a change. Skip the "
        "fields the client did not send, not the fields whose value is None (crud.update_hero)"
    )


@pytest.mark.exercise(1)
def test_exercise_1_an_id_in_the_body_never_moves_the_hero(client, db, create_hero):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    client.patch(f"/heroes/{hero['id']}", json={"id": 99, "name": "Spider-Youngster"})
    rows = stored(db)
    assert [row[0] for row in rows] == [hero["id"]], (
        f"PATCH with {{'id': 99}} moved the hero to id {rows[0][0]}: the id is the server's, "
        "so crud.update_hero must never copy it, even when the client sends it"
    )
    assert rows[0][3] == 16, (
        "PATCH with an id and a name must keep the stored age: copy only the fields the "
        "client sent (crud.update_hero)"
    )


# ------------------------------------------------- exercise 2: POST validates the body

BAD_BODIES = {
    "a negative age": ({"name": "Deadpond", "secret_name": "x", "age": -5}, ["age"]),
    "a name that is a number": ({"name": 123, "secret_name": "x"}, ["name"]),
    "an age that is text": ({"name": "Deadpond", "secret_name": "x", "age": "old"}, ["age"]),
    "a 150-character name": ({"name": "x" * 150, "secret_name": "x"}, ["name"]),
    "no secret_name": ({"name": "Deadpond"}, ["secret_name"]),
    "an id no INTEGER column holds": (
        {"name": "Deadpond", "secret_name": "x", "id": 2**31},
        ["id"],
    ),
}

# What Python's json module reads but cannot write back (NaN, Infinity, 1e400 read as
# infinity), and a string holding a lone surrogate: raw JSON, since httpx encodes neither.
UNSENDABLE = {
    "age NaN": ("age", b"NaN"),
    "age Infinity": ("age", b"Infinity"),
    "age -Infinity": ("age", b"-Infinity"),
    "age 1e400": ("age", b"1e400"),
    "id NaN": ("id", b"NaN"),
    "id 1e400": ("id", b"1e400"),
    "a lone surrogate in the name": ("name", b'"Dead\\ud800pond"'),
    "a lone surrogate in the secret_name": ("secret_name", b'"Dive\\udfffWilson"'),
}


def raw_json(fields: dict[str, bytes]) -> bytes:
    """A JSON object written by hand: each value is the raw JSON text of that field."""
    return (
        b"{"
        + b", ".join(b'"%s": %s' % (key.encode(), value) for key, value in fields.items())
        + b"}"
    )


def why(response):
    if response.status_code == 500:
        return (
            "it answered 500, a server error. An invalid body must be refused before anything "
            "else touches it; if you do validate it, the validation error is escaping the "
            "route: turn it into a 422 that lists the errors, as FastAPI does for any other body"
        )
    return (
        f"it answered {response.status_code}: a table model's constructor validates nothing, "
        "so the body reached crud.create_hero unchecked. Validate it against the model's "
        "rules in main.py's create_hero first"
    )


@pytest.mark.exercise(2)
@pytest.mark.parametrize("what", BAD_BODIES)
def test_exercise_2_a_body_that_breaks_the_model_is_422_naming_the_field(raw, what):
    body, fields = BAD_BODIES[what]
    response = raw.post("/heroes/", json=body)
    assert response.status_code == 422, f"POST /heroes/ with {what} must be a 422; {why(response)}"
    assert error_fields(response) == fields, (
        f"the 422 for {what} should list the errors as FastAPI does, each naming its field "
        f"({fields}); it answered {response.text}"
    )


@pytest.mark.exercise(2)
def test_exercise_2_a_refused_body_never_reaches_the_database(raw, db, lesson, count_statements):
    with count_statements(lesson.database.engine) as log:
        response = raw.post("/heroes/", json={"name": "Deadpond", "secret_name": "x", "age": -5})
    inserts = statements(log, "INSERT")
    assert (inserts, stored(db)) == ([], []), (
        f"POST /heroes/ with age -5 answered {response.status_code}, yet sent {inserts} and "
        f"the database holds {stored(db)}: the body must be checked before crud.create_hero, "
        "so that a refused hero is never written (main.py, create_hero)"
    )


@pytest.mark.exercise(2)
@pytest.mark.parametrize("what", UNSENDABLE)
def test_exercise_2_a_number_or_string_json_cannot_carry_is_422_naming_it(raw, db, what):
    field, value = UNSENDABLE[what]
    body = raw_json({"name": b'"Deadpond"', "secret_name": b'"x"', field: value})
    response = raw.post("/heroes/", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, error_fields(response)) == (422, [field]), (
        f"POST /heroes/ with {what} must be a 422 naming {field}; {why(response)}"
    )
    assert stored(db) == [], f"POST /heroes/ with {what} was refused, yet stored {stored(db)}"


# ------------------------------------------------- exercise 3: PATCH validates the result

BAD_CHANGES = {
    "name set to null": ({"name": None}, ["name"]),
    "secret_name set to null": ({"secret_name": None}, ["secret_name"]),
    "a 150-character name": ({"name": "x" * 150}, ["name"]),
    "an age that is text": ({"age": "old"}, ["age"]),
}


@pytest.mark.exercise(3)
def test_exercise_3_patch_checks_the_hero_the_change_leaves_not_the_body(raw, create_hero):
    hero = create_hero(raw, "Spider-Boy", age=16)
    response = raw.patch(f"/heroes/{hero['id']}", json={"age": 17})
    assert response.status_code == 200, (
        f"PATCH {{'age': 17}} leaves a valid hero, yet it answered {response.status_code}: a "
        "partial body is not a whole Hero (its name and secret_name were not sent). Check the "
        "stored hero with the change applied, not the body alone (main.py, update_hero)"
    )
    response = raw.patch(f"/heroes/{hero['id']}", json={"age": -5})
    assert error_fields(response) == ["age"], (
        f"PATCH {{'age': -5}} would leave a hero aged -5 and must be a 422 naming age; it "
        f"answered {response.status_code}. Check the changed hero against every rule of the "
        "model, not only the ones you thought of (main.py, update_hero)"
    )


@pytest.mark.exercise(3)
@pytest.mark.parametrize("what", BAD_CHANGES)
def test_exercise_3_a_change_that_leaves_an_invalid_hero_is_422(raw, create_hero, what):
    hero = create_hero(raw, "Spider-Boy", age=16)
    body, fields = BAD_CHANGES[what]
    response = raw.patch(f"/heroes/{hero['id']}", json=body)
    assert error_fields(response) == fields, (
        f"PATCH with {what} would leave an invalid hero and must be a 422 naming {fields}; it "
        f"answered {response.status_code} {response.text}. Check the stored hero with the "
        "change applied, against every rule of the model (main.py, update_hero)"
    )


@pytest.mark.exercise(3)
@pytest.mark.parametrize("what", [what for what in UNSENDABLE if not what.startswith("id")])
def test_exercise_3_a_number_or_string_json_cannot_carry_is_422_naming_it(
    raw, db, create_hero, what
):
    hero = create_hero(raw, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    field, value = UNSENDABLE[what]
    body = raw_json({field: value})
    response = raw.patch(
        f"/heroes/{hero['id']}", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, error_fields(response)) == (422, [field]), (
        f"PATCH with {what} would leave an invalid hero and must be a 422 naming {field}; it "
        f"answered {response.status_code} {response.text}. Check the stored hero with the "
        "change applied, against every rule of the model (main.py, update_hero)"
    )
    assert stored(db) == [(hero["id"], "Spider-Boy", "Pedro Parqueador", 16)], (
        f"PATCH with {what} was refused, yet the row is now {stored(db)}"
    )


@pytest.mark.exercise(3)
def test_exercise_3_a_refused_change_sends_no_update(
    raw, db, lesson, create_hero, count_statements
):
    hero = create_hero(raw, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    with count_statements(lesson.database.engine) as log:
        response = raw.patch(f"/heroes/{hero['id']}", json={"age": -5})
    updates = statements(log, "UPDATE")
    assert (updates, stored(db)) == ([], [(hero["id"], "Spider-Boy", "Pedro Parqueador", 16)]), (
        f"PATCH {{'age': -5}} answered {response.status_code}, yet sent {updates} and left "
        f"{stored(db)}: check the change before crud.update_hero writes it (main.py, update_hero)"
    )
