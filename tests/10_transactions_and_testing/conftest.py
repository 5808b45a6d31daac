"""Lesson 10 fixtures: the rollback-per-test pattern, and the committing database beside it.

Every test starts from an empty database that the lesson's migrations bring to head
(``alembic upgrade head``, as lesson 09's tests do). Then:

* ``client`` (most tests): the app runs inside ONE connection and ONE outer transaction
  that is rolled back after the test. Each request gets its own Session bound to that
  connection with ``join_transaction_mode="create_savepoint"``: the unit of work's
  begin/commit/rollback become SAVEPOINT / RELEASE / ROLLBACK TO inside the outer
  transaction, and ``app.dependency_overrides[get_session]`` hands those sessions to
  the routes. Nothing any test writes is ever committed.
* ``committing_client``: the app as it runs for real, committing on its own pooled
  connections. For what the rollback pattern cannot show: two connections seeing each
  other's commits, locks, real concurrency.
"""

from __future__ import annotations

import io
import logging.config
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool


@pytest.fixture
def migrated(lesson: Any, lesson_dir: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test's database at the migrations' head (committed: only the schema)."""
    # env.py hands alembic.ini to logging.config.fileConfig: not inside a test run.
    monkeypatch.setattr(logging.config, "fileConfig", lambda *args, **kwargs: None)
    command.upgrade(Config(lesson_dir / "alembic.ini", stdout=io.StringIO()), "head")
    return lesson


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
        # database.py's fix: SQLAlchemy emits BEGIN itself, so SAVEPOINTs nest on SQLite.
        event.listen(engine, "connect", migrated.database.sqlite_no_implicit_begin)
        event.listen(engine, "begin", migrated.database.sqlite_begin)
    return engine


@pytest.fixture
def connection(test_engine: Engine) -> Iterator[Connection]:
    with rolled_back(test_engine) as connection:
        yield connection


@contextmanager
def client_on(lesson: Any, connection: Connection) -> Iterator[Any]:
    """TestClient whose requests all run inside ``connection``'s outer transaction."""
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    def override_get_session() -> Iterator[Any]:
        # A new Session per request, as in production, all on the test's one connection.
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
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
