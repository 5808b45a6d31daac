"""Lesson 08 exercises. Each test fails until you solve it in lessons/08_connection_pooling.

The tests import the lesson with POOL_SIZE=2, MAX_OVERFLOW=0, POOL_TIMEOUT=0.5, and look at
the pool itself: its own counters, the connections it lends, and its log.
"""

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

# ---------------------------------------------------------------- exercise 1: GET /pool

POOL_STATS = "pool_stats in main.py (GET /pool)"
# Each counter of GET /pool, the QueuePool method it reports, and what it means.
COUNTERS = {
    "checked_in": ("checkedin", "connections open and waiting in the pool"),
    "checked_out": ("checkedout", "connections lent out right now"),
    "overflow": (
        "overflow",
        "connections open minus pool_size: negative until the pool has opened pool_size of them",
    ),
}


def check_counters(client, pool, expected):
    """GET /pool's counters against the pool's own methods, and against the expected numbers."""
    stats = client.get("/pool").json()
    missing = [name for name in COUNTERS if name not in stats]
    assert not missing, (
        f"GET /pool has no {', '.join(missing)}: add them to the stats of a QueuePool, in "
        f"{POOL_STATS}"
    )
    problems = [
        f"{name} is {stats[name]!r}, the pool's {method}() says {getattr(pool, method)()} "
        f"({meaning})"
        for name, (method, meaning) in COUNTERS.items()
        if stats[name] != getattr(pool, method)()
    ]
    assert not problems, (
        "GET /pool should report the pool's own counters: " + "; ".join(problems) + ". "
        f"Read each counter from the pool, in {POOL_STATS}"
    )
    got = {name: stats[name] for name in expected}
    assert got == expected, f"expected {expected}, got {got}. Look at {POOL_STATS}"


@pytest.mark.exercise(1)
def test_exercise_1_pool_counts_the_connection_opened_at_startup(client, lesson):
    # create_all() at startup opened one connection, and gave it back to the pool.
    expected = {"checked_in": 1, "checked_out": 0, "overflow": -1}
    check_counters(client, lesson.database.engine.pool, expected)


@pytest.mark.exercise(1)
def test_exercise_1_pool_counts_connections_as_they_are_lent(client, lesson, hold):
    pool = lesson.database.engine.pool
    hold(1)
    check_counters(client, pool, {"checked_in": 0, "checked_out": 1, "overflow": -1})
    hold(1)
    check_counters(client, pool, {"checked_in": 0, "checked_out": 2, "overflow": 0})


@pytest.mark.exercise(1)
@pytest.mark.lesson_env(MAX_OVERFLOW="1")
def test_exercise_1_pool_counts_an_overflow_connection_until_it_is_closed(client, lesson, hold):
    pool = lesson.database.engine.pool
    held = hold(3)  # pool_size 2, plus the one overflow connection
    check_counters(client, pool, {"checked_in": 0, "checked_out": 3, "overflow": 1})
    for conn in held:
        conn.close()  # the overflow connection is closed, not kept
    check_counters(client, pool, {"checked_in": 2, "checked_out": 0, "overflow": 0})


@pytest.mark.exercise(1)
def test_exercise_1_the_counters_are_json_numbers(client):
    stats = client.get("/pool").json()
    kinds = {name: type(stats.get(name)).__name__ for name in COUNTERS}
    assert kinds == dict.fromkeys(COUNTERS, "int"), (
        f"checked_in, checked_out and overflow should be JSON numbers, got {kinds}: store the "
        f"ints the pool's methods return, in {POOL_STATS}"
    )


# ---------------------------------------------------------------- exercise 2: POOL_RECYCLE

RECYCLE = "pool_options in database.py (POOL_RECYCLE)"


@pytest.mark.exercise(2)
def test_exercise_2_pool_recycle_defaults_to_never(lesson, db, monkeypatch):
    monkeypatch.delenv("POOL_RECYCLE")
    recycle = lesson.database.pool_options(make_url(db.url)).get("pool_recycle", "nothing")
    assert type(recycle) is float, (
        f"without POOL_RECYCLE, pool_options() gives pool_recycle {recycle!r}: pool_recycle "
        "should be a float, a number of seconds, read the way POOL_TIMEOUT is read. Look at "
        f"{RECYCLE}"
    )
    assert recycle == -1, (
        f"without POOL_RECYCLE, pool_options() gives pool_recycle {recycle}: it should be -1 "
        "(never recycle, SQLAlchemy's default) when the variable is not set; 0 would replace "
        f"the connection at every checkout. Look at {RECYCLE}"
    )


@pytest.mark.exercise(2)
def test_exercise_2_pool_recycle_takes_seconds_with_a_fraction_like_pool_timeout(
    lesson, db, monkeypatch
):
    monkeypatch.setenv("POOL_RECYCLE", "0.5")
    monkeypatch.setenv("POOL_TIMEOUT", "0.5")
    try:
        options = lesson.database.pool_options(make_url(db.url))
    except ValueError as error:
        pytest.fail(
            f"POOL_RECYCLE=0.5 stopped pool_options() with ValueError: {error}, while "
            "POOL_TIMEOUT=0.5 beside it is accepted: both are seconds, and may have a "
            f"fraction. Read POOL_RECYCLE the way POOL_TIMEOUT is read. Look at {RECYCLE}",
            pytrace=False,
        )
    got = (options.get("pool_recycle"), options["pool_timeout"])
    assert got == (0.5, 0.5), (
        f"with POOL_RECYCLE=0.5 and POOL_TIMEOUT=0.5, pool_options() gives pool_recycle and "
        f"pool_timeout {got}: read POOL_RECYCLE the way POOL_TIMEOUT is read. Look at {RECYCLE}"
    )


@pytest.mark.exercise(2)
@pytest.mark.lesson_env(POOL_RECYCLE="1")
def test_exercise_2_pool_recycle_replaces_a_connection_older_than_it(client, pool_log):
    assert len(pool_log("pool connect")) == 1  # the startup's connection, now in the pool
    time.sleep(1.2)  # it is now older than POOL_RECYCLE=1 second
    assert client.get("/heroes/").status_code == 200
    opened = pool_log("pool connect")
    assert len(opened) == 2, (
        "with POOL_RECYCLE=1 the pool should close a connection older than 1 second when it "
        "is checked out, and open a new one (a second 'pool connect' in the pool's log); "
        f"the log has {opened}. Look at {RECYCLE}"
    )
    assert client.get("/heroes/").status_code == 200
    assert len(pool_log("pool connect")) == 2, (
        "a connection younger than POOL_RECYCLE seconds is reused, not replaced"
    )


# ---------------------------------------------------------------- exercise 3: pre-ping

PRE_PING = "pool_options in database.py (POOL_PRE_PING)"


def drop_pooled_connections(engine, db, request):
    """Kill every connection waiting in the pool, behind the pool's back.

    On PostgreSQL the server ends them (pg_terminate_backend, what a restart or a failover
    does); on SQLite, which has no server, the driver connections are closed under the pool.
    Either way the pool still holds them and believes they are fine.
    """
    held = [engine.connect() for _ in range(engine.pool.checkedin())]
    drivers = [conn.connection.dbapi_connection for conn in held]
    for conn in held:
        conn.close()  # back to the pool, alive
    if db.backend == "sqlite":
        for driver in drivers:
            driver.close()
    else:
        request.getfixturevalue("server").terminate_backends()
    return len(drivers)


@pytest.mark.exercise(3)
def test_exercise_3_by_default_a_connection_that_died_in_the_pool_costs_no_request(
    reimport, db, monkeypatch, caplog, request
):
    monkeypatch.delenv("POOL_PRE_PING")  # the lesson's default, whatever it is
    main = reimport("main")
    with TestClient(main.app) as client:
        hero = {"name": "Deadpond", "secret_name": "Dive Wilson"}
        assert client.post("/heroes/", json=hero).status_code == 200
        assert drop_pooled_connections(main.engine, db, request) >= 1
        response = client.get("/heroes/")
    if response.status_code == 503:
        pytest.fail(
            "GET /heroes/ failed on a connection that died in the pool, with the default "
            f"settings: 503 {response.json()}, the lost-connection handler's answer. That is "
            "mistake M3: by default the pool should find a dead connection before it lends "
            f"it. Look at {PRE_PING}",
            pytrace=False,
        )
    assert response.status_code == 200, response.text
    assert [hero["name"] for hero in response.json()] == ["Deadpond"]
    log = [r.getMessage() for r in caplog.records if r.name == "uvicorn.error.pool"]
    assert any(line.startswith("pool invalidate") for line in log), (
        "the pool should have found the dead connection and thrown it away ('pool "
        f"invalidate' in its log). Look at {PRE_PING}"
    )


@pytest.mark.exercise(3)
def test_exercise_3_pool_pre_ping_reads_common_spellings(lesson, db, monkeypatch):
    read = {}
    for value in ("true", "1", "yes", "on", "TRUE", "false", "0", "no", "off", "NO", "False"):
        monkeypatch.setenv("POOL_PRE_PING", value)
        read[value] = lesson.database.pool_options(make_url(db.url)).get("pool_pre_ping")
    offs = ("false", "0", "no", "off", "NO", "False")
    problems = [f"POOL_PRE_PING={v} should turn pre-ping off" for v in offs if read[v] is not False]
    problems += [
        f"POOL_PRE_PING={v} should leave pre-ping on" for v in read if v not in offs and not read[v]
    ]
    assert not problems, (
        f"pool_options() gives pool_pre_ping {read}: " + "; ".join(problems) + ". "
        "false, 0, no and off, in any case, turn it off; anything else leaves it on (the "
        f"README's table). Look at {PRE_PING}"
    )


@pytest.mark.exercise(3)
@pytest.mark.postgres_only
def test_exercise_3_on_postgresql_killed_connections_are_replaced_before_the_request(
    client, lesson, hold, server, create_hero, pool_log
):
    create_hero(client, "Deadpond")
    for conn in hold(2):
        conn.close()  # both connections now wait in the pool
    killed = server.terminate_backends()  # a restart, a failover, an idle timeout...
    assert len(killed) == 2
    response = client.get("/heroes/")
    if response.status_code == 503:
        pytest.fail(
            "GET /heroes/ failed after the server ended the pooled connections: 503 "
            f"{response.json()}, the lost-connection handler's answer. That is mistake M3: "
            f"the pool should find a dead connection before it lends it. Look at {PRE_PING}",
            pytrace=False,
        )
    assert (response.status_code, [h["name"] for h in response.json()]) == (200, ["Deadpond"])
    assert not server.backends() & killed, "the request should run on a new server backend"
    invalidated = pool_log("pool invalidate")
    assert len(invalidated) == 1 and invalidated[0].endswith("InvalidatePoolError()"), (
        "the check at checkout should find the first dead connection and discard the pool's "
        f"connections with it, once ('pool invalidate' in its log): {invalidated}. "
        f"Look at {PRE_PING}"
    )
