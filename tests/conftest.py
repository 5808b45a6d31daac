"""The workbook's test harness, shared by every lesson's suite.

What it does, in the order a test meets it:

* Chooses the tree under test: ``--tree`` or ``WORKBOOK_TREE`` (``solutions``, the
  default; ``lessons``; or any folder laid out the same, such as a learner's copy).
* Keeps one lesson per process. Lessons reuse module names (``main``, ``models``) and
  SQLModel keeps one global metadata, so two lessons in one process would collide. A run
  that collects two lessons stops at once and names the right command.
* Gives each test an empty database. The process has one: a SQLite file in a temporary
  folder, or, when ``WORKBOOK_DATABASE_URL`` names a PostgreSQL server, a role of its own
  with one schema and ``search_path`` set to that schema alone (so the lesson's
  unqualified tables land there whatever driver it uses, and nothing in ``public`` can
  leak in). Before every test it is wiped: the SQLite file is deleted, the schema dropped
  and created again, after the lesson's engines have let go of their connections.
* Imports the lesson with ``DATABASE_URL`` pointing at that database, exactly as uvicorn
  would; warnings raised on import are errors unless the lesson's own conftest lists them
  in ``lesson_import_warnings``. The import is kept for the next test when nothing the
  test could have changed did change (see ``Fingerprint``): same environment, no module
  global rebound, no listener added, no dependency override left, and the test passed.
  Otherwise the next test imports the lesson afresh. Importing once instead of per test
  is what makes a suite run in seconds.
* Hands tests an HTTP client that runs the app's lifespan, a statement counter, and
  helpers every lesson shares (``create_hero``, ``create_team``, ``raw_client``).

The JSON report that the grader and the checker read is a separate plugin,
``tools/workbook_report.py``, loaded with ``-p workbook_report`` from pyproject.toml; this
harness only adds the lesson, tree and backend to it.

Test modules never import lesson code at module level: they reach it through the
``lesson`` fixture, so a stale import from an earlier test cannot leak in.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import scratch_db
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import manifest
import workbook_report

ROOT = Path(__file__).resolve().parents[1]

LESSON_DIR = re.compile(r"^\d\d_[a-z0-9_]+$")
RUN_ONE = (
    "run one lesson per process: `nox -s tests` for all of them, "
    "or `pytest tests/NN_slug` for one (e.g. `pytest tests/01_legacy_orm`)"
)


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workbook")
    group.addoption(
        "--tree",
        default=os.environ.get("WORKBOOK_TREE", "solutions"),
        help="tree under test: solutions (default), lessons, or a folder laid out the same "
        "(env WORKBOOK_TREE)",
    )


@dataclass
class Server:
    """The database backend of this run, fixed for the whole process."""

    backend: str  # "sqlite" or "postgresql"
    admin_url: str | None = None


# What this process runs on, fixed for the whole run (pytest's typed stash, not attributes).
TREE = pytest.StashKey[Path]()
SERVER = pytest.StashKey[Server]()
LESSON = pytest.StashKey["str | None"]()


def pytest_configure(config: pytest.Config) -> None:
    tree = manifest.resolve_tree(config.getoption("--tree"))
    if not tree.is_dir():
        raise pytest.UsageError(f"--tree {config.getoption('--tree')}: no such folder")
    config.stash[TREE] = tree
    url = os.environ.get("WORKBOOK_DATABASE_URL", "").strip()
    server = Server("postgresql", _check_server(url)) if url else Server("sqlite")
    config.stash[SERVER] = server
    config.stash[LESSON] = None
    config.stash.setdefault(workbook_report.META, {}).update(
        {"lesson": None, "tree": str(tree), "backend": server.backend}
    )


def _check_server(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise pytest.UsageError(f"WORKBOOK_DATABASE_URL must name a PostgreSQL server, not {url}")
    admin = parsed.set(drivername="postgresql+psycopg")
    import psycopg

    try:
        with psycopg.connect(scratch_db.libpq(admin), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        # Never skip silently: a URL that was given and does not answer is a failure.
        shown = parsed.render_as_string(hide_password=True)
        raise pytest.UsageError(
            f"WORKBOOK_DATABASE_URL={shown} does not answer: {str(exc).strip()}"
        ) from exc
    return admin.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- collection


def lesson_slug_of(path: Path) -> str | None:
    try:
        parts = path.resolve().relative_to(ROOT / "tests").parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and LESSON_DIR.match(parts[0]) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slugs = sorted({s for item in items if (s := lesson_slug_of(item.path))})
    if len(slugs) > 1:
        pytest.exit(f"{len(slugs)} lessons collected in one process; {RUN_ONE}", returncode=4)
    config.stash[LESSON] = slugs[0] if slugs else None
    config.stash[workbook_report.META]["lesson"] = config.stash[LESSON]
    # Backend-specific tests are deselected, not skipped: pytest counts them as deselected.
    other = "postgres_only" if config.stash[SERVER].backend == "sqlite" else "sqlite_only"
    dropped = [i for i in items if i.get_closest_marker(other)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if not i.get_closest_marker(other)]


# --------------------------------------------------------------------------- report


def pytest_report_header(config: pytest.Config) -> list[str]:
    where = (
        "SQLite, one file wiped before each test"
        if config.stash[SERVER].backend == "sqlite"
        else "PostgreSQL, one schema dropped and created before each test"
    )
    return [f"workbook: tree {config.stash[TREE]}, databases: {where}"]


# --------------------------------------------------------------------------- the lesson


@pytest.fixture(scope="session")
def tree(pytestconfig: pytest.Config) -> Path:
    """The tree under test (solutions/, lessons/, or a learner's copy)."""
    return pytestconfig.stash[TREE]


@pytest.fixture(scope="session")
def lesson_info(request: pytest.FixtureRequest) -> manifest.Lesson:
    """The manifest entry of the lesson whose tests are running."""
    slug = lesson_slug_of(Path(request.node.path)) or request.config.stash[LESSON]
    if slug is None:
        raise RuntimeError("lesson_info is only available to tests under tests/NN_slug/")
    return manifest.find_lesson(slug)


@pytest.fixture(scope="session")
def lesson_dir(tree: Path, lesson_info: manifest.Lesson) -> Path:
    """The folder of the lesson under test, inside the chosen tree."""
    folder = tree / lesson_info.slug
    if not folder.is_dir():
        pytest.fail(f"{folder} does not exist: is --tree right?", pytrace=False)
    return folder


@dataclass
class Database:
    """The process's database, emptied before each test (the ``db`` fixture)."""

    backend: str
    url: str  # sync driver: sqlite or postgresql+psycopg
    async_url: str  # async driver: sqlite+aiosqlite or postgresql+asyncpg
    admin_url: str | None = None
    path: Path | None = None  # the SQLite file
    schema: str | None = None  # the PostgreSQL role and schema
    _engines: list[Engine] = field(default_factory=list)

    def engine(self, **kwargs: Any) -> Engine:
        """A sync engine on this database, for tests that look at what is really stored."""
        engine = create_engine(self.url, **kwargs)
        self._engines.append(engine)
        return engine

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()

    def wipe(self) -> None:
        """Empty the database: nothing a previous test stored, created or migrated is left."""
        if self.path is not None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        assert self.admin_url is not None and self.schema is not None
        scratch_db.wipe(self.admin_url, self.schema)


@pytest.fixture(scope="session")
def process_database(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """The one database of this process; ``db`` empties it before each test."""
    server = pytestconfig.stash[SERVER]
    if server.backend == "postgresql":
        yield from _postgres_database(server)
        return
    # In memory (/dev/shm) where the machine has it: SQLite behaves the same there, but a
    # commit costs well under a millisecond instead of an fsync to disk (5 to 20 ms).
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK)
    folder = (
        Path(tempfile.mkdtemp(prefix="workbook-db-", dir=shm))
        if in_memory
        else tmp_path_factory.mktemp("database")
    )
    path = folder / "workbook.db"
    try:
        yield Database("sqlite", f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}", path=path)
    finally:
        if in_memory:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def db(process_database: Database) -> Iterator[Database]:
    """An empty database for this test (the process's, wiped)."""
    process_database.wipe()
    yield process_database
    process_database.dispose()


def _postgres_database(server: Server) -> Iterator[Database]:
    assert server.admin_url is not None
    name = scratch_db.create(server.admin_url)
    url, async_url = scratch_db.urls(server.admin_url, name)
    database = Database("postgresql", url, async_url, admin_url=server.admin_url, schema=name)
    try:
        yield database
    finally:
        database.dispose()
        scratch_db.drop(server.admin_url, name)


@pytest.fixture
def lesson_env_defaults() -> dict[str, str]:
    """Variables every test of a lesson imports it with; a lesson's conftest overrides this
    (lesson 08 pins its pool settings here, so nothing leaks in from the shell)."""
    return {}


@pytest.fixture
def lesson_env(
    db: Database,
    lesson_info: manifest.Lesson,
    lesson_env_defaults: dict[str, str],
    request: pytest.FixtureRequest,
) -> dict[str, str]:
    """The environment the lesson is imported with: this test's DATABASE_URL, the lesson's
    defaults, then ``@pytest.mark.lesson_env(NAME="value", ...)`` on the test."""
    url = db.async_url if lesson_info.driver == "async" else db.url
    marker = request.node.get_closest_marker("lesson_env")
    return {"DATABASE_URL": url, **lesson_env_defaults, **(marker.kwargs if marker else {})}


@pytest.fixture
def lesson_import_warnings() -> list[tuple[type[Warning], str]]:
    """Warnings the lesson is expected to raise on import, as (class, message regex).

    Empty by default: a lesson that warns on import fails every test. Lesson 01 lists the
    legacy warnings it teaches, and asserts each of them in its own tests.
    """
    return []


def inside(file: str, folder: Path) -> bool:
    """Whether a module's file lies in the folder (a string test: it runs for every
    module in sys.modules, twice per test, so Path arithmetic would cost seconds)."""
    return bool(file) and file.startswith(f"{folder}{os.sep}")


def lesson_module_names(folder: Path) -> set[str]:
    names = {p.stem for p in folder.glob("*.py")}
    names |= {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return names


def forget_lesson_modules(folder: Path) -> None:
    """Drop the lesson's modules from sys.modules, so the next import runs them afresh."""
    names = lesson_module_names(folder)
    for name in list(sys.modules):
        module = sys.modules[name]
        file = getattr(module, "__file__", None) or ""
        if name.split(".")[0] in names or inside(file, folder):
            del sys.modules[name]
    if "sqlmodel" in sys.modules:
        # SQLModel's table classes register in one global MetaData and mapper registry;
        # a fresh import of the lesson must start from empty ones.
        from sqlmodel import SQLModel
        from sqlmodel.main import default_registry

        SQLModel.metadata.clear()
        default_registry.dispose()
        default_registry._class_registry.clear()


class LoadedLesson:
    """The lesson, imported afresh for one test. ``lesson.models`` imports ``models``."""

    def __init__(self, info: manifest.Lesson, folder: Path) -> None:
        self.info = info
        self.dir = folder
        self.app_module, _, self.app_name = info.app.partition(":")

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(name)

    def __getattr__(self, name: str) -> ModuleType:
        # Only the lesson's own modules: `lesson.models`, `lesson.main`, `lesson.app`...
        if name.startswith("_") or name not in lesson_module_names(self.dir):
            raise AttributeError(f"{self.dir.name} has no module {name!r}")
        return self.module(name)

    @property
    def app(self) -> Any:
        return getattr(self.module(self.app_module), self.app_name)

    def modules(self) -> list[tuple[str, ModuleType]]:
        """The lesson's modules that are imported now, by name."""
        return lesson_modules(self.dir)

    def engines(self) -> list[Engine | AsyncEngine]:
        """Every engine (sync or async) the lesson's modules hold at module level."""
        found: dict[int, Engine | AsyncEngine] = {}
        for _, module in self.modules():
            for value in vars(module).values():
                if isinstance(value, Engine | AsyncEngine):
                    found[id(value)] = value
        return list(found.values())


_MODULES_SEEN: dict[Path, tuple[int, list[str]]] = {}


def lesson_modules(folder: Path) -> list[tuple[str, ModuleType]]:
    """The modules of sys.modules that come from the lesson folder, sorted by name.

    Scanning sys.modules (some 1,800 entries) costs milliseconds, and this runs several
    times per test: the names found are kept until sys.modules changes size."""
    size = len(sys.modules)
    seen = _MODULES_SEEN.get(folder)
    if seen is None or seen[0] != size:
        top = lesson_module_names(folder)
        names = sorted(
            name
            for name, module in list(sys.modules.items())
            if name.split(".")[0] in top and inside(getattr(module, "__file__", None) or "", folder)
        )
        _MODULES_SEEN[folder] = seen = (size, names)
    return [(name, sys.modules[name]) for name in seen[1] if name in sys.modules]


def release(engine: Engine | AsyncEngine) -> None:
    """Close a lesson engine's pooled connections after a test.

    A sync engine is simply disposed. An async engine's connections belong to the event
    loop of the test, which is closed by now, so they cannot be closed from here: the
    lesson's lifespan (or the test itself) must ``await engine.dispose()`` inside the loop.
    One left holding connections fails the test, instead of leaking a warning later.
    """
    if isinstance(engine, Engine):
        engine.dispose()
        return
    pool = engine.sync_engine.pool
    held = pool.checkedin() if hasattr(pool, "checkedin") else 0
    engine.sync_engine.dispose(close=False)
    if held:
        raise AssertionError(
            f"the lesson's async engine still pools {held} connection(s) after the test: "
            "run the app's lifespan (it disposes the engine) or `await engine.dispose()` "
            "in the test"
        )


def import_lesson(
    info: manifest.Lesson,
    folder: Path,
    expected: list[tuple[type[Warning], str]],
) -> LoadedLesson:
    """Import the lesson's app module afresh; fail on any warning not in ``expected``."""
    forget_lesson_modules(folder)
    loaded = LoadedLesson(info, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded.module(loaded.app_module)
    for w in caught:
        if not any(
            issubclass(w.category, cls) and re.search(pattern, str(w.message))
            for cls, pattern in expected
        ):
            raise AssertionError(
                f"importing {folder.name} raised {w.category.__name__}: {w.message} "
                f"({w.filename}:{w.lineno}); warnings are errors in this workbook"
            )
    return loaded


def listener_count(value: Any) -> int:
    """Event listeners on an engine, a pool or a sessionmaker's session class (0 for
    anything else): a test that adds one and never removes it changes the lesson."""
    dispatch = getattr(value, "dispatch", None)
    if dispatch is None and isinstance(getattr(value, "class_", None), type):
        dispatch = getattr(value.class_, "dispatch", None)
    names = getattr(dispatch, "_event_names", None)
    if not names:
        return 0
    total = 0
    for name in names:
        listeners = getattr(dispatch, name)
        if hasattr(listeners, "__len__"):
            total += len(listeners)
        else:  # class-level: listeners per class
            total += sum(len(found) for found in listeners._clslevel.values())
    return total


def fingerprint(loaded: LoadedLesson) -> tuple[Any, ...]:
    """What a test could change in an imported lesson and leave changed for the next one:
    which object each module global names, the listeners on its engines, pools and
    session factories, a connection object left connected (``databases.Database``), and
    the app's attributes, routes, middleware, exception handlers, dependency overrides
    and state. Cheap: a few modules."""
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlalchemy.orm import sessionmaker
    from sqlalchemy.pool import Pool

    watched = (Engine, AsyncEngine, Pool, sessionmaker, async_sessionmaker)
    seen: list[Any] = []
    for name, module in loaded.modules():
        values = vars(module)
        seen.append((name, tuple((key, id(value)) for key, value in values.items())))
        for key, value in values.items():
            extra: list[Any] = []
            if isinstance(value, watched):
                extra.append(listener_count(value))
            if isinstance(value, AsyncEngine):
                value = value.sync_engine
                extra.append(listener_count(value))
            if isinstance(value, Engine):
                extra.append(listener_count(value.pool))
            connected = getattr(value, "is_connected", None)
            if isinstance(connected, bool):
                extra.append(connected)
            if extra:
                seen.append((name, key, *extra))
    app = loaded.app
    lazy = {"middleware_stack", "openapi_schema"}  # built on first use, from the rest
    seen.append(tuple((key, id(value)) for key, value in vars(app).items() if key not in lazy))
    seen.append(
        (
            len(app.router.routes),
            len(app.user_middleware),
            tuple(app.exception_handlers),
            tuple(app.dependency_overrides),
            tuple(vars(app.state).get("_state", {})),
        )
    )
    return tuple(seen)


@dataclass
class Imported:
    """The lesson as imported for an earlier test, and what it looked like then."""

    loaded: LoadedLesson
    env: dict[str, str]
    fingerprint: tuple[Any, ...]
    clean: bool = False  # the last test that used it released its engines


IMPORTED = pytest.StashKey[dict[str, Imported]]()


@pytest.fixture
def lesson(
    lesson_info: manifest.Lesson,
    lesson_dir: Path,
    lesson_env: dict[str, str],
    lesson_import_warnings: list[tuple[type[Warning], str]],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[LoadedLesson]:
    """The lesson under test, imported against this test's (empty) database: kept from the
    previous test when that test left it as it found it, imported afresh otherwise."""
    for key, value in lesson_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(lesson_dir))
    cache = request.config.stash.setdefault(IMPORTED, {})
    kept = cache.pop(lesson_info.slug, None)
    if (
        kept is None
        or not kept.clean
        or kept.env != lesson_env
        or fingerprint(kept.loaded) != kept.fingerprint
    ):
        loaded = import_lesson(lesson_info, lesson_dir, lesson_import_warnings)
        kept = Imported(loaded, dict(lesson_env), fingerprint(loaded))
    cache[lesson_info.slug] = kept  # `reimport` takes it out again
    kept.clean = False
    # Starlette builds the middleware stack (exception handlers included) on the first
    # request: build it again, as a fresh import would, from what the test changes.
    kept.loaded.app.middleware_stack = None
    try:
        yield kept.loaded
    finally:
        for engine in kept.loaded.engines():
            release(engine)  # raises if an async engine still pools connections
        # A failed test keeps the import too when it left the fingerprint as it was: on
        # an unsolved lesson most exercise tests fail, and importing the lesson afresh
        # after each of them was most of what a watch run cost.
        kept.clean = True


@pytest.fixture
def reimport(lesson: LoadedLesson, request: pytest.FixtureRequest) -> Callable[..., ModuleType]:
    """``reimport("database")``: forget the lesson's modules, then import one afresh.

    Unlike the ``lesson`` fixture's import, warnings are not recorded here: wrap the call
    in ``pytest.warns`` to assert what a module warns on import. ``forget=False`` imports
    without forgetting, to warn module by module. The next test imports the lesson afresh.
    """
    request.config.stash[IMPORTED].pop(lesson.info.slug, None)

    def _reimport(name: str, forget: bool = True) -> ModuleType:
        if forget:
            for engine in lesson.engines():  # the engines of the import being forgotten
                release(engine)
            forget_lesson_modules(lesson.dir)
        return importlib.import_module(name)

    return _reimport


@pytest.fixture
def app(lesson: LoadedLesson) -> Any:
    """The lesson's FastAPI application."""
    return lesson.app


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """A TestClient used as a context manager, so the app's lifespan runs."""
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def create_hero() -> Callable[..., Any]:
    """``create_hero(client, "Deadpond", age=48)``: POST a hero, assert 200, return the JSON.

    With an ``httpx.AsyncClient`` it returns an awaitable: ``await create_hero(ac, "X")``.
    """

    def _create(client: Any, name: str, secret_name: str | None = None, **extra: Any) -> Any:
        secret = f"{name} secret" if secret_name is None else secret_name
        return post_ok(client, "/heroes/", {"name": name, "secret_name": secret, **extra})

    return _create


@pytest.fixture
def create_team() -> Callable[..., Any]:
    """``create_team(client, "Preventers")``: POST a team, assert 200, return the JSON.

    The headquarters default to ``"<name> HQ"``; other fields go in as keywords. With an
    ``httpx.AsyncClient`` it returns an awaitable, like ``create_hero``.
    """

    def _create(client: Any, name: str, headquarters: str | None = None, **extra: Any) -> Any:
        body = {"name": name, "headquarters": headquarters or f"{name} HQ", **extra}
        return post_ok(client, "/teams/", body)

    return _create


def post_ok(client: Any, path: str, body: dict[str, Any]) -> Any:
    """POST ``body``, assert 200 and return the JSON; an awaitable for an async client."""

    def check(response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    if isinstance(client, httpx.AsyncClient):

        async def post() -> Any:
            return check(await client.post(path, json=body))

        return post()
    return check(client.post(path, json=body))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def unawaited_cursor(db: Any) -> Callable[[], Any]:
    """``async with unawaited_cursor(): ...`` around a load that fails outside the greenlet
    (``MissingGreenlet``: a lazy or expired attribute read without an await).
    ``unawaited_cursor(expected=False)``: around one that may fail (an exercise test).

    On aiosqlite the failed load leaves two things behind. The ``cursor()`` coroutine it
    could not await: Python warns "coroutine 'Connection.cursor' was never awaited" when it
    is collected, so it is collected here, inside the block, and the warning asserted. And
    the connection SQLAlchemy invalidated, then stopped without an await: its worker thread
    answers on this test's event loop, so the block waits for that thread. Otherwise the
    warning, or the thread's "Event loop is closed", lands on whichever test runs next.
    Drivers without a worker thread (psycopg, asyncpg) leave nothing behind.
    """
    from sqlalchemy.pool import Pool

    message = "coroutine 'Connection.cursor' was never awaited"

    @asynccontextmanager
    async def _expect(expected: bool = True) -> AsyncIterator[None]:
        invalidated: list[Any] = []

        def keep(dbapi_connection: Any, record: Any, exception: Any) -> None:
            invalidated.append(dbapi_connection.driver_connection)

        event.listen(Pool, "invalidate", keep)
        try:
            if db.backend != "sqlite":
                yield
                gc.collect()
            elif expected:
                with pytest.warns(RuntimeWarning, match=message):
                    yield
                    gc.collect()
            else:  # an exercise test: its own failure says what went wrong, if it did
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message)
                    yield
                    gc.collect()
        finally:
            event.remove(Pool, "invalidate", keep)
        for connection in invalidated:
            worker = getattr(connection, "_thread", None)  # aiosqlite's worker thread
            for _ in range(500):
                if worker is None or not worker.is_alive():
                    break
                await asyncio.sleep(0.01)
            assert worker is None or not worker.is_alive(), f"{connection!r} did not stop"

    return _expect


@pytest.fixture
async def async_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx.AsyncClient on the app, with its lifespan run (ASGITransport does not)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ac:
            yield ac


@pytest.fixture
async def raw_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``async_client``, but an unhandled error comes back as the 500 a real client gets."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ac:
            yield ac


# --------------------------------------------------------------------------- statements


@dataclass
class StatementLog:
    """SQL statements an engine sent to the database while the counter was open."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"  {i}. {s}" for i, s in enumerate(self.statements, 1))


@pytest.fixture
def after_commit() -> Iterator[Callable[[Callable[[], None]], list[bool]]]:
    """``done = after_commit(fn)``: ``fn()`` runs once, right after the next COMMIT of any
    session (its ``after_commit`` event: the database has committed and, on SQLite, the
    write lock is free; the engine's own ``commit`` event fires before both). ``done`` holds
    True once it ran. The race tests delete a row there, "another request" between the
    app's COMMIT and its answer. Listeners are removed when the test ends."""
    from sqlalchemy.orm import Session  # every session: SQLModel's, an AsyncSession's

    armed: list[Callable[[Any], None]] = []

    def arm(fn: Callable[[], None]) -> list[bool]:
        done: list[bool] = []

        def listener(session: Any) -> None:
            if not done:
                done.append(True)
                fn()

        event.listen(Session, "after_commit", listener)
        armed.append(listener)
        return done

    yield arm
    for listener in armed:
        event.remove(Session, "after_commit", listener)


@pytest.fixture
def before_statement(db: Database) -> Iterator[Callable[..., list[bool]]]:
    """``done = before_statement(engine, "UPDATE hero ", sql, id=1)``: "another request"
    runs ``sql`` (with those parameters) and commits, on a connection of its own, just
    before the first statement the engine (sync or async) sends that starts with the given
    text. ``done`` holds True once it ran. The race tests delete or change a row there,
    between the app's read and its write. Listeners are removed when the test ends."""
    from sqlalchemy import text

    armed: list[tuple[Engine, Callable[..., None]]] = []

    def arm(engine: Engine | AsyncEngine, starts: str, sql: str, **params: Any) -> list[bool]:
        sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        done: list[bool] = []

        def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith(starts) and not done:
                done.append(True)
                with db.engine().begin() as theirs:
                    theirs.execute(text(sql), params)

        event.listen(sync, "before_cursor_execute", listener)
        armed.append((sync, listener))
        return done

    yield arm
    for sync, listener in armed:
        event.remove(sync, "before_cursor_execute", listener)


@pytest.fixture
def statements_after_commit() -> Callable[..., Any]:
    """``with statements_after_commit(engine) as after: ...`` then ``after``: the statements
    the engine (sync or async) sends after a session's COMMIT, until the block ends.

    The COMMIT is a session's ``after_commit`` event (the database has committed; the
    engine's own ``commit`` event fires before). Fails when no session committed.
    """

    @contextmanager
    def capture(engine: Engine | AsyncEngine) -> Iterator[list[str]]:
        from sqlalchemy.orm import Session  # every session: SQLModel's, an AsyncSession's

        target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        committed: list[bool] = []
        after: list[str] = []

        def on_commit(session: Any) -> None:
            committed.append(True)

        def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if committed:
                after.append(" ".join(statement.split()))

        event.listen(Session, "after_commit", on_commit)
        event.listen(target, "before_cursor_execute", on_statement)
        try:
            yield after
        finally:
            event.remove(target, "before_cursor_execute", on_statement)
            event.remove(Session, "after_commit", on_commit)
        assert committed, "no session committed"

    return capture


@pytest.fixture
def count_statements() -> Callable[..., Any]:
    """``with count_statements(engine) as log: ...`` then ``log.count``.

    Counts every statement the engine's cursor executes (a sync Engine or an AsyncEngine),
    through a ``before_cursor_execute`` listener: counted, never assumed.
    """

    @contextmanager
    def counter(engine: Engine | AsyncEngine) -> Iterator[StatementLog]:
        target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        log = StatementLog()

        def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            log.statements.append(" ".join(statement.split()))

        event.listen(target, "before_cursor_execute", listener)
        try:
            yield log
        finally:
            event.remove(target, "before_cursor_execute", listener)

    return counter
