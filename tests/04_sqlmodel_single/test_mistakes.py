"""Lesson 04: the costs of one class for everything, each reproduced (lesson 05 fixes them).

Exercises 1 to 3 fix M3 and M4 inside the app's own routes, so the tests of those two
mistakes reproduce them on routes written as the lesson hands them out (`unchecked`):
the proof holds before and after the exercises.
"""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, SQLModel, select


def schema_of(spec, ref):
    return spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


@pytest.fixture
def unchecked(app, lesson):
    """POST /unchecked/ and PATCH /unchecked/{hero_id}: the routes before exercises 2 and 3.

    They take the table model as the body and hand it to crud as it came, like
    create_hero and update_hero in lessons/04_sqlmodel_single.
    """
    Hero = lesson.models.Hero
    SessionDep = lesson.main.SessionDep

    @app.post("/unchecked/", response_model=Hero)
    def create_unchecked(hero: Hero, session: SessionDep) -> Hero:
        try:
            return lesson.crud.create_hero(session, hero)
        except IntegrityError:
            raise lesson.main.name_taken(session, hero.name) from None

    @app.patch("/unchecked/{hero_id}", response_model=Hero)
    def update_unchecked(hero_id: int, hero: Hero, session: SessionDep) -> Hero:
        db_hero = lesson.main.get_hero_or_404(session, hero_id)
        try:
            return lesson.crud.update_hero(session, db_hero, hero)
        except IntegrityError:
            raise lesson.main.name_taken(session, hero.name) from None

    return "/unchecked/"


# ---------------------------------------------------------------- M1: secret_name leaks


def test_m1_secret_name_comes_back_in_every_response(client, create_hero):
    hero = create_hero(client, "Deadpond", secret_name="Dive Wilson")
    everywhere = [
        hero,
        client.get(f"/heroes/{hero['id']}").json(),
        client.get("/heroes/").json()[0],
        client.patch(
            f"/heroes/{hero['id']}", json={"name": "Deadpond", "secret_name": "Dive Wilson"}
        ).json(),
    ]
    assert [h["secret_name"] for h in everywhere] == ["Dive Wilson"] * 4


def test_m1_the_response_schema_documents_secret_name(client):
    spec = client.get("/openapi.json").json()
    response = spec["paths"]["/heroes/{hero_id}"]["get"]["responses"]["200"]
    assert (
        "secret_name"
        in schema_of(spec, response["content"]["application/json"]["schema"])["properties"]
    )


def test_m1_response_model_exclude_hides_it_but_the_schema_still_lists_it(client, app, lesson):
    Hero = lesson.models.Hero

    @app.get("/quiet-heroes/{hero_id}", response_model=Hero, response_model_exclude={"secret_name"})
    def read_quietly(hero_id: int, session: lesson.main.SessionDep) -> Hero:
        return lesson.main.get_hero_or_404(session, hero_id)

    hero = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson"}).json()
    assert "secret_name" not in client.get(f"/quiet-heroes/{hero['id']}").json()
    spec = client.get("/openapi.json").json()
    response = spec["paths"]["/quiet-heroes/{hero_id}"]["get"]["responses"]["200"]
    # The documented response still promises secret_name: the schema is the class.
    assert (
        "secret_name"
        in schema_of(spec, response["content"]["application/json"]["schema"])["properties"]
    )


# ---------------------------------------------------------------- M2: the client sets the id


def test_m2_the_server_takes_the_id_the_client_sends(client, lesson):
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x", "id": 42})
    assert response.json()["id"] == 42
    with Session(lesson.database.engine) as session:
        assert session.exec(select(lesson.models.Hero.id)).all() == [42]


def test_m2_the_request_schema_invites_an_id(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/heroes/"]["post"]["requestBody"]["content"]["application/json"]
    assert "id" in schema_of(spec, body["schema"])["properties"]


def test_m2_an_id_that_exists_is_refused_with_a_misleading_409(client, create_hero):
    hero = create_hero(client, "Deadpond")
    response = client.post(
        "/heroes/", json={"name": "Brand New", "secret_name": "x", "id": hero["id"]}
    )
    # The name is new; the id is not. The 409 handler only knows about names.
    assert response.status_code == 409
    assert response.json() == {"detail": "A hero named 'Brand New' already exists"}


@pytest.mark.postgres_only
def test_m2_on_postgresql_a_client_id_collides_with_a_later_generated_one(client, create_hero):
    create_hero(client, "Chosen", id=2)  # the sequence behind id does not move
    assert create_hero(client, "First")["id"] == 1
    response = client.post("/heroes/", json={"name": "Second", "secret_name": "x"})
    assert response.status_code == 409  # the sequence handed out 2, which is taken
    assert client.post("/heroes/", json={"name": "Second", "secret_name": "x"}).json()["id"] == 3


@pytest.mark.sqlite_only
def test_m2_on_sqlite_the_next_generated_id_jumps_past_the_client_id(client, create_hero):
    create_hero(client, "Chosen", id=42)
    assert create_hero(client, "Next")["id"] == 43  # SQLite takes the largest id + 1


def test_m2_without_an_id_the_database_generates_it(client, create_hero):
    assert [create_hero(client, name)["id"] for name in ("A", "B", "C")] == [1, 2, 3]


# ---------------------------------------------------------------- M3: PATCH is a PUT


def test_m3_the_patch_body_schema_requires_every_required_field(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/heroes/{hero_id}"]["patch"]["requestBody"]["content"]
    assert schema_of(spec, body["application/json"]["schema"])["required"] == [
        "name",
        "secret_name",
    ]


def test_m3_copying_every_field_of_the_body_wipes_a_field_left_out(client, lesson, create_hero):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    Hero = lesson.models.Hero
    body = Hero(name="Spider-Youngster", secret_name="Pedro Parqueador")  # as FastAPI builds it
    with Session(lesson.database.engine) as session:
        db_hero = session.get(Hero, hero["id"])
        for key, value in body.model_dump(exclude={"id"}).items():  # update_hero as handed out
            setattr(db_hero, key, value)
        session.commit()
        assert db_hero.age is None  # the client never mentioned age


def test_m3_a_plain_model_dump_cannot_tell_left_out_from_sent_null(lesson):
    Hero = lesson.models.Hero
    left_out = Hero(name="Spider-Boy", secret_name="Pedro Parqueador")
    sent_null = Hero(name="Spider-Boy", secret_name="Pedro Parqueador", age=None)
    assert left_out.model_dump(exclude={"id"}) == sent_null.model_dump(exclude={"id"})


def test_m3_sending_every_field_keeps_every_value(client, create_hero):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    body = {"name": "Spider-Youngster", "secret_name": "Pedro Parqueador", "age": 16}
    assert client.patch(f"/heroes/{hero['id']}", json=body).json()["age"] == 16


# ---------------------------------------------------------------- M4: the body is not validated


def test_m4_a_negative_age_is_stored_although_the_schema_says_minimum_0(client, unchecked):
    spec = client.get("/openapi.json").json()
    age = spec["components"]["schemas"]["Hero"]["properties"]["age"]["anyOf"][0]
    assert repr(age["minimum"]) == "0.0"  # as the README quotes it: "minimum": 0.0
    response = client.post(unchecked, json={"name": "Deadpond", "secret_name": "x", "age": -5})
    assert (response.status_code, response.json()["age"]) == (200, -5)


@pytest.mark.parametrize(
    ("method", "body"),
    [("POST", {"secret_name": "x"}), ("PATCH", {"name": None, "secret_name": "x"})],
    ids=["name-missing", "name-null"],
)
def test_m4_a_missing_name_reaches_the_database_and_comes_back_as_a_wrong_409(
    client, create_hero, unchecked, method, body
):
    hero = create_hero(client, "Deadpond")
    url = unchecked if method == "POST" else f"{unchecked}{hero['id']}"
    response = client.request(method, url, json=body)
    # NOT NULL failed in the database; the 409 handler reads every IntegrityError as a name clash.
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "A hero named None already exists"},
    )


WRONG_TYPES = {"name": 123, "secret_name": "x", "age": "old"}


@pytest.mark.sqlite_only
def test_m4_on_sqlite_wrong_types_are_stored_and_served_back(client, db, unchecked):
    with pytest.warns(UserWarning, match="PydanticSerializationUnexpectedValue"):
        created = client.post(unchecked, json=WRONG_TYPES)
    assert created.json() == {"id": 1, **WRONG_TYPES}  # the POST answers what it wrote
    with db.engine().connect() as conn:
        stored = conn.execute(text("SELECT name, age FROM hero")).one()
    assert tuple(stored) == ("123", "old")  # text in the INTEGER column
    with pytest.warns(UserWarning) as caught:
        served = client.get("/heroes/1")
    assert served.json() == {"id": 1, "name": "123", "secret_name": "x", "age": "old"}
    assert [str(w.message) for w in caught] == [
        "Pydantic serializer warnings:\n"
        "  PydanticSerializationUnexpectedValue(Expected `int` - serialized value may not be as "
        "expected [field_name='age', input_value='old', input_type=str])"
    ]


@pytest.mark.postgres_only
def test_m4_on_postgresql_wrong_types_are_a_500(client, lesson, db, unchecked):
    with pytest.raises(
        DataError,
        match=r"^\(psycopg.errors.InvalidTextRepresentation\) invalid input syntax for type "
        r'integer: "old"\n',
    ):
        client.post(unchecked, json=WRONG_TYPES)
    with TestClient(lesson.app, raise_server_exceptions=False) as raw:
        response = raw.post(unchecked, json=WRONG_TYPES)
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    with db.engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM hero")).scalar() == 0


@pytest.mark.sqlite_only
def test_m4_on_sqlite_a_name_longer_than_the_column_is_stored(client, unchecked):
    response = client.post(unchecked, json={"name": "x" * 150, "secret_name": "x"})
    assert (response.status_code, len(response.json()["name"])) == (200, 150)


@pytest.mark.postgres_only
def test_m4_on_postgresql_a_name_longer_than_the_column_is_a_500(client, lesson, unchecked):
    with pytest.raises(DataError, match=r"value too long for type character varying\(100\)"):
        client.post(unchecked, json={"name": "x" * 150, "secret_name": "x"})
    with TestClient(lesson.app, raise_server_exceptions=False) as raw:
        response = raw.post(unchecked, json={"name": "x" * 150, "secret_name": "x"})
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_m4_a_non_table_model_as_the_body_answers_422(client, app, lesson):
    # The fix lesson 05 makes: validate input with a model that is not a table.
    class HeroIn(SQLModel):
        name: str
        secret_name: str
        age: int | None = None

    @app.post("/checked-heroes/")
    def create_checked(hero: HeroIn) -> dict[str, str]:
        return {"name": hero.name}

    response = client.post("/checked-heroes/", json={"name": 123, "age": "old"})
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [
        (["body", "name"], "string_type"),
        (["body", "secret_name"], "missing"),
        (["body", "age"], "int_parsing"),
    ]
    with pytest.raises(ValidationError):
        lesson.models.Hero.model_validate({"name": 123, "age": "old"})
