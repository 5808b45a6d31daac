"""Scratch PostgreSQL databases: a role of its own owning one schema, nothing else.

The test harness gives each pytest process one (and wipes it before each test); `nox -s
fuzz` gives each served lesson one. The role's `search_path` is pinned to its schema, so
a lesson's unqualified tables land there whatever driver it uses, and nothing in `public`
can leak in. Dropping it ends the role's connections first.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import URL, make_url


def libpq(url: Any) -> str:
    """A SQLAlchemy URL (or its text) as the libpq connection string psycopg takes."""
    url = make_url(str(url)) if isinstance(url, str) else url
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))


def admin_url(url: str) -> str:
    """The server URL with the psycopg driver, for the admin connection."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create(admin: str, prefix: str = "wb") -> str:
    """Create a role and its schema; return their (shared) name."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(name)
    password = make_url(admin).password
    with psycopg.connect(libpq(admin), autocommit=True) as conn:
        if password:
            literal = sql.Literal(password)
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident, literal))
        else:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident, ident))
        # Only its own schema: tables someone left in `public` must not leak in.
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(ident, ident))
    return name


def urls(admin: str, name: str) -> tuple[str, str]:
    """(sync psycopg URL, async asyncpg URL) that log in as the role."""
    return driver_pair(make_url(admin).set(username=name))


def driver_pair(url: URL) -> tuple[str, str]:
    """The URL for both drivers: (sync psycopg, async asyncpg)."""
    return (
        url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
        url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
    )


def _end_connections(conn: Any, name: str) -> None:
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
    )


def wipe(admin: str, name: str) -> None:
    """Empty the schema: its role's connections ended, the schema dropped and created."""
    import psycopg
    from psycopg import sql

    ident = sql.Identifier(name)
    with psycopg.connect(libpq(admin), autocommit=True) as conn:
        _end_connections(conn, name)  # a leaked one would hold locks the DROP waits for
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
        conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident, ident))


def drop(admin: str, name: str) -> None:
    """Drop the schema and the role, after ending the role's connections."""
    import psycopg
    from psycopg import sql

    ident = sql.Identifier(name)
    with psycopg.connect(libpq(admin), autocommit=True) as conn:
        _end_connections(conn, name)
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def lesson_database(server: str, number: str) -> tuple[str, str]:
    """A database of the lesson's own, `workbook_NN`, on the server of ``server`` (made
    when missing): (sync URL, async URL). One per lesson, because `create_all` never
    alters a table that exists, and every lesson names its hero table `hero`."""
    import psycopg
    from psycopg import sql

    name = f"workbook_{number}"
    with psycopg.connect(libpq(admin_url(server)), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return driver_pair(make_url(server).set(database=name))


if __name__ == "__main__":  # `python tools/scratch_db.py lesson SERVER NN` (nox -s serve)
    import sys

    if len(sys.argv) != 4 or sys.argv[1] != "lesson":
        sys.exit("usage: scratch_db.py lesson SERVER_URL NN")
    print("\n".join(lesson_database(sys.argv[2], sys.argv[3])))
