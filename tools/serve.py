"""Serve a lesson with real uvicorn, the way a learner runs it, and stop it cleanly.

`served(lesson, folder, env)` runs the lesson's `prepare` command (Alembic lessons
migrate first), starts `uvicorn <app> --app-dir <folder>` on a free loopback port in a
process group of its own, waits until `/openapi.json` answers, yields the base URL, and
stops the whole group afterwards. The smoke test and `nox -s fuzz` use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from manifest import Lesson

PR_SET_PDEATHSIG = 1  # prctl(2)


class ServeError(RuntimeError):
    """The lesson could not be prepared or did not come up; the message holds its output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(lesson: Lesson, folder: Path, env: dict[str, str]) -> None:
    """Run the lesson's `prepare` command (e.g. `alembic upgrade head`) in its folder."""
    if not lesson.prepare:
        return
    command = [str(Path(sys.executable).parent / lesson.prepare[0]), *lesson.prepare[1:]]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServeError(f"{' '.join(lesson.prepare)} failed:\n{done.stdout}{done.stderr}")


def wait_until_up(proc: subprocess.Popen[bytes], log: Path, url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace")
            raise ServeError(f"uvicorn exited with {proc.returncode}:\n{output}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise ServeError(f"uvicorn did not answer {url} within {seconds:.0f} s")


def die_with_parent() -> None:
    """In the server's process, before uvicorn starts (Linux): ask the kernel for SIGKILL
    when the process that started it ends. The server has a process group of its own, so
    a time limit that ends the test process (pytest-timeout) or the suite's group would
    otherwise leave it running: a lesson that loops at import then spins for good."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group (uvicorn shuts down, lifespan and all), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def served(
    lesson: Lesson,
    folder: Path,
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    up_within: float = 60.0,
) -> Iterator[str]:
    """The lesson in ``folder``, served on a free port: yields ``http://127.0.0.1:PORT``."""
    prepare(lesson, folder, env)
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", lesson.app, "--app-dir", str(folder),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd or folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, log, f"{base}/openapi.json", up_within)
        yield base
    finally:
        stop(proc)
