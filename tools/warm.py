"""A warm pytest: one process imports pytest and the libraries the suites use, once, and
forks a child for every run.

Starting a suite's process costs about two seconds before its first test, and almost all
of it is importing pytest, FastAPI, SQLAlchemy, Pydantic and their kin. A watch loop that
runs the tests on every save, and a grade that runs one lesson's suite in two processes,
would pay that every time. Here it is paid once: the *zygote* (this module, run as a
script) imports them and then waits for requests on its standard input, one JSON line
each; for each it forks a child that runs ``pytest.main`` with the request's arguments,
environment and working folder, its output in the request's log file, in a process group
of its own. The lesson itself is never imported by the zygote, so every run sees the
learner's files as they are now.

The zygote stays single-threaded (a fork copies only the calling thread): it polls its
input and its children in one loop. Where ``os.fork`` does not exist (Windows), or the
zygote cannot start, `Warm.start` returns a plain process instead: slower, same results.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

# What the suites import anyway. Anything imported here must not start a thread or an
# event loop at import (none of these do); the lesson's own modules are never listed.
PRELOAD = (
    "pytest",
    "_pytest.python",
    "_pytest.fixtures",
    "anyio",
    "httpx",
    "pydantic",
    "fastapi",
    "fastapi.testclient",
    "starlette.testclient",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "sqlmodel",
    "jsonschema",
    "pytest_timeout",
    "anyio.pytest_plugin",
)


# --------------------------------------------------------------------------- the zygote

ALREADY_IMPORTED = "Module already imported so cannot be rewritten"


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the run the request describes; never returns."""
    code = 70
    try:
        os.setsid()  # a process group of its own, which the runner may kill whole
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.path[0] = request["cwd"]  # as `python -m pytest` run in that folder
        sys.dont_write_bytecode = "PYTHONDONTWRITEBYTECODE" in os.environ
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if "code" in request:  # `python -c CODE ARGS...`
            sys.argv = ["-c", *request["args"]]
            try:
                exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (exit_.code is not None)
        else:  # `python -m pytest ARGS...`
            import pytest

            # The zygote imported anyio, which is also a pytest plugin: pytest can no longer
            # rewrite its asserts, and says so. The plugin has no asserts to rewrite.
            args = ["-W", f"ignore:{ALREADY_IMPORTED}:pytest.PytestAssertRewriteWarning"]
            args += request["args"]
            sys.argv = ["pytest", *args]
            code = int(pytest.main(args))
    except BaseException as exc:  # noqa: BLE001 - report anything, then leave
        with contextlib.suppress(Exception):
            print(f"warm pytest child failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """The zygote's loop: a request in, a child out; each child's exit reported."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    from _pytest.config import default_plugins

    for name in default_plugins:  # pytest's own plugins, imported by every run
        with contextlib.suppress(ImportError):
            __import__(f"_pytest.{name}")
    # What is imported now lives as long as the zygote: out of the collector's sight,
    # the children's collections (pytest runs two at the end of every session) only
    # walk what the run itself made.
    gc.freeze()
    out = sys.stdout
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    children: set[int] = set()
    stdin = sys.stdin.buffer
    pending = b""
    open_input = True
    while open_input or children:
        if open_input:
            readable, _, _ = select.select([stdin], [], [], 0.02)
            if readable:
                chunk = os.read(stdin.fileno(), 65536)
                if not chunk:
                    open_input = False
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        _child(request)
                    children.add(pid)
                    out.write(json.dumps({"id": request["id"], "pid": pid}) + "\n")
                    out.flush()
        else:
            select.select([], [], [], 0.02)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                out.write(json.dumps({"pid": pid, "exit": code}) + "\n")
                out.flush()


# --------------------------------------------------------------------------- the client


class Run:
    """One forked run, as the runner sees it: like the part of ``subprocess.Popen`` that
    `runner.run_group` uses (``pid``, ``wait(timeout)``), the pid leading its group."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("warm pytest", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode


class Warm:
    """A zygote, started on first use and kept for the life of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._runs: dict[int, Run] = {}
        self._started: dict[int, threading.Event] = {}
        self._pids: dict[int, int] = {}
        self._exits: dict[int, int] = {}
        self._next = 0
        self._broken = not hasattr(os, "fork")

    def _ensure(self) -> subprocess.Popen[bytes] | None:
        if self._broken:
            return None
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        env = {**os.environ}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        try:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip
        except OSError:
            self._broken = True
            return None
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not first.startswith(b'{"ready"'):
            self._broken = True
            with contextlib.suppress(Exception):
                proc.kill()
            return None
        self._proc = proc
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()
        return proc

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            message = json.loads(line)
            with self._lock:
                if "id" in message:
                    self._pids[message["id"]] = message["pid"]
                    self._started[message["id"]].set()
                elif "exit" in message:
                    run = self._runs.pop(message["pid"], None)
                    if run is None:
                        self._exits[message["pid"]] = message["exit"]
                    else:
                        run._exited(message["exit"])
        with self._lock:  # the zygote is gone: nothing more will be reported
            for run in self._runs.values():
                run._exited(-9)
            self._runs.clear()

    def start(
        self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path
    ) -> Run | subprocess.Popen[bytes]:
        """Run ``cmd`` (``[python, "-m", "pytest", ...]`` or ``[python, "-c", CODE, ...]``)
        in ``cwd`` with ``env``, output to ``log``: forked from the zygote, or as a plain
        process when there is none (or the command is anything else)."""
        forkable = len(cmd) >= 3 and (cmd[1:3] == ["-m", "pytest"] or cmd[1] == "-c")
        proc = None
        with self._lock:
            if forkable and os.environ.get("WORKBOOK_WARM", "1") != "0":
                proc = self._ensure()
            if proc is not None:
                self._next += 1
                ident = self._next
                self._started[ident] = threading.Event()
        if proc is None:
            with log.open("wb") as out:
                return subprocess.Popen(
                    cmd, cwd=cwd, env=env, stdout=out,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
        request: dict[str, Any] = {"id": ident, "cwd": str(cwd), "env": env, "log": str(log)}
        if cmd[1] == "-c":
            request.update(code=cmd[2], args=cmd[3:])
        else:
            request.update(args=cmd[3:])
        assert proc.stdin is not None
        with self._lock:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
        if not self._started[ident].wait(30):
            raise RuntimeError("the warm pytest did not start a run in 30 s")
        with self._lock:
            pid = self._pids.pop(ident)
            del self._started[ident]
            run = Run(pid)
            if pid in self._exits:
                run._exited(self._exits.pop(pid))
            else:
                self._runs[pid] = run
        return run

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(5)


WARM = Warm()


if __name__ == "__main__":
    serve()
