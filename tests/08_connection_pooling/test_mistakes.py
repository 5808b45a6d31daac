"""Lesson 08: each common mistake from the README, reproduced, then the lesson's way."""

import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import NullPool, QueuePool, SingletonThreadPool, StaticPool
from sqlmodel import Session, SQLModel, select

BUSY = {"detail": "The database is busy: no connection came free in time. Retry soon."}
LOST = {"detail": "The connection to the database was lost. Retry soon."}
POOL_LIMIT = "QueuePool limit of size 2 overflow 0 reached, connection timed out, timeout 0.50"
SHARED_MEMORY_URL = "sqlite:///file::memory:?cache=shared&uri=true"

# ---------------------------------------------------------------- M1: a session never closed


@pytest.fixture
def leaked(app, lesson):
    """Mistake M1: a session dependency without `with` (or `finally`), so nothing closes it.

    The list keeps every leaked session alive, so the garbage collector cannot give their
    connections back behind the test's back: the pool runs dry on every run, after exactly
    pool_size + max_overflow requests.
    """
    sessions = []

    def get_session_never_closed():
        session = Session(lesson.database.engine)
        sessions.append(session)
        yield session

    app.dependency_overrides[lesson.main.get_session] = get_session_never_closed
    yield sessions
    app.dependency_overrides.clear()
    for session in sessions:
        session.close()


def test_m1_a_session_never_closed_keeps_its_connection(client, lesson, leaked):
    for _ in range(2):
        assert client.get("/heroes/").status_code == 200
    assert len(leaked) == 2
    assert lesson.database.engine.pool.checkedout() == 2  # both requests are over


def test_m1_the_next_request_waits_pool_timeout_then_fails(client, leaked, caplog):
    for _ in range(2):
        client.get("/heroes/")
    start = time.monotonic()
    response = client.get("/heroes/")
    elapsed = time.monotonic() - start
    assert (response.status_code, response.json()) == (503, BUSY)
    assert 0.45 <= elapsed < 0.5 + 5.0, f"took {elapsed:.2f} s"
    assert f"pool timeout on GET /heroes/: {POOL_LIMIT}" in caplog.text
    # And so does every request after it that needs the pool, until something gives the
    # connections back; /health, on a connection of its own, still finds the database there.
    assert client.get("/heroes/1").status_code == 503
    assert client.get("/health").json() == {"status": "ok"}


def test_m1_the_pool_raises_timeout_error(client, lesson):
    engine = lesson.database.engine
    Hero = lesson.models.Hero
    sessions = [Session(engine) for _ in range(3)]
    try:
        for session in sessions[:2]:
            session.exec(select(Hero)).all()  # the first query checks a connection out
        with pytest.raises(PoolTimeoutError) as info:
            sessions[2].exec(select(Hero)).all()
    finally:
        for session in sessions:
            session.close()
    assert str(info.value) == (
        f"{POOL_LIMIT} (Background on this error at: https://sqlalche.me/e/21/3o7r)"
    )


def test_m1_only_the_garbage_collector_gives_leaked_connections_back(client, app, lesson):
    engine = lesson.database.engine

    def get_session_never_closed():  # the same leak, without keeping the sessions
        session = Session(engine)
        yield session

    app.dependency_overrides[lesson.main.get_session] = get_session_never_closed
    gc.disable()  # no collection at a random moment during the test: it is ours to run
    try:
        for _ in range(2):
            assert client.get("/heroes/").status_code == 200
        # Nothing refers to the two sessions any more, yet their connections are still out:
        # a Session sits in reference cycles, which reference counting never frees.
        assert engine.pool.checkedout() == 2
        gc.collect()
        assert engine.pool.checkedout() == 0
    finally:
        gc.enable()
        app.dependency_overrides.clear()


def test_m1_the_lessons_dependency_gives_every_connection_back(client, lesson, create_hero):
    for i in range(10):
        create_hero(client, f"Hero {i}")
    for _ in range(10):
        assert client.get("/heroes/").status_code == 200
        assert client.get("/heroes/999").status_code == 404
    assert lesson.database.engine.pool.checkedout() == 0


# ------------------------------------------------------------ M2: in-memory SQLite, default pool


def test_m2_the_default_pool_gives_each_thread_its_own_empty_database(lesson):
    engine = create_engine("sqlite://")  # what lesson 05's database.py does with this URL
    assert isinstance(engine.pool, SingletonThreadPool)
    try:
        SQLModel.metadata.create_all(engine)  # the tables exist in this thread's connection
        with Session(engine) as session:
            assert session.exec(select(lesson.models.Hero)).all() == []

        def from_another_thread():
            with Session(engine) as session:
                return session.exec(select(lesson.models.Hero)).all()

        with (
            ThreadPoolExecutor(1) as executor,
            pytest.raises(OperationalError, match="no such table: hero"),
        ):
            executor.submit(from_another_thread).result()
    finally:
        engine.dispose()


def test_m2_so_the_app_fails_every_request(lesson, monkeypatch):
    engine = create_engine("sqlite://")
    monkeypatch.setattr(lesson.database, "engine", engine)
    monkeypatch.setattr(lesson.main, "engine", engine)
    # The lifespan creates the tables in the event loop's thread; routes run in worker threads.
    with TestClient(lesson.app) as client:
        with pytest.raises(OperationalError, match=r"\(sqlite3.OperationalError\) no such table"):
            client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson"})
        with pytest.raises(OperationalError, match="no such table: hero"):
            client.get("/heroes/")


@pytest.mark.lesson_env(DATABASE_URL="sqlite://")
def test_m2_the_lesson_shares_one_connection_with_static_pool(client, lesson, create_hero):
    assert isinstance(lesson.database.engine.pool, StaticPool)
    create_hero(client, "Deadpond")
    assert [h["name"] for h in client.get("/heroes/").json()] == ["Deadpond"]
    assert client.get("/pool").json() == {"pool": "StaticPool", "status": "StaticPool"}


@pytest.mark.lesson_env(DATABASE_URL=SHARED_MEMORY_URL)
def test_m2_or_a_shared_cache_uri_with_a_real_queue_pool(lesson, create_hero):
    assert isinstance(lesson.database.engine.pool, QueuePool)
    other = create_engine(SHARED_MEMORY_URL)
    try:
        with TestClient(lesson.app) as client:
            create_hero(client, "Deadpond")
            assert [h["name"] for h in client.get("/heroes/").json()] == ["Deadpond"]
            # One database for the whole process: another engine on the same URI sees it.
            with other.connect() as conn:
                assert conn.execute(text("SELECT name FROM hero")).scalars().all() == ["Deadpond"]
            other.dispose()
        # The lifespan disposed the app's engine: the last connection closed, the data went.
        with other.connect() as conn, pytest.raises(OperationalError, match="no such table"):
            conn.execute(text("SELECT name FROM hero"))
    finally:
        other.dispose()


# ------------------------------------------------------------ M3: stale connections (PostgreSQL)


@pytest.fixture
def go_stale(lesson, hold, server, create_hero):
    """``go_stale(client)``: a hero, two pooled connections, then both killed on the server."""

    def _go_stale(client):
        create_hero(client, "Deadpond")
        for conn in hold(2):
            conn.close()  # both connections now wait in the pool
        assert lesson.database.engine.pool.checkedin() == 2
        server.terminate_backends()  # what a restart or a failover does to them
        return client

    return _go_stale


@pytest.mark.postgres_only
@pytest.mark.lesson_env(POOL_PRE_PING="false")
def test_m3_without_pre_ping_the_next_request_fails(client, go_stale, caplog):
    go_stale(client)
    response = client.get("/heroes/")
    # The lesson's handler answers the lost connection with a 503 and logs the error.
    assert (response.status_code, response.json()) == (503, LOST)
    assert (
        "connection lost on GET /heroes/: (psycopg.errors.AdminShutdown) terminating "
        "connection due to administrator command\n[SQL: SELECT hero.name"
    ) in caplog.text
    # SQLAlchemy saw a disconnect and invalidated the whole pool: the request after it works.
    assert client.get("/heroes/").status_code == 200


@pytest.mark.postgres_only
@pytest.mark.lesson_env(POOL_PRE_PING="false")
def test_m3_the_error_is_an_operational_error_that_invalidated_the_connection(app, go_stale):
    del app.exception_handlers[DBAPIError]  # see what the lesson's handler receives
    with TestClient(app) as client:
        go_stale(client)
        with pytest.raises(
            OperationalError, match="terminating connection due to administrator command"
        ) as info:
            client.get("/heroes/")
    assert type(info.value.orig).__name__ == "AdminShutdown"  # psycopg.errors.AdminShutdown
    assert info.value.connection_invalidated


@pytest.mark.postgres_only
@pytest.mark.lesson_env(POOL_PRE_PING="false")
def test_m3_without_the_lessons_handler_the_client_sees_a_bare_500(app, go_stale):
    del app.exception_handlers[DBAPIError]
    with TestClient(app, raise_server_exceptions=False) as client:
        go_stale(client)
        response = client.get("/heroes/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


@pytest.mark.postgres_only
@pytest.mark.anyio
async def test_m3_asyncpg_says_connection_is_closed(db, server):
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db.async_url, pool_pre_ping=False)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
        server.terminate_backends()
        deadline = time.monotonic() + 10
        while not raw.is_closed():  # an idle event loop notices the closed socket at once
            assert time.monotonic() < deadline
            await anyio.sleep(0.01)
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="connection is closed") as info:
                await conn.execute(text("SELECT 1"))
        assert type(info.value).__name__ == "InterfaceError"
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- M4: queue settings, no queue


@pytest.mark.parametrize(
    ("options", "pool"),
    [
        ({"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}, "StaticPool"),
        ({"poolclass": NullPool}, "NullPool"),
    ],
)
def test_m4_queue_settings_for_a_pool_without_a_queue_are_a_type_error(options, pool):
    with pytest.raises(TypeError) as info:
        create_engine("sqlite://", pool_size=2, max_overflow=0, pool_timeout=0.5, **options)
    assert str(info.value) == (
        "Invalid argument(s) 'pool_size','max_overflow','pool_timeout' sent to create_engine(), "
        f"using configuration SQLiteDialect_pysqlite/{pool}/Engine.  Please check that the "
        "keyword arguments are appropriate for this combination of components."
    )


@pytest.mark.parametrize(
    ("env", "pool"),
    [({"DATABASE_URL": "sqlite://"}, StaticPool), ({"POOL_CLASS": "NullPool"}, NullPool)],
    ids=["memory", "nullpool"],
)
def test_m4_the_lesson_passes_them_only_to_a_queue_pool(env, pool, monkeypatch, reimport):
    assert (os.environ["POOL_SIZE"], os.environ["MAX_OVERFLOW"]) == ("2", "0")  # still set
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    main = reimport("main")
    assert isinstance(main.engine.pool, pool)
    with TestClient(main.app) as client:
        response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
        assert response.status_code == 200


# ------------------------------------------------------------ M5: pools past the server's limit


@pytest.mark.postgres_only
@pytest.mark.lesson_env(POOL_SIZE="2", MAX_OVERFLOW="1")
def test_m5_a_pool_larger_than_the_server_allows_fails_at_the_peak(client, server, hold):
    # The role's CONNECTION LIMIT stands in for max_connections, without starving the server
    # other tests share: it refuses this role's connections past 2, as the limit would.
    server.alter_role("CONNECTION LIMIT 2")
    hold(2)  # two connections open: the server's limit, and still inside the pool's 2 + 1
    with pytest.raises(OperationalError, match="too many connections for role") as info:
        client.get("/heroes/")  # the pool may open a third: the server refuses it
    assert f'FATAL:  too many connections for role "{server.role}"' in str(info.value)


@pytest.mark.postgres_only
@pytest.mark.lesson_env(POOL_SIZE="2", MAX_OVERFLOW="0")
def test_m5_a_pool_sized_within_the_limit_answers_503_instead(client, server, hold):
    server.alter_role("CONNECTION LIMIT 2")
    hold(2)
    response = client.get("/heroes/")  # the pool waits for one of its own, then gives up
    assert (response.status_code, response.json()) == (503, BUSY)
    assert response.headers["Retry-After"] == "1"
