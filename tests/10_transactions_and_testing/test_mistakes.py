"""Lesson 10's common mistakes, each reproduced for real, then the lesson's way.

M1 a repository method that commits, M2 catching IntegrityError without a rollback, M3
the lost update without a version column. Tests that check what other connections see
use ``committing_client`` and ``rows`` (a separate connection).
"""

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, PendingRollbackError
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
    create_hero(client, "Deadpond", "Dive Wilson")
    taken = client.patch("/heroes/1", json={"name": "Deadpond"})
    assert taken.status_code == 200  # its own name: no conflict
    create_hero(client, "Rusty-Man", "Tommy Sharp")
    taken = client.patch("/heroes/2", json={"name": "Deadpond"})
    assert taken.status_code == 409
    assert taken.json() == {"detail": "A hero named 'Deadpond' already exists"}
    assert client.get("/heroes/2").json()["name"] == "Rusty-Man"


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
    create_hero(client, "Deadpond", "Dive Wilson")

    def stale_update(self, db_hero, data):
        raise StaleDataError(STALE)

    monkeypatch.setattr(migrated.repositories.HeroRepository, "update", stale_update)
    response = client.patch("/heroes/1", json={"age": 30})
    assert response.status_code == 409
    assert response.json() == {"detail": migrated.main.STALE_HERO}
    assert client.get("/heroes/1").json()["age"] is None
