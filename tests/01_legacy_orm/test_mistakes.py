"""Lesson 01: each common mistake from the README, reproduced, then the lesson's way."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError, PendingRollbackError, ProgrammingError
from sqlalchemy.orm import sessionmaker

# ---------------------------------------------------------------- M1: one shared session


@pytest.fixture
def shared_session_app(lesson, app):
    """The app with get_db replaced by one module-level session for every request."""
    shared = lesson.database.SessionLocal()
    app.dependency_overrides[lesson.main.get_db] = lambda: shared
    yield app
    app.dependency_overrides.clear()
    shared.close()


def test_m1_one_shared_session_fails_every_request_after_one_error(shared_session_app):
    with TestClient(shared_session_app) as client:
        assert client.post("/heroes/", json={"name": "A", "secret_name": "a"}).status_code == 200
        with pytest.raises(IntegrityError):
            client.post("/heroes/", json={"name": "A", "secret_name": "a"})
        # A valid, unrelated request now fails, and so will every one after it.
        for _ in range(2):
            with pytest.raises(
                PendingRollbackError,
                match="This Session's transaction has been rolled back due to a previous "
                "exception during flush",
            ):
                client.get("/heroes/")


def test_m1_the_lessons_session_per_request_recovers_after_an_error(client, lesson):
    raw = TestClient(lesson.app, raise_server_exceptions=False)
    assert client.post("/heroes/", json={"name": "A", "secret_name": "a"}).status_code == 200
    assert raw.post("/heroes/", json={"name": "A", "secret_name": "a"}).status_code == 500
    assert [h["name"] for h in client.get("/heroes/").json()] == ["A"]


# ---------------------------------------------------------------- M2: check_same_thread=True


@pytest.mark.sqlite_only  # check_same_thread is an argument of Python's sqlite3 driver
def test_m2_check_same_thread_true_fails_in_fastapis_thread_pool(lesson, db, app):
    engine = create_engine(db.url, connect_args={"check_same_thread": True})
    lesson.models.Base.metadata.create_all(engine)  # opens a connection in this thread
    bad_sessions = sessionmaker(bind=engine)

    def get_db_same_thread():
        session = bad_sessions()
        try:
            yield session
        finally:
            session.close()

    app.dependency_overrides[lesson.main.get_db] = get_db_same_thread
    try:
        with (
            TestClient(app) as client,
            pytest.raises(
                ProgrammingError,
                match="SQLite objects created in a thread can only be used in that same thread",
            ),
        ):
            # The sync route runs in a worker thread; the pooled connection was made here.
            client.get("/heroes/")
    finally:
        app.dependency_overrides.clear()
        engine.dispose()


@pytest.mark.sqlite_only
def test_m2_sqlalchemy_2_already_disables_check_same_thread_for_sqlite_files(db):
    file_engine = create_engine(db.url)
    memory_engine = create_engine("sqlite://")
    assert file_engine.dialect.create_connect_args(file_engine.url)[1]["check_same_thread"] is False
    # For :memory: the default stays True: there the legacy line still matters.
    assert (
        memory_engine.dialect.create_connect_args(memory_engine.url)[1]["check_same_thread"] is True
    )


def test_m2_the_lessons_engine_serves_requests_from_many_threads(client, create_hero):
    for i in range(20):
        create_hero(client, f"Hero {i}")
    assert len(client.get("/heroes/").json()) == 20


# ---------------------------------------------------------------- M3: duplicate name is a 500


def test_m3_duplicate_name_is_an_unhandled_integrity_error(client, db, create_hero):
    create_hero(client, "Deadpond")
    fragment = (
        "UNIQUE constraint failed: hero.name"
        if db.backend == "sqlite"
        else "duplicate key value violates unique constraint"
    )
    with pytest.raises(IntegrityError, match=fragment):
        client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})


def test_m3_the_client_sees_a_bare_500(lesson, create_hero):
    with TestClient(lesson.app, raise_server_exceptions=False) as client:
        create_hero(client, "Deadpond")
        response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "x"})
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
