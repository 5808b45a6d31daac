"""Lesson 10's common mistakes, each reproduced for real, then the lesson's way.

M1 a repository method that commits, M2 catching IntegrityError without a rollback, M3
the lost update without a version column, M4 a deferred BEGIN on SQLite that reads and then
cannot get the write lock, M5 rows locked in different orders, a deadlock. Tests that check
what other connections see use ``committing_client`` and ``rows`` (a separate connection);
the races use real threads, each request or session on a connection of its own.
"""

import sqlite3
import threading
import time

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError
from sqlalchemy.orm import registry
from sqlalchemy.orm.exc import StaleDataError

STALE = "UPDATE statement on table 'hero' expected to update 1 row(s); 0 were matched."


def make_team(client, name):
    response = client.post("/teams/", json={"name": name, "headquarters": "HQ"})
    assert response.status_code == 200, response.text
    return response.json()


def failing_transfer(client, create_hero):
    """Team a holds Deadpond; the transfer moves him, then fails on a hero not in a."""
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    first = create_hero(client, "Deadpond", "x", team_id=a["id"])
    outsider = create_hero(client, "Tarantula", "x", team_id=b["id"])
    response = client.post(
        f"/teams/{a['id']}/transfer",
        json={"hero_ids": [first["id"], outsider["id"]], "to_team_id": b["id"]},
    )
    assert response.status_code == 422, response.text
    return a, b


# ---------------------------------------------------------------- M1


def test_m1_a_repository_that_commits_leaves_a_half_done_transfer(
    migrated, committing_client, rows, create_hero, monkeypatch
):
    Repository = migrated.repositories.HeroRepository

    def update_and_commit(self, db_hero, data):
        db_hero.sqlmodel_update(data)
        self.session.commit()  # the mistake: the repository decides the transaction ends
        return db_hero

    monkeypatch.setattr(Repository, "update", update_and_commit)
    a, b = failing_transfer(committing_client, create_hero)
    # The request failed, yet Deadpond's move is committed: half the transfer happened.
    assert {h["name"]: h["team_id"] for h in rows("hero")} == {
        "Deadpond": b["id"],
        "Tarantula": b["id"],
    }


def test_m1_with_the_unit_of_work_committing_the_failed_transfer_changes_nothing(
    committing_client, rows, create_hero
):
    a, b = failing_transfer(committing_client, create_hero)
    assert {h["name"]: h["team_id"] for h in rows("hero")} == {
        "Deadpond": a["id"],
        "Tarantula": b["id"],
    }


# ---------------------------------------------------------------- M2


def add_deadpond_twice(migrated, session):
    Hero = migrated.models.Hero
    session.add(Hero(name="Deadpond", secret_name="Dive Wilson"))
    session.commit()
    session.add(Hero(name="Deadpond", secret_name="Someone Else"))
    session.flush()  # raises IntegrityError: the name is unique


def test_m2_catching_integrity_error_without_rollback_breaks_the_next_statement(migrated):
    from sqlmodel import Session

    with Session(migrated.database.engine) as session:
        try:
            add_deadpond_twice(migrated, session)
        except IntegrityError:
            print("name taken")  # the mistake: carry on with the same session, no rollback()
        with pytest.raises(PendingRollbackError) as caught:
            session.exec(select(migrated.models.Hero)).all()
    assert "This Session's transaction has been rolled back due to a previous exception " in str(
        caught.value
    )
    assert "first issue Session.rollback()" in str(caught.value)


def test_m2_the_unit_of_work_rolls_back_so_the_session_works_again(migrated):
    from sqlmodel import Session

    UnitOfWork = migrated.unit_of_work.UnitOfWork
    with Session(migrated.database.engine) as session:
        with pytest.raises(IntegrityError), UnitOfWork(session):
            add_deadpond_twice(migrated, session)
        heroes = session.exec(select(migrated.models.Hero)).scalars().all()
    assert [h.secret_name for h in heroes] == ["Dive Wilson"]


def test_m2_over_http_a_taken_name_is_a_409_and_the_next_request_works(client, create_hero):
    deadpond = create_hero(client, "Deadpond", "Dive Wilson")
    taken = client.patch(f"/heroes/{deadpond['id']}", json={"name": "Deadpond"})
    assert taken.status_code == 200  # its own name: no conflict
    rusty = create_hero(client, "Rusty-Man", "Tommy Sharp")
    taken = client.patch(f"/heroes/{rusty['id']}", json={"name": "Deadpond"})
    assert taken.status_code == 409
    assert taken.json() == {"detail": "A hero named 'Deadpond' already exists"}
    assert client.get(f"/heroes/{rusty['id']}").json()["name"] == "Rusty-Man"


# ---------------------------------------------------------------- M3


class PlainHero:
    """The hero table mapped with no version_id_col: what the app was before this lesson."""


def two_writers(migrated, db, hero_class):
    """Alice and Bob read the same hero, then each writes a name: Bob writes last.

    On PostgreSQL both transactions stay open, on two connections, interleaved. On SQLite
    a reader's open transaction would lock out the writer, so Bob's read ends first,
    as it would between two HTTP requests.
    """
    from sqlmodel import Session

    engine = migrated.database.engine
    with Session(engine) as setup, setup.begin():
        setup.add(migrated.models.Hero(name="Deadpond", secret_name="Dive Wilson"))
    alice = Session(engine, expire_on_commit=False)
    bob = Session(engine, expire_on_commit=False)
    try:
        hero_a = alice.get(hero_class, 1)
        hero_b = bob.get(hero_class, 1)
        if db.backend == "sqlite":
            bob.commit()  # end Bob's read; his hero object keeps what he read
        hero_a.name = "Alice's Deadpond"
        alice.commit()
        hero_b.name = "Bob's Deadpond"
        bob.commit()  # Bob's UPDATE, based on what he read before Alice's commit
    finally:
        alice.close()
        bob.close()


def test_m3_without_a_version_column_the_second_writer_silently_overwrites(migrated, db, rows):
    registry().map_imperatively(PlainHero, migrated.models.Hero.__table__)
    two_writers(migrated, db, PlainHero)  # no error for anyone
    [row] = rows("hero")
    assert row["name"] == "Bob's Deadpond"  # Alice's change is lost, and nobody was told


def test_m3_with_version_id_col_the_second_writer_gets_stale_data_error(migrated, db, rows):
    with pytest.raises(StaleDataError) as caught:
        two_writers(migrated, db, migrated.models.Hero)
    assert str(caught.value) == STALE
    [row] = rows("hero")
    assert (row["name"], row["version_id"]) == ("Alice's Deadpond", 2)


def test_m3_over_http_a_patch_without_the_version_overwrites_silently(
    committing_client, rows, create_hero
):
    create_hero(committing_client, "Deadpond", "Dive Wilson")
    # Both read version 1; neither sends it back: last write wins, both get 200.
    first = committing_client.patch("/heroes/1", json={"age": 30})
    second = committing_client.patch("/heroes/1", json={"age": 99})
    assert (first.status_code, second.status_code) == (200, 200)
    assert rows("hero")[0]["age"] == 99


def test_m3_over_http_a_patch_with_a_stale_version_is_a_409(
    migrated, committing_client, rows, create_hero
):
    create_hero(committing_client, "Deadpond", "Dive Wilson")
    first = committing_client.patch("/heroes/1", json={"age": 30, "version_id": 1})
    second = committing_client.patch("/heroes/1", json={"age": 99, "version_id": 1})
    assert (first.status_code, second.status_code) == (200, 409)
    assert second.json() == {"detail": migrated.main.STALE_HERO}
    assert (rows("hero")[0]["age"], rows("hero")[0]["version_id"]) == (30, 2)


def test_m3_stale_data_error_inside_a_request_is_answered_409(
    migrated, client, create_hero, monkeypatch
):
    # The UPDATE matching no row, forced: the app's handler turns it into a 409.
    hero = create_hero(client, "Deadpond", "Dive Wilson")

    def stale_update(self, db_hero, data):
        raise StaleDataError(STALE)

    monkeypatch.setattr(migrated.repositories.HeroRepository, "update", stale_update)
    response = client.patch(f"/heroes/{hero['id']}", json={"age": 30})
    assert response.status_code == 409
    assert response.json() == {"detail": migrated.main.STALE_HERO}
    assert client.get(f"/heroes/{hero['id']}").json()["age"] is None


# ---------------------------------------------------------------- M4

LOCKED = (
    "(sqlite3.OperationalError) database is locked\n"
    "[SQL: UPDATE hero SET age=?, version_id=? WHERE hero.id = ? AND hero.version_id = ?]"
)


def one_hero(migrated):
    from sqlmodel import Session

    with Session(migrated.database.engine) as setup, setup.begin():
        setup.add(migrated.models.Hero(name="Deadpond", secret_name="Dive Wilson"))


@pytest.mark.sqlite_only
def test_m4_a_transaction_that_read_first_cannot_wait_and_fails_with_database_is_locked(
    migrated, rows
):
    from sqlmodel import Session

    Hero, engine = migrated.models.Hero, migrated.database.engine
    one_hero(migrated)
    # Plain sessions: a plain BEGIN, deferred, as before the unit of work asked for more.
    alice, bob = Session(engine), Session(engine)
    try:
        hero_a, hero_b = alice.get(Hero, 1), bob.get(Hero, 1)  # both read: two read locks
        hero_a.age = 30
        alice.flush()  # Alice's UPDATE takes the one write lock
        hero_b.age = 40
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught:
            bob.flush()  # Bob has read: SQLite will not let him wait for the write lock
        waited = time.monotonic() - started
        bob.rollback()
        alice.commit()
    finally:
        alice.close()
        bob.close()
    assert str(caught.value).startswith(LOCKED)
    assert caught.value.orig.sqlite_errorname == "SQLITE_BUSY"
    assert waited < 1, waited  # the driver's 5-second busy timeout never applied
    assert rows("hero")[0]["age"] == 30


@pytest.mark.sqlite_only
def test_m4_with_begin_immediate_the_second_writer_waits_then_builds_on_the_first(migrated, rows):
    from sqlmodel import Session

    UnitOfWork, engine = migrated.unit_of_work.UnitOfWork, migrated.database.engine
    one_hero(migrated)
    seen = {}

    def bob():
        with Session(engine) as session, UnitOfWork(session) as uow:  # waits for the lock
            hero = uow.heroes.get(1)
            seen["age"] = hero.age
            uow.heroes.update(hero, {"name": "Bob's Deadpond"})

    with Session(engine) as session, UnitOfWork(session) as alice:  # BEGIN IMMEDIATE
        hero = alice.heroes.get(1)
        waiter = threading.Thread(target=bob)
        waiter.start()
        time.sleep(0.3)
        bob_waited = waiter.is_alive()
        alice.heroes.update(hero, {"age": 30})
    waiter.join(timeout=10)
    assert bob_waited, "Bob's unit of work did not wait for Alice's write lock"
    assert seen == {"age": 30}  # Bob read the hero as Alice committed it
    [row] = rows("hero")
    assert (row["name"], row["age"], row["version_id"]) == ("Bob's Deadpond", 30, 3)


@pytest.mark.sqlite_only
def test_m4_a_unit_of_work_sends_begin_immediate_and_a_read_a_plain_begin(
    migrated, committing_client, count_statements
):
    def begins(log):
        return [s for s in log.statements if s.startswith("BEGIN")]

    with count_statements(migrated.database.engine) as write:
        make_team(committing_client, "Preventers")
    with count_statements(migrated.database.engine) as read:
        committing_client.get("/teams/")
    # The unit of work's transaction, and no other: the response is built from what it wrote.
    assert begins(write) == ["BEGIN IMMEDIATE"], write
    assert begins(read) == ["BEGIN"], read


@pytest.mark.sqlite_only
def test_m4_a_write_lock_held_past_the_busy_timeout_is_a_503_with_retry_after(
    migrated, db, committing_client, create_hero, rows
):
    create_hero(committing_client, "Deadpond", "Dive Wilson")
    engine = migrated.database.engine

    def short_busy_timeout(dbapi_connection, record):
        dbapi_connection.execute("PRAGMA busy_timeout = 200")  # not the driver's 5 seconds

    engine.dispose()
    event.listen(engine, "connect", short_busy_timeout)
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # someone else holds the write lock, and keeps it
        response = committing_client.patch("/heroes/1", json={"age": 30})
    finally:
        other.rollback()
        other.close()
        event.remove(engine, "connect", short_busy_timeout)
        engine.dispose()
    assert (response.status_code, response.headers.get("Retry-After")) == (503, "1")
    assert response.json() == {"detail": "Another request held what this one needed. Retry soon."}
    assert rows("hero")[0]["age"] is None


# ---------------------------------------------------------------- M5


def two_heroes(migrated):
    from sqlmodel import Session

    Hero = migrated.models.Hero
    with Session(migrated.database.engine) as setup, setup.begin():
        setup.add(Hero(name="Deadpond", secret_name="Dive Wilson"))
        setup.add(Hero(name="Rusty-Man", secret_name="Tommy Sharp"))


@pytest.mark.postgres_only
def test_m5_two_transactions_locking_rows_in_opposite_orders_deadlock(migrated):
    import psycopg
    from sqlmodel import Session, select

    Hero, engine = migrated.models.Hero, migrated.database.engine
    two_heroes(migrated)
    both_hold_one = threading.Barrier(2, timeout=5)
    errors = {}

    def lock_one_by_one(order):
        session = Session(engine)
        try:
            with session.begin():
                for n, hero_id in enumerate(order):
                    if n == 1:
                        both_hold_one.wait()  # each holds its first hero, wants the other's
                    session.exec(select(Hero).where(Hero.id == hero_id).with_for_update()).one()
        except OperationalError as exc:
            errors[tuple(order)] = exc
        finally:
            session.close()

    threads = [threading.Thread(target=lock_one_by_one, args=(o,)) for o in ([1, 2], [2, 1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    [error] = errors.values()  # PostgreSQL aborted one of the two; the other one went on
    assert isinstance(error.orig, psycopg.errors.DeadlockDetected)
    assert str(error).startswith("(psycopg.errors.DeadlockDetected) deadlock detected\nDETAIL:")
    assert "while locking tuple" in str(error) and 'in relation "hero"' in str(error)
    assert "WHERE hero.id = %(id_1)s::INTEGER FOR UPDATE]" in str(error)


@pytest.mark.postgres_only
def test_m5_locking_every_row_in_id_order_in_one_statement_makes_the_other_wait(
    migrated, count_statements, rows
):
    from sqlmodel import Session

    UnitOfWork, engine = migrated.unit_of_work.UnitOfWork, migrated.database.engine
    two_heroes(migrated)
    seen = {}

    def other_order():
        with Session(engine) as session, UnitOfWork(session) as uow:
            seen["versions"] = [h.version_id for h in uow.heroes.lock([2, 1])]  # waits

    with count_statements(engine) as log:
        with Session(engine) as session, UnitOfWork(session) as uow:
            heroes = uow.heroes.lock([1, 2])
            waiter = threading.Thread(target=other_order)
            waiter.start()
            time.sleep(0.3)
            other_waited = waiter.is_alive()
            for hero in heroes:
                uow.heroes.update(hero, {"age": 30})
        waiter.join(timeout=10)
    assert other_waited, "the second transaction did not wait for the first one's locks"
    assert seen == {"versions": [2, 2]}  # no deadlock: it got both rows, as committed
    locking = [s for s in log.statements if s.endswith("FOR UPDATE")]
    assert len(locking) == 2 and all("ORDER BY hero.id FOR UPDATE" in s for s in locking), log


@pytest.mark.postgres_only
def test_m5_a_deadlock_that_still_happens_is_a_503_with_retry_after(
    migrated, committing_client, create_hero, send_at_once, rows, monkeypatch
):
    from sqlmodel import select

    client = committing_client
    a, b, c = make_team(client, "Preventers"), make_team(client, "Z-Force"), make_team(client, "X")
    for name in ("Deadpond", "Rusty-Man"):
        create_hero(client, name, "x", team_id=a["id"])
    both_hold_one = threading.Barrier(2, timeout=5)

    def lock_one_by_one(self, hero_ids):  # the mistake: each hero locked in the client's order
        heroes = []
        for n, hero_id in enumerate(hero_ids):
            if n == 1:
                both_hold_one.wait()
            statement = select(migrated.models.Hero).where(migrated.models.Hero.id == hero_id)
            heroes.append(self.session.exec(statement.with_for_update()).one())
        return heroes

    monkeypatch.setattr(migrated.repositories.HeroRepository, "lock", lock_one_by_one)
    transfers = [(b, [1, 2]), (c, [2, 1])]
    requests = [
        ("POST", f"/teams/{a['id']}/transfer", {"hero_ids": ids, "to_team_id": to["id"]})
        for to, ids in transfers
    ]
    responses = send_at_once(requests)
    assert sorted(r.status_code for r in responses) == [200, 503], [r.text for r in responses]
    [refused] = [r for r in responses if r.status_code == 503]
    assert refused.headers["Retry-After"] == "1"
    [winner] = [to for (to, _), r in zip(transfers, responses, strict=True) if r.status_code == 200]
    assert [(h["team_id"], h["version_id"]) for h in rows("hero")] == [(winner["id"], 2)] * 2
