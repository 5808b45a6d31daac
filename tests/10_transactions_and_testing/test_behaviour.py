"""Lesson 10: what the README says about transactions, one claim per test.

Many tests use ``client``: every request runs inside the test's outer transaction, which
is rolled back afterwards (the pattern this lesson teaches, built in conftest.py). Tests
about commits that other connections see, locks and concurrency use
``committing_client`` and the ``rows`` fixture (a separate connection) instead.
"""

import random
import shutil
import threading
import time
from collections import Counter
from contextlib import contextmanager

import jsonschema
import pytest
from http_checks import declared_statuses as declared
from http_checks import json_with as raw_json
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError


def make_team(client, name, headquarters="HQ"):
    response = client.post("/teams/", json={"name": name, "headquarters": headquarters})
    assert response.status_code == 200, response.text
    return response.json()


def team_ids(rows):
    return {hero["name"]: hero["team_id"] for hero in rows("hero")}


# ---------------------------------------------------------------- the rollback pattern


def test_the_rollback_fixture_leaves_the_database_empty(
    migrated, test_engine, rows, create_hero, rollback_pattern
):
    # The conftest's pattern, step by step: requests commit, yet nothing stays.
    rolled_back, client_on = rollback_pattern
    with rolled_back(test_engine) as connection, client_on(migrated, connection) as client:
        make_team(client, "Preventers")
        create_hero(client, "Deadpond", "Dive Wilson")
        assert [h["name"] for h in client.get("/heroes/").json()] == ["Deadpond"]
        # Another connection never sees the test's rows: they were never committed.
        assert rows("hero") == []
    assert rows("hero") == []
    assert rows("team") == []


def test_each_request_gets_its_own_session_on_the_tests_connection(client, create_hero):
    hero = create_hero(client, "Deadpond", "Dive Wilson")
    # A second request (a second Session) sees what the first "committed".
    assert client.get(f"/heroes/{hero['id']}").json()["name"] == "Deadpond"


def test_a_failed_request_rolls_back_to_its_savepoint_and_the_next_one_works(client, create_hero):
    create_hero(client, "Deadpond", "Dive Wilson")
    taken = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Someone Else"})
    assert taken.status_code == 409
    assert taken.json() == {"detail": "A hero named 'Deadpond' already exists"}
    create_hero(client, "Rusty-Man", "Tommy Sharp")
    assert [h["name"] for h in client.get("/heroes/").json()] == ["Deadpond", "Rusty-Man"]


def test_a_rolled_back_insert_keeps_its_id_on_sqlite_and_uses_it_up_on_postgresql(
    migrated, test_engine, create_hero, rollback_pattern, db
):
    # Why the pattern's tests never assume an id: a sequence is not rolled back.
    rolled_back, client_on = rollback_pattern
    ids = []
    for _ in range(2):
        with rolled_back(test_engine) as connection, client_on(migrated, connection) as client:
            ids.append(create_hero(client, "Deadpond", "Dive Wilson")["id"])
    assert ids[1] == (ids[0] + 1 if db.backend == "postgresql" else ids[0]), ids


# ---------------------------------------------------------------- unit of work


def test_a_committed_request_is_visible_to_other_connections(committing_client, rows):
    make_team(committing_client, "Preventers", "Sharp Tower")
    assert [t["name"] for t in rows("team")] == ["Preventers"]


def test_a_transfer_moves_every_hero_in_one_transaction(client, create_hero):
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    ids = [create_hero(client, n, "x", team_id=a["id"])["id"] for n in ("Deadpond", "Tarantula")]
    response = client.post(
        f"/teams/{a['id']}/transfer", json={"hero_ids": ids, "to_team_id": b["id"]}
    )
    assert response.status_code == 200, response.text
    assert [h["team_id"] for h in response.json()] == [b["id"], b["id"]]
    assert [h["id"] for h in client.get(f"/teams/{b['id']}/heroes").json()] == ids
    assert client.get(f"/teams/{a['id']}/heroes").json() == []


def test_a_transfer_that_fails_midway_changes_nothing(committing_client, rows, create_hero):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    first = create_hero(client, "Deadpond", "x", team_id=a["id"])
    outsider = create_hero(client, "Tarantula", "x", team_id=b["id"])  # not in team a
    response = client.post(
        f"/teams/{a['id']}/transfer",
        json={"hero_ids": [first["id"], outsider["id"]], "to_team_id": b["id"]},
    )
    assert response.status_code == 422
    message = f"Hero {outsider['id']} is not in team {a['id']}"
    error = {"type": "value_error", "loc": ["body", "hero_ids", 1], "msg": message}
    assert response.json() == {"detail": [error]}
    # Deadpond's move ran (an UPDATE before the failure), and was rolled back with the rest.
    assert team_ids(rows) == {"Deadpond": a["id"], "Tarantula": b["id"]}
    assert [h["version_id"] for h in rows("hero")] == [1, 1]


def test_the_failed_transfer_really_ran_an_update_before_failing(
    committing_client, migrated, count_statements, rows, create_hero
):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    first = create_hero(client, "Deadpond", "x", team_id=a["id"])
    with count_statements(migrated.database.engine) as log:
        response = client.post(
            f"/teams/{a['id']}/transfer",
            json={"hero_ids": [first["id"], 999], "to_team_id": b["id"]},
        )
    assert response.status_code == 422
    # The first hero's UPDATE reached the database; the rollback took it back.
    assert any(s.upper().startswith("UPDATE HERO SET TEAM_ID") for s in log.statements), log
    assert team_ids(rows) == {"Deadpond": a["id"]}


# ------------------------------------------------ the answer: what the transaction wrote


def a_transfer_of_five_heroes(client, create_hero):
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    ids = [create_hero(client, f"Hero {n}", "x", team_id=a["id"])["id"] for n in range(5)]
    return transfer(a, b, ids)


def test_with_the_default_expire_on_commit_a_transfer_reloads_each_hero_after_its_commit(
    migrated, committing_client, create_hero, statements_after_commit
):
    from sqlmodel import Session

    engine = migrated.database.engine
    method, url, body = a_transfer_of_five_heroes(committing_client, create_hero)

    def default_session():
        with Session(engine) as session:  # expire_on_commit left at its default, True
            yield session

    migrated.app.dependency_overrides[migrated.main.get_session] = default_session
    try:
        with statements_after_commit(engine) as after:
            response = committing_client.request(method, url, json=body)
    finally:
        migrated.app.dependency_overrides.clear()
    assert response.status_code == 200, response.text
    # The COMMIT expired the 5 heroes; building the answer read each one again, one by one.
    selects = [s for s in after if s.startswith("SELECT")]
    assert len(selects) == 5 and all("FROM hero WHERE hero.id = " in s for s in selects), after


def a_write(route, client, create_hero):
    """(method, url, body) of one request to each route that writes and answers rows."""
    if route == "POST /heroes/":
        return "POST", "/heroes/", {"name": "Rusty-Man", "secret_name": "Tommy Sharp"}
    if route == "PATCH /heroes/{id}":
        hero = create_hero(client, "Deadpond", "Dive Wilson")
        return "PATCH", f"/heroes/{hero['id']}", {"age": 30, "version_id": 1}
    if route == "POST /heroes/batch":
        return "POST", "/heroes/batch", [{"name": "Rusty-Man", "secret_name": "Tommy Sharp"}]
    if route == "POST /teams/":
        return "POST", "/teams/", {"name": "Z-Force", "headquarters": "HQ"}
    if route == "PATCH /teams/{id}":
        return "PATCH", f"/teams/{make_team(client, 'Preventers')['id']}", {"name": "Z-Force"}
    assert route == "POST /teams/{id}/transfer"
    return a_transfer_of_five_heroes(client, create_hero)


@pytest.mark.parametrize(
    "route",
    [
        "POST /heroes/",
        "PATCH /heroes/{id}",
        "POST /heroes/batch",
        "POST /teams/",
        "PATCH /teams/{id}",
        "POST /teams/{id}/transfer",
    ],
)
def test_a_write_route_sends_no_statement_after_its_commit(
    route, migrated, committing_client, create_hero, statements_after_commit
):
    method, url, body = a_write(route, committing_client, create_hero)
    with statements_after_commit(migrated.database.engine) as after:
        response = committing_client.request(method, url, json=body)
    assert response.status_code == 200, response.text
    assert after == []  # expire_on_commit=False: the answer is built from what was written


def delete_hero_through_another_connection(db, hero_id):
    with db.engine().begin() as theirs:
        theirs.execute(text("DELETE FROM hero WHERE id = :id"), {"id": hero_id})


def test_a_hero_deleted_right_after_a_patch_commits_gets_the_patchs_answer(
    migrated, committing_client, create_hero, db, rows, after_commit
):
    # Another request deletes the hero between the PATCH's COMMIT and its answer.
    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")
    done = after_commit(lambda: delete_hero_through_another_connection(db, hero["id"]))
    response = committing_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert done, "PATCH /heroes/{id} never committed"
    # The PATCH happened, then the DELETE: the answer is what the PATCH wrote.
    assert response.status_code == 200, response.text
    assert (response.json()["age"], response.json()["version_id"]) == (30, 2)
    assert rows("hero") == []


def test_with_the_default_expire_on_commit_a_hero_deleted_right_after_a_patch_is_a_500(
    migrated, committing_client, create_hero, db, rows, after_commit
):
    from fastapi.exceptions import ResponseValidationError
    from sqlmodel import Session

    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")

    def default_session():
        with Session(migrated.database.engine) as session:  # expire_on_commit=True
            yield session

    migrated.app.dependency_overrides[migrated.main.get_session] = default_session
    done = after_commit(lambda: delete_hero_through_another_connection(db, hero["id"]))
    try:
        # The answer reloads the expired hero after the COMMIT: its row is gone.
        with pytest.raises(ResponseValidationError, match="ObjectDeletedError: Instance"):
            committing_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    finally:
        migrated.app.dependency_overrides.clear()
    assert done, "PATCH /heroes/{id} never committed"
    assert rows("hero") == []


# ---------------------------------------------------------------- a row deleted meanwhile


@contextmanager
def deleting_before_the_update(engine, db, table, row_id):
    """Another request deletes the row, and commits, just before the app's UPDATE of it.
    On SQLite it waits 0.2 seconds for the write lock. Yields what happened to it:
    ``["deleted"]``, or the error it got."""
    done = []

    def another_request(conn, cursor, statement, *args):
        if statement.startswith(f"UPDATE {table} ") and not done:
            other = db.engine(connect_args={"timeout": 0.2} if db.backend == "sqlite" else {})
            try:
                with other.begin() as theirs:
                    theirs.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id})
                done.append("deleted")
            except OperationalError as exc:
                done.append(str(exc.orig))

    event.listen(engine, "before_cursor_execute", another_request)
    try:
        yield done
    finally:
        event.remove(engine, "before_cursor_execute", another_request)


@pytest.mark.postgres_only
def test_a_patch_of_a_hero_deleted_before_its_update_is_409(
    migrated, committing_client, create_hero, db, rows
):
    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")
    with deleting_before_the_update(migrated.database.engine, db, "hero", hero["id"]) as done:
        response = committing_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert done == ["deleted"]
    # UPDATE ... WHERE hero.id = ? AND hero.version_id = ? matched no row: StaleDataError.
    assert (response.status_code, response.json()) == (409, {"detail": migrated.main.STALE_HERO})
    assert rows("hero") == []


@pytest.mark.postgres_only
def test_a_patch_of_a_team_deleted_before_its_update_is_409(migrated, committing_client, db, rows):
    team = make_team(committing_client, "Preventers")
    with deleting_before_the_update(migrated.database.engine, db, "team", team["id"]) as done:
        response = committing_client.patch(f"/teams/{team['id']}", json={"name": "Z-Force"})
    assert done == ["deleted"]
    # The team has no version column, but its UPDATE matched no row all the same.
    assert response.status_code == 409
    assert response.json() == {"detail": migrated.main.CHANGED_MEANWHILE}
    assert rows("team") == []


@pytest.mark.sqlite_only
def test_on_sqlite_no_delete_comes_between_a_patchs_read_and_its_update(
    migrated, committing_client, create_hero, db, rows
):
    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")
    with deleting_before_the_update(migrated.database.engine, db, "hero", hero["id"]) as done:
        response = committing_client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    # The unit of work's BEGIN IMMEDIATE holds the write lock from before the read (M4).
    assert done == ["database is locked"]
    assert response.status_code == 200, response.text
    assert [(h["age"], h["version_id"]) for h in rows("hero")] == [(30, 2)]


# ---------------------------------------------------------------- savepoints


def test_a_batch_keeps_the_good_heroes_and_rolls_back_the_bad_one(committing_client, rows):
    client = committing_client
    client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson"})
    batch = [
        {"name": "Rusty-Man", "secret_name": "Tommy Sharp"},
        {"name": "Deadpond", "secret_name": "Taken"},  # unique name: IntegrityError
        {"name": "Spider-Boy", "secret_name": "Pedro Parqueador"},
        {"name": "Nobody", "secret_name": "x", "team_id": 42},  # no such team
    ]
    response = client.post("/heroes/batch", json=batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [h["name"] for h in body["created"]] == ["Rusty-Man", "Spider-Boy"]
    assert body["failed"] == ["Deadpond", "Nobody"]
    assert [h["name"] for h in rows("hero")] == ["Deadpond", "Rusty-Man", "Spider-Boy"]
    assert rows("hero")[0]["secret_name"] == "Dive Wilson"


def test_a_savepoint_rolls_back_its_part_and_keeps_the_outer_work(migrated, rows):
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    Hero = migrated.models.Hero
    with Session(migrated.database.engine) as session, session.begin():
        session.add(Hero(name="Deadpond", secret_name="Dive Wilson"))
        session.flush()  # the outer work: INSERTed, not committed
        with pytest.raises(IntegrityError), session.begin_nested():  # SAVEPOINT
            session.add(Hero(name="Deadpond", secret_name="Someone Else"))
            session.flush()  # fails: ROLLBACK TO SAVEPOINT undoes this part only
        session.add(Hero(name="Rusty-Man", secret_name="Tommy Sharp"))
    assert [(h["name"], h["secret_name"]) for h in rows("hero")] == [
        ("Deadpond", "Dive Wilson"),
        ("Rusty-Man", "Tommy Sharp"),
    ]


def test_rolling_back_the_outer_transaction_undoes_its_released_savepoints(migrated, rows):
    from sqlmodel import Session

    Hero = migrated.models.Hero
    with Session(migrated.database.engine) as session, session.begin():
        with session.begin_nested():
            session.add(Hero(name="Deadpond", secret_name="Dive Wilson"))
        # RELEASE SAVEPOINT is not a commit: the outer rollback still undoes it.
        session.rollback()
    assert rows("hero") == []


# ---------------------------------------------------------------- SQLite's BEGIN


@pytest.mark.sqlite_only
def test_on_sqlite_without_the_begin_fix_a_savepoint_opened_first_commits_when_released(
    migrated, db, rows
):
    from sqlmodel import Session

    plain = db.engine()  # the driver's own transaction handling, as in lesson 09
    with Session(plain) as session, session.begin():
        with session.begin_nested():  # SAVEPOINT, before any BEGIN: it starts a transaction
            session.add(migrated.models.Hero(name="Deadpond", secret_name="Dive Wilson"))
        # RELEASE ended that transaction: committed. This rollback has nothing left to undo.
        session.rollback()
    assert [h["name"] for h in rows("hero")] == ["Deadpond"]


@pytest.mark.sqlite_only
def test_the_docs_autocommit_false_way_needs_python_3_12_and_only_ever_sends_begin(tmp_path):
    import sqlite3
    import sys

    if sys.version_info < (3, 12):  # this lesson's Python may be 3.11
        with pytest.raises(TypeError) as caught:
            sqlite3.connect(tmp_path / "heroes.db", autocommit=False)
        assert str(caught.value) == "'autocommit' is an invalid keyword argument for Connection()"
        return
    # Python 3.12 and later: the driver opens every transaction itself, with a plain BEGIN,
    # whatever isolation_level says, so there is nowhere to ask for BEGIN IMMEDIATE.
    sent = []
    connection = sqlite3.connect(
        tmp_path / "heroes.db", autocommit=False, isolation_level="IMMEDIATE"
    )
    connection.set_trace_callback(sent.append)
    connection.execute("CREATE TABLE hero (name TEXT)")
    connection.commit()
    connection.execute("INSERT INTO hero VALUES ('Deadpond')")
    connection.rollback()
    connection.close()
    assert [s for s in sent if s.startswith("BEGIN")] == ["BEGIN", "BEGIN"], sent


# ---------------------------------------------------------------- optimistic locking


def test_a_hero_starts_at_version_1_and_each_update_adds_1(client, create_hero):
    hero = create_hero(client, "Deadpond", "Dive Wilson")
    assert hero["version_id"] == 1
    response = client.patch(f"/heroes/{hero['id']}", json={"age": 30, "version_id": 1})
    assert response.json()["version_id"] == 2
    assert client.patch(f"/heroes/{hero['id']}", json={"age": 31}).json()["version_id"] == 3


def test_two_clients_patching_from_the_same_version_one_gets_409(
    migrated, committing_client, rows, create_hero
):
    from fastapi.testclient import TestClient

    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")
    with TestClient(migrated.app) as other:
        alice, bob = committing_client, other  # two clients, two sessions, two connections
        read_a = alice.get(f"/heroes/{hero['id']}").json()
        read_b = bob.get(f"/heroes/{hero['id']}").json()
        assert read_a["version_id"] == read_b["version_id"] == 1
        won = alice.patch(f"/heroes/{hero['id']}", json={"age": 30, "version_id": 1})
        lost = bob.patch(f"/heroes/{hero['id']}", json={"age": 99, "version_id": 1})
    assert won.status_code == 200 and won.json()["version_id"] == 2
    assert lost.status_code == 409
    assert lost.json() == {"detail": migrated.main.STALE_HERO}
    [row] = rows("hero")
    assert (row["age"], row["version_id"]) == (30, 2)  # the winner's data, nothing overwritten


@pytest.mark.postgres_only
def test_concurrent_patches_one_wins_the_other_gets_409_stale_data(
    migrated, committing_client, rows, create_hero
):
    # Two requests in two threads, each on its own connection, both past their SELECT
    # (version 1) before either UPDATEs: the second UPDATE matches no row.
    from sqlmodel import Session

    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")
    barrier = threading.Barrier(2, timeout=10)

    def both_have_read(session, flush_context, instances):
        barrier.wait()

    event.listen(Session, "before_flush", both_have_read)
    responses = {}

    def patch(age):
        responses[age] = committing_client.patch(
            f"/heroes/{hero['id']}", json={"age": age, "version_id": 1}
        )

    try:
        threads = [threading.Thread(target=patch, args=(age,)) for age in (30, 40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        event.remove(Session, "before_flush", both_have_read)
    codes = sorted(r.status_code for r in responses.values())
    assert codes == [200, 409], {age: r.text for age, r in responses.items()}
    [winner] = [age for age, r in responses.items() if r.status_code == 200]
    [row] = rows("hero")
    assert (row["age"], row["version_id"]) == (winner, 2)


ARGUMENT_ERROR = (
    "Textual column expression 'version_id' should be explicitly declared with "
    "text('version_id'), or use column('version_id') for more specificity"
)


def test_version_id_col_given_as_a_string_maps_then_fails_at_the_first_write(
    migrated, lesson_dir, reimport, db, tmp_path, monkeypatch
):
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import ArgumentError

    # The lesson as it would be with the column's name instead of the Column object.
    copy = tmp_path / lesson_dir.name
    shutil.copytree(lesson_dir, copy, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    models = copy / "models.py"
    mapped = '__mapper_args__ = {"version_id_col": VERSION_COLUMN}'
    assert mapped in models.read_text()
    as_a_string = '__mapper_args__ = {"version_id_col": "version_id"}'
    models.write_text(models.read_text().replace(mapped, as_a_string))
    monkeypatch.syspath_prepend(str(copy))
    main = reimport("main")  # imports, maps the classes: no error
    assert main.__file__ == str(copy / "main.py")
    with db.engine().begin() as connection:  # a hero from before
        connection.execute(text("INSERT INTO hero (name, secret_name) VALUES ('Deadpond', 'x')"))
    try:
        with TestClient(main.app) as client:  # the app starts
            assert client.get("/heroes/").status_code == 200
            assert client.get("/heroes/1").json()["version_id"] == 1
            with pytest.raises(ArgumentError) as inserting:
                client.post("/heroes/", json={"name": "Rusty-Man", "secret_name": "x"})
            with pytest.raises(AttributeError) as updating:
                client.patch("/heroes/1", json={"age": 30})
    finally:
        main.engine.dispose()
    assert str(inserting.value) == ARGUMENT_ERROR
    assert str(updating.value) == "'str' object has no attribute 'table'"


# ---------------------------------------------------------------- SELECT ... FOR UPDATE


@pytest.mark.postgres_only
def test_for_update_makes_a_second_transaction_wait_for_the_first(migrated, db, rows):
    from sqlmodel import Session

    engine = migrated.database.engine
    with Session(engine) as setup, setup.begin():
        setup.add(migrated.models.Team(name="Preventers", headquarters="Sharp Tower"))
        setup.add(migrated.models.Hero(name="Deadpond", secret_name="Dive Wilson"))
    uow_a = migrated.unit_of_work.UnitOfWork(Session(engine))
    with uow_a:
        [hero] = uow_a.heroes.lock([1])  # row lock held until uow_a ends
        # A second transaction, a short lock_timeout: it waits, then gives up.
        with Session(engine) as session_b, session_b.begin():
            session_b.exec(text("SET LOCAL lock_timeout = '200ms'"))
            started = time.monotonic()
            with pytest.raises(OperationalError, match="canceling statement due to lock timeout"):
                migrated.repositories.HeroRepository(session_b).lock([1])
            assert time.monotonic() - started >= 0.15
        # Now one that waits longer: it blocks until A commits, then reads A's row.
        seen = {}

        def lock_b():
            with Session(engine) as session_c, session_c.begin():
                session_c.exec(text("SET LOCAL lock_timeout = '10s'"))
                [locked] = migrated.repositories.HeroRepository(session_c).lock([1])
                seen["team_id"] = locked.team_id

        waiter = threading.Thread(target=lock_b)
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive(), "the second SELECT ... FOR UPDATE did not wait"
        hero.team_id = 1
    waiter.join(timeout=10)
    assert seen == {"team_id": 1}  # it saw the committed change, not the old row
    assert rows("hero")[0]["version_id"] == 2


def test_the_transfer_selects_heroes_for_update(
    migrated, committing_client, count_statements, create_hero
):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    hero = create_hero(client, "Deadpond", "x", team_id=a["id"])
    with count_statements(migrated.database.engine) as log:
        client.post(
            f"/teams/{a['id']}/transfer", json={"hero_ids": [hero["id"]], "to_team_id": b["id"]}
        )
    selects = [s for s in log.statements if s.lstrip().upper().startswith("SELECT")]
    locking = [s for s in selects if "FOR UPDATE" in s]
    # PostgreSQL renders FOR UPDATE; SQLite has no row locks and leaves it out.
    assert len(locking) == (1 if migrated.database.engine.dialect.name == "postgresql" else 0)


# ---------------------------------------------------------------- order


def test_every_list_and_the_lock_ask_for_id_order_in_their_sql(
    migrated, committing_client, create_hero, count_statements
):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    hero = create_hero(client, "Deadpond", "x", team_id=a["id"])
    reads = {
        "GET /heroes/": ("/heroes/", "FROM hero"),
        "GET /teams/": ("/teams/", "FROM team"),
        "GET /teams/{id}/heroes": (f"/teams/{a['id']}/heroes", "FROM hero"),
        "GET /teams/{id}": (f"/teams/{a['id']}", "FROM hero"),  # the team's heroes
    }
    for route, (url, table) in reads.items():
        with count_statements(migrated.database.engine) as log:
            assert client.get(url).status_code == 200
        [listing] = [s for s in log.statements if table in s and "WHERE hero.id =" not in s]
        column = table.split()[1]
        assert f"ORDER BY {column}.id" in listing, (route, listing)
    with count_statements(migrated.database.engine) as log:
        moved = client.post(f"/teams/{a['id']}/transfer", json=transfer(a, b, [hero["id"]])[2])
    assert moved.status_code == 200, moved.text
    [lock] = [s for s in log.statements if "WHERE hero.id IN" in s]
    assert "ORDER BY hero.id" in lock, lock


@pytest.mark.postgres_only
def test_on_postgresql_lists_stay_in_id_order_when_an_update_moves_the_first_row(
    committing_client, create_hero
):
    # An UPDATE writes a new version of the row after the others: without ORDER BY,
    # PostgreSQL reads it last.
    client = committing_client
    teams = [make_team(client, name) for name in ("Preventers", "Z-Force", "X-Men")]
    heroes = [create_hero(client, f"Hero {n}", "x", team_id=teams[0]["id"]) for n in range(3)]
    first = heroes[0]["id"]
    assert client.patch(f"/heroes/{first}", json={"age": 30}).status_code == 200
    moved = client.patch(f"/teams/{teams[0]['id']}", json={"headquarters": "Moved"})
    assert moved.status_code == 200
    hero_ids = [h["id"] for h in heroes]
    assert [h["id"] for h in client.get("/heroes/").json()] == hero_ids
    assert [h["id"] for h in client.get(f"/teams/{teams[0]['id']}/heroes").json()] == hero_ids
    assert [h["id"] for h in client.get(f"/teams/{teams[0]['id']}").json()["heroes"]] == hero_ids
    assert [t["id"] for t in client.get("/teams/").json()] == [t["id"] for t in teams]


# ---------------------------------------------------------------- revision 0005


def test_revision_0005_adds_version_id_and_alembic_check_finds_nothing(
    migrated, lesson_dir, db, rows
):
    import io

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    cfg = Config(lesson_dir / "alembic.ini", stdout=io.StringIO())
    command.downgrade(cfg, "0004")
    with db.engine().begin() as connection:  # a hero from before the version column
        connection.execute(text("INSERT INTO hero (name, secret_name) VALUES ('Old', 'x')"))
    command.upgrade(cfg, "head")
    column = {c["name"]: c for c in inspect(db.engine()).get_columns("hero")}["version_id"]
    assert column["nullable"] is False
    assert "1" in str(column["default"])
    assert rows("hero")[0]["version_id"] == 1  # the server default filled the old row
    command.check(cfg)
    assert cfg.stdout.getvalue() == "No new upgrade operations detected.\n"


# ---------------------------------------------------------- concurrency: no 5xx, no lost write


def statuses(responses):
    return Counter(r.status_code for r in responses)


def transfer(team_from, team_to, hero_ids):
    body = {"hero_ids": hero_ids, "to_team_id": team_to["id"]}
    return ("POST", f"/teams/{team_from['id']}/transfer", body)


def test_two_transfers_of_the_same_heroes_in_opposite_order_never_deadlock(
    committing_client, create_hero, meet_at_first_flush, send_at_once, rows
):
    client = committing_client
    a, b, c = make_team(client, "Preventers"), make_team(client, "Z-Force"), make_team(client, "X")
    ids = [create_hero(client, n, "x", team_id=a["id"])["id"] for n in ("Deadpond", "Tarantula")]
    with meet_at_first_flush(2):
        responses = send_at_once([transfer(a, b, ids), transfer(a, c, ids[::-1])])
    # One moves both heroes; the other then finds them gone from team a.
    assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
    [winner] = [team for team, r in zip((b, c), responses, strict=True) if r.status_code == 200]
    assert [(h["team_id"], h["version_id"]) for h in rows("hero")] == [(winner["id"], 2)] * 2


def test_concurrent_transfers_in_shuffled_orders_answer_no_5xx_and_lose_no_move(
    committing_client, create_hero, send_at_once, rows
):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    ids = [create_hero(client, f"Hero {n}", "x", team_id=a["id"])["id"] for n in range(6)]
    shuffle = random.Random(10)
    requests = [
        transfer(*((a, b) if n % 2 == 0 else (b, a)), shuffle.sample(ids, len(ids)))
        for n in range(40)
    ]
    codes = statuses(send_at_once(requests))
    assert set(codes) <= {200, 422}, codes
    # Every transfer moved all six heroes or none: they are together, each moved once per 200.
    heroes = rows("hero")
    assert len({h["team_id"] for h in heroes}) == 1, heroes
    assert {h["version_id"] for h in heroes} == {1 + codes[200]}, (codes, heroes)


def test_racing_patches_deletes_and_transfers_answer_no_5xx_and_lose_no_write(
    committing_client, create_hero, send_at_once, rows
):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    h1, h2, h3, h4, h5, h6 = (
        create_hero(client, f"Hero {n}", "x", team_id=a["id"])["id"] for n in range(6)
    )
    patches = [("PATCH", f"/heroes/{h}", {"age": n}) for n in range(5) for h in (h1, h2, h4)]
    deletes = [("DELETE", f"/heroes/{h3}", None)] * 3
    moves = [transfer(*((a, b) if n % 2 == 0 else (b, a)), [h6, h5, h4][n % 3 :]) for n in range(9)]
    requests = patches + deletes + moves
    random.Random(10).shuffle(requests)
    responses = send_at_once(requests)
    assert not [r for r in responses if r.status_code >= 500], statuses(responses)
    # A write that answered 200 is in the database: each one added 1 to its hero's version.
    written = Counter()
    for (method, url, body), response in zip(requests, responses, strict=True):
        if response.status_code == 200 and method != "DELETE":
            for hero_id in body["hero_ids"] if "hero_ids" in body else [int(url.split("/")[2])]:
                written[hero_id] += 1
    stored = {h["id"]: h["version_id"] for h in rows("hero")}
    assert stored == {h: 1 + written[h] for h in (h1, h2, h4, h5, h6)}, (stored, written)
    deleted = [
        r.status_code for (m, *_), r in zip(requests, responses, strict=True) if m == "DELETE"
    ]
    assert sorted(deleted)[0] == 200 and deleted.count(200) == 1, deleted


def test_concurrent_patches_from_one_version_store_exactly_one_and_answer_409_to_the_rest(
    committing_client, create_hero, send_at_once, rows
):
    hero = create_hero(committing_client, "Deadpond", "Dive Wilson")
    requests = [("PATCH", f"/heroes/{hero['id']}", {"age": n, "version_id": 1}) for n in range(20)]
    responses = send_at_once(requests)
    assert statuses(responses) == {200: 1, 409: 19}, statuses(responses)
    [winner] = [
        body["age"]
        for (*_, body), r in zip(requests, responses, strict=True)
        if r.status_code == 200
    ]
    [row] = rows("hero")
    assert (row["age"], row["version_id"]) == (winner, 2)


@pytest.mark.postgres_only
def test_a_connection_lost_during_a_request_is_a_503_with_retry_after(
    committing_client, create_hero, lose_the_connection_during, rows
):
    create_hero(committing_client, "Deadpond", age=30)
    with lose_the_connection_during("UPDATE"):
        response = committing_client.patch("/heroes/1", json={"age": 31})
    assert (response.status_code, response.headers.get("Retry-After")) == (503, "1")
    assert response.json() == {"detail": "The connection to the database was lost. Retry soon."}
    assert rows("hero")[0]["age"] == 30  # the unit of work died with its connection


# ---------------------------------------------------------------- hostile input, declared errors

JSON = {"content-type": "application/json"}
HERO = {"name": "Rusty-Man", "secret_name": "Tommy Sharp"}
TEAM = {"name": "Z-Force", "headquarters": "Sister Margaret's Bar"}
# (method, url, body, loc): "@" in body marks the field the hostile value goes in.
NUMBER_FIELDS = [
    *(("POST", "/heroes/", {**HERO, f: "@"}, ["body", f]) for f in ("age", "team_id")),
    *(("PATCH", "/heroes/1", {f: "@"}, ["body", f]) for f in ("age", "team_id", "version_id")),
    ("POST", "/teams/", {**TEAM, "founded": "@"}, ["body", "founded"]),
    ("POST", "/heroes/batch", [{**HERO, "age": "@"}], ["body", 0, "age"]),
    ("POST", "/teams/1/transfer", {"hero_ids": [1], "to_team_id": "@"}, ["body", "to_team_id"]),
    ("POST", "/teams/1/transfer", {"hero_ids": ["@"], "to_team_id": 1}, ["body", "hero_ids", 0]),
]
STRING_FIELDS = [
    *(("POST", "/heroes/", {**HERO, f: "@"}, ["body", f]) for f in ("name", "secret_name", "rank")),
    *(("PATCH", "/heroes/1", {f: "@"}, ["body", f]) for f in ("name", "secret_name", "rank")),
    *(("POST", "/teams/", {**TEAM, f: "@"}, ["body", f]) for f in ("name", "headquarters")),
    *(("PATCH", "/teams/1", {f: "@"}, ["body", f]) for f in ("name", "headquarters")),
    ("POST", "/heroes/batch", [{**HERO, "name": "@"}], ["body", 0, "name"]),
]
# JSON text Python's json module reads as a float that is not finite, and what 422 echoes.
NOT_FINITE = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf", "1e400": "inf"}


@pytest.mark.anyio
async def test_a_number_that_is_not_finite_is_a_422_naming_the_field_and_stores_nothing(
    raw_client, create_hero, create_team, rows
):
    await create_team(raw_client, "Preventers")
    await create_hero(raw_client, "Deadpond", team_id=1)
    before = rows("hero"), rows("team")
    for method, url, body, loc in NUMBER_FIELDS:
        for literal, echoed in NOT_FINITE.items():
            content = raw_json(body, literal)
            response = await raw_client.request(method, url, content=content, headers=JSON)
            assert response.status_code == 422, (method, url, content, response.text)
            [error] = response.json()["detail"]
            assert (error["loc"], error["input"]) == (loc, echoed), error
    assert (rows("hero"), rows("team")) == before


@pytest.mark.anyio
async def test_a_lone_surrogate_in_any_string_field_is_a_422_naming_it_and_stores_nothing(
    raw_client, create_hero, create_team, rows
):
    await create_team(raw_client, "Preventers")
    await create_hero(raw_client, "Deadpond")
    before = rows("hero"), rows("team")
    for method, url, body, loc in STRING_FIELDS:
        content = raw_json(body, '"\\ud800x"')  # JSON's escape for a lone surrogate
        response = await raw_client.request(method, url, content=content, headers=JSON)
        assert response.status_code == 422, (method, url, content, response.text)
        [error] = response.json()["detail"]
        assert (error["loc"], error["type"]) == (loc, "string_unicode"), error
        assert error["input"] == "\\ud800x"  # echoed escaped, so UTF-8 can carry it
    assert (rows("hero"), rows("team")) == before


@pytest.mark.anyio
async def test_a_surrogate_in_the_query_string_arrives_as_replacement_characters(raw_client):
    # A URL carries bytes: the surrogate's would-be UTF-8 bytes are decoded as U+FFFD.
    response = await raw_client.get("/heroes/?q=%ED%A0%80x")
    assert (response.status_code, response.json()) == (200, [])


def test_an_unknown_team_is_a_422_shaped_like_fastapis_own(client):
    response = client.post("/heroes/", json={**HERO, "team_id": 42})
    assert response.status_code == 422
    error = {"type": "value_error", "loc": ["body", "team_id"], "msg": "No team with id 42"}
    assert response.json() == {"detail": [error]}
    spec = client.get("/openapi.json").json()
    published = spec["paths"]["/heroes/"]["post"]["responses"]["422"]["content"]
    schema = {**published["application/json"]["schema"], "components": spec["components"]}
    jsonschema.validate(response.json(), schema)  # the schema the route publishes for 422


# The routes outside the exercises, and what each can answer.
DECLARED = {
    ("POST", "/heroes/"): ["200", "400", "409", "422"],
    ("POST", "/heroes/batch"): ["200", "400", "422"],
    ("GET", "/heroes/"): ["200", "422"],
    ("GET", "/heroes/{hero_id}"): ["200", "404", "422"],
    ("PATCH", "/heroes/{hero_id}"): ["200", "400", "404", "409", "422"],
    ("DELETE", "/heroes/{hero_id}"): ["200", "404", "409", "422"],
    ("POST", "/teams/"): ["200", "400", "409", "422"],
    ("GET", "/teams/"): ["200", "422"],
    ("GET", "/teams/{team_id}"): ["200", "404", "422"],
    ("PATCH", "/teams/{team_id}"): ["200", "400", "404", "409", "422"],
    ("DELETE", "/teams/{team_id}"): ["200", "404", "422"],
    ("POST", "/teams/{team_id}/transfer"): ["200", "400", "404", "422"],
    ("GET", "/teams/{team_id}/heroes"): ["200", "404", "422"],
    ("GET", "/health"): ["200", "503"],
    ("GET", "/pool"): ["200"],
}
EXERCISE_ROUTES = {("POST", "/teams/{team_id}/merge"), ("POST", "/teams/batch")}


def test_openapi_declares_every_status_each_route_answers(client):
    routes = declared(client.get("/openapi.json").json())
    assert {key: value for key, value in routes.items() if key not in EXERCISE_ROUTES} == DECLARED


def test_openapi_gives_every_error_a_body_model(client):
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


# ---------------------------------------------------------------- lesson 05's loading, carried


def without_begin(statements):
    # SQLite's BEGIN goes through the cursor here (database.py's "begin" listener).
    return [s for s in statements if not s.startswith("BEGIN")]


def test_deleting_a_team_sends_one_delete_and_the_database_sets_team_id_null(
    migrated, committing_client, count_statements, rows, create_hero
):
    client = committing_client
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    for name, team in [("Rusty-Man", a), ("Tarantula", a), ("Black Lion", b)]:
        create_hero(client, name, "x", team_id=team["id"])
    with count_statements(migrated.database.engine) as log:
        assert client.delete(f"/teams/{a['id']}").json() == {"ok": True}
    # passive_deletes=True: no SELECT of the heroes, no UPDATE hero; ON DELETE SET NULL does it.
    assert [s.split()[0] for s in without_begin(log.statements)] == ["SELECT", "DELETE"], log
    heroes = [(h["name"], h["team_id"], h["version_id"]) for h in rows("hero")]
    # The database's SET NULL is not SQLAlchemy's UPDATE: version_id stays where it was.
    assert heroes == [("Rusty-Man", None, 1), ("Tarantula", None, 1), ("Black Lion", b["id"], 1)]


def test_after_a_team_delete_a_patch_from_the_old_version_cannot_bring_the_team_back(
    committing_client, rows, create_hero
):
    client = committing_client
    a = make_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man", "x", team_id=a["id"])  # read at version 1
    assert client.delete(f"/teams/{a['id']}").status_code == 200
    # Still version 1, but the only stale thing to send back, the old team, is refused.
    stale = client.patch(f"/heroes/{hero['id']}", json={"team_id": a["id"], "version_id": 1})
    assert stale.status_code == 422, stale.text
    assert stale.json()["detail"][0]["msg"] == f"No team with id {a['id']}"
    # A change of another field keeps the NULL the database wrote: nothing is lost.
    other = client.patch(f"/heroes/{hero['id']}", json={"age": 40, "version_id": 1})
    assert (other.json()["team_id"], other.json()["version_id"]) == (None, 2), other.text
    assert [(h["team_id"], h["age"]) for h in rows("hero")] == [(None, 40)]


def test_touching_an_unloaded_relationship_raises_because_of_lazy_raise(
    migrated, committing_client, create_hero
):
    from sqlalchemy.exc import InvalidRequestError
    from sqlmodel import Session

    team = make_team(committing_client, "Preventers")
    create_hero(committing_client, "Rusty-Man", "x", team_id=team["id"])
    with Session(migrated.database.engine) as session:
        for model, attribute in [("Team", "heroes"), ("Hero", "team")]:
            instance = session.get(getattr(migrated.models, model), 1)
            with pytest.raises(
                InvalidRequestError,
                match=rf"^'{model}\.{attribute}' is not available due to lazy='raise'$",
            ):
                getattr(instance, attribute)


def test_read_hero_joins_its_team_and_read_team_selects_its_heroes(
    migrated, committing_client, create_hero, count_statements
):
    client = committing_client
    team = make_team(client, "Preventers")
    hero = create_hero(client, "Rusty-Man", "x", team_id=team["id"])
    with count_statements(migrated.database.engine) as log:
        assert client.get(f"/heroes/{hero['id']}").json()["team"]["name"] == "Preventers"
        assert client.get(f"/teams/{team['id']}").json()["heroes"][0]["name"] == "Rusty-Man"
    hero_read, team_read, heroes_read = without_begin(log.statements)
    assert "FROM hero LEFT OUTER JOIN team AS team_1 ON team_1.id = hero.team_id" in hero_read
    assert "FROM team WHERE" in team_read and "FROM hero WHERE hero.team_id IN (" in heroes_read


@pytest.mark.sqlite_only
def test_every_sqlite_connection_of_the_apps_engine_has_foreign_keys_on(migrated):
    engine = migrated.database.engine
    assert event.contains(engine, "connect", migrated.database.enable_sqlite_foreign_keys)
    engine.dispose()  # the next connections are new ones: the listener runs for each
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.postgres_only
def test_the_sqlite_listener_is_not_installed_on_other_databases(migrated):
    engine = migrated.database.engine
    assert engine.dialect.name == "postgresql"
    assert not event.contains(engine, "connect", migrated.database.enable_sqlite_foreign_keys)
