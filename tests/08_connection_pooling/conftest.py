"""Lesson 08 helpers: pool settings through the environment, pool logs, server backends.

Every test imports the lesson with a small pool (2 connections, no overflow, 0.5 s
timeout), so exhausting it is cheap and the timeout message is the README's. A test
changes any setting with ``@pytest.mark.lesson_env(POOL_PRE_PING="false", ...)``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

# The lesson's settings, all of them, so nothing leaks in from the shell that runs pytest.
POOL_ENV = {
    "POOL_CLASS": "QueuePool",
    "POOL_SIZE": "2",
    "MAX_OVERFLOW": "0",
    "POOL_TIMEOUT": "0.5",
    "POOL_PRE_PING": "true",
    "POOL_RECYCLE": "-1",
}
POOL_LOGGER = "uvicorn.error.pool"


@pytest.fixture
def lesson_env_defaults() -> dict[str, str]:
    return POOL_ENV


@pytest.fixture(autouse=True)
def capture_pool_log(caplog: pytest.LogCaptureFixture) -> None:
    """Record the lesson's pool log from the start, startup included, down to DEBUG."""
    caplog.set_level(logging.DEBUG, logger=POOL_LOGGER)


@pytest.fixture
def pool_log(caplog: pytest.LogCaptureFixture) -> Callable[[str], list[str]]:
    """``pool_log("pool connect")``: the lesson's pool log lines starting with that text.

    Setup's lines included: the ``client`` fixture runs the app's startup before the test.
    """

    def lines(prefix: str = "") -> list[str]:
        records = caplog.get_records("setup") + caplog.get_records("call")
        return [
            r.getMessage()
            for r in records
            if r.name == POOL_LOGGER and r.getMessage().startswith(prefix)
        ]

    return lines


@pytest.fixture
def hold(lesson: Any) -> Iterator[Callable[[int], list[Any]]]:
    """``hold(2)``: check 2 connections out of the lesson's pool and keep them until the end."""
    held: list[Any] = []

    def _hold(n: int) -> list[Any]:
        conns = [lesson.database.engine.connect() for _ in range(n)]
        held.extend(conns)
        return conns

    yield _hold
    for conn in held:
        conn.close()


class Server:
    """The test's own PostgreSQL role, seen from a superuser connection.

    Everything here touches this role only: its backends, its login, its connection limit.
    """

    def __init__(self, db: Any) -> None:
        self.role = make_url(db.url).username
        self.dsn = make_url(db.admin_url).set(drivername="postgresql")

    def _run(self, statement: Any, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.dsn.render_as_string(hide_password=False)) as conn:
            conn.autocommit = True
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def backends(self) -> set[int]:
        """Process ids of the server backends this test's role has open."""
        rows = self._run("SELECT pid FROM pg_stat_activity WHERE usename = %s", self.role)
        return {pid for (pid,) in rows}

    def terminate_backends(self) -> set[int]:
        """What a server restart or a failover does: close every connection of this role."""
        killed = self.backends()
        self._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            self.role,
        )
        deadline = time.monotonic() + 10
        while self.backends() & killed:
            assert time.monotonic() < deadline, "pg_terminate_backend did not end the backends"
            time.sleep(0.02)
        return killed

    def alter_role(self, option: str) -> None:
        """``alter_role("NOLOGIN")``, ``alter_role("CONNECTION LIMIT 2")``: on this role only."""
        from psycopg import sql

        assert re.fullmatch(r"(NO)?LOGIN|CONNECTION LIMIT -?\d+", option), option
        self._run(sql.SQL("ALTER ROLE {} " + option).format(sql.Identifier(self.role)))


@pytest.fixture
def server(db: Any) -> Server:
    assert db.backend == "postgresql", "mark the test @pytest.mark.postgres_only"
    return Server(db)
