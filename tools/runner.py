"""Running one lesson's suite in a process of its own: time limits, reuse, and reports.

* Each suite is `pytest tests/NN_slug tests/test_smoke.py --tree=...` in a new process
  group. Every test has a time limit (pytest-timeout, `timeout` in pyproject.toml: the one
  place it is set). The limit's thread method ends the whole process; the report plugin
  has written, after every test, which test was running, so the runner records that test
  as "did not finish", deselects it and runs the rest again (a few times at most). The
  whole suite also has a wall-clock limit; past it the process group is killed, uvicorn
  and all.
* Beside the suite's first process, the lesson is imported once in a throwaway process
  (with a time limit): a lesson that does not import is reported once, in words, not as
  N failures, and the suite's process is stopped.
* A suite's result is kept under reports/cache/, keyed by a hash of everything that can
  change it: the lesson's files in the tree under test, its tests, the harness, the
  tools, the lock, the Python version and the database server. The same key is "reused"
  instead of run again. `--fresh` (or WORKBOOK_FRESH=1) runs everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from checker import lesson_files
from manifest import ROOT, Lesson
from warm import WARM, Run

Proc = subprocess.Popen[bytes] | Run  # a process the runner started, or forked

REPORTS = ROOT / "reports"
CACHE_VERSION = "1"
OUTPUT_LIMIT = 20_000  # characters of a suite's output kept in a report
IMPORT_TIMEOUT = 15.0  # seconds for the lesson to import in the pre-check
RESTARTS = 3  # hung tests deselected, one run each, before the suite is given up
SUITE_TIMEOUT = float(os.environ.get("WORKBOOK_SUITE_TIMEOUT", "600"))
STATUSES = ("ok", "failed", "timeout", "does-not-import", "missing", "crashed")


def test_timeout(root: Path = ROOT) -> float:
    """The per-test limit, from pyproject.toml's pytest configuration (its one home)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return float(config["tool"]["pytest"]["ini_options"]["timeout"])


@dataclass
class SuiteResult:
    lesson: str
    tree: str
    backend: str
    status: str  # one of STATUSES
    problem: str = ""  # the status in words, for a learner
    results: list[dict[str, Any]] = field(default_factory=list)
    collection_errors: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    reused: bool = False
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- reuse


def backend_name() -> str:
    url = os.environ.get("WORKBOOK_DATABASE_URL", "").strip()
    return "postgresql" if url else "sqlite"


def _hash_folder(digest: Any, folder: Path, label: str) -> None:
    if not folder.is_dir():
        digest.update(f"{label}: missing\n".encode())
        return
    for rel in sorted(lesson_files(folder)):
        digest.update(f"{label}/{rel}\n".encode())
        digest.update((folder / rel).read_bytes())


def suite_key(lesson: Lesson, tree: Path, extra: tuple[str, ...] = (), root: Path = ROOT) -> str:
    """A hash of everything that can change the outcome of this lesson's suite."""
    digest = hashlib.sha256(f"workbook-suite {CACHE_VERSION}\n".encode())
    _hash_folder(digest, tree / lesson.slug, "lesson")
    _hash_folder(digest, root / "tests" / lesson.slug, "tests")
    _hash_folder(digest, root / "tools", "tools")
    for name in ("tests/conftest.py", "tests/test_smoke.py", "uv.lock", "pyproject.toml"):
        path = root / name
        digest.update(name.encode() + (path.read_bytes() if path.exists() else b"-"))
    digest.update(repr(lesson).encode())  # its manifest entry
    digest.update(sys.version.encode())
    digest.update(os.environ.get("WORKBOOK_DATABASE_URL", "").strip().encode())
    digest.update(repr(extra).encode())
    return digest.hexdigest()[:32]


def fresh_requested() -> bool:
    return os.environ.get("WORKBOOK_FRESH", "") not in ("", "0")


# --------------------------------------------------------------------------- processes


def stop_group(proc: Proc) -> None:
    """Stop a process and everything it started (its process group): uvicorn included."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure nothing else of the group is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def run_group(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float,
    started: Callable[[Proc], None] | None = None,
) -> tuple[int | None, bool]:
    """Run ``cmd`` in a new process group, output to ``log``. (exit code, timed out).

    A `python -m pytest` or `python -c` command is forked from the warm pytest (warm.py),
    which has imported the libraries already; anything else is a new process.
    ``started`` is called with the process once it runs (another thread may stop it)."""
    proc = WARM.start(cmd, cwd, env, log)
    if started is not None:
        started(proc)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        return None, True
    stop_group(proc)  # anything it left running in its group
    return code, False


def tail(log: Path, limit: int = OUTPUT_LIMIT) -> str:
    size = log.stat().st_size if log.exists() else 0
    with log.open("rb") as f:
        if size > limit:
            f.seek(size - limit)
        text = f.read().decode("utf-8", errors="replace")
    if size > limit:
        shown = f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} bytes"
        text = f"[output truncated: {shown} in all, the last {limit:,} characters follow]\n" + text
    return text


# --------------------------------------------------------------------------- import check

_IMPORT_PROBE = r"""
import importlib, json, os, sys, traceback, warnings
folder, module = sys.argv[1], sys.argv[2]
sys.path.insert(0, folder)
warnings.simplefilter("ignore")
try:
    importlib.import_module(module)
except BaseException as exc:
    info = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, SyntaxError):
        info.update(file=exc.filename, line=exc.lineno, text=exc.text, offset=exc.offset,
                    message=exc.msg)
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if os.path.abspath(f.filename).startswith(os.path.abspath(folder))]
        if frames:
            info.update(file=frames[-1].filename, line=frames[-1].lineno, text=frames[-1].line)
    sys.stdout.flush()
    sys.stdout.write("\nWORKBOOK-IMPORT-ERROR " + json.dumps(info) + "\n")
    sys.exit(3)
"""


def shown_path(path: Path | str) -> str:
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def describe_import_error(info: dict[str, Any], folder: Path) -> str:
    """ "lessons/02_x/crud.py does not import: SyntaxError: invalid syntax (line 59)", and
    the offending line with a caret under the place."""
    where = shown_path(info["file"]) if info.get("file") else shown_path(folder)
    line = f" (line {info['line']})" if info.get("line") else ""
    text = f"{where} does not import: {info['type']}: {info['message']}{line}"
    source = (info.get("text") or "").rstrip("\n")
    if source and info.get("line"):
        stripped = source.lstrip()
        gutter = f"    {info['line']} | "
        text += f"\n{gutter}{stripped}"
        if info.get("offset"):
            column = max(0, int(info["offset"]) - 1 - (len(source) - len(stripped)))
            text += "\n" + " " * (len(gutter) - 2) + "| " + " " * column + "^"
    return text


def suite_env() -> dict[str, str]:
    """The environment of the processes a suite starts. Bytecode may be written: with
    PYTHONDONTWRITEBYTECODE set, every suite would compile its tests and the lesson from
    source again, about a second each time."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def missing_files(lesson: Lesson, folder: Path, root: Path = ROOT) -> tuple[str, str] | None:
    """(status, words) when a Python file the solution has is missing from the copy."""
    reference = root / "solutions" / lesson.slug
    missing = sorted(
        rel
        for rel in lesson_files(reference)
        if rel.endswith(".py") and not (folder / rel).exists()
    )
    if missing:
        names = ", ".join(shown_path(folder / rel) for rel in missing)
        return "does-not-import", f"{names}: missing (the lesson cannot run without it)"
    return None


def import_check(lesson: Lesson, folder: Path, root: Path = ROOT) -> tuple[str, str] | None:
    """None when the lesson imports; else (status, words) for the report."""
    failure = missing_files(lesson, folder, root)
    if failure is not None:
        return failure
    module = lesson.app.partition(":")[0]
    with tempfile.TemporaryDirectory(prefix="workbook-import-") as tmp:
        database = Path(tmp) / "probe.db"
        scheme = "sqlite+aiosqlite" if lesson.driver == "async" else "sqlite"
        env = {**suite_env(), "DATABASE_URL": f"{scheme}:///{database}"}
        log = Path(tmp) / "output.txt"
        cmd = [sys.executable, "-c", _IMPORT_PROBE, str(folder.resolve()), module]
        code, timed_out = run_group(cmd, Path(tmp), env, log, IMPORT_TIMEOUT)
        output = log.read_text(errors="replace") if log.exists() else ""
    if timed_out:
        return (
            "does-not-import",
            f"{shown_path(folder)} does not finish importing in {IMPORT_TIMEOUT:.0f} s: "
            "an infinite loop, or a call that blocks, at module level?",
        )
    if code == 0:
        return None
    for line in reversed(output.splitlines()):
        if line.startswith("WORKBOOK-IMPORT-ERROR "):
            info = json.loads(line.removeprefix("WORKBOOK-IMPORT-ERROR "))
            return "does-not-import", describe_import_error(info, folder)
    return "does-not-import", f"{shown_path(folder)} does not import:\n{output[-2000:]}"


class ImportProbe:
    """The import check, run beside the suite's first pytest process rather than before
    it (a second core, and a second less to wait). If the lesson does not import, the
    probe stops that pytest process: its N failures would only repeat the one cause."""

    def __init__(self, lesson: Lesson, folder: Path, root: Path) -> None:
        self.failure = missing_files(lesson, folder, root)
        self._lock = threading.Lock()
        self._procs: list[Proc] = []
        self._done = threading.Event()
        if self.failure is None:
            threading.Thread(target=self._probe, args=(lesson, folder, root), daemon=True).start()
        else:
            self._done.set()

    def _probe(self, lesson: Lesson, folder: Path, root: Path) -> None:
        failure = import_check(lesson, folder, root)
        with self._lock:
            self.failure = failure
            self._done.set()
            procs = list(self._procs) if failure is not None else []
        for proc in procs:
            stop_group(proc)

    def watch(self, proc: Proc) -> None:
        """Stop this suite process too if the lesson turns out not to import."""
        with self._lock:
            self._procs.append(proc)
            failed = self._done.is_set() and self.failure is not None
        if failed:
            stop_group(proc)

    def result(self) -> tuple[str, str] | None:
        self._done.wait()
        return self.failure


# --------------------------------------------------------------------------- the suite


def pytest_command(
    lesson: Lesson,
    tree: Path,
    report: Path,
    deselect: list[str],
    extra: tuple[str, ...],
    limit: float,
) -> list[str]:
    cmd = [
        sys.executable, "-m", "pytest", f"tests/{lesson.slug}", "tests/test_smoke.py",
        f"--tree={tree}", "-q", "-p", "no:randomly",
        # Native tracebacks also dodge a CPython 3.11.7 crash while pytest formats some
        # tracebacks of broken code (gh-106905).
        "--tb=native", f"--workbook-report={report}",
        # The per-test limit ends the process (thread method): a test stuck in a worker
        # thread cannot be interrupted any other way. The runner restarts the rest.
        "-o", "timeout_method=thread", "-o", f"timeout={limit:g}",
    ]  # fmt: skip
    for nodeid in deselect:
        cmd.append(f"--deselect={nodeid}")
    return cmd + list(extra)


def hung_message(nodeid: str, exercise: int | None, limit: float) -> str:
    name = nodeid.rsplit("::", 1)[-1]
    who = f"exercise {exercise}: {name}" if exercise is not None else name
    return f"{who} did not finish in {limit:.0f} s: an infinite loop, or a call that blocks?"


def shard_count() -> int:
    """How many processes one suite runs in: one per core, at most two (a suite has a few
    hundred tests; a third process would cost more start-up than it saves)."""
    value = os.environ.get("WORKBOOK_SHARDS", "").strip()
    if value:
        return max(1, int(value))
    return max(1, min(2, os.cpu_count() or 1))


def run_suite(
    lesson: Lesson,
    tree: Path,
    use_cache: bool = True,
    extra: tuple[str, ...] = (),
    suite_timeout: float = SUITE_TIMEOUT,
    import_first: bool = True,
    root: Path = ROOT,
    shards: int | None = None,
) -> SuiteResult:
    """Run (or reuse) one lesson's suite on one tree; never raises for the lesson's sake.

    ``root`` is the workbook whose tests/ and tools grade (a copy, in the checker's tests).
    ``shards``: processes to split the suite over (default `shard_count()`; the class
    mode, which runs one suite per core already, passes 1).
    """
    key = suite_key(lesson, tree, extra, root)
    cache = root / "reports" / "cache"
    cached = cache / f"{key}.json"
    if use_cache and not fresh_requested() and cached.exists():
        data = json.loads(cached.read_text())
        result = SuiteResult(**data)
        result.reused = True
        return result
    start = time.monotonic()
    count = shard_count() if shards is None else max(1, shards)
    result = _run(lesson, tree, extra, suite_timeout, import_first, root, count)
    result.seconds = round(time.monotonic() - start, 2)
    result.key = key
    if result.status in ("ok", "failed", "does-not-import", "missing"):
        cache.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(result.to_json()))
    return result


@dataclass
class _Share:
    """What one process of a suite (one shard) found, over its restarts."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    hung: list[str] = field(default_factory=list)
    collected: dict[str, int | None] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    collection_errors: list[dict[str, Any]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # the whole suite's, when sharded
    exit_code: int | None = None
    status: str = "ok"
    problem: str = ""
    import_failure: tuple[str, str] | None = None


def _run_share(
    lesson: Lesson,
    tree: Path,
    extra: tuple[str, ...],
    suite_timeout: float,
    deadline: float,
    probe: ImportProbe | None,
    root: Path,
    tmp: Path,
    label: str,
) -> _Share:
    """One process's part of the suite, restarted after each test that hangs."""
    share = _Share()
    limit = test_timeout(root)
    env = suite_env()
    for attempt in range(RESTARTS + 1):
        report = tmp / f"report-{label}-{attempt}.json"
        log = tmp / f"log-{label}-{attempt}.txt"
        cmd = pytest_command(lesson, tree, report, share.hung, extra, limit)
        remaining = max(1.0, deadline - time.monotonic())
        started = probe.watch if probe is not None else None
        code, timed_out = run_group(cmd, root, env, log, remaining, started)
        failure = probe.result() if probe is not None else None
        if failure is not None:
            share.import_failure = failure
            return share
        share.outputs.append(tail(log))
        data = json.loads(report.read_text()) if report.exists() else {}
        for row in data.get("results", []):
            share.results[row["nodeid"]] = row
        for row in data.get("collected", []):
            share.collected.setdefault(row["nodeid"], row["exercise"])
        share.collection_errors = data.get("collection_errors", [])
        share.order = share.order or data.get("order", [])
        share.exit_code = code
        running = data.get("running")
        finished = data.get("exit_status") is not None
        if timed_out:
            share.status = "timeout"
            share.problem = f"the suite did not finish in {suite_timeout:.0f} s" + (
                f" (it was running {running})" if running else ""
            )
            if running:
                share.results[running] = {
                    "nodeid": running, "exercise": None, "outcome": "timeout",
                    "message": f"the suite's {suite_timeout:.0f} s limit stopped it here",
                }  # fmt: skip
            break
        if finished or not running:
            if not data:
                share.status = "crashed"
                share.problem = f"pytest wrote no report (exit {code})"
            break
        # The per-test limit ended the process while `running` ran.
        share.hung.append(running)
        share.results[running] = {
            "nodeid": running, "exercise": None, "outcome": "timeout",
            "message": hung_message(running, None, limit),
        }  # fmt: skip
        if attempt == RESTARTS:
            share.status = "timeout"
            share.problem = (
                f"{len(share.hung)} tests did not finish in {limit:.0f} s; the rest did not run"
            )
    return share


def _run(
    lesson: Lesson,
    tree: Path,
    extra: tuple[str, ...],
    suite_timeout: float,
    import_first: bool,
    root: Path,
    shards: int = 1,
) -> SuiteResult:
    base = SuiteResult(lesson.slug, str(tree), backend_name(), "ok")
    folder = tree / lesson.slug
    if not folder.is_dir():
        base.status, base.problem = "missing", f"{shown_path(folder)} is missing"
        return base
    probe = ImportProbe(lesson, folder, root) if import_first else None
    if probe is not None and probe.failure is not None:  # a missing file: nothing to run
        base.status, base.problem = probe.failure
        return base
    limit = test_timeout(root)
    deadline = time.monotonic() + suite_timeout
    with tempfile.TemporaryDirectory(prefix="workbook-suite-") as name:
        tmp = Path(name)
        if shards == 1:
            parts = [
                _run_share(lesson, tree, extra, suite_timeout, deadline, probe, root, tmp, "0")
            ]
        else:
            found: dict[int, _Share] = {}

            def one(index: int) -> None:
                try:
                    found[index] = _run_share(
                        lesson, tree, (*extra, f"--workbook-shard={index}/{shards}"),
                        suite_timeout, deadline, probe, root, tmp, str(index),
                    )  # fmt: skip
                except Exception as exc:  # noqa: BLE001  (a thread's error is otherwise lost)
                    problem = f"share {index} of the suite could not run: {exc!r}"
                    found[index] = _Share(status="crashed", problem=problem)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(shards)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            parts = [found[i] for i in range(shards)]
    for part in parts:
        if part.import_failure is not None:
            # The lesson does not import: say that once, not as N failing tests.
            base.status, base.problem = part.import_failure
            return base
    results: dict[str, dict[str, Any]] = {}
    collected: dict[str, int | None] = {}
    hung: list[str] = []
    outputs: list[str] = []
    for part in parts:
        results.update(part.results)
        for nodeid, number in part.collected.items():
            collected.setdefault(nodeid, number)
        hung += part.hung
        outputs += part.outputs
        base.collection_errors = base.collection_errors or part.collection_errors
        if base.exit_code in (None, 0):
            base.exit_code = part.exit_code
        if base.status == "ok" and part.status != "ok":
            base.status, base.problem = part.status, part.problem
    _fill_exercises(collected, results, limit)
    # The results in collection order, whichever shard ran them: "first failure" means
    # the same test however the suite was split.
    order = {nodeid: i for i, nodeid in enumerate(next((p.order for p in parts if p.order), []))}
    base.results = sorted(results.values(), key=lambda row: order.get(row["nodeid"], len(order)))
    joined = "\n".join(outputs)
    if len(joined) > OUTPUT_LIMIT:
        head = next((o.splitlines()[0] for o in outputs if o.startswith("[output truncated")), "")
        joined = (head or "[output truncated]") + "\n" + joined[-OUTPUT_LIMIT:]
    base.output = joined
    if base.status == "ok":
        if hung:
            base.status = "timeout"
            base.problem = "; ".join(
                r["message"] for r in base.results if r["outcome"] == "timeout"
            )
        elif base.collection_errors:
            base.status = "failed"
            base.problem = (
                "the tests could not be collected: "
                + base.collection_errors[0]["message"].strip().splitlines()[-1][:300]
            )
        elif any(r["outcome"] != "passed" for r in base.results) or not base.results:
            base.status = "failed"
    return base


def _fill_exercises(
    numbers: dict[str, int | None], results: dict[str, dict[str, Any]], limit: float
) -> None:
    """A test stopped by its time limit has no report row of its own: take its exercise
    number from the collected items the report lists, and say it in its message."""
    for nodeid, row in results.items():
        if row["outcome"] == "timeout":
            row["exercise"] = numbers.get(nodeid)
            if "did not finish in" in row["message"]:
                row["message"] = hung_message(nodeid, row["exercise"], limit)


def run_cached(name: str, cmd: list[str], inputs: list[Path], root: Path = ROOT) -> int:
    """Run ``cmd`` (output shown) unless it passed before with the same ``inputs``."""
    digest = hashlib.sha256(f"workbook-cached {CACHE_VERSION} {name} {cmd}\n".encode())
    for path in inputs:
        if path.is_dir():
            _hash_folder(digest, path, path.relative_to(root).as_posix())
        elif path.exists():
            digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    digest.update(sys.version.encode())
    marker = root / "reports" / "cache" / f"{name}-{digest.hexdigest()[:32]}.passed"
    if marker.exists() and not fresh_requested():
        print(f"{name}: reused (passed before, and nothing it depends on has changed)")
        return 0
    code = subprocess.run(cmd, cwd=root).returncode
    if code == 0:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("passed\n")
    return code
