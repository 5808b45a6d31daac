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
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import manifest

ROOT = Path(__file__).resolve().parents[1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "smoke_lesson" not in metafunc.fixturenames:
        return
    lessons = manifest.load_lessons()
    named = {Path(arg).resolve().name for arg in metafunc.config.args}
    chosen = [lesson for lesson in lessons if lesson.slug in named] or lessons
    metafunc.parametrize("smoke_lesson", chosen, ids=[lesson.slug for lesson in chosen])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(proc: subprocess.Popen[bytes], log: Path, url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace")
            pytest.fail(f"uvicorn exited with {proc.returncode}:\n{output}", pytrace=False)
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn did not answer {url} within {seconds} s", pytrace=False)


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
    bin_dir = Path(sys.executable).parent
    if smoke_lesson.prepare:
        command = [str(bin_dir / smoke_lesson.prepare[0]), *smoke_lesson.prepare[1:]]
        subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", smoke_lesson.app, "--app-dir", str(folder),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=elsewhere, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_up(proc, log, f"{base}/openapi.json")
        assert httpx.get(f"{base}/docs").status_code == 200
        created = httpx.post(
            f"{base}/heroes/", json={"name": "Smoke Test", "secret_name": "Uvi Corn", "age": 1}
        )
        assert created.status_code == 200, created.text
        hero = created.json()
        assert isinstance(hero["id"], int)
        read = httpx.get(f"{base}/heroes/{hero['id']}")
        assert read.status_code == 200
        assert (read.json()["name"], read.json()["age"]) == ("Smoke Test", 1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if db.backend == "sqlite":
        # The database was created beside the lesson's code, not where uvicorn started.
        assert sorted(p.name for p in folder.glob("*.db")), "no database file beside the code"
        assert list(elsewhere.iterdir()) == [], "the lesson wrote to the working directory"
