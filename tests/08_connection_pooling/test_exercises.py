"""Lesson 08 exercises. Each test fails until you solve it in lessons/08_connection_pooling.

The tests import the lesson with POOL_SIZE=2, MAX_OVERFLOW=0, POOL_TIMEOUT=0.5.
"""

import time

import pytest
from sqlalchemy.engine import make_url

COUNTERS = ("size", "checked_in", "checked_out", "overflow")


def pool_counters(client):
    stats = client.get("/pool").json()
    missing = [name for name in COUNTERS if name not in stats]
    assert not missing, (
        f"GET /pool has no {', '.join(missing)}: in main.py's pool_stats, inside the "
        "isinstance(pool, QueuePool) block, add stats['checked_in'] = pool.checkedin(), "
        "stats['checked_out'] = pool.checkedout() and stats['overflow'] = pool.overflow()"
    )
    return {name: stats[name] for name in COUNTERS}


@pytest.mark.exercise(1)
def test_exercise_1_pool_counts_the_connection_opened_at_startup(client):
    assert pool_counters(client) == {
        "size": 2,
        "checked_in": 1,
        "checked_out": 0,
        "overflow": -1,
    }, (
        "after startup the pool holds the one connection create_all() used: checked_in 1, "
        "checked_out 0, and overflow -1 (1 connection open, pool_size 2). Use the pool's "
        "methods checkedin(), checkedout() and overflow(), not numbers of your own"
    )


@pytest.mark.exercise(1)
def test_exercise_1_pool_counts_connections_as_they_are_lent(client, hold):
    hold(1)
    assert pool_counters(client) == {
        "size": 2,
        "checked_in": 0,
        "checked_out": 1,
        "overflow": -1,
    }, "with one connection lent out, checked_out is 1 and none waits in the pool"
    hold(1)
    counters = pool_counters(client)
    assert (counters["checked_out"], counters["overflow"]) == (2, 0), (
        "with both connections lent out, checked_out is 2 and overflow 0: the pool has "
        "opened pool_size connections"
    )
    assert all(type(counters[name]) is int for name in COUNTERS), (
        "the counters must be JSON numbers: store the ints the pool's methods return"
    )


@pytest.mark.exercise(2)
def test_exercise_2_pool_recycle_defaults_to_never(lesson, db, monkeypatch):
    monkeypatch.delenv("POOL_RECYCLE")
    options = lesson.database.pool_options(make_url(db.url))
    assert options.get("pool_recycle") == -1, (
        "pool_options() should set options['pool_recycle'] from POOL_RECYCLE, and to -1 "
        "(never recycle, SQLAlchemy's default) when the variable is not set: "
        f"got {options.get('pool_recycle', 'no pool_recycle key')!r}"
    )


@pytest.mark.exercise(2)
@pytest.mark.lesson_env(POOL_RECYCLE="1")
def test_exercise_2_pool_recycle_replaces_a_connection_older_than_it(client, pool_log):
    opened = len(pool_log("pool connect"))  # the startup's connection, now in the pool
    time.sleep(1.2)  # it is now older than POOL_RECYCLE=1 second
    assert client.get("/heroes/").status_code == 200
    assert len(pool_log("pool connect")) == opened + 1, (
        "with POOL_RECYCLE=1 the pool should close a connection older than 1 second at "
        "checkout and open a new one (a new 'pool connect' in the log): read POOL_RECYCLE "
        "in database.py's pool_options and pass it as options['pool_recycle'] (an int)"
    )
    assert client.get("/heroes/").status_code == 200
    assert len(pool_log("pool connect")) == opened + 1, (
        "a connection younger than POOL_RECYCLE seconds is reused, not replaced"
    )
