"""Lesson 10: what the README says about transactions, one claim per test.

Most tests use ``client``: every request runs inside the test's outer transaction, which
is rolled back afterwards (the pattern this lesson teaches, built in conftest.py). Tests
about commits that other connections see, locks and concurrency use
``committing_client`` and the ``rows`` fixture (a separate connection) instead.
"""

import threading
import time

import pytest
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
    assert response.json() == {"detail": f"Hero {outsider['id']} is not in team {a['id']}"}
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
        hero = uow_a.heroes.get_for_update(1)  # row lock held until uow_a ends
        assert hero is not None
        # A second transaction, a short lock_timeout: it waits, then gives up.
        with Session(engine) as session_b, session_b.begin():
            session_b.exec(text("SET LOCAL lock_timeout = '200ms'"))
            started = time.monotonic()
            with pytest.raises(OperationalError, match="canceling statement due to lock timeout"):
                migrated.repositories.HeroRepository(session_b).get_for_update(1)
            assert time.monotonic() - started >= 0.15
        # Now one that waits longer: it blocks until A commits, then reads A's row.
        seen = {}

        def lock_b():
            with Session(engine) as session_c, session_c.begin():
                session_c.exec(text("SET LOCAL lock_timeout = '10s'"))
                locked = migrated.repositories.HeroRepository(session_c).get_for_update(1)
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
