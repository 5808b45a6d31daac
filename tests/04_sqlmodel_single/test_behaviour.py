"""Lesson 04: what the README says the one-class SQLModel app does, one claim per test."""

import math
import warnings

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.exc import DataError
from sqlmodel import Field, Session, SQLModel, col, select

# ---------------------------------------------------------------- nothing deprecated


def test_imports_and_serves_without_a_single_warning(reimport, lesson):
    from fastapi.testclient import TestClient

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main = reimport("main")
        with TestClient(main.app) as client:
            body = {"name": "A", "secret_name": "a", "age": 1}
            hero = client.post("/heroes/", json=body).json()
            client.patch(f"/heroes/{hero['id']}", json={**body, "age": 3})
            client.get("/heroes/")
            client.delete(f"/heroes/{hero['id']}")
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


# ---------------------------------------------------------------- one class: the table


def test_lifespan_creates_the_hero_table_at_startup(lesson, app):
    engine = lesson.database.engine
    assert inspect(engine).get_table_names() == []
    from fastapi.testclient import TestClient

    with TestClient(app):
        assert inspect(engine).get_table_names() == ["hero"]


def test_the_class_is_registered_in_sqlmodel_metadata(lesson):
    assert lesson.models.Hero.__table__ is SQLModel.metadata.tables["hero"]


def test_field_arguments_make_the_columns(client, lesson):
    columns = {c["name"]: c for c in inspect(lesson.database.engine).get_columns("hero")}
    assert {name: c["nullable"] for name, c in columns.items()} == {
        "id": False,  # primary_key=True
        "name": False,  # str
        "secret_name": False,  # str
        "age": True,  # int | None
    }
    # max_length=NAME_LENGTH sizes the VARCHAR column.
    assert columns["name"]["type"].length == lesson.models.NAME_LENGTH == 100


def test_name_is_unique_and_indexed(client, lesson):
    indexes = inspect(lesson.database.engine).get_indexes("hero")
    assert {"column_names": ["name"], "unique": True} in [
        {"column_names": i["column_names"], "unique": bool(i["unique"])} for i in indexes
    ]


def test_session_exec_of_a_select_returns_hero_objects(client, lesson, create_hero):
    create_hero(client, "Deadpond", age=48)
    create_hero(client, "Rusty-Man", age=48)
    Hero = lesson.models.Hero
    with Session(lesson.database.engine) as session:
        heroes = session.exec(select(Hero).where(Hero.age == 48).order_by(Hero.id)).all()
    assert [type(h) for h in heroes] == [Hero, Hero]
    assert [h.name for h in heroes] == ["Deadpond", "Rusty-Man"]


def test_session_execute_returns_rows_that_wrap_the_hero(client, lesson, create_hero):
    create_hero(client, "Deadpond")
    Hero = lesson.models.Hero
    with Session(lesson.database.engine) as session:
        (row,) = session.execute(select(Hero)).all()  # SQLAlchemy's method: Row objects
        assert isinstance(row[0], Hero)
        assert isinstance(session.exec(select(Hero)).one(), Hero)  # SQLModel's: the objects


def test_session_query_warns_use_exec_instead(client, lesson):
    with (
        Session(lesson.database.engine) as session,
        pytest.warns(
            DeprecationWarning,
            match=r"You probably want to use `session.exec\(\)` instead of `session.query\(\)`",
        ),
    ):
        session.query(lesson.models.Hero)


# ---------------------------------------------------------------- one class: the API schema


def test_one_schema_serves_the_body_and_every_response(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["schemas"]) == {
        "Hero",
        "Message",
        "HTTPValidationError",
        "ValidationError",
    }
    hero = {"$ref": "#/components/schemas/Hero"}
    heroes = spec["paths"]["/heroes/"]
    one = spec["paths"]["/heroes/{hero_id}"]
    assert heroes["post"]["requestBody"]["content"]["application/json"]["schema"] == hero
    assert one["patch"]["requestBody"]["content"]["application/json"]["schema"] == hero
    for operation in (heroes["post"], one["get"], one["patch"]):
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == hero
    listing = heroes["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing["items"] == hero


# ---------------------------------------------------------------- table models do not validate


def test_a_table_model_does_not_validate_on_construction(lesson):
    hero = lesson.models.Hero(name=123, age="x")  # no secret_name, wrong types: no error
    assert (hero.name, hero.age, hero.secret_name) == (123, "x", None)


def test_the_same_data_through_a_non_table_sqlmodel_raises_validation_error(lesson):
    class HeroData(SQLModel):  # the same fields, without table=True
        name: str
        secret_name: str
        age: int | None = None

    with pytest.raises(ValidationError, match="3 validation errors for HeroData") as info:
        HeroData(name=123, age="x")
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        (("name",), "string_type"),
        (("secret_name",), "missing"),
        (("age",), "int_parsing"),
    ]


def test_model_validate_on_the_table_model_does_validate(lesson):
    with pytest.raises(ValidationError, match="3 validation errors for Hero"):
        lesson.models.Hero.model_validate({"name": 123, "age": "x"})


def test_sqlmodel_field_takes_the_pattern_through_schema_extra_and_ignores_regex(lesson):
    no_nul = lesson.models.NO_NUL
    with pytest.raises(TypeError, match="unexpected keyword argument 'pattern'"):
        Field(pattern=no_nul)

    class WithRegex(SQLModel):
        name: str = Field(regex=no_nul)  # accepted, and silently ignored under Pydantic 2

    assert WithRegex(name="Dead\x00pond").name == "Dead\x00pond"
    with pytest.raises(ValidationError, match="String should match pattern"):
        lesson.models.Hero.model_validate({"name": "Dead\x00pond", "secret_name": "x"})


@pytest.mark.parametrize("field", ["name", "secret_name"])
def test_the_pattern_refuses_a_lone_surrogate(lesson, field):
    data = {"name": "Deadpond", "secret_name": "Dive Wilson", field: "Dead\ud800pond"}
    with pytest.raises(ValidationError) as info:
        lesson.models.Hero.model_validate(data)
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [((field,), "string_unicode")]


def test_the_schema_serves_the_field_bounds_as_floats(client):
    spec = client.get("/openapi.json").json()
    age = spec["components"]["schemas"]["Hero"]["properties"]["age"]["anyOf"][0]
    assert (repr(age["minimum"]), repr(age["maximum"])) == ("0.0", "2147483647.0")


# ---------------------------------------------------------------- the /heroes/ contract


def test_create_returns_the_hero_with_an_id_generated_by_the_database(client):
    response = client.post(
        "/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 48}
    )
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "Deadpond", "secret_name": "Dive Wilson", "age": 48}


def test_list_is_in_insertion_order_with_offset_and_limit(client, create_hero):
    names = [create_hero(client, f"Hero {i}")["name"] for i in range(5)]
    assert [h["name"] for h in client.get("/heroes/").json()] == names
    page = client.get("/heroes/", params={"offset": 1, "limit": 2}).json()
    assert [h["name"] for h in page] == names[1:3]


def test_the_list_query_orders_by_id(client, lesson, count_statements):
    with count_statements(lesson.database.engine) as log:
        client.get("/heroes/", params={"min_age": 0, "q": "x", "offset": 1, "limit": 2})
    (select_,) = log.statements
    assert " ORDER BY hero.id LIMIT " in select_, select_


def test_the_list_stays_in_id_order_where_the_database_would_find_the_rows_in_another(
    client, db, create_hero
):
    # Without ORDER BY, which order is up to the database, and it changes. Ages that fall
    # as ids rise: SQLite answers age >= 0 through the index on age, in age order. An
    # UPDATE writes a new version of the row at the end of PostgreSQL's table, where a
    # scan finds it last.
    ids = [create_hero(client, f"Hero {i}", age=50 - i)["id"] for i in range(5)]
    with db.engine().begin() as conn:
        conn.execute(text("UPDATE hero SET age = age + 1 WHERE id IN (1, 2)"))
    listed = {
        "all": client.get("/heroes/").json(),
        "min_age=0": client.get("/heroes/", params={"min_age": 0}).json(),
        "a page": client.get("/heroes/", params={"min_age": 0, "offset": 1, "limit": 2}).json(),
    }
    assert {key: [h["id"] for h in heroes] for key, heroes in listed.items()} == {
        "all": ids,
        "min_age=0": ids,
        "a page": ids[1:3],
    }


def test_list_limit_defaults_to_100(client, lesson):
    with Session(lesson.database.engine) as session:
        session.add_all(lesson.models.Hero(name=f"Hero {i}", secret_name="s") for i in range(105))
        session.commit()
    assert len(client.get("/heroes/").json()) == 100


@pytest.mark.parametrize(
    "params", [{"limit": 101}, {"limit": -1}, {"offset": -1}, {"offset": 2**31}, {"offset": 2**63}]
)
def test_paging_out_of_range_is_422(client, params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_read_one_hero(client, create_hero):
    hero = create_hero(client, "Rusty-Man", age=48)
    assert client.get(f"/heroes/{hero['id']}").json() == hero


def test_missing_hero_is_404_hero_not_found(client):
    body = {"name": "X", "secret_name": "Y"}
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, "/heroes/999", json=body if method == "PATCH" else None)
        assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"})


# As in lesson 02: no id the database generates is below 1 or above INT_MAX, and asking
# for one was a 500 (SQLite: OverflowError past 2**63-1; PostgreSQL: beyond its INTEGER).
@pytest.mark.parametrize("hero_id", [0, -1, 2**31, 2**63, -(2**63) - 1])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_id_no_hero_can_have_is_422_naming_it(client, method, hero_id):
    body = {"name": "X", "secret_name": "Y"} if method == "PATCH" else None
    response = client.request(method, f"/heroes/{hero_id}", json=body)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["path", "hero_id"]]


@pytest.mark.parametrize("hero_id", [1, 2**31 - 1], ids=["1", "INT_MAX"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_well_formed_id_with_no_hero_is_404(client, method, hero_id):
    body = {"name": "X", "secret_name": "Y"} if method == "PATCH" else None
    response = client.request(method, f"/heroes/{hero_id}", json=body)
    assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"})


def test_patch_with_the_whole_hero_replaces_it(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    body = {"name": "Spider-Youngster", "secret_name": "Pedro Parqueador", "age": 17}
    response = client.patch(f"/heroes/{hero['id']}", json=body)
    assert response.json() == {"id": hero["id"], **body}
    assert client.get(f"/heroes/{hero['id']}").json() == {"id": hero["id"], **body}


def test_delete_answers_ok_and_the_row_is_gone(client, lesson, create_hero):
    hero = create_hero(client, "Tarantula")
    assert client.delete(f"/heroes/{hero['id']}").json() == {"ok": True}
    with Session(lesson.database.engine) as session:
        assert session.exec(select(lesson.models.Hero)).all() == []


def test_duplicate_name_on_create_is_409_with_a_clear_detail(client, create_hero):
    create_hero(client, "Deadpond")
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A hero named 'Deadpond' already exists"}


def test_duplicate_name_on_patch_is_409_and_the_row_is_unchanged(client, create_hero):
    create_hero(client, "Deadpond")
    hero = create_hero(client, "Rusty-Man")
    response = client.patch(f"/heroes/{hero['id']}", json={"name": "Deadpond", "secret_name": "x"})
    assert response.status_code == 409
    assert client.get(f"/heroes/{hero['id']}").json()["name"] == "Rusty-Man"


def test_a_body_that_is_not_an_object_is_422(client):
    response = client.post("/heroes/", json=["Deadpond"])
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "Input should be a valid dictionary or object to extract fields from"
    )


# ---------------------------------------------------------------- lesson 02's filters, with col()


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


def test_min_and_max_age_keep_the_heroes_in_the_range_bounds_included(client, heroes):
    assert names(client, min_age=20, max_age=40) == ["Rusty-Man", "Black Lion"]


def test_each_age_bound_works_alone(client, heroes):
    assert (names(client, min_age=31), names(client, max_age=16)) == (["Deadpond"], ["Spider-Boy"])


def test_zero_is_a_real_age_bound(client, heroes):
    # min_age=0 still leaves out Tarantula, who has no age: the bound is applied, not skipped.
    assert names(client, max_age=0) == []
    assert names(client, min_age=0) == ["Deadpond", "Spider-Boy", "Rusty-Man", "Black Lion"]


def test_the_age_filter_applies_before_offset_and_limit(client, heroes):
    assert names(client, min_age=30, limit=1, offset=1) == ["Rusty-Man"]


@pytest.mark.parametrize("age", [-1, 2**31, 10**20])
@pytest.mark.parametrize("bound", ["min_age", "max_age"])
def test_an_age_bound_outside_0_to_int_max_is_422_naming_it(client, bound, age):
    response = client.get("/heroes/", params={bound: age})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", bound]


def test_q_finds_names_containing_it_ignoring_case(client, heroes):
    assert (names(client, q="man"), names(client, q="LI")) == (["Rusty-Man"], ["Black Lion"])


def test_q_is_literal_text_not_a_like_pattern(client, heroes, create_hero):
    create_hero(client, "100% Hero")
    assert (names(client, q="%"), names(client, q="_")) == (["100% Hero"], [])


@pytest.mark.parametrize("q", ["", "x" * 101], ids=["empty", "101-characters"])
def test_q_of_0_or_more_than_100_characters_is_422(client, q):
    assert client.get("/heroes/", params={"q": q}).status_code == 422


@pytest.mark.sqlite_only
def test_sqlite_cannot_look_up_an_id_past_2_to_the_63_minus_1(client, lesson):
    with (
        Session(lesson.database.engine) as session,
        pytest.raises(OverflowError, match="Python int too large to convert to SQLite INTEGER"),
    ):
        session.get(lesson.models.Hero, 2**63)


@pytest.mark.postgres_only
def test_postgresql_refuses_to_compare_an_integer_column_with_a_bigger_number(client, lesson):
    with (
        Session(lesson.database.engine) as session,
        pytest.raises(DataError, match="integer out of range"),
    ):
        session.get(lesson.models.Hero, lesson.models.INT_MAX + 1)


@pytest.mark.postgres_only
def test_postgresql_refuses_to_compare_text_with_a_nul_character(client, lesson):
    statement = select(lesson.models.Hero).where(
        col(lesson.models.Hero.name).icontains("Dead\x00pond")
    )
    with (
        Session(lesson.database.engine) as session,
        pytest.raises(DataError, match=r"text fields cannot contain NUL \(0x00\) bytes"),
    ):
        session.exec(statement).all()


def test_q_with_a_nul_character_is_422_naming_it(client):
    # PostgreSQL cannot compare text holding NUL: without the pattern, a 500 there.
    response = client.get("/heroes/", params={"q": "Dead\x00pond"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]
    assert response.json()["detail"][0]["msg"] == "String should match pattern '^[^\\x00]*$'"


@pytest.mark.anyio
async def test_a_lone_surrogate_in_the_query_string_arrives_as_replacement_characters(
    raw_client, create_hero
):
    await create_hero(raw_client, "Deadpond")
    # %ED%A0%80 is "\ud800" encoded as UTF-8 would, if it could: not valid UTF-8, so the
    # server decodes it as three U+FFFD characters, a q that matches no name.
    response = await raw_client.get("/heroes/?q=%ED%A0%80")
    assert (response.status_code, response.json()) == (200, [])


# ---------------------------------------------------------------- a 422 can always be sent


@pytest.fixture
def checked(app, lesson):
    """POST /checked/: a body model that validates (not a table), answered by the app's 422."""

    class HeroIn(SQLModel):
        name: str = Field(schema_extra={"pattern": lesson.models.NO_NUL})
        age: int | None = None

    @app.post("/checked/")
    def create_checked(hero: HeroIn) -> dict[str, str]:
        return {"name": hero.name}

    return "/checked/"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("number", "echoed"),
    [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e400", "inf")],
)
async def test_a_422_echoing_a_number_json_cannot_carry_sends_it_as_a_string(
    raw_client, checked, number, echoed
):
    body = f'{{"name": "Deadpond", "age": {number}}}'.encode()
    response = await raw_client.post(
        checked, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "finite_number",
            "loc": ["body", "age"],
            "msg": "Input should be a finite number",
            "input": echoed,
        }
    ]


@pytest.mark.anyio
async def test_a_422_echoing_a_lone_surrogate_sends_it_backslash_escaped(raw_client, checked):
    body = b'{"name": "Dead\\ud800pond"}'
    response = await raw_client.post(
        checked, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "string_unicode",
            "loc": ["body", "name"],
            "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
            "input": "Dead\\ud800pond",
        }
    ]


def test_fastapis_own_422_handler_cannot_send_the_echo_of_nan():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    bare = FastAPI()  # FastAPI's own handler for RequestValidationError, not the lesson's

    class HeroIn(SQLModel):
        age: int | None = None

    @bare.post("/checked/")
    def create_checked(hero: HeroIn) -> dict[str, bool]:
        return {"ok": True}

    with (
        TestClient(bare) as client,
        pytest.raises(ValueError, match="Out of range float values are not JSON compliant"),
    ):
        client.post(
            "/checked/", content=b'{"age": NaN}', headers={"content-type": "application/json"}
        )


def test_json_safe_makes_what_json_and_utf8_cannot_carry_sendable(lesson):
    unsendable = {"age": [math.nan, math.inf, -math.inf], "Dead\ud800pond": ("x\udfff",)}
    assert lesson.main.json_safe(unsendable) == {
        "age": ["nan", "inf", "-inf"],
        "Dead\\ud800pond": ["x\\udfff"],
    }


# ---------------------------------------------------------------- errors are declared


def test_openapi_declares_every_status_each_route_answers(client):
    spec = client.get("/openapi.json").json()
    declared = {
        f"{method.upper()} {path}": sorted(operation["responses"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert declared == {
        "POST /heroes/": ["200", "400", "409", "422"],
        "GET /heroes/": ["200", "422"],
        "GET /heroes/{hero_id}": ["200", "404", "422"],
        "PATCH /heroes/{hero_id}": ["200", "400", "404", "409", "422"],
        "DELETE /heroes/{hero_id}": ["200", "404", "422"],
    }


def test_every_declared_error_but_422_has_the_message_model(client):
    spec = client.get("/openapi.json").json()
    models = {
        f"{method.upper()} {path} {status}": response["content"]["application/json"]["schema"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status not in ("200", "422")
    }
    message = {"$ref": "#/components/schemas/Message"}
    assert len(models) == 7
    assert models == dict.fromkeys(models, message)
    assert spec["components"]["schemas"]["Message"]["properties"] == {
        "detail": {"type": "string", "title": "Detail"}
    }


@pytest.mark.anyio
async def test_a_body_that_is_not_utf8_is_the_declared_400(raw_client):
    response = await raw_client.post(
        "/heroes/", content=b'{"name": "\xff"}', headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "There was an error parsing the body"},
    )


# ---------------------------------------------------------------- sessions and connections


def test_every_request_gives_its_connection_back_to_the_pool(client, lesson, create_hero):
    for i in range(10):
        create_hero(client, f"Hero {i}")
    client.post("/heroes/", json={"name": "Hero 1", "secret_name": "x"})  # a 409
    client.get("/heroes/999")  # a 404
    assert lesson.database.engine.pool.checkedout() == 0


def test_a_write_sends_no_select_after_its_commit(client, lesson, create_hero, count_statements):
    hero = create_hero(client, "Deadpond", age=30)
    body = {"name": "Deadpond", "secret_name": "Dive Wilson", "age": 31}
    with count_statements(lesson.database.engine) as log:
        created = client.post("/heroes/", json={"name": "Rusty-Man", "secret_name": "Tommy"})
        updated = client.patch(f"/heroes/{hero['id']}", json=body)
    assert (created.status_code, updated.json()) == (200, {"id": hero["id"], **body})
    # POST: the INSERT. PATCH: the SELECT that finds the hero (for the 404), the UPDATE.
    assert [s.split()[0] for s in log.statements] == ["INSERT", "SELECT", "UPDATE"], str(log)


# ---------------------------------------------------------------- a hero deleted meanwhile

CHANGED_MEANWHILE = {"detail": "Another request changed the same row at the same time; try again"}


def stored_heroes(db) -> list[tuple]:
    """Every stored hero, read through a connection of the test's own."""
    with db.engine().connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT id, age FROM hero ORDER BY id"))]


# What "another request" does to the hero (id=...), through a connection of its own.
DELETE_HERO = "DELETE FROM hero WHERE id = :id"


def delete_through_another_connection(db, hero_id) -> None:
    with db.engine().begin() as theirs:
        theirs.execute(text(DELETE_HERO), {"id": hero_id})


@pytest.mark.anyio
async def test_a_patch_of_a_hero_deleted_before_its_update_is_409(
    raw_client, lesson, db, create_hero, before_statement
):
    hero = await create_hero(raw_client, "Deadpond")
    # Another request deletes the hero, and commits, just before the app's UPDATE.
    done = before_statement(lesson.database.engine, "UPDATE hero", DELETE_HERO, id=hero["id"])
    body = {"name": "Deadpond", "secret_name": "x", "age": 30}
    response = await raw_client.patch(f"/heroes/{hero['id']}", json=body)
    assert done, "PATCH /heroes/{id} sent no UPDATE"
    assert (response.status_code, response.json(), stored_heroes(db)) == (
        409,
        CHANGED_MEANWHILE,
        [],
    )


@pytest.mark.anyio
async def test_a_patch_answers_what_it_wrote_though_the_hero_is_deleted_after_its_commit(
    raw_client, db, create_hero, after_commit
):
    hero = await create_hero(raw_client, "Deadpond", age=29)
    done = after_commit(lambda: delete_through_another_connection(db, hero["id"]))
    body = {"name": "Deadpond", "secret_name": "x", "age": 30}
    response = await raw_client.patch(f"/heroes/{hero['id']}", json=body)
    assert done, "PATCH /heroes/{id} never committed"
    assert response.status_code == 200, response.text
    # The UPDATE was committed before the DELETE: the answer is what the PATCH wrote.
    assert (response.status_code, response.json(), stored_heroes(db)) == (
        200,
        {"id": hero["id"], **body},
        [],
    )
