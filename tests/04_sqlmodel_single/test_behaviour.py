"""Lesson 04: what the README says the one-class SQLModel app does, one claim per test."""

import warnings

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, select

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
    assert set(spec["components"]["schemas"]) == {"Hero", "HTTPValidationError", "ValidationError"}
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


def test_list_limit_defaults_to_100(client, lesson):
    with Session(lesson.database.engine) as session:
        session.add_all(lesson.models.Hero(name=f"Hero {i}", secret_name="s") for i in range(105))
        session.commit()
    assert len(client.get("/heroes/").json()) == 100


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": -1}, {"offset": -1}])
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
    assert names(client, max_age=0) == []


def test_the_age_filter_applies_before_offset_and_limit(client, heroes):
    assert names(client, min_age=30, limit=1, offset=1) == ["Rusty-Man"]


def test_a_negative_age_bound_is_422(client):
    assert client.get("/heroes/", params={"min_age": -1}).status_code == 422


def test_q_finds_names_containing_it_ignoring_case(client, heroes):
    assert (names(client, q="man"), names(client, q="LI")) == (["Rusty-Man"], ["Black Lion"])


def test_q_is_literal_text_not_a_like_pattern(client, heroes, create_hero):
    create_hero(client, "100% Hero")
    assert (names(client, q="%"), names(client, q="_")) == (["100% Hero"], [])


@pytest.mark.parametrize("q", ["", "x" * 101], ids=["empty", "101-characters"])
def test_q_of_0_or_more_than_100_characters_is_422(client, q):
    assert client.get("/heroes/", params={"q": q}).status_code == 422


# ---------------------------------------------------------------- sessions and connections


def test_every_request_gives_its_connection_back_to_the_pool(client, lesson, create_hero):
    for i in range(10):
        create_hero(client, f"Hero {i}")
    client.post("/heroes/", json={"name": "Hero 1", "secret_name": "x"})  # a 409
    client.get("/heroes/999")  # a 404
    assert lesson.database.engine.pool.checkedout() == 0
