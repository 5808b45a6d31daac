"""Lesson 01: what the README says the legacy app does, each claim proven by one test."""

import pytest
from pydantic import ValidationError
from pydantic.warnings import PydanticDeprecatedSince20
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import MovedIn20Warning

# ---------------------------------------------------------------- the /heroes/ contract


def test_create_returns_the_hero_with_an_id_generated_by_the_database(client):
    response = client.post(
        "/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 48}
    )
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "Deadpond", "age": 48}


def test_secret_name_is_stored_but_not_returned(client, lesson):
    hero = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson"}).json()
    assert "secret_name" not in hero
    with lesson.database.SessionLocal() as db:
        stored = db.get(lesson.models.Hero, hero["id"])
        assert stored.secret_name == "Dive Wilson"


def test_list_is_in_insertion_order_with_offset_and_limit(client, create_hero):
    names = [create_hero(client, f"Hero {i}")["name"] for i in range(5)]
    assert [h["name"] for h in client.get("/heroes/").json()] == names
    page = client.get("/heroes/", params={"offset": 1, "limit": 2}).json()
    assert [h["name"] for h in page] == names[1:3]


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": -1}, {"offset": -1}])
def test_list_rejects_a_limit_over_100_or_negative_paging_with_422(client, params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_read_one_hero(client, create_hero):
    hero = create_hero(client, "Rusty-Man", age=48)
    assert client.get(f"/heroes/{hero['id']}").json() == hero


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_missing_hero_is_404_hero_not_found(client, method):
    response = client.request(method, "/heroes/999", json={} if method == "PATCH" else None)
    assert response.status_code == 404
    assert response.json() == {"detail": "Hero not found"}


def test_patch_changes_only_the_fields_sent(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"age": 17})
    assert response.json() == {"id": hero["id"], "name": "Spider-Boy", "age": 17}


def test_patch_with_null_age_clears_it(client, create_hero):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"age": None})
    assert response.json()["age"] is None


def test_patch_with_null_name_is_422_not_a_database_error(client, create_hero):
    hero = create_hero(client, "Spider-Boy")
    response = client.patch(f"/heroes/{hero['id']}", json={"name": None})
    assert response.status_code == 422
    assert "may be left out, but not set to null" in response.json()["detail"][0]["msg"]


def test_delete_answers_ok_and_the_hero_is_gone(client, create_hero):
    hero = create_hero(client, "Tarantula")
    assert client.delete(f"/heroes/{hero['id']}").json() == {"ok": True}
    assert client.get(f"/heroes/{hero['id']}").status_code == 404


def test_a_body_without_a_name_is_422(client):
    response = client.post("/heroes/", json={"secret_name": "Nobody"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_startup_creates_the_hero_table(client, lesson):
    assert inspect(lesson.database.engine).get_table_names() == ["hero"]


# ---------------------------------------------------------------- sessions and connections


def test_each_request_gets_its_own_session(client, lesson, create_hero):
    sessions = []
    event.listen(lesson.database.SessionLocal, "after_begin", lambda s, *_: sessions.append(s))
    hero = create_hero(client, "Deadpond")
    client.get(f"/heroes/{hero['id']}")
    client.get("/heroes/")
    # POST begins twice in its session (commit, then refresh); still three sessions in all.
    assert len({id(s) for s in sessions}) == 3


def test_every_request_gives_its_connection_back_to_the_pool(client, lesson, create_hero):
    for i in range(10):
        create_hero(client, f"Hero {i}")
        client.get("/heroes/")
    client.get("/heroes/999")  # a 404 must give its connection back too
    assert lesson.database.engine.pool.checkedout() == 0


# ---------------------------------------------------------------- the legacy warnings


def test_declarative_base_from_ext_declarative_warns_moved_in_20(reimport):
    with pytest.warns(
        MovedIn20Warning, match=r"is now available as sqlalchemy\.orm\.declarative_base\(\)"
    ):
        reimport("database")


def test_class_based_config_with_orm_mode_warns_twice(reimport):
    with (
        pytest.warns(UserWarning, match="'orm_mode' has been renamed to 'from_attributes'"),
        pytest.warns(
            PydanticDeprecatedSince20, match="Support for class-based `config` is deprecated"
        ),
    ):
        reimport("schemas")


def test_on_event_warns_deprecated_use_lifespan(reimport):
    with pytest.warns(MovedIn20Warning):
        reimport("database")
    with pytest.warns(UserWarning), pytest.warns(PydanticDeprecatedSince20):
        reimport("schemas", forget=False)
    with pytest.warns(
        DeprecationWarning, match="on_event is deprecated, use lifespan event handlers instead"
    ):
        reimport("main", forget=False)


# ---------------------------------------------------------------- what orm_mode does on Pydantic 2


def test_orm_mode_is_kept_as_a_key_but_from_attributes_is_not_set(lesson):
    config = lesson.schemas.HeroRead.model_config
    assert config.get("orm_mode") is True
    assert "from_attributes" not in config


def test_model_validate_of_an_orm_object_fails_despite_orm_mode(client, lesson, create_hero):
    hero = create_hero(client, "Deadpond")
    with lesson.database.SessionLocal() as db:
        orm_hero = db.scalars(select(lesson.models.Hero).filter_by(id=hero["id"])).one()
        with pytest.raises(ValidationError, match="Input should be a valid dictionary or instance"):
            lesson.schemas.HeroRead.model_validate(orm_hero)
        # What does work: FastAPI's response_model validates with from_attributes=True.
        assert (
            lesson.schemas.HeroRead.model_validate(orm_hero, from_attributes=True).id == hero["id"]
        )


def test_response_model_still_serializes_orm_objects(client, create_hero):
    # The route returns a models.Hero; FastAPI turns it into JSON regardless of orm_mode.
    hero = create_hero(client, "Deadpond", age=48)
    assert client.get(f"/heroes/{hero['id']}").json() == {"id": 1, "name": "Deadpond", "age": 48}
