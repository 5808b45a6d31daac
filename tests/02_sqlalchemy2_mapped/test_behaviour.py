"""Lesson 02: what the README says the SQLAlchemy 2.0 app does, one claim per test."""

import warnings

import pytest
from sqlalchemy import inspect, select

# ---------------------------------------------------------------- nothing deprecated is left


def test_imports_and_serves_without_a_single_warning(reimport, lesson):
    from fastapi.testclient import TestClient

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main = reimport("main")
        with TestClient(main.app) as client:
            hero = client.post("/heroes/", json={"name": "A", "secret_name": "a"}).json()
            client.patch(f"/heroes/{hero['id']}", json={"age": 3})
            client.get("/heroes/")
            client.delete(f"/heroes/{hero['id']}")
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


# ---------------------------------------------------------------- Mapped[...] decides NULL


def test_mapped_annotations_decide_null_or_not_null(client, lesson):
    columns = {c["name"]: c for c in inspect(lesson.database.engine).get_columns("hero")}
    assert {name: c["nullable"] for name, c in columns.items()} == {
        "id": False,
        "name": False,  # Mapped[str]
        "secret_name": False,  # Mapped[str]
        "age": True,  # Mapped[int | None]
    }


def test_string_length_is_the_column_length(client, lesson):
    columns = {c["name"]: c for c in inspect(lesson.database.engine).get_columns("hero")}
    assert columns["name"]["type"].length == lesson.models.NAME_LENGTH == 100


def test_name_is_unique_and_indexed(client, lesson):
    indexes = inspect(lesson.database.engine).get_indexes("hero")
    assert {"column_names": ["name"], "unique": True} in [
        {"column_names": i["column_names"], "unique": bool(i["unique"])} for i in indexes
    ]


# ---------------------------------------------------------------- the /heroes/ contract


def test_create_returns_the_hero_with_an_id_generated_by_the_database(client):
    response = client.post(
        "/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 48, "id": 7}
    )
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "Deadpond", "age": 48}


def test_list_is_in_insertion_order_with_offset_and_limit(client, create_hero):
    names = [create_hero(client, f"Hero {i}")["name"] for i in range(5)]
    assert [h["name"] for h in client.get("/heroes/").json()] == names
    page = client.get("/heroes/", params={"offset": 3, "limit": 5}).json()
    assert [h["name"] for h in page] == names[3:]


def test_list_limit_defaults_to_100(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add_all(lesson.models.Hero(name=f"Hero {i}", secret_name="s") for i in range(105))
        session.commit()
    assert len(client.get("/heroes/").json()) == 100


def test_missing_hero_is_404_hero_not_found(client):
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, "/heroes/999", json={} if method == "PATCH" else None)
        assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"})


def test_delete_answers_ok_and_the_row_is_gone(client, lesson, create_hero):
    hero = create_hero(client, "Tarantula")
    assert client.delete(f"/heroes/{hero['id']}").json() == {"ok": True}
    with lesson.database.SessionLocal() as session:
        assert session.scalars(select(lesson.models.Hero)).all() == []


# ---------------------------------------------------------------- PATCH is partial


def test_patch_changes_only_the_fields_sent(client, lesson, create_hero):
    hero = create_hero(client, "Spider-Boy", secret_name="Pedro Parqueador", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"name": "Spider-Youngster"})
    assert response.json() == {"id": hero["id"], "name": "Spider-Youngster", "age": 16}
    with lesson.database.SessionLocal() as session:
        assert session.get(lesson.models.Hero, hero["id"]).secret_name == "Pedro Parqueador"


def test_patch_with_null_clears_a_nullable_field(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    assert client.patch(f"/heroes/{hero['id']}", json={"age": None}).json()["age"] is None


def test_patch_with_null_for_a_not_null_field_is_422(client, create_hero):
    hero = create_hero(client, "Spider-Boy")
    response = client.patch(f"/heroes/{hero['id']}", json={"secret_name": None})
    assert response.status_code == 422
    assert "may be left out, but not set to null" in response.json()["detail"][0]["msg"]


# ---------------------------------------------------------------- 409 and 422, never 500


def test_duplicate_name_on_create_is_409_with_a_clear_detail(client, create_hero):
    create_hero(client, "Deadpond")
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A hero named 'Deadpond' already exists"}


def test_duplicate_name_on_patch_is_409_and_the_row_is_unchanged(client, create_hero):
    create_hero(client, "Deadpond")
    hero = create_hero(client, "Rusty-Man")
    response = client.patch(f"/heroes/{hero['id']}", json={"name": "Deadpond"})
    assert response.status_code == 409
    assert client.get(f"/heroes/{hero['id']}").json()["name"] == "Rusty-Man"


def test_the_session_is_usable_after_a_409(client, create_hero):
    create_hero(client, "Deadpond")
    assert client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"}).status_code == 409
    create_hero(client, "Rusty-Man")
    assert [h["name"] for h in client.get("/heroes/").json()] == ["Deadpond", "Rusty-Man"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secret_name": "x"}, "name"),
        ({"name": "", "secret_name": "x"}, "name"),
        ({"name": "x" * 101, "secret_name": "x"}, "name"),
        ({"name": "x", "secret_name": "x", "age": -1}, "age"),
        ({"name": "x", "secret_name": "x", "age": "old"}, "age"),
    ],
)
def test_bad_body_is_422_naming_the_field(client, body, field):
    response = client.post("/heroes/", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": -1}, {"offset": -1}])
def test_paging_out_of_range_is_422(client, params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


# ---------------------------------------------------------------- from_attributes


def test_hero_public_validates_an_orm_object_with_from_attributes(client, lesson, create_hero):
    hero = create_hero(client, "Deadpond", age=48)
    with lesson.database.SessionLocal() as session:
        orm_hero = session.get(lesson.models.Hero, hero["id"])
        public = lesson.schemas.HeroPublic.model_validate(orm_hero)
    assert public.model_dump() == {"id": hero["id"], "name": "Deadpond", "age": 48}


# ---------------------------------------------------------------- sessions and connections


def test_every_request_gives_its_connection_back_to_the_pool(client, lesson, create_hero):
    for i in range(10):
        create_hero(client, f"Hero {i}")
    client.post("/heroes/", json={"name": "Hero 1", "secret_name": "x"})  # a 409
    client.get("/heroes/999")  # a 404
    assert lesson.database.engine.pool.checkedout() == 0
