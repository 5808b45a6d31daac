"""Lesson 10 fixtures: the rollback-per-test pattern, and the committing database beside it.

* ``client`` (most tests): the app runs inside ONE connection and ONE outer transaction
  that is rolled back after the test. Each request gets its own Session bound to that
  connection with ``join_transaction_mode="create_savepoint"``: the unit of work's
  begin/commit/rollback become SAVEPOINT / RELEASE / ROLLBACK TO inside the outer
  transaction, and ``app.dependency_overrides[get_session]`` hands those sessions to
  the routes. Nothing any test writes is ever committed.

  So these tests share one migrated database: it is migrated (``alembic upgrade head``)
  once, by the first of them, and every later one starts on it as the last one left it,
  empty, with no wipe and no migration. After each, a separate connection checks that
  it is still empty and at head; if anything was committed after all, the next test
  gets a fresh database. They run first, so one migration serves them all
  (``nox -s bench -- 10`` measures
  what that saves; ``LESSON10_MIGRATE_EVERY_TEST=1`` turns it off).
* ``committing_client``: the app as it runs for real, committing on its own pooled
  connections. For what the rollback pattern cannot show: two connections seeing each
  other's commits, locks, real concurrency. Each such test starts from an empty database
  that the lesson's migrations bring to head, as lesson 09's tests do.
* ``send_at_once`` sends many requests through it from worker threads, all released at the
  same moment, and ``meet_at_first_flush`` holds each request at its first write until the
  others have read too (where the locks let them): races at their worst, bounded in count
  and time.
"""

from __future__ import annotations

import contextlib
import io
import logging.config
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

# The process's database is migrated to head and holds no row: a test of the rollback
# pattern can start on it as it is. Set only by a check after such a test (``connection``).
READY = pytest.StashKey[bool]()
# This test starts on the database the previous one left (no wipe, no migration).
REUSED = pytest.StashKey[bool]()
# The old way, for `nox -s bench -- 10`: wipe and migrate before every test.
MIGRATE_EVERY_TEST = os.environ.get("LESSON10_MIGRATE_EVERY_TEST") == "1"


def rolls_back(item: pytest.Item) -> bool:
    """Whether a test runs inside the rollback pattern: it uses the ``connection`` fixture
    (``client`` does), and so commits nothing."""
    return "connection" in getattr(item, "fixturenames", ())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rollback_per_test: runs inside a rolled-back transaction (set by conftest)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The rollback tests first, in their usual order, so that one migration serves them all.
    for item in items:
        if rolls_back(item):
            item.add_marker("rollback_per_test")
    items.sort(key=lambda item: not rolls_back(item))


@pytest.fixture
def db(process_database: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The harness's ``db``, emptied before the test, except for a test of the rollback
    pattern when the previous test left the database migrated and empty."""
    ready = request.config.stash.get(READY, False)
    request.config.stash[READY] = False  # until the check after this test says otherwise
    reuse = ready and rolls_back(request.node) and not MIGRATE_EVERY_TEST
    request.node.stash[REUSED] = reuse
    if not reuse:
        process_database.wipe()
    yield process_database
    process_database.dispose()


@pytest.fixture
def migrated(
    lesson: Any, lesson_dir: Any, db: Any, request: pytest.FixtureRequest, monkeypatch: Any
) -> Any:
    """The test's database at the migrations' head (committed: only the schema)."""
    if not request.node.stash[REUSED]:
        # env.py hands alembic.ini to logging.config.fileConfig: not inside a test run.
        monkeypatch.setattr(logging.config, "fileConfig", lambda *args, **kwargs: None)
        command.upgrade(Config(lesson_dir / "alembic.ini", stdout=io.StringIO()), "head")
    return lesson


def empty_at_head(engine: Engine, lesson_dir: Any) -> bool:
    """What a separate connection sees: the schema at head, and no row in any table."""
    head = ScriptDirectory.from_config(Config(lesson_dir / "alembic.ini")).get_current_head()
    try:
        with engine.connect() as other:
            versions = other.execute(text("SELECT version_num FROM alembic_version")).all()
            rows = other.execute(
                text("SELECT (SELECT count(*) FROM hero) + (SELECT count(*) FROM team)")
            ).scalar_one()
    except SQLAlchemyError:  # a table gone, say: not ready, that is all
        return False
    return versions == [(head,)] and rows == 0


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction that is rolled back at the end."""
    with engine.connect() as connection:
        outer = connection.begin()
        try:
            yield connection
        finally:
            outer.rollback()  # everything every request of the test wrote disappears here


@pytest.fixture
def test_engine(migrated: Any, db: Any) -> Engine:
    """The tests' own engine on the test's database, apart from the app's pooled one."""
    engine: Engine = db.engine(poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        # database.py's listeners: foreign keys on, as the app's connections have them; and
        # its fix: SQLAlchemy emits BEGIN itself, so SAVEPOINTs nest on SQLite.
        event.listen(engine, "connect", migrated.database.enable_sqlite_foreign_keys)
        event.listen(engine, "connect", migrated.database.sqlite_no_implicit_begin)
        event.listen(engine, "begin", migrated.database.sqlite_begin)
    return engine


@pytest.fixture
def connection(
    test_engine: Engine, lesson_dir: Any, request: pytest.FixtureRequest
) -> Iterator[Connection]:
    with rolled_back(test_engine) as connection:
        yield connection
    # Nothing was committed: the next test of the pattern can start on this database.
    request.config.stash[READY] = empty_at_head(test_engine, lesson_dir)


@contextmanager
def client_on(lesson: Any, connection: Connection) -> Iterator[Any]:
    """TestClient whose requests all run inside ``connection``'s outer transaction."""
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    def override_get_session() -> Iterator[Any]:
        # A new Session per request, made like the app's (expire_on_commit=False), all on
        # the test's one connection, each in a savepoint of the test's transaction.
        with Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session:
            yield session

    app = lesson.app
    app.dependency_overrides[lesson.main.get_session] = override_get_session
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def client(migrated: Any, connection: Connection) -> Iterator[Any]:
    with client_on(migrated, connection) as test_client:
        yield test_client


@pytest.fixture
def rollback_pattern() -> Any:
    """The two helpers above, for a test that builds the pattern by hand."""
    return rolled_back, client_on


@pytest.fixture
async def raw_client(migrated: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The harness's ``raw_client`` (a 500 comes back as a response), on the migrated app."""
    app = migrated.app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ac:
            yield ac


@pytest.fixture
def committing_client(migrated: Any) -> Iterator[Any]:
    """TestClient on the app as it really runs: each unit of work commits for real."""
    from fastapi.testclient import TestClient

    with TestClient(migrated.app) as test_client:
        yield test_client


@pytest.fixture
def rows(db: Any) -> Callable[[str], list[dict[str, Any]]]:
    """What a separate connection sees in a table: committed rows only, in id order."""
    engine = db.engine()

    def read(table: str) -> list[dict[str, Any]]:
        with engine.connect() as other:
            result = other.execute(text(f"SELECT * FROM {table} ORDER BY id"))  # noqa: S608
            return [dict(row._mapping) for row in result]

    return read


@pytest.fixture
def send_at_once(migrated: Any) -> Callable[..., list[Any]]:
    """``send_at_once([(method, url, body), ...])``: the responses, in the order sent.

    Each request runs on a worker thread of its own (at most ``workers`` at once), through
    the app as it really runs: its own session, its own pooled connection, real
    concurrency. A 500 comes back as a response. The first ``workers`` requests start
    together; the whole batch has 15 seconds.
    """
    from fastapi.testclient import TestClient

    def send(requests: list[tuple[str, str, Any]], workers: int = 10) -> list[Any]:
        go = threading.Event()
        with TestClient(migrated.app, raise_server_exceptions=False) as client:

            def one(method: str, url: str, body: Any) -> Any:
                go.wait(timeout=5)
                return client.request(method, url, json=body)

            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(one, *request) for request in requests]
                go.set()
                return [future.result(timeout=15) for future in futures]

    return send


@contextmanager
def meeting_at_first_flush(parties: int, timeout: float) -> Iterator[None]:
    from sqlmodel import Session

    barrier = threading.Barrier(parties, timeout=timeout)
    arrived: set[int] = set()

    def hold(session: Any, flush_context: Any, instances: Any) -> None:
        if threading.get_ident() in arrived:
            return  # only a request's first write waits
        arrived.add(threading.get_ident())
        # Broken: the others could not get this far, a lock made them wait, as it should.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    event.listen(Session, "before_flush", hold)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", hold)


@pytest.fixture
def meet_at_first_flush() -> Callable[..., Any]:
    """``with meet_at_first_flush(2):`` each request's first flush waits, up to ``timeout``
    seconds, until ``parties`` requests have read what they read before writing.

    Where nothing stops them, every request has read before any writes: the worst
    interleaving, every time. Where a lock keeps a request from reading (it waits for a
    row lock, or for SQLite's write lock), the others give up waiting after ``timeout``
    and carry on: the lock did its job.
    """

    def meet(parties: int, timeout: float = 0.5) -> Any:
        return meeting_at_first_flush(parties, timeout)

    return meet


@pytest.fixture
def lose_the_connection_during(lesson: Any, db: Any) -> Callable[[str], Any]:
    """``with lose_the_connection_during("UPDATE"):`` the server ends this test's connections
    just before the first statement starting so is sent, as a restart or a failover does to
    a request in flight (lesson 08). PostgreSQL only."""
    import psycopg

    assert db.backend == "postgresql", "mark the test @pytest.mark.postgres_only"
    role = make_url(db.url).username
    admin = make_url(db.admin_url).set(drivername="postgresql")
    backends = "SELECT pid FROM pg_stat_activity WHERE usename = %s"

    def terminate() -> None:
        with psycopg.connect(admin.render_as_string(hide_password=False)) as conn:
            conn.autocommit = True
            killed = {pid for (pid,) in conn.execute(backends, (role,)).fetchall()}
            conn.execute(f"SELECT pg_terminate_backend(pid) FROM ({backends}) AS b", (role,))
            deadline = time.monotonic() + 10
            while killed & {pid for (pid,) in conn.execute(backends, (role,)).fetchall()}:
                assert time.monotonic() < deadline, "pg_terminate_backend did not end them"
                time.sleep(0.02)

    @contextmanager
    def during(verb: str) -> Iterator[None]:
        dropped: list[bool] = []

        def drop(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith(verb) and not dropped:
                dropped.append(True)
                terminate()

        engine = lesson.database.engine
        event.listen(engine, "before_cursor_execute", drop)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", drop)
        assert dropped, f"no {verb} statement was sent"

    return during
