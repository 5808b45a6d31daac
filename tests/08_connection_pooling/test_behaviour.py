"""Lesson 08: what the README says the pooled app does, one claim per test.

Every test runs with POOL_SIZE=2, MAX_OVERFLOW=0, POOL_TIMEOUT=0.5 unless it says
otherwise with @pytest.mark.lesson_env (see conftest.py).
"""

import asyncio
import logging
import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import jsonschema
import pytest
from fastapi.testclient import TestClient
from http_checks import json_with
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidRequestError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import NullPool, QueuePool, StaticPool
from sqlmodel import Session

BUSY = {"detail": "The database is busy: no connection came free in time. Retry soon."}
# Nothing listens on port 1: connecting is refused at once (connect_timeout in case it isn't).
REFUSED_URL = "postgresql+psycopg://heroes@127.0.0.1:1/heroes?connect_timeout=3"


def timed(call, limit=20.0):
    """Run call() in a thread; return its result and the seconds it took. Never hangs."""
    executor = ThreadPoolExecutor(1)
    try:
        start = time.monotonic()
        result = executor.submit(call).result(timeout=limit)
        return result, time.monotonic() - start
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- the app still works


def test_imports_and_serves_without_a_single_warning(reimport, lesson):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main = reimport("main")
        with TestClient(main.app) as client:
            team = client.post("/teams/", json={"name": "T", "headquarters": "H"}).json()
            body = {"name": "A", "secret_name": "a", "team_id": team["id"]}
            hero = client.post("/heroes/", json=body).json()
            client.patch(f"/heroes/{hero['id']}", json={"age": 3})
            client.get(f"/heroes/{hero['id']}")
            client.get(f"/teams/{team['id']}/heroes")
            client.get("/health")
            client.get("/pool")
            client.delete(f"/heroes/{hero['id']}")
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def test_the_heroes_contract_is_lesson_05s(client, create_hero):
    hero = create_hero(client, "Deadpond", secret_name="Dive Wilson", age=30)
    assert hero == {"name": "Deadpond", "age": 30, "team_id": None, "id": 1}
    assert client.get("/heroes/").json() == [hero]
    assert client.patch("/heroes/1", json={"age": None}).json()["age"] is None
    assert client.get("/heroes/2").json() == {"detail": "Hero not found"}
    assert client.delete("/heroes/1").json() == {"ok": True}


# PostgreSQL text cannot hold the NUL character, nor its INTEGER a number past INT_MAX:
# without lesson 05's limits each of these was a 500 there. Every one is a 422.
NUL_INPUTS = [
    ("POST", "/heroes/", {"name": "Dead\x00pond", "secret_name": "x"}, ["body", "name"]),
    ("POST", "/heroes/", {"name": "x", "secret_name": "Dive\x00Wilson"}, ["body", "secret_name"]),
    ("PATCH", "/heroes/1", {"name": "Dead\x00pond"}, ["body", "name"]),
    ("PATCH", "/heroes/1", {"secret_name": "Dive\x00Wilson"}, ["body", "secret_name"]),
    ("GET", "/heroes/?q=Dead%00pond", None, ["query", "q"]),
    ("POST", "/teams/", {"name": "Pre\x00venters", "headquarters": "x"}, ["body", "name"]),
    ("POST", "/teams/", {"name": "x", "headquarters": "Sharp\x00Tower"}, ["body", "headquarters"]),
    ("PATCH", "/teams/1", {"name": "Pre\x00venters"}, ["body", "name"]),
    ("PATCH", "/teams/1", {"headquarters": "Sharp\x00Tower"}, ["body", "headquarters"]),
]


@pytest.mark.parametrize(("method", "url", "body", "loc"), NUL_INPUTS)
def test_a_nul_character_in_any_string_input_is_422_never_a_500(
    lesson, create_hero, method, url, body, loc
):
    with TestClient(lesson.app, raise_server_exceptions=False) as client:
        team = client.post("/teams/", json={"name": "Preventers", "headquarters": "x"}).json()
        hero = create_hero(client, "Deadpond")
        response = client.request(method, url, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == loc
        assert "String should match pattern '^[^\\x00]*$'" in response.json()["detail"][0]["msg"]
        assert client.get("/heroes/").json() == [hero]
        assert client.get("/teams/").json() == [team]


@pytest.mark.parametrize("row_id", [0, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/heroes/{}"),
        ("PATCH", "/heroes/{}"),
        ("DELETE", "/heroes/{}"),
        ("GET", "/teams/{}"),
        ("PATCH", "/teams/{}"),
        ("DELETE", "/teams/{}"),
        ("GET", "/teams/{}/heroes"),
    ],
)
def test_an_id_outside_1_to_int_max_is_422_never_a_500(lesson, method, path, row_id):
    with TestClient(lesson.app, raise_server_exceptions=False) as client:
        response = client.request(
            method, path.format(row_id), json={} if method == "PATCH" else None
        )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "path"


# ---------------------------------------------------------------- lesson 05's errors, unchanged

JSON = {"content-type": "application/json"}
VALID = {
    "/heroes/": {"name": "Rusty-Man", "secret_name": "Tommy Sharp"},
    "/heroes/1": {},
    "/teams/": {"name": "Z-Force", "headquarters": "Sister Margaret's Bar"},
    "/teams/1": {},
}
NUMBER_FIELDS = [
    ("POST", "/heroes/", "age"),
    ("POST", "/heroes/", "team_id"),
    ("PATCH", "/heroes/1", "age"),
    ("PATCH", "/heroes/1", "team_id"),
]
STRING_FIELDS = [
    *(("POST", "/heroes/", field) for field in ("name", "secret_name")),
    *(("PATCH", "/heroes/1", field) for field in ("name", "secret_name")),
    *(("POST", "/teams/", field) for field in ("name", "headquarters")),
    *(("PATCH", "/teams/1", field) for field in ("name", "headquarters")),
]
# JSON text Python's json module reads as a float that is not finite, and what 422 echoes.
NOT_FINITE = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf", "1e400": "inf"}


def raw_json(url, field, literal):
    """The valid body for url with field set to literal, as JSON text (httpx refuses NaN)."""
    return json_with({**VALID[url], field: "@"}, literal)


@pytest.fixture
def raw(lesson, create_hero):
    """A client that gets a 500 as a response, on a database holding a team and a hero."""
    with TestClient(lesson.app, raise_server_exceptions=False) as client:
        client.post("/teams/", json={"name": "Preventers", "headquarters": "Sharp Tower"})
        create_hero(client, "Deadpond")
        yield client


def everything_stored(client):
    return client.get("/heroes/").json(), client.get("/teams/").json()


def test_a_number_that_is_not_finite_is_a_422_naming_the_field_and_stores_nothing(raw):
    before = everything_stored(raw)
    for method, url, field in NUMBER_FIELDS:
        for literal, echoed in NOT_FINITE.items():
            body = raw_json(url, field, literal)
            response = raw.request(method, url, content=body, headers=JSON)
            assert response.status_code == 422, (method, url, body, response.text)
            [error] = response.json()["detail"]
            assert (error["loc"], error["input"]) == (["body", field], echoed), error
    assert everything_stored(raw) == before


def test_a_lone_surrogate_in_any_string_field_is_a_422_naming_it_and_stores_nothing(raw):
    before = everything_stored(raw)
    for method, url, field in STRING_FIELDS:
        body = raw_json(url, field, '"\\ud800x"')  # JSON's escape for a lone surrogate
        response = raw.request(method, url, content=body, headers=JSON)
        assert response.status_code == 422, (method, url, body, response.text)
        [error] = response.json()["detail"]
        assert (error["loc"], error["type"]) == (["body", field], "string_unicode"), error
        assert error["input"] == "\\ud800x"  # echoed escaped, so UTF-8 can carry it
    assert everything_stored(raw) == before


def test_a_surrogate_in_the_query_string_arrives_as_replacement_characters(raw):
    # A URL carries bytes: the surrogate's would-be UTF-8 bytes are decoded as U+FFFD.
    response = raw.get("/heroes/?q=%ED%A0%80x")
    assert (response.status_code, response.json()) == (200, [])


def test_a_body_that_is_not_utf8_is_the_declared_400(raw):
    response = raw.post("/heroes/", content=b'{"name": "\xff"}', headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "There was an error parsing the body"},
    )


def test_a_team_id_that_does_not_exist_is_a_422_shaped_like_fastapis_own(client):
    response = client.post("/heroes/", json={**VALID["/heroes/"], "team_id": 999})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"type": "value_error", "loc": ["body", "team_id"], "msg": "No team with id 999"}
        ]
    }
    spec = client.get("/openapi.json").json()
    published = spec["paths"]["/heroes/"]["post"]["responses"]["422"]["content"]
    schema = {**published["application/json"]["schema"], "components": spec["components"]}
    jsonschema.validate(response.json(), schema)  # the schema the route publishes for 422


def test_openapi_declares_every_status_each_route_answers(client):
    spec = client.get("/openapi.json").json()
    declared = {
        (method.upper(), path): sorted(operation["responses"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    body, one = ["200", "400", "409", "422"], ["200", "404", "422"]
    assert declared == {
        ("POST", "/heroes/"): body,
        ("GET", "/heroes/"): ["200", "422"],
        ("GET", "/heroes/{hero_id}"): one,
        ("PATCH", "/heroes/{hero_id}"): ["200", "400", "404", "409", "422"],
        ("DELETE", "/heroes/{hero_id}"): one,
        ("POST", "/teams/"): body,
        ("GET", "/teams/"): ["200", "422"],
        ("GET", "/teams/{team_id}"): one,
        ("PATCH", "/teams/{team_id}"): ["200", "400", "404", "409", "422"],
        ("DELETE", "/teams/{team_id}"): one,
        ("GET", "/teams/{team_id}/heroes"): one,
        ("GET", "/health"): ["200", "503"],
        ("GET", "/pool"): ["200"],
    }


def test_openapi_gives_every_error_a_body_model_and_a_description(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status == "200":
                    continue
                model = "HTTPValidationError" if status == "422" else "Message"
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{model}"}, (method, path, status)
                assert response["description"], (method, path, status)
    assert spec["components"]["schemas"]["Message"]["required"] == ["detail"]


# ---------------------------------------------------------------- settings from the environment


@pytest.mark.lesson_env(POOL_SIZE="7", MAX_OVERFLOW="3", POOL_TIMEOUT="0.2")
def test_pool_settings_come_from_the_environment(lesson, hold):
    engine = lesson.database.engine
    assert isinstance(engine.pool, QueuePool)
    assert (engine.pool.size(), engine.pool.timeout()) == (7, 0.2)
    hold(10)  # pool_size + max_overflow connections: all of them are lent out
    with pytest.raises(
        PoolTimeoutError,
        match=re.escape("QueuePool limit of size 7 overflow 3 reached, connection timed out"),
    ):
        engine.connect()


def test_without_settings_the_pool_has_sqlalchemys_defaults(lesson, db, monkeypatch):
    # pool_pre_ping's default and spellings are exercise 3's, pool_recycle's exercise 2's.
    for name in ("POOL_CLASS", "POOL_SIZE", "MAX_OVERFLOW", "POOL_TIMEOUT", "POOL_PRE_PING"):
        monkeypatch.delenv(name)
    options = lesson.database.pool_options(make_url(db.url))
    assert {k: options[k] for k in ("pool_size", "max_overflow", "pool_timeout")} == {
        "pool_size": 5,
        "max_overflow": 10,
        "pool_timeout": 30.0,
    }


def test_each_url_gets_only_the_settings_its_pool_takes(lesson, monkeypatch):
    options = lesson.database.pool_options
    memory = options(make_url("sqlite://"))
    assert memory == {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    for url in ("sqlite:///heroes.db", "postgresql+psycopg://u@h/d"):
        queue = options(make_url(url))
        assert "poolclass" not in queue  # QueuePool, SQLAlchemy's choice for both
        assert (queue["pool_size"], queue["max_overflow"], queue["pool_timeout"]) == (2, 0, 0.5)
    monkeypatch.setenv("POOL_CLASS", "NullPool")
    assert options(make_url("postgresql+psycopg://u@h/d")) == {"poolclass": NullPool}


def test_an_unknown_pool_class_stops_the_app_at_import(reimport, monkeypatch):
    monkeypatch.setenv("POOL_CLASS", "StaticPool")
    message = "POOL_CLASS must be QueuePool or NullPool, not 'StaticPool'"
    with pytest.raises(ValueError, match=re.escape(message)):
        reimport("database")


# ---------------------------------------------------------------- QueuePool vs NullPool


def test_after_many_requests_no_connection_is_checked_out(client, lesson, create_hero, pool_log):
    for i in range(10):
        create_hero(client, f"Hero {i}")
        assert client.get(f"/heroes/{i + 1}").status_code == 200
        client.patch(f"/heroes/{i + 1}", json={"age": i})
    assert client.post("/heroes/", json={"name": "Hero 1", "secret_name": "x"}).status_code == 409
    assert client.get("/heroes/999").status_code == 404
    assert client.post("/heroes/", json={"name": ""}).status_code == 422
    assert client.get("/heroes/?limit=100").status_code == 200
    assert lesson.database.engine.pool.checkedout() == 0
    # Thirty-odd requests, one at a time: the connection opened at startup served them all.
    assert len(pool_log("pool connect")) == 1


@pytest.mark.lesson_env(POOL_CLASS="NullPool")
def test_null_pool_opens_a_connection_for_every_checkout(client, lesson, pool_log):
    assert isinstance(lesson.database.engine.pool, NullPool)
    opened = len(pool_log("pool connect"))  # the startup's create_all
    for _ in range(5):
        assert client.get("/heroes/").status_code == 200
    assert len(pool_log("pool connect")) == opened + 5
    assert client.get("/pool").json() == {"pool": "NullPool", "status": "NullPool"}


# ---------------------------------------------------------------- pool events, logged


def test_pool_events_are_logged_with_the_connection_they_concern(client, caplog, pool_log):
    (connect,) = pool_log("pool connect")  # startup: create_all opened the first connection
    conn_id = connect.removeprefix("pool connect: opened connection ")
    assert re.fullmatch(r"0x[0-9a-f]+", conn_id)
    before = len(pool_log())
    client.get("/heroes/")
    assert pool_log()[before:] == [
        f"pool checkout: connection {conn_id}; Pool size: 2  Connections in pool: 0 "
        "Current Overflow: -1 Current Checked out connections: 1",
        f"pool checkin: connection {conn_id}",
    ]
    levels = {
        r.getMessage().split(":")[0]: r.levelno
        for r in caplog.get_records("call")
        if r.name == "uvicorn.error.pool"
    }
    assert levels == {"pool checkout": logging.DEBUG, "pool checkin": logging.DEBUG}
    startup = [r for r in caplog.get_records("setup") if r.name == "uvicorn.error.pool"]
    assert startup[0].getMessage() == connect
    assert startup[0].levelno == logging.INFO


@pytest.fixture
def uvicorn_logging():
    """``uvicorn_logging("debug")``: the logging setup `uvicorn --log-level debug` makes.

    uvicorn.Config runs it; the loggers it touches are put back after the test.
    """
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    loggers += [logging.getLogger("uvicorn.asgi"), logging.getLogger("uvicorn.error.pool")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in loggers]

    def configure(level):
        import copy

        from uvicorn.config import LOGGING_CONFIG, Config

        logging.getLogger("uvicorn.error.pool").setLevel(logging.NOTSET)  # as in the lesson
        Config("main:app", log_config=copy.deepcopy(LOGGING_CONFIG), log_level=level)

    yield configure
    for logger, handlers, level, propagate, disabled in saved:
        for handler in set(logger.handlers) - set(handlers):
            handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


@pytest.mark.parametrize("level", ["info", "debug"])
def test_uvicorn_prints_the_pool_log_at_its_own_log_level(lesson, uvicorn_logging, capsys, level):
    uvicorn_logging(level)
    with TestClient(lesson.app) as client:
        client.get("/heroes/")
    output = capsys.readouterr().err
    assert re.search(r"^INFO:     pool connect: opened connection 0x[0-9a-f]+$", output, re.M)
    checkouts = re.findall(
        r"^DEBUG:    pool checkout: connection 0x[0-9a-f]+; Pool size: 2 ", output, re.M
    )
    checkins = re.findall(r"^DEBUG:    pool checkin: connection 0x[0-9a-f]+$", output, re.M)
    # Startup's create_all and the request: two of each at debug level, none at info.
    expected = 2 if level == "debug" else 0
    assert (len(checkouts), len(checkins)) == (expected, expected), output


def test_without_the_handler_a_pool_timeout_is_a_bare_500(lesson, hold):
    app = lesson.app
    del app.exception_handlers[PoolTimeoutError]
    with TestClient(app, raise_server_exceptions=False) as client:
        held = hold(2)
        response = client.get("/heroes/")
        for conn in held:
            conn.close()  # back to the pool before the lifespan disposes of it
    assert (response.status_code, response.text) == (500, "Internal Server Error")


# ---------------------------------------------------------------- /pool and /health


def test_pool_stats_show_the_pool_class_its_status_and_size(client):
    stats = client.get("/pool").json()
    assert {k: stats[k] for k in ("pool", "status", "size")} == {
        "pool": "QueuePool",
        "status": "Pool size: 2  Connections in pool: 1 Current Overflow: -1 "
        "Current Checked out connections: 0",
        "size": 2,
    }


def test_pool_stats_answer_even_when_no_connection_is_free(client, hold):
    hold(2)
    response = client.get("/pool")  # it reads counters and takes no connection: no 503
    assert response.status_code == 200
    assert response.json()["status"].endswith("Current Checked out connections: 2")


def test_health_runs_one_query_on_a_connection_of_its_own(client, lesson, count_statements):
    database = lesson.database
    with count_statements(database.health_engine) as log, count_statements(database.engine) as pool:
        response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert (log.statements, pool.statements) == (["SELECT 1"], [])
    assert isinstance(database.health_engine.pool, NullPool)  # opened for the check, then closed


@pytest.mark.lesson_env(DATABASE_URL=REFUSED_URL)
def test_with_the_server_down_startup_fails_and_health_is_503(app, caplog):
    with pytest.raises(OperationalError, match="Connection refused"), TestClient(app):
        pass  # the lifespan's create_all needs the database: the app does not start
    client = TestClient(app)  # not entered: no lifespan, the app without its database
    try:
        response = client.get("/health")
    finally:
        client.close()
    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable"}
    assert response.headers["Retry-After"] == "1"
    assert "health check failed: (psycopg.OperationalError) connection failed" in caplog.text


@pytest.mark.postgres_only
def test_health_is_503_while_the_server_refuses_us_and_200_once_it_accepts(client, server):
    assert client.get("/health").status_code == 200
    server.alter_role("NOLOGIN")
    server.terminate_backends()
    try:
        response = client.get("/health")
        assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
        assert response.json() == {"detail": "The database is unavailable"}
    finally:
        server.alter_role("LOGIN")
    assert client.get("/health").json() == {"status": "ok"}


# ---------------------------------------------------------------- pool exhausted: 503, fast


def test_pool_exhausted_answers_503_with_retry_after_within_pool_timeout(client, hold, caplog):
    hold(2)  # pool_size 2 + max_overflow 0: nothing left for the request
    response, elapsed = timed(lambda: client.get("/heroes/"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == BUSY
    # It waited pool_timeout (0.5 s) for a connection, then gave up: no hang.
    assert 0.45 <= elapsed < 0.5 + 5.0, f"took {elapsed:.2f} s"
    assert (
        "pool timeout on GET /heroes/: QueuePool limit of size 2 overflow 0 reached, "
        "connection timed out, timeout 0.50"
    ) in caplog.text


@pytest.mark.anyio
@pytest.mark.lesson_env(POOL_TIMEOUT="3")
async def test_pool_and_health_answer_at_once_while_45_requests_wait_for_a_pool_of_2(
    app, lesson, hold, async_client
):
    import anyio.to_thread

    @app.get("/pool-as-a-def-route")
    def pool_stats_in_a_worker_thread():  # what /pool was before: a plain def route
        return {"status": lesson.database.engine.pool.status()}

    timeout = lesson.database.engine.pool.timeout()
    threads = anyio.to_thread.current_default_thread_limiter()
    held = hold(2)  # pool_size 2, max_overflow 0: every request now waits for the pool
    waiting = [asyncio.create_task(async_client.get("/heroes/")) for _ in range(45)]
    deadline = time.monotonic() + timeout / 2
    while threads.borrowed_tokens < threads.total_tokens or not threads.statistics().tasks_waiting:
        assert time.monotonic() < deadline, f"never saturated: {threads.statistics()}"
        await asyncio.sleep(0.01)
    # Real saturation: all 40 worker threads wait for the pool, and more requests for a thread.

    async def timed_get(url):
        start = time.monotonic()
        response = await async_client.get(url)
        return response, time.monotonic() - start

    pool, pool_took = await timed_get("/pool")
    health, health_took = await timed_get("/health")
    threaded, threaded_took = await timed_get("/pool-as-a-def-route")
    for conn in held:
        conn.close()  # let the requests still waiting have the connections
    answers = [response.status_code for response in await asyncio.gather(*waiting)]
    assert pool.status_code == 200
    assert pool.json()["status"].endswith("Current Checked out connections: 2")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    # async def and no worker thread: both answered in a fraction of the pool's timeout,
    # while the same counters behind a def route waited for a thread to come free.
    assert pool_took < timeout / 4 and health_took < timeout / 4, (pool_took, health_took)
    assert threaded.status_code == 200 and threaded_took > timeout / 2, threaded_took
    # Those that waited longer than pool_timeout got the 503; none a 500.
    assert set(answers) <= {200, 503} and 503 in answers, answers


def test_the_app_recovers_once_connections_come_back(client, hold, create_hero):
    held = hold(2)
    assert client.get("/heroes/").status_code == 503
    for conn in held:
        conn.close()
    create_hero(client, "Deadpond")
    assert [h["name"] for h in client.get("/heroes/").json()] == ["Deadpond"]


@pytest.mark.lesson_env(POOL_TIMEOUT="10")
def test_a_request_waits_for_a_connection_to_come_free(client, hold):
    first, _ = hold(2)
    executor = ThreadPoolExecutor(1)
    try:
        start = time.monotonic()
        future = executor.submit(client.get, "/heroes/")
        time.sleep(0.3)
        assert not future.done(), "the request should be waiting for a connection"
        first.close()  # give one back: the waiting request takes it
        response = future.result(timeout=20)
        elapsed = time.monotonic() - start
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    assert response.status_code == 200
    assert 0.3 <= elapsed < 10, f"took {elapsed:.2f} s"


# ---------------------------------------------------------------- a connection lost: 503, too

LOST = {"detail": "The connection to the database was lost. Retry soon."}


@pytest.fixture
def lose_the_connection_during(lesson, server):
    """``with lose_the_connection_during("UPDATE"): ...``: the server ends this test's
    connections just before the first statement starting so is sent, as a restart or a
    failover does to a request in flight (pre-ping checked the connection before that)."""

    @contextmanager
    def _during(verb):
        def drop(connection, cursor, statement, parameters, context, executemany):
            if statement.startswith(verb) and not dropped:
                dropped.append(server.terminate_backends())

        dropped = []
        event.listen(lesson.database.engine, "before_cursor_execute", drop)
        try:
            yield dropped
        finally:
            event.remove(lesson.database.engine, "before_cursor_execute", drop)
        assert dropped, f"no {verb} statement was sent"

    return _during


@pytest.mark.postgres_only
def test_a_connection_lost_during_a_request_is_a_503_with_retry_after(
    client, create_hero, lose_the_connection_during, caplog
):
    create_hero(client, "Deadpond", age=30)
    with lose_the_connection_during("UPDATE"):
        response = client.patch("/heroes/1", json={"age": 31})
    assert (response.status_code, response.json()) == (503, LOST)
    assert response.headers["Retry-After"] == "1"
    assert (
        "connection lost on PATCH /heroes/1: (psycopg.errors.AdminShutdown) terminating "
        "connection due to administrator command"
    ) in caplog.text


@pytest.mark.postgres_only
def test_the_request_whose_connection_was_lost_changed_nothing(
    client, create_hero, lose_the_connection_during
):
    create_hero(client, "Deadpond", age=30)
    with lose_the_connection_during("UPDATE"):
        assert client.patch("/heroes/1", json={"age": 31}).status_code == 503
    assert client.get("/heroes/1").json()["age"] == 30  # the transaction died with it


@pytest.mark.postgres_only
def test_after_a_lost_connection_the_same_request_sent_again_succeeds(
    client, create_hero, lose_the_connection_during, server
):
    create_hero(client, "Deadpond", age=30)
    with lose_the_connection_during("UPDATE") as dropped:
        assert client.patch("/heroes/1", json={"age": 31}).status_code == 503
    retry = client.patch("/heroes/1", json={"age": 31})
    assert (retry.status_code, retry.json()["age"]) == (200, 31)
    assert not server.backends() & dropped[0], "the retry ran on a new server backend"


def test_a_database_error_that_loses_no_connection_is_still_a_bare_500(app, lesson):
    with TestClient(app, raise_server_exceptions=False) as client:
        with lesson.database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE hero")  # a bug, not an outage: retrying won't help
        response = client.get("/heroes/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


# ---------------------------------------------------------------- the sizing arithmetic


@pytest.mark.anyio
async def test_a_worker_runs_at_most_40_sync_routes_at_once():
    # FastAPI runs `def` routes and dependencies in AnyIO's thread pool: 40 threads.
    import anyio.to_thread

    assert anyio.to_thread.current_default_thread_limiter().total_tokens == 40


@pytest.mark.postgres_only
def test_show_max_connections_reads_the_servers_limit(client, lesson):
    with lesson.database.engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
        in_use = conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity").scalar_one()
    assert limit > reserved >= 0
    assert 1 <= in_use <= limit


# ---------------------------------------------------------------- lesson 05's loading, kept


def test_touching_an_unloaded_relationship_raises_because_of_lazy_raise(
    client, lesson, create_hero, create_team
):
    team = create_team(client, "Preventers")
    create_hero(client, "Rusty-Man", team_id=team["id"])
    with Session(lesson.database.engine) as session:
        for model, attribute in [("Team", "heroes"), ("Hero", "team")]:
            instance = session.get(getattr(lesson.models, model), 1)
            with pytest.raises(
                InvalidRequestError,
                match=rf"^'{model}\.{attribute}' is not available due to lazy='raise'$",
            ):
                getattr(instance, attribute)


def test_read_hero_joins_its_team_in_1_statement(
    client, lesson, create_hero, create_team, count_statements
):
    team = create_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man", team_id=team["id"])
    with count_statements(lesson.database.engine) as log:
        response = client.get(f"/heroes/{hero['id']}")
    assert response.json()["team"]["name"] == "Preventers"
    (statement,) = log.statements
    assert "FROM hero LEFT OUTER JOIN team AS team_1 ON team_1.id = hero.team_id" in statement


def test_read_team_loads_its_heroes_with_selectinload_in_2_statements(
    client, lesson, create_hero, create_team, count_statements
):
    team = create_team(client, "Preventers")
    for name in ("Rusty-Man", "Tarantula"):
        create_hero(client, name, team_id=team["id"])
    with count_statements(lesson.database.engine) as log:
        response = client.get(f"/teams/{team['id']}")
    assert [h["name"] for h in response.json()["heroes"]] == ["Rusty-Man", "Tarantula"]
    assert log.count == 2, f"one SELECT for the team, one for its heroes:\n{log}"
    assert "FROM hero WHERE hero.team_id IN (" in log.statements[1], log.statements[1]


def test_deleting_a_team_sends_one_delete_and_leaves_its_heroes_to_the_database(
    client, lesson, create_hero, create_team, count_statements
):
    team = create_team(client, "Preventers")
    for name in ("Rusty-Man", "Tarantula", "Black Lion"):
        create_hero(client, name, team_id=team["id"])
    with count_statements(lesson.database.engine) as log:
        assert client.delete(f"/teams/{team['id']}").json() == {"ok": True}
    # passive_deletes=True: no SELECT of the heroes, no UPDATE hero; ON DELETE SET NULL does it.
    assert [s.split()[0] for s in log.statements] == ["SELECT", "DELETE"], str(log)
    assert "DELETE FROM team" in log.statements[1]


def test_deleting_a_team_keeps_its_heroes_with_team_id_null_in_the_database(
    client, db, create_hero, create_team
):
    first, second = create_team(client, "Preventers"), create_team(client, "Z-Force")
    for name, team in [("Rusty-Man", first), ("Black Lion", second)]:
        create_hero(client, name, team_id=team["id"])
    assert client.delete(f"/teams/{first['id']}").json() == {"ok": True}
    with db.engine().connect() as conn:
        heroes = conn.execute(text("SELECT name, team_id FROM hero ORDER BY id")).all()
    assert [tuple(row) for row in heroes] == [("Rusty-Man", None), ("Black Lion", second["id"])]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "pool",
    ["QueuePool", pytest.param("NullPool", marks=pytest.mark.lesson_env(POOL_CLASS="NullPool"))],
)
def test_every_sqlite_connection_has_foreign_keys_on_whatever_the_pool(
    client, lesson, pool_log, pool
):
    engine = lesson.database.engine
    assert type(engine.pool).__name__ == pool
    assert event.contains(engine, "connect", lesson.database.enable_sqlite_foreign_keys)
    engine.dispose()  # the next connections are new ones: both "connect" listeners run
    opened = len(pool_log("pool connect"))
    with engine.connect() as first, engine.connect() as second:
        pragmas = [c.exec_driver_sql("PRAGMA foreign_keys").scalar() for c in (first, second)]
    assert pragmas == [1, 1]
    assert len(pool_log("pool connect")) == opened + 2  # and the pool's log still sees them


@pytest.mark.postgres_only
def test_the_sqlite_listener_is_not_installed_on_other_databases(lesson):
    engine = lesson.database.engine
    assert engine.dialect.name == "postgresql"
    assert not event.contains(engine, "connect", lesson.database.enable_sqlite_foreign_keys)


# ---------------------------------------------------------------- a row deleted meanwhile

CHANGED_MEANWHILE = {"detail": "Another request changed the same row at the same time; try again"}


def stored_ids(db, table):
    with db.engine().connect() as connection:
        return connection.execute(text(f"SELECT id FROM {table}")).scalars().all()


@pytest.mark.parametrize("table", ["hero", "team"])
def test_a_patch_of_a_row_deleted_before_its_update_is_409(
    client, db, lesson, create_hero, create_team, before_statement, table
):
    row = (create_hero if table == "hero" else create_team)(client, "Deadpond")
    # Another request deletes the row just before the app's UPDATE of it.
    done = before_statement(
        lesson.database.engine,
        f"UPDATE {table} ",
        f"DELETE FROM {table} WHERE id = :id",
        id=row["id"],
    )
    url = f"/{'heroes' if table == 'hero' else 'teams'}/{row['id']}"
    response = client.patch(url, json={"name": "Dead"})
    assert done, f"PATCH {url} sent no UPDATE"
    assert (response.status_code, response.json(), stored_ids(db, table)) == (
        409,
        CHANGED_MEANWHILE,
        [],
    )


def test_a_patch_whose_row_is_deleted_right_after_its_commit_answers_what_it_wrote(
    client, db, create_hero, after_commit, count_statements, lesson
):
    hero = create_hero(client, "Deadpond", age=30)

    def another_request():  # right after the app's COMMIT, before its answer is built
        with db.engine().begin() as theirs:
            theirs.execute(text("DELETE FROM hero WHERE id = :id"), {"id": hero["id"]})

    done = after_commit(another_request)
    with count_statements(lesson.database.engine) as log:
        response = client.patch(f"/heroes/{hero['id']}", json={"age": 31})
    assert done, "PATCH /heroes/{id} did not commit"
    # The UPDATE was committed; the DELETE came after it. expire_on_commit=False: the answer
    # is built from what the session wrote, and nothing is read back after COMMIT.
    assert (response.status_code, response.json()) == (200, {**hero, "age": 31})
    assert stored_ids(db, "hero") == []
    assert [s.split()[0] for s in log.statements] == ["SELECT", "UPDATE"], log


# ---------------------------------------------------------------- order, proven

# Each list route, and the table whose rows it lists in id order.
LISTS = {
    "/heroes/": "hero",
    "/teams/": "team",
    "/teams/{team}/heroes": "hero",
    "/teams/{team}": "hero",  # the team's heroes: Team.heroes' order_by
}


@pytest.mark.parametrize("route", LISTS)
def test_every_list_is_in_id_order_because_its_sql_says_so(
    client, lesson, create_hero, create_team, count_statements, route
):
    teams = [create_team(client, f"Team {i}") for i in range(4)]
    heroes = [create_hero(client, f"Hero {i}", team_id=teams[0]["id"]) for i in range(5)]
    # On PostgreSQL an UPDATE writes the row's new version after the others: without an
    # ORDER BY, these rows would now be listed last. (SQLite keeps rowid order: the SQL
    # itself is checked below.)
    for hero in heroes[:2]:
        client.patch(f"/heroes/{hero['id']}", json={"age": 40})
    for team in teams[:2]:
        client.patch(f"/teams/{team['id']}", json={"headquarters": "Moved"})
    with count_statements(lesson.database.engine) as log:
        answer = client.get(route.format(team=teams[0]["id"])).json()
    listed = answer["heroes"] if route == "/teams/{team}" else answer
    table = LISTS[route]
    expected = heroes if table == "hero" else teams
    assert [row["id"] for row in listed] == [row["id"] for row in expected]
    (listing,) = [s for s in log.statements if f"FROM {table} " in f"{s} "]
    assert f"ORDER BY {table}.id" in listing, listing
