"""Lesson 02: each common mistake from the README, reproduced, then the lesson's way."""

import re

import pytest
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import DetachedInstanceError

# ---------------------------------------------------------------- M1: model_dump() in PATCH


@pytest.fixture
def patch_without_exclude_unset(lesson, monkeypatch):
    """crud.update_hero as it looks when exclude_unset is forgotten."""

    def update_hero(session, hero, hero_update):
        for key, value in hero_update.model_dump().items():
            setattr(hero, key, value)
        session.commit()
        return hero

    monkeypatch.setattr(lesson.crud, "update_hero", update_hero)


def test_m1_model_dump_without_exclude_unset_wipes_fields_not_sent(
    client, create_hero, patch_without_exclude_unset
):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(
        f"/heroes/{hero['id']}", json={"name": "Spider-Youngster", "secret_name": "Pedro"}
    )
    assert response.status_code == 200
    assert response.json()["age"] is None  # the client never mentioned age


def test_m1_exclude_unset_keeps_fields_not_sent(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(
        f"/heroes/{hero['id']}", json={"name": "Spider-Youngster", "secret_name": "Pedro"}
    )
    assert response.json()["age"] == 16


# ---------------------------------------------------------------- M2: expired after commit

DETACHED = (
    r"^Instance <Hero at 0x[0-9a-f]+> is not bound to a Session; "
    r"attribute refresh operation cannot proceed"
)


@pytest.fixture
def expiring(lesson):
    """A session factory made the default way, as most tutorials make it:
    expire_on_commit left True."""
    return sessionmaker(bind=lesson.database.engine)


def test_m2_reading_an_expired_object_after_its_session_closed(client, lesson, expiring):
    with expiring() as session:
        hero = lesson.models.Hero(name="Deadpond", secret_name="Dive Wilson")
        session.add(hero)
        session.commit()  # expire_on_commit=True: every attribute is now expired
    with pytest.raises(DetachedInstanceError, match=DETACHED):
        _ = hero.name


def test_m2_refresh_after_the_commit_fails_when_another_request_deleted_the_row(
    client, lesson, db, expiring, create_hero
):
    created = create_hero(client, "Deadpond")
    with expiring() as session:
        hero = session.get(lesson.models.Hero, created["id"])
        hero.age = 30
        session.commit()
        with db.engine().begin() as theirs:  # another request, between COMMIT and refresh()
            theirs.execute(text("DELETE FROM hero WHERE id = :id"), {"id": created["id"]})
        with pytest.raises(
            InvalidRequestError, match=r"^Could not refresh instance '<Hero at 0x[0-9a-f]+>'$"
        ):
            session.refresh(hero)


def test_m2_a_route_that_answers_with_an_expired_hero_deleted_meanwhile_is_a_500(
    lesson, app, db, expiring, create_hero
):
    def get_expiring_session():
        with expiring() as session:
            yield session

    def another_request(session):  # deletes the hero right after the PATCH's COMMIT
        with db.engine().begin() as theirs:
            theirs.execute(text("DELETE FROM hero WHERE age = 30"))

    with TestClient(app) as client, TestClient(app, raise_server_exceptions=False) as raw:
        first, second = create_hero(client, "Deadpond"), create_hero(client, "Rusty-Man")
        app.dependency_overrides[lesson.main.get_session] = get_expiring_session
        event.listen(expiring, "after_commit", another_request)
        try:
            with pytest.raises(ResponseValidationError) as caught:
                client.patch(f"/heroes/{first['id']}", json={"age": 30})
            response = raw.patch(f"/heroes/{second['id']}", json={"age": 30})
        finally:
            app.dependency_overrides.clear()
    # FastAPI reads the expired attributes while it builds the JSON: each read reloads the
    # row, which is gone. The error arrives wrapped, one per field the model reads.
    errors = caught.value.errors()
    assert {error["loc"] for error in errors} == {("response", f) for f in ("id", "name", "age")}
    assert all(
        re.match(
            r"^ObjectDeletedError: Instance '<Hero at 0x[0-9a-f]+>' has been deleted, or its "
            r"row is otherwise not present\.$",
            error["ctx"]["error"],
        )
        for error in errors
    ), errors
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_m2_the_lessons_factory_keeps_the_values_after_commit_and_close(
    client, lesson, count_statements
):
    with lesson.database.SessionLocal() as session:
        hero = lesson.models.Hero(name="Deadpond", secret_name="Dive Wilson", age=48)
        session.add(hero)
        session.commit()  # expire_on_commit=False: nothing is expired
    with count_statements(lesson.database.engine) as log:
        assert (hero.id, hero.name, hero.age) == (1, "Deadpond", 48)
    assert log.count == 0, str(log)  # read from the object, not reloaded


# ---------------------------------------------------------------- M3: Mapped[str] left unset


def test_m3_a_mapped_str_left_unset_is_a_not_null_violation(client, lesson, db):
    fragment = (
        "NOT NULL constraint failed: hero.secret_name"
        if db.backend == "sqlite"
        else 'null value in column "secret_name" of relation "hero" violates not-null constraint'
    )
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="Deadpond"))
        with pytest.raises(IntegrityError, match=fragment):
            session.commit()


def test_m3_the_api_refuses_a_missing_secret_name_with_422(client):
    response = client.post("/heroes/", json={"name": "Deadpond"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "secret_name"]


# ---------------------------------------------------------------- M4: a 422 that becomes a 500

NAN_AGE = b'{"name": "Deadpond", "secret_name": "Dive Wilson", "age": NaN}'
SURROGATE_NAME = b'{"name": "Dead\\ud800pond", "secret_name": "Dive Wilson"}'
JSON = {"content-type": "application/json"}


@pytest.fixture
def default_handler_app(lesson):
    """The lesson's own routes in an app that kept FastAPI's default 422 handler."""
    from fastapi import FastAPI

    return FastAPI(routes=lesson.app.router.routes)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_m4_the_default_handler_cannot_send_back_nan_or_an_infinity(default_handler_app, number):
    from fastapi.testclient import TestClient

    client = TestClient(default_handler_app)
    body = NAN_AGE.replace(b"NaN", number.encode())
    with pytest.raises(ValueError, match="^Out of range float values are not JSON compliant$"):
        client.post("/heroes/", content=body, headers=JSON)


def test_m4_the_default_handler_cannot_send_back_a_lone_surrogate(default_handler_app):
    from fastapi.testclient import TestClient

    client = TestClient(default_handler_app)
    with pytest.raises(
        UnicodeEncodeError,
        match=r"^'utf-8' codec can't encode character '\\ud800' in position 156: "
        "surrogates not allowed$",
    ):
        client.post("/heroes/", content=SURROGATE_NAME, headers=JSON)


@pytest.mark.parametrize("body", [NAN_AGE, SURROGATE_NAME], ids=["nan", "surrogate"])
def test_m4_the_client_sees_a_bare_500(default_handler_app, body):
    from fastapi.testclient import TestClient

    client = TestClient(default_handler_app, raise_server_exceptions=False)
    response = client.post("/heroes/", content=body, headers=JSON)
    assert (response.status_code, response.text) == (500, "Internal Server Error")


@pytest.mark.parametrize(
    ("body", "field", "echoed"),
    [(NAN_AGE, "age", "nan"), (SURROGATE_NAME, "name", "Dead\\ud800pond")],
    ids=["nan", "surrogate"],
)
def test_m4_the_lessons_handler_sends_the_422(client, body, field, echoed):
    response = client.post("/heroes/", content=body, headers=JSON)
    assert response.status_code == 422
    assert (response.json()["detail"][0]["loc"], response.json()["detail"][0]["input"]) == (
        ["body", field],
        echoed,
    )


def test_m4_a_str_field_without_limits_lets_a_lone_surrogate_through():
    from pydantic import BaseModel

    class Unchecked(BaseModel):
        name: str  # no length, no pattern: nothing makes pydantic read the string as UTF-8

    assert Unchecked(name="Dead\ud800pond").name == "Dead\ud800pond"


def test_m4_the_driver_cannot_store_a_lone_surrogate(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="Dead\ud800pond", secret_name="Dive Wilson"))
        with pytest.raises(
            UnicodeEncodeError,
            match=r"'utf-8' codec can't encode character '\\ud800' in position 4: "
            "surrogates not allowed",
        ):
            session.commit()
