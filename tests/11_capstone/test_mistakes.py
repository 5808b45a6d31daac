"""Lesson 11's mistake: an integration one, where async code meets Alembic's sync API.

M1: `alembic.command.upgrade(cfg, "head")` called from inside a running event loop (an
async test, the app's lifespan) reaches env.py's asyncio.run(), which refuses to start a
second loop. The fix: open the connection in the running loop and hand it to env.py
through `config.attributes["connection"]`, inside `connection.run_sync`.
"""

from __future__ import annotations

import gc

import pytest
from alembic import command

pytestmark = pytest.mark.anyio


async def test_m1_command_upgrade_inside_a_running_loop_raises(migrations):
    # asyncio.run() refuses before awaiting env.py's coroutine: Python then warns that the
    # coroutine was never awaited, when it is collected. Collect it here, and assert both.
    with pytest.warns(RuntimeWarning, match="coroutine 'run_async_migrations' was never awaited"):
        with pytest.raises(
            RuntimeError, match=r"^asyncio\.run\(\) cannot be called from a running event loop$"
        ):
            command.upgrade(migrations.cfg, "head")
        gc.collect()
    assert migrations.current() == ()  # nothing was migrated


async def test_m1_the_connection_passed_in_config_attributes_works(migrations, lesson):
    db = lesson.module("app.core.db")
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(db.alembic_config(sync), "head"))
    finally:
        await db.engine.dispose()
    assert migrations.current() == (migrations.head,)


def test_m1_outside_a_loop_env_py_starts_its_own(migrations):
    # The command line's path: no loop is running, so env.py's asyncio.run() is right.
    command.upgrade(migrations.cfg, "head")
    assert migrations.current() == (migrations.head,)
