"""Each lesson, served by real uvicorn the way a learner runs it, answers a round trip.

TestClient calls the app in-process; this starts `uvicorn <app> --app-dir <lesson>` as a
subprocess on a free loopback port, waits until it answers, creates a hero and reads it
back over real HTTP, then stops the server.

On SQLite the lesson runs from a copy of its folder with no DATABASE_URL, and from an
unrelated working directory: the round trip must land in the lesson's own default
database file, created beside its code. On PostgreSQL it gets the test's database.

It runs in the same process as one lesson's suite (for that lesson only), or alone over
every lesson (`pytest tests/test_smoke.py`): it imports no lesson code itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
import serve

import manifest

ROOT = Path(__file__).resolve().parents[1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "smoke_lesson" not in metafunc.fixturenames:
        return
    lessons = manifest.load_lessons()
    named = {Path(arg).resolve().name for arg in metafunc.config.args}
    chosen = [lesson for lesson in lessons if lesson.slug in named] or lessons
    metafunc.parametrize("smoke_lesson", chosen, ids=[lesson.slug for lesson in chosen])


@pytest.mark.timeout(90)  # migrations, then a server start: seconds alone, more under load
def test_uvicorn_serves_a_create_and_read_round_trip(smoke_lesson, tree, db, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    source = tree / smoke_lesson.slug
    if db.backend == "sqlite":
        folder = tmp_path / "lesson"
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    else:
        folder = source
        env["DATABASE_URL"] = db.async_url if smoke_lesson.driver == "async" else db.url
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    try:
        with serve.served(smoke_lesson, folder, env, tmp_path / "uvicorn.log", elsewhere) as base:
            assert httpx.get(f"{base}/docs").status_code == 200
            # The hero list's path, from the OpenAPI: /heroes/, or /api/v1/heroes/ (lesson 11).
            paths = httpx.get(f"{base}/openapi.json").json()["paths"]
            [heroes] = [p for p in paths if p.endswith("/heroes/") and "post" in paths[p]]
            created = httpx.post(
                f"{base}{heroes}", json={"name": "Smoke Test", "secret_name": "Uvi Corn", "age": 1}
            )
            assert created.status_code == 200, created.text
            hero = created.json()
            assert isinstance(hero["id"], int)
            read = httpx.get(f"{base}{heroes}{hero['id']}")
            assert read.status_code == 200
            assert (read.json()["name"], read.json()["age"]) == ("Smoke Test", 1)
    except serve.ServeError as exc:
        pytest.fail(str(exc), pytrace=False)
    if db.backend == "sqlite":
        # The database was created beside the lesson's code, not where uvicorn started.
        assert sorted(p.name for p in folder.glob("*.db")), "no database file beside the code"
        assert list(elsewhere.iterdir()) == [], "the lesson wrote to the working directory"
