"""Lesson 02: what the README says the SQLAlchemy 2.0 app does, one claim per test."""

import math
import warnings

import jsonschema
import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import ArgumentError, DataError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

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


@pytest.mark.postgres_only
def test_postgresql_enforces_the_column_length(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="x" * 101, secret_name="s"))
        with pytest.raises(DataError, match=r"value too long for type character varying\(100\)"):
            session.commit()


@pytest.mark.sqlite_only
def test_sqlite_does_not_enforce_the_column_length(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="x" * 101, secret_name="s"))
        session.commit()
        assert len(session.scalars(select(lesson.models.Hero.name)).one()) == 101


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


def test_list_is_in_insertion_order_with_offset_and_limit(
    client, lesson, db, create_hero, count_statements
):
    names = [create_hero(client, f"Hero {i}")["name"] for i in range(5)]
    with db.engine().begin() as conn:
        # Rewrite the first two rows. PostgreSQL stores the new versions after the others,
        # so a SELECT without ORDER BY lists them last there (SQLite keeps rows by id).
        conn.execute(text("UPDATE hero SET name = name WHERE id <= 2"))
    with count_statements(lesson.database.engine) as log:
        listed = [h["name"] for h in client.get("/heroes/").json()]
        page = [h["name"] for h in client.get("/heroes/", params={"offset": 3, "limit": 5}).json()]
    assert (listed, page) == (names, names[3:])
    # The order is the SQL's, not the table's: ORDER BY id, before the page is cut.
    assert all("FROM hero ORDER BY hero.id LIMIT " in s for s in log.statements), str(log)


def test_list_limit_defaults_to_100(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add_all(lesson.models.Hero(name=f"Hero {i}", secret_name="s") for i in range(105))
        session.commit()
    assert len(client.get("/heroes/").json()) == 100


# 2**31 - 1 is INT_MAX, the largest id an INTEGER column holds: well formed, and free.
@pytest.mark.parametrize("hero_id", [999, 2**31 - 1])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_well_formed_id_no_hero_has_is_404_hero_not_found(client, create_hero, method, hero_id):
    create_hero(client, "Deadpond")
    response = client.request(method, f"/heroes/{hero_id}", json={} if method == "PATCH" else None)
    assert (response.status_code, response.json()) == (404, {"detail": "Hero not found"})


@pytest.mark.sqlite_only
def test_without_the_bound_sqlite_cannot_even_send_an_id_of_2_to_the_63(client, lesson):
    with lesson.database.SessionLocal() as session, pytest.raises(OverflowError):
        session.get(lesson.models.Hero, 2**63)


@pytest.mark.postgres_only
def test_without_the_bound_postgresql_refuses_an_id_beyond_integer(client, lesson):
    with (
        lesson.database.SessionLocal() as session,
        pytest.raises(DataError, match="integer out of range"),
    ):
        session.get(lesson.models.Hero, 2**31)


IMPOSSIBLE_IDS = [
    (0, "Input should be greater than or equal to 1"),
    (-1, "Input should be greater than or equal to 1"),
    (2**31, "Input should be less than or equal to 2147483647"),
    (2**63, "Input should be less than or equal to 2147483647"),
]


@pytest.mark.parametrize(("hero_id", "message"), IMPOSSIBLE_IDS)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_id_no_hero_can_have_is_422_naming_it_before_the_database_is_asked(
    client, lesson, count_statements, method, hero_id, message
):
    with count_statements(lesson.database.engine) as log:
        response = client.request(
            method, f"/heroes/{hero_id}", json={} if method == "PATCH" else None
        )
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [
        (["path", "hero_id"], message)
    ]
    assert log.count == 0, str(log)


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


# ---------------------------------------------------------------- 422, never 500


# What the columns cannot hold: a name or secret name over 100 characters or with a NUL
# character (PostgreSQL text refuses it), an age outside 0..INT_MAX (PostgreSQL's
# INTEGER is 32-bit, SQLite's 64-bit). Without the schema's limits each one was a 500
# on one backend or both.
BAD_FIELDS = [
    ({"name": ""}, "name", "String should have at least 1 character"),
    ({"name": "x" * 101}, "name", "String should have at most 100 characters"),
    ({"name": "Dead\x00pond"}, "name", "String should match pattern '^[^\\x00]*$'"),
    ({"secret_name": "x" * 101}, "secret_name", "String should have at most 100 characters"),
    ({"secret_name": "Dive\x00Wilson"}, "secret_name", "String should match pattern"),
    ({"age": -1}, "age", "Input should be greater than or equal to 0"),
    ({"age": 2**31}, "age", "Input should be less than or equal to 2147483647"),
    ({"age": 10**20}, "age", "Input should be less than or equal to 2147483647"),
    ({"age": "old"}, "age", "Input should be a valid integer"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_FIELDS)
def test_bad_body_is_422_naming_the_field(client, lesson, change, field, message):
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "D", **change})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert message in response.json()["detail"][0]["msg"]
    with lesson.database.SessionLocal() as session:
        assert session.scalars(select(lesson.models.Hero)).all() == []


def test_a_body_without_a_name_is_422_naming_it(client):
    response = client.post("/heroes/", json={"secret_name": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize(("change", "field", "message"), BAD_FIELDS)
def test_bad_patch_is_422_naming_the_field_and_changes_nothing(
    client, create_hero, change, field, message
):
    hero = create_hero(client, "Spider-Boy", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json=change)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert message in response.json()["detail"][0]["msg"]
    assert client.get(f"/heroes/{hero['id']}").json() == hero


@pytest.mark.postgres_only
def test_integer_max_is_the_largest_int_a_postgresql_integer_holds(client, lesson):
    limit = lesson.models.INT_MAX
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="Old", secret_name="s", age=limit))
        session.commit()
        session.add(lesson.models.Hero(name="Older", secret_name="s", age=limit + 1))
        with pytest.raises(DataError, match="integer out of range"):
            session.commit()


@pytest.mark.postgres_only
def test_postgresql_refuses_to_compare_an_integer_column_with_a_bigger_number(client, lesson):
    Hero = lesson.models.Hero
    with lesson.database.SessionLocal() as session:
        statement = select(Hero).where(Hero.age <= lesson.models.INT_MAX + 1)
        with pytest.raises(DataError, match="integer out of range"):
            session.scalars(statement).all()


@pytest.mark.sqlite_only
def test_sqlite_integers_go_past_integer_max_up_to_2_to_the_63_minus_1(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="Old", secret_name="s", age=2**63 - 1))
        session.commit()
        session.add(lesson.models.Hero(name="Older", secret_name="s", age=2**63))
        with pytest.raises(
            OverflowError, match="Python int too large to convert to SQLite INTEGER"
        ):
            session.commit()


@pytest.mark.postgres_only
def test_postgresql_refuses_to_compare_text_with_a_nul_character(client, lesson):
    Hero = lesson.models.Hero
    with lesson.database.SessionLocal() as session:
        statement = select(Hero).where(Hero.name.icontains("Dead\x00pond"))
        with pytest.raises(DataError, match=r"text fields cannot contain NUL \(0x00\) bytes"):
            session.scalars(statement).all()


@pytest.mark.postgres_only
def test_postgresql_refuses_a_nul_character_in_text(client, lesson):
    with lesson.database.SessionLocal() as session:
        session.add(lesson.models.Hero(name="Dead\x00pond", secret_name="s"))
        with pytest.raises(DataError, match=r"text fields cannot contain NUL \(0x00\) bytes"):
            session.commit()


@pytest.mark.parametrize(
    "params", [{"limit": 101}, {"limit": -1}, {"offset": -1}, {"offset": 2**31}, {"offset": 2**63}]
)
def test_paging_out_of_range_is_422(client, params):
    response = client.get("/heroes/", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


# ---------------------------------------------------------------- a 422 can always be sent

# Python's json module reads NaN, Infinity and -Infinity, and 1e400 as float('inf'): the
# field refuses them, and the 422 echoes them back as strings (mistake M4).
UNSENDABLE_NUMBERS = [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e400", "inf")]
JSON = {"content-type": "application/json"}


def stored_heroes(db) -> list[tuple]:
    """Every stored hero, read through a connection of the test's own."""
    with db.engine().connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT * FROM hero ORDER BY id"))]


@pytest.mark.anyio
@pytest.mark.parametrize(("number", "echoed"), UNSENDABLE_NUMBERS)
async def test_a_number_json_cannot_carry_in_age_is_422_echoed_as_a_string(
    raw_client, db, number, echoed
):
    body = f'{{"name": "Deadpond", "secret_name": "Dive Wilson", "age": {number}}}'
    response = await raw_client.post("/heroes/", content=body.encode(), headers=JSON)
    assert (response.status_code, response.json()["detail"], stored_heroes(db)) == (
        422,
        [
            {
                "type": "finite_number",
                "loc": ["body", "age"],
                "msg": "Input should be a finite number",
                "input": echoed,
            }
        ],
        [],
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("number", "echoed"), UNSENDABLE_NUMBERS)
async def test_a_number_json_cannot_carry_in_a_patch_is_422_and_changes_nothing(
    raw_client, db, create_hero, number, echoed
):
    hero = await create_hero(raw_client, "Deadpond", age=48)
    before = stored_heroes(db)
    body = f'{{"age": {number}}}'.encode()
    response = await raw_client.patch(f"/heroes/{hero['id']}", content=body, headers=JSON)
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "age"])
    assert (response.json()["detail"][0]["input"], stored_heroes(db)) == (echoed, before)


SURROGATE_ERROR = {
    "type": "string_unicode",
    "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
}


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["name", "secret_name"])
async def test_a_lone_surrogate_in_a_string_field_is_422_naming_it(raw_client, db, field):
    fields = {"name": '"Deadpond"', "secret_name": '"Dive Wilson"', field: '"Dead\\ud800pond"'}
    body = "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"
    response = await raw_client.post("/heroes/", content=body.encode(), headers=JSON)
    assert (response.status_code, response.json()["detail"], stored_heroes(db)) == (
        422,
        [{**SURROGATE_ERROR, "loc": ["body", field], "input": "Dead\\ud800pond"}],
        [],
    )


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["name", "secret_name"])
async def test_a_lone_surrogate_in_a_patch_is_422_naming_it_and_changes_nothing(
    raw_client, db, create_hero, field
):
    hero = await create_hero(raw_client, "Deadpond")
    before = stored_heroes(db)
    body = f'{{"{field}": "Dead\\udfffpond"}}'.encode()
    response = await raw_client.patch(f"/heroes/{hero['id']}", content=body, headers=JSON)
    assert (response.status_code, response.json()["detail"], stored_heroes(db)) == (
        422,
        [{**SURROGATE_ERROR, "loc": ["body", field], "input": "Dead\\udfffpond"}],
        before,
    )


@pytest.mark.anyio
async def test_a_lone_surrogate_in_the_query_string_arrives_as_replacement_characters(
    raw_client, create_hero
):
    replaced = await create_hero(raw_client, "\ufffd\ufffd\ufffd")
    # %ED%A0%80 is "\ud800" encoded as UTF-8 would, if it could: not valid UTF-8, so the
    # server decodes it as three U+FFFD replacement characters, and q finds that name.
    response = await raw_client.get("/heroes/?q=%ED%A0%80")
    assert (response.status_code, response.json()) == (200, [replaced])


def test_json_safe_makes_what_json_and_utf8_cannot_carry_sendable(lesson):
    unsendable = {"age": [math.nan, math.inf, -math.inf], "Dead\ud800pond": ("x\udfff",)}
    assert lesson.main.json_safe(unsendable) == {
        "age": ["nan", "inf", "-inf"],
        "Dead\\ud800pond": ["x\\udfff"],
    }


@pytest.mark.anyio
async def test_a_body_that_is_not_utf8_is_the_declared_400(raw_client):
    response = await raw_client.post("/heroes/", content=b'{"name": "\xff"}', headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "There was an error parsing the body"},
    )


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
    assert set(map(str, models.values())) == {str({"$ref": "#/components/schemas/Message"})}
    assert spec["components"]["schemas"]["Message"]["required"] == ["detail"]


def test_invalid_builds_a_422_that_matches_the_published_http_validation_error(client, lesson):
    error = lesson.main.invalid(("body", "team_id"), "No team with id 1")
    spec = client.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/HTTPValidationError", **spec}
    jsonschema.validate({"detail": error.detail}, schema)  # raises if the shape is wrong
    assert (error.status_code, error.detail) == (
        422,
        [{"type": "value_error", "loc": ["body", "team_id"], "msg": "No team with id 1"}],
    )


# ---------------------------------------------------------------- from_attributes


def test_hero_public_validates_an_orm_object_with_from_attributes(client, lesson, create_hero):
    hero = create_hero(client, "Deadpond", age=48)
    with lesson.database.SessionLocal() as session:
        orm_hero = session.get(lesson.models.Hero, hero["id"])
        public = lesson.schemas.HeroPublic.model_validate(orm_hero)
    assert public.model_dump() == {"id": hero["id"], "name": "Deadpond", "age": 48}


# ---------------------------------------------------------------- select(), scalars(), get()


def test_select_builds_a_statement_and_runs_nothing(client, lesson, count_statements):
    with count_statements(lesson.database.engine) as log:
        statement = select(lesson.models.Hero).order_by(lesson.models.Hero.id)
    assert log.count == 0
    assert str(statement).startswith("SELECT hero.id, hero.name, hero.secret_name, hero.age")


def test_execute_gives_rows_and_scalars_gives_hero_objects(client, lesson, create_hero):
    create_hero(client, "Deadpond")
    Hero = lesson.models.Hero
    with lesson.database.SessionLocal() as session:
        row = session.execute(select(Hero)).one()
        hero = session.scalars(select(Hero)).one()
    assert isinstance(row, Row)
    assert row[0] is hero  # the first column of the row; one identity map, one object
    assert isinstance(hero, Hero)


def test_session_get_queries_only_when_the_object_is_not_loaded(
    client, lesson, create_hero, count_statements
):
    hero = create_hero(client, "Deadpond")
    with (
        lesson.database.SessionLocal() as session,
        count_statements(lesson.database.engine) as log,
    ):
        first = session.get(lesson.models.Hero, hero["id"])
        selects = log.count
        again = session.get(lesson.models.Hero, hero["id"])
    assert again is first
    assert (selects, log.count) == (1, 1), str(log)


def test_icontains_renders_a_case_insensitive_like_with_a_bound_parameter(lesson, db):
    Hero = lesson.models.Hero
    text = "100%_sure"
    statement = select(Hero.id).where(Hero.name.icontains(text, autoescape=True))
    compiled = statement.compile(db.engine())
    sql = " ".join(str(compiled).split())
    if db.backend == "sqlite":
        assert "lower(hero.name) LIKE '%' || lower(?) || '%' ESCAPE '/'" in sql
    else:
        assert "hero.name ILIKE '%%' || %(name_1)s::VARCHAR || '%%' ESCAPE '/'" in sql
    assert text not in sql  # q travels as a parameter, escaped: never pasted into the SQL
    assert list(compiled.params.values()) == ["100/%/_sure"]


# ---------------------------------------------------------------- lifespan


def test_lifespan_creates_the_table_at_startup(lesson, app):
    from fastapi.testclient import TestClient

    assert inspect(lesson.database.engine).get_table_names() == []
    with TestClient(app):
        assert inspect(lesson.database.engine).get_table_names() == ["hero"]


def test_lifespan_closes_the_pools_connections_at_shutdown(lesson, app, create_hero):
    from fastapi.testclient import TestClient

    engine = lesson.database.engine
    closed: list[int] = []  # the DBAPI connections the pool really closed
    event.listen(
        engine, "close", lambda dbapi_connection, record: closed.append(id(dbapi_connection))
    )
    opened: list[int] = []
    event.listen(
        engine, "connect", lambda dbapi_connection, record: opened.append(id(dbapi_connection))
    )
    with TestClient(app) as client:
        create_hero(client, "Deadpond")
        assert client.get("/heroes/").status_code == 200
        waiting = engine.pool.checkedin()
        assert waiting >= 1 and closed == []  # open, waiting in the pool, while the app serves
    assert sorted(closed) == sorted(opened), "shutdown closes every connection the pool opened"


@pytest.mark.postgres_only
def test_postgresql_sees_no_connection_of_the_app_after_shutdown(lesson, app, db, create_hero):
    from fastapi.testclient import TestClient

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
        assert backends() >= 1  # the app's pooled connection, seen by the server
    assert backends() == 0


# ---------------------------------------------------------------- sessions and connections


def test_every_request_gives_its_connection_back_to_the_pool(client, lesson, create_hero):
    from fastapi.testclient import TestClient

    for i in range(10):
        create_hero(client, f"Hero {i}")
    failing = TestClient(lesson.app, raise_server_exceptions=False)
    failing.post("/heroes/", json={"name": "Hero 1", "secret_name": "x"})  # 409 (500 unsolved)
    client.get("/heroes/999")  # a 404
    assert lesson.database.engine.pool.checkedout() == 0


# ---------------------------------------------------------------- the session factory


def statement_kinds(log) -> list[str]:
    """The first word of each statement sent: INSERT, SELECT, UPDATE..."""
    return [statement.split()[0] for statement in log.statements]


def test_autoflush_lets_a_query_see_what_its_session_has_not_sent_yet(
    client, lesson, count_statements
):
    Hero = lesson.models.Hero
    with (
        lesson.database.SessionLocal() as session,
        count_statements(lesson.database.engine) as log,
    ):
        session.add(Hero(name="Deadpond", secret_name="Dive Wilson"))
        found = session.scalars(select(Hero).where(Hero.name == "Deadpond")).one_or_none()
        assert found is not None and found.name == "Deadpond"
    # The query flushed the pending hero first: its INSERT went out before the SELECT.
    assert statement_kinds(log) == ["INSERT", "SELECT"], str(log)


def test_with_lesson_01s_autoflush_false_the_same_query_misses_the_new_hero(
    client, lesson, count_statements
):
    Hero = lesson.models.Hero
    legacy = sessionmaker(autocommit=False, autoflush=False, bind=lesson.database.engine)
    with legacy() as session, count_statements(lesson.database.engine) as log:
        session.add(Hero(name="Deadpond", secret_name="Dive Wilson"))
        found = session.scalars(select(Hero).where(Hero.name == "Deadpond")).one_or_none()
        assert found is None  # the hero is in the session, but not yet in the database
    assert statement_kinds(log) == ["SELECT"], str(log)


def test_autocommit_true_no_longer_exists_so_autocommit_false_says_nothing(lesson):
    with pytest.raises(ArgumentError, match="^autocommit=True is no longer supported$"):
        sessionmaker(autocommit=True, bind=lesson.database.engine)()


def test_a_create_sends_one_insert_and_reads_nothing_back(client, lesson, count_statements):
    with count_statements(lesson.database.engine) as log:
        response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "D", "age": 48})
    assert response.json() == {"id": 1, "name": "Deadpond", "age": 48}
    assert statement_kinds(log) == ["INSERT"], str(log)


def test_a_patch_sends_one_select_and_one_update_and_reads_nothing_back(
    client, lesson, create_hero, count_statements
):
    hero = create_hero(client, "Deadpond", age=48)
    with count_statements(lesson.database.engine) as log:
        response = client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert response.json() == {**hero, "age": 30}
    assert statement_kinds(log) == ["SELECT", "UPDATE"], str(log)


def delete_through_another_connection(db, name: str) -> None:
    """Another request deletes the hero, and commits, on a connection of its own."""
    with db.engine().begin() as theirs:
        theirs.execute(text("DELETE FROM hero WHERE name = :name"), {"name": name})


def test_a_patch_answers_what_it_wrote_when_the_hero_is_deleted_right_after_its_commit(
    client, after_commit, db, create_hero
):
    hero = create_hero(client, "Deadpond", age=48)
    done = after_commit(lambda: delete_through_another_connection(db, "Deadpond"))
    response = client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert done, "PATCH /heroes/{id} never committed"
    # The UPDATE happened, and the DELETE after it: the PATCH's answer is what it wrote.
    assert (response.status_code, response.json(), stored_heroes(db)) == (
        200,
        {**hero, "age": 30},
        [],
    )


def test_a_create_answers_what_it_wrote_when_the_hero_is_deleted_right_after_its_commit(
    client, after_commit, db
):
    done = after_commit(lambda: delete_through_another_connection(db, "Deadpond"))
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "D", "age": 48})
    assert done, "POST /heroes/ never committed"
    assert (response.status_code, response.json(), stored_heroes(db)) == (
        200,
        {"id": 1, "name": "Deadpond", "age": 48},
        [],
    )


# ---------------------------------------------------------------- response_model and -> Hero


def test_response_model_wins_over_the_return_annotation(client, lesson):
    from fastapi.routing import APIRoute

    HeroPublic, Hero = lesson.schemas.HeroPublic, lesson.models.Hero
    chosen = {
        f"{sorted(route.methods)[0]} {route.path}": (
            route.endpoint.__annotations__["return"],
            route.response_model,
        )
        for route in lesson.app.routes
        if isinstance(route, APIRoute)
    }
    assert chosen == {
        "POST /heroes/": (Hero, HeroPublic),
        "GET /heroes/": (list[Hero], list[HeroPublic]),
        "GET /heroes/{hero_id}": (Hero, HeroPublic),
        "PATCH /heroes/{hero_id}": (Hero, HeroPublic),
        # No response_model: the return annotation is the response model.
        "DELETE /heroes/{hero_id}": (dict[str, bool], dict[str, bool]),
    }
    spec = client.get("/openapi.json").json()
    answer = spec["paths"]["/heroes/{hero_id}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HeroPublic"
    }
    assert "Hero" not in spec["components"]["schemas"]  # the ORM class is not published


def test_the_response_model_filters_the_orm_object_so_secret_name_never_leaves(
    client, lesson, create_hero
):
    hero = create_hero(client, "Deadpond", secret_name="Dive Wilson", age=48)
    with lesson.database.SessionLocal() as session:
        returned = lesson.main.read_hero(hero["id"], session)  # what the route returns
        assert returned.secret_name == "Dive Wilson"
    assert client.get(f"/heroes/{hero['id']}").json() == {"id": 1, "name": "Deadpond", "age": 48}


def test_a_return_annotation_alone_must_be_a_pydantic_type(lesson):
    from fastapi import FastAPI
    from fastapi.exceptions import FastAPIError

    Hero = lesson.models.Hero
    with pytest.raises(
        FastAPIError,
        match=r"^Invalid args for response field! Hint: check that <class 'models\.Hero'> is a "
        r"valid Pydantic field type\.",
    ):

        @FastAPI().get("/heroes/{hero_id}")
        def read_hero(hero_id: int) -> Hero: ...


# ---------------------------------------------------------------- a hero deleted meanwhile

CHANGED_MEANWHILE = {"detail": "Another request changed the same row at the same time; try again"}


# Another request deletes the hero (id=...), and commits, just before the app's UPDATE:
# before_statement(lesson.database.engine, "UPDATE hero", DELETE_HERO, id=hero_id).
DELETE_HERO = "DELETE FROM hero WHERE id = :id"


@pytest.mark.anyio
async def test_a_patch_of_a_hero_deleted_before_its_update_is_409(
    raw_client, lesson, db, create_hero, before_statement
):
    hero = await create_hero(raw_client, "Deadpond")
    done = before_statement(lesson.database.engine, "UPDATE hero", DELETE_HERO, id=hero["id"])
    response = await raw_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert done, "PATCH /heroes/{id} sent no UPDATE"
    assert (response.status_code, response.json(), stored_heroes(db)) == (
        409,
        CHANGED_MEANWHILE,
        [],
    )


def test_without_its_handler_a_hero_deleted_before_the_update_is_a_stale_data_error(
    client, lesson, create_hero, before_statement
):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sqlalchemy.orm.exc import StaleDataError

    hero = create_hero(client, "Deadpond")
    before_statement(lesson.database.engine, "UPDATE hero", DELETE_HERO, id=hero["id"])
    unhandled = TestClient(FastAPI(routes=lesson.app.router.routes))  # no exception handlers
    with pytest.raises(
        StaleDataError,
        match=r"^UPDATE statement on table 'hero' expected to update 1 row\(s\); 0 were matched\.$",
    ):
        unhandled.patch(f"/heroes/{hero['id']}", json={"age": 30})
