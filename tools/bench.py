"""`nox -s bench [-- NN ...] [--smoke] [--out DIR]`: the workbook's speed claims, measured.

Each claim is a ratio taken in one run on one machine, written under `docs/bench/` as
`NN_<claim>.csv` (the numbers), `NN_<claim>.svg` (the plot) and `NN_<claim>.md` (the figure
in words: the ratio, the machine, the date and the command; a lesson README embeds it as is):

* 03, SQLite: statements and time to load N teams with 5 heroes each (N = 10, 100, 1000),
  lazy loading against `selectinload` and `joinedload`, on lesson 03's own models.
* 06: requests per second for 50 concurrent requests to routes that wait 50 ms: a blocking
  call in `async def`, an awaited one, and a `def` route (uvicorn serves this file's app).
* 08, PostgreSQL: lesson 08's app under uvicorn, requests per second against concurrency
  with `QueuePool` and `NullPool`; latencies when the pool is exhausted (the 503 path).
* 10: lesson 10's rollback-pattern tests run as the suite runs them and with a migration
  per test (its conftest's LESSON10_MIGRATE_EVERY_TEST switch; on SQLite, and on
  PostgreSQL too when given); beside it, the set-up alone, in a loop on SQLite.
* 11, PostgreSQL: the capstone's list of heroes against the same query through raw asyncpg
  in a minimal FastAPI route returning plain dicts, both under uvicorn.

The PostgreSQL claims run when `WORKBOOK_DATABASE_URL` names a server; they use a database
of their own there, `workbook_bench`, with a scratch role and schema per claim (dropped
afterwards). Servers listen on 127.0.0.1 only and are stopped with their process group;
every load is bounded in requests and in time. A ratio below the floor a maintainer should
see on 2 cores is printed as a finding, never an error. `--smoke` runs tiny sizes into
`reports/bench/` (not `docs/`), without floors, so CI can check the bench still works.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime
import importlib
import json
import math
import os
import platform
import shutil
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import scratch_db  # noqa: E402
import serve  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import manifest  # noqa: E402

ROOT = TOOLS.parent
DOCS = ROOT / "docs" / "bench"
SMOKE_OUT = ROOT / "reports" / "bench"
# Where a lesson README (lessons/NN_slug/README.md) finds the outputs.
FROM_README = "../../docs/bench"


# --------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(scratch_db.libpq(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {str(row[0]).split()[0] if row else '?'}"


@dataclass
class Context:
    out: Path
    smoke: bool
    server: str  # WORKBOOK_DATABASE_URL, or "" (SQLite only)
    tmp: Path
    lesson10: str = "auto"  # "suite", "loop" or "auto"

    def machine(self, database: str) -> str:
        cores = os.cpu_count() or 1
        return f"{cores} cores ({cpu_model()}), Python {platform.python_version()}, {database}"

    def command(self, number: str, postgres: bool) -> str:
        smoke = " --smoke" if self.smoke else ""
        if postgres:
            url = make_url(self.server).render_as_string(hide_password=True)
            return f"WORKBOOK_DATABASE_URL={url} nox -s bench -- {number}{smoke}"
        return f"nox -s bench -- {number}{smoke}"


def sqlite_name() -> str:
    return f"SQLite {sqlite3.sqlite_version}"


# --------------------------------------------------------------------------- outputs


@dataclass
class Outcome:
    """What a claim measured: its rows (the CSV), its plot, and its figure in words."""

    rows: list[dict[str, Any]]
    plot: Callable[[Path], None]
    database: str
    headline: str  # the figure, one Markdown sentence with the ratio in it
    ratio: float
    floor: float
    floor_text: str  # "selectinload at least 10 times as fast as lazy loading at N = 1000"
    table: list[str] = field(default_factory=list)  # Markdown table lines
    notes: list[str] = field(default_factory=list)  # sentences after the table


@dataclass(frozen=True)
class Claim:
    number: str
    name: str  # file stem: "03_loading_strategies"
    title: str  # the plot's alt text
    postgres: bool
    run: Callable[[Context], Outcome]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    # Equal data, equal file: fixed ids in the SVG, and no date in its metadata (below).
    matplotlib.rcParams["svg.hashsalt"] = "workbook-bench"
    matplotlib.rcParams["svg.fonttype"] = "path"
    import matplotlib.pyplot as plt

    return plt


def save_svg(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    pyplot().close(fig)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def times(ratio: float) -> str:
    return f"{ratio:.1f}×"


def snippet(ctx: Context, claim: Claim, outcome: Outcome, started: str) -> str:
    """The figure in words, to paste between markers in the lesson's README as is."""
    command = ctx.command(claim.number, "PostgreSQL" in outcome.database)
    met = outcome.ratio >= outcome.floor
    lines = [
        f"<!-- generated by `{command}` (tools/bench.py): edit that, not this -->",
        f"![{claim.title}]({FROM_README}/{claim.name}.svg)",
        "",
        outcome.headline,
        "",
    ]
    if outcome.table:
        lines += [*outcome.table, ""]
    if outcome.notes:
        lines += [" ".join(outcome.notes), ""]
    if ctx.smoke:
        lines += ["A smoke run: sizes too small for the figures to mean anything.", ""]
    else:
        verdict = "met" if met else "**missed** on this run"
        lines += [
            f"The floor a maintainer should see on 2 cores: {outcome.floor_text}; {verdict}.",
            "",
        ]
    lines += [
        f"Measured on {datetime.date.today().isoformat()}, in one run on one machine: "
        f"{ctx.machine(outcome.database)}; load average {started} when it started. "
        "Absolute times depend on the machine and on what else it runs; the ratios are "
        f"what carries over. To measure it again: `{command}` (it rewrites this text, the "
        f"plot and [its numbers]({FROM_README}/{claim.name}.csv)).",
    ]
    return "\n".join(lines) + "\n"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return f"{os.getloadavg()[0]:.1f}"
    return "unknown"


# --------------------------------------------------------------------------- HTTP load


@dataclass
class Load:
    results: list[tuple[int, float]]  # (status, seconds); status 0 for a transport error
    seconds: float

    def count(self, status: int | None = None) -> int:
        return sum(1 for s, _ in self.results if status is None or s == status)

    @property
    def rps(self) -> float:
        return self.count(200) / self.seconds if self.seconds else 0.0

    def ms(self, q: float, status: int | None = None) -> float:
        return percentile([t for s, t in self.results if status in (None, s)], q) * 1000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered) - 1e-9)))
    return ordered[rank - 1]


async def load(
    url: str,
    concurrency: int,
    total: int | None = None,
    duration: float | None = None,
    warm: bool = True,
    going: asyncio.Event | None = None,
) -> Load:
    """GET ``url`` from ``concurrency`` workers until ``total`` requests were sent or
    ``duration`` seconds have passed (one of them is required; both bound the run).

    Each worker has an httpx.AsyncClient of its own, with one connection: one client
    shared by many concurrent requests spends more time in its connection pool than the
    server spends answering (encode/httpx#3215; here 40 requests/s instead of 300 at 50
    at a time). With ``warm``, each worker first sends one untimed request, which opens
    its connection (and, behind it, fills the app's pool). ``going`` is set when the timed
    requests start."""
    import httpx

    if total is None and duration is None:
        raise ValueError("a load needs a total or a duration")
    results: list[tuple[int, float]] = []
    left = [total if total is not None else 1_000_000]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # One TLS context for all (plain HTTP here, but each client would load the CA bundle).
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=30.0, verify=tls)
            )
            for _ in range(concurrency)
        ]
        if warm:
            await asyncio.wait_for(asyncio.gather(*(c.get(url) for c in clients)), 60)
        started = time.perf_counter()
        end = started + duration if duration is not None else None
        if going is not None:
            going.set()

        async def worker(client: httpx.AsyncClient) -> None:
            while left[0] > 0 and (end is None or time.perf_counter() < end):
                left[0] -= 1
                sent = time.perf_counter()
                try:
                    status = (await client.get(url)).status_code
                except httpx.HTTPError:
                    status = 0
                results.append((status, time.perf_counter() - sent))

        bound = 60 + (duration if duration is not None else left[0] * 0.5)
        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in clients)), bound)
        seconds = time.perf_counter() - started
    return Load(results, seconds)


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment of a server the bench starts: no access log, no bytecode files."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PYTHONDONTWRITEBYTECODE="1", UVICORN_ACCESS_LOG="false")
    env.update(UVICORN_LOG_LEVEL="warning", **extra)
    return env


def copy_solution(slug: str, tmp: Path) -> Path:
    folder = tmp / slug
    ignore = shutil.ignore_patterns("__pycache__", "*.db", "*.db-*", ".mypy_cache")
    shutil.copytree(ROOT / "solutions" / slug, folder, ignore=ignore)
    return folder


def bench_app(name: str, app: str) -> manifest.Lesson:
    """An app of this file's, for serve.served(): `bench:<app>` from tools/."""
    return manifest.Lesson(number="00", slug=name, title=name, app=f"bench:{app}")


@contextlib.contextmanager
def scratch_schema(server: str) -> Iterator[tuple[str, str]]:
    """A role and schema of their own in the database `workbook_bench` on ``server``:
    yields (psycopg URL, asyncpg URL) logging in as that role; drops both afterwards."""
    sync_url, _ = scratch_db.lesson_database(server, "bench")  # made when missing
    admin = scratch_db.admin_url(sync_url)
    name = scratch_db.create(admin, prefix="bench")
    try:
        yield scratch_db.urls(admin, name)
    finally:
        scratch_db.drop(admin, name)


@contextlib.contextmanager
def lesson_modules(folder: Path, names: Sequence[str], env: dict[str, str]) -> Iterator[Any]:
    """Import a lesson's modules (``import database`` style) from ``folder``, with ``env``
    set; afterwards the modules, the path entry and the variables are gone again."""
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    sys.path.insert(0, str(folder))
    try:
        yield [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(folder))
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", "") or "").startswith(str(folder)):
                del sys.modules[name]


# --------------------------------------------------------------------------- 03


def claim_03(ctx: Context) -> Outcome:
    """Lesson 03's models on SQLite: N teams x 5 heroes loaded three ways, statements
    counted with a before_cursor_execute listener, best time of a few runs."""
    from sqlalchemy import event, insert, select
    from sqlalchemy.orm import joinedload, lazyload, selectinload

    sizes = (10, 30) if ctx.smoke else (10, 100, 1000)
    runs = 1 if ctx.smoke else 5
    per_team = 5
    folder = copy_solution("03_relationships_loading", ctx.tmp)
    env = {"DATABASE_URL": f"sqlite:///{folder / 'bench.db'}"}
    with lesson_modules(folder, ["database", "models"], env) as (database, models):
        engine, Team, Hero = database.engine, models.Team, models.Hero
        database.Base.metadata.create_all(engine)
        with database.SessionLocal() as session:
            teams = [
                {"id": i, "name": f"Team {i}", "headquarters": "HQ"}
                for i in range(1, 1 + max(sizes))
            ]
            heroes = [
                {"name": f"Hero {t['id']}-{k}", "secret_name": "S", "age": k, "team_id": t["id"]}
                for t in teams
                for k in range(per_team)
            ]
            session.execute(insert(Team), teams)
            session.execute(insert(Hero), heroes)
            session.commit()

        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        strategies = {
            "lazy": lazyload(Team.heroes),  # the relationship says "raise": ask for lazy here
            "selectinload": selectinload(Team.heroes),
            "joinedload": joinedload(Team.heroes),
        }

        def load_teams(option: Any, n: int) -> tuple[float, int]:
            statements.clear()
            started = time.perf_counter()
            with database.SessionLocal() as session:
                query = select(Team).options(option).order_by(Team.id).limit(n)
                found = session.scalars(query).unique().all()
                loaded = sum(len(team.heroes) for team in found)  # lazy: one SELECT each
            seconds = time.perf_counter() - started
            if loaded != n * per_team:
                raise RuntimeError(f"loaded {loaded} heroes, expected {n * per_team}")
            return seconds, len(statements)

        rows = []
        for n in sizes:
            for strategy, option in strategies.items():
                load_teams(option, n)  # warm: the statement cache, the pool
                measured = [load_teams(option, n) for _ in range(runs)]
                rows.append(
                    {
                        "n_teams": n,
                        "heroes": n * per_team,
                        "strategy": strategy,
                        "statements": measured[0][1],
                        "best_ms": round(min(s for s, _ in measured) * 1000, 3),
                        "median_ms": round(statistics.median(s for s, _ in measured) * 1000, 3),
                        "runs": runs,
                    }
                )
        event.remove(engine, "before_cursor_execute", count)
        engine.dispose()

    def at(n: int, strategy: str) -> dict[str, Any]:
        return next(r for r in rows if r["n_teams"] == n and r["strategy"] == strategy)

    top = max(sizes)
    lazy, selectin, joined = (at(top, s) for s in strategies)
    ratio = lazy["best_ms"] / selectin["best_ms"]

    def plot(path: Path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
        for strategy, marker in zip(strategies, "osD", strict=True):
            mine = [r for r in rows if r["strategy"] == strategy]
            ns = [r["n_teams"] for r in mine]
            left.plot(ns, [r["statements"] for r in mine], marker=marker, label=strategy)
            right.plot(ns, [r["best_ms"] for r in mine], marker=marker, label=strategy)
        for ax, label in ((left, "SQL statements"), (right, "time, ms (best run)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(sizes, [str(n) for n in sizes])
            ax.minorticks_off()
            ax.yaxis.set_major_formatter("{x:g}")
            ax.set_xlabel(f"teams loaded, {per_team} heroes each")
            ax.set_ylabel(label)
            ax.grid(True, which="major", alpha=0.3)
        left.set_title("Statements sent")
        right.set_title("Time to load them")
        right.legend()
        fig.suptitle(
            f"Lesson 03, SQLite: lazy loading / selectinload at {top} teams: {times(ratio)}"
        )
        save_svg(fig, path)

    table = [
        "| teams | lazy | `selectinload` | `joinedload` |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for n in sizes:
        cells = [
            f"{plural(at(n, s)['statements'], 'statement')}, {at(n, s)['best_ms']:.1f} ms"
            for s in strategies
        ]
        table.append(f"| {n} | " + " | ".join(cells) + " |")
    return Outcome(
        rows=rows,
        plot=plot,
        database=sqlite_name(),
        headline=(
            f"Loading {top} teams with their {top * per_team} heroes, `selectinload` sent "
            f"{selectin['statements']} statements and took {selectin['best_ms']:.1f} ms; lazy "
            f"loading sent {lazy['statements']} and took {lazy['best_ms']:.1f} ms: "
            f"**`selectinload` was {times(ratio)} as fast** (`joinedload`: "
            f"{plural(joined['statements'], 'statement')}, {joined['best_ms']:.1f} ms)."
        ),
        ratio=ratio,
        floor=10.0,
        floor_text="`selectinload` at least 10× as fast as lazy loading at N = 1000",
        table=table,
        notes=[
            "Lesson 03's own models and session factory, on a SQLite file: the time is the",
            "session's work from the query until every team's heroes are in memory (best",
            f"of {plural(runs, 'run')}, after one warm-up), without HTTP or JSON; SQLite runs",
            "in-process, "
            "so each lazy SELECT costs less here than a round trip to a database server.",
        ],
    )


# --------------------------------------------------------------------------- 06

DELAY_06 = 0.05  # seconds each request waits on "I/O"


def make_app_06() -> Any:
    """Three routes that each wait 50 ms: blocking in async def, awaited, and a def route."""
    from fastapi import FastAPI

    delay = float(os.environ.get("BENCH_DELAY", DELAY_06))
    app = FastAPI(title="bench 06: a blocking call in async def")

    @app.get("/blocking")
    async def blocking() -> dict[str, float]:
        time.sleep(delay)  # a blocking call in async def: the event loop stops here
        return {"waited": delay}

    @app.get("/awaited")
    async def awaited() -> dict[str, float]:
        await asyncio.sleep(delay)  # the loop serves other requests meanwhile
        return {"waited": delay}

    @app.get("/threaded")
    def threaded() -> dict[str, float]:
        time.sleep(delay)  # a def route: FastAPI runs it in a worker thread
        return {"waited": delay}

    return app


def lesson_06_has_slow_route() -> bool:
    """Whether lesson 06's app itself has a route that waits on I/O. It has none today
    (its M4 test adds the same three routes to the app), so the bench serves its own."""
    main = ROOT / "solutions" / "06_async_sessions" / "main.py"
    return "sleep(" in main.read_text(encoding="utf-8")


def claim_06(ctx: Context) -> Outcome:
    concurrency = 10 if ctx.smoke else 50
    total = 20 if ctx.smoke else 150
    rounds = 1 if ctx.smoke else 3
    variants = {
        "blocking": "`time.sleep()` in `async def`",
        "awaited": "`await asyncio.sleep()` in `async def`",
        "threaded": "`time.sleep()` in a `def` route",
    }
    env = quiet_env(BENCH_DELAY=str(DELAY_06))
    best: dict[str, Load] = {}
    with serve.served(bench_app("bench06", "app_06"), TOOLS, env, ctx.tmp / "06.log") as base:
        for _ in range(rounds):  # alternating, the best of each kept
            for variant in variants:
                url = f"{base}/{variant}"
                measured = asyncio.run(load(url, concurrency, total=total))
                if variant not in best or measured.rps > best[variant].rps:
                    best[variant] = measured
    rows: list[dict[str, Any]] = [
        {
            "route": variant,
            "concurrency": concurrency,
            "requests": total,
            "ok": measured.count(200),
            "seconds": round(measured.seconds, 3),
            "requests_per_s": round(measured.rps, 1),
            "p50_ms": round(measured.ms(50), 1),
            "p99_ms": round(measured.ms(99), 1),
        }
        for variant, measured in best.items()
    ]
    rps = {variant: measured.rps for variant, measured in best.items()}
    ratio = rps["awaited"] / rps["blocking"] if rps["blocking"] else 0.0
    ideal = concurrency / DELAY_06

    def plot(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 3.4))
        names = list(variants)
        labels = ["time.sleep()\nin async def", "await asyncio.sleep()\nin async def",
                  "time.sleep()\nin a def route"]  # fmt: skip
        colors = ["#c44e52", "#55a868", "#4c72b0"]
        bars = ax.bar(labels, [rps[v] for v in names], color=colors)
        ax.margins(y=0.15)
        ax.bar_label(bars, labels=[f"{rps[v]:.0f}/s" for v in names])
        ax.axhline(1 / DELAY_06, color="grey", linestyle=":", label="one at a time (20/s)")
        ax.set_ylabel("requests per second")
        ax.set_title(
            f"{concurrency} concurrent requests, each waiting {DELAY_06 * 1000:.0f} ms "
            f"(awaited / blocking: {times(ratio)})"
        )
        ax.legend(loc="upper left")
        save_svg(fig, path)

    if lesson_06_has_slow_route():
        own = "the bench's own app (tools/bench.py), not the route lesson 06's app now has"
    else:
        own = "the bench's own app (tools/bench.py): lesson 06's app has no route that waits"
        own += " on I/O; its M4 test adds the same three to it"
    table = ["| route | requests/s | median latency |", "| --- | ---: | ---: |"]
    for r in rows:
        table.append(
            f"| {variants[r['route']]} | {r['requests_per_s']:.0f} | {r['p50_ms']:.0f} ms |"
        )
    return Outcome(
        rows=rows,
        plot=plot,
        database="no database",
        headline=(
            f"{total} requests, {concurrency} at a time, to routes that wait "
            f"{DELAY_06 * 1000:.0f} ms each: the awaited wait served {rps['awaited']:.0f} "
            f"requests/s, the blocking one {rps['blocking']:.0f}/s: **awaiting gave "
            f"{times(ratio)} the throughput**; the `def` route, in FastAPI's worker threads, "
            f"{rps['threaded']:.0f}/s."
        ),
        ratio=ratio,
        floor=5.0,
        floor_text="awaited at least 5× the throughput of blocking",
        table=table,
        notes=[
            f"Served by uvicorn on 127.0.0.1 ({own}), loaded with httpx.AsyncClient, best of",
            f"{plural(rounds, 'run')} of each, alternating. "
            f"Blocking, the requests are served one after another (at best {1 / DELAY_06:.0f}/s);",
            f"awaited, all {concurrency} wait together (at best {ideal:.0f}/s; the rest is",
            "HTTP's own cost on this machine); a `def` route runs in one of 40 threads.",
        ],
    )


# --------------------------------------------------------------------------- 08


def claim_08(ctx: Context) -> Outcome:
    """Lesson 08's app served by uvicorn, on PostgreSQL, with each pool class; then with a
    pool of 2 whose connections a table lock holds, so every other request gets the 503."""
    import psycopg

    lesson = manifest.find_lesson("08")
    levels = (1, 4) if ctx.smoke else (1, 2, 4, 8, 16, 32)
    seconds = 0.5 if ctx.smoke else 2.0
    rounds = 1 if ctx.smoke else 3
    bursts, burst = (1, 8) if ctx.smoke else (5, 32)
    timeout, hold = 0.5, 2.0
    folder = copy_solution(lesson.slug, ctx.tmp)
    best: dict[tuple[str, int], Load] = {}
    with scratch_schema(ctx.server) as (url, _):
        database = postgres_version(url)
        for _ in range(rounds):
            for pool in ("QueuePool", "NullPool"):
                env = quiet_env(DATABASE_URL=url, POOL_CLASS=pool)
                with serve.served(lesson, folder, env, ctx.tmp / f"08-{pool}.log") as base:
                    seed_heroes(base, "/heroes/", 20)
                    for c in levels:
                        measured = asyncio.run(load(f"{base}/heroes/", c, duration=seconds))
                        if (pool, c) not in best or measured.rps > best[(pool, c)].rps:
                            best[(pool, c)] = measured
        small = {"POOL_SIZE": "2", "MAX_OVERFLOW": "0", "POOL_TIMEOUT": str(timeout)}
        env = quiet_env(DATABASE_URL=url, POOL_CLASS="QueuePool", **small)
        exhausted: list[Load] = []
        with serve.served(lesson, folder, env, ctx.tmp / "08-exhausted.log") as base:

            async def held_burst() -> Load:
                # The table locked: the first 2 requests hold the pool's 2 connections,
                # waiting for the lock; every other one waits POOL_TIMEOUT for a connection.
                with psycopg.connect(scratch_db.libpq(url)) as lock:
                    lock.execute("LOCK TABLE hero IN ACCESS EXCLUSIVE MODE")
                    going = asyncio.Event()
                    heroes = f"{base}/heroes/"
                    sent = asyncio.create_task(load(heroes, burst, burst, warm=False, going=going))
                    await asyncio.wait_for(going.wait(), 60)
                    await asyncio.sleep(hold)
                    lock.rollback()  # the lock goes: the 2 held requests finish
                return await sent

            for _ in range(bursts):
                exhausted.append(asyncio.run(held_burst()))
    rows: list[dict[str, Any]] = []
    for (pool, c), measured in sorted(best.items()):
        rows.append(
            {
                "phase": "throughput",
                "pool": pool,
                "concurrency": c,
                "status": 200,
                "requests": measured.count(),
                "seconds": round(measured.seconds, 3),
                "requests_per_s": round(measured.rps, 1),
                "p50_ms": round(measured.ms(50), 1),
                "p90_ms": round(measured.ms(90), 1),
                "p99_ms": round(measured.ms(99), 1),
                "max_ms": round(measured.ms(100), 1),
            }
        )
    merged = Load([r for m in exhausted for r in m.results], sum(m.seconds for m in exhausted))
    for status in sorted({s for s, _ in merged.results}):
        rows.append(
            {
                "phase": "exhausted",
                "pool": f"QueuePool size=2 overflow=0 timeout={timeout}",
                "concurrency": burst,
                "status": status,
                "requests": merged.count(status),
                "seconds": round(merged.seconds, 3),
                "requests_per_s": "",
                "p50_ms": round(merged.ms(50, status), 1),
                "p90_ms": round(merged.ms(90, status), 1),
                "p99_ms": round(merged.ms(99, status), 1),
                "max_ms": round(merged.ms(100, status), 1),
            }
        )
    at = 4 if ctx.smoke else 16
    queue, null = best[("QueuePool", at)].rps, best[("NullPool", at)].rps
    ratio = queue / null if null else 0.0
    busy = merged.count(503)
    if not busy:
        raise RuntimeError("the pool was never exhausted: no request answered 503")
    p = {q: merged.ms(q, 503) for q in (50, 90, 99, 100)}

    def plot(path: Path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
        for pool, marker in (("QueuePool", "o"), ("NullPool", "s")):
            left.plot(levels, [best[(pool, c)].rps for c in levels], marker=marker, label=pool)
        left.set_xscale("log", base=2)
        left.set_xticks(levels, [str(c) for c in levels])
        left.set_xlabel("concurrent requests")
        left.set_ylabel("requests per second (GET /heroes/)")
        left.set_title(f"Throughput (QueuePool / NullPool at {at}: {times(ratio)})")
        left.set_ylim(bottom=0)
        left.grid(True, alpha=0.3)
        left.legend()
        labels = ["p50", "p90", "p99", "max"]
        bars = right.bar(labels, [p[q] for q in (50, 90, 99, 100)], color="#c44e52")
        right.bar_label(bars, fmt="%.0f ms")
        right.axhline(timeout * 1000, color="black", linestyle=":")
        right.text(
            -0.4, timeout * 1000, f"POOL_TIMEOUT = {timeout:g} s", va="bottom", fontsize=8,
            zorder=3, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )  # fmt: skip
        right.margins(y=0.15)
        right.set_ylabel("latency of the 503 answers, ms")
        right.set_title(f"Pool exhausted: {busy} answers 503")
        save_svg(fig, path)

    table = ["| concurrency | QueuePool | NullPool |", "| ---: | ---: | ---: |"]
    for c in levels:
        q, n = best[("QueuePool", c)].rps, best[("NullPool", c)].rps
        table.append(f"| {c} | {q:.0f}/s | {n:.0f}/s |")
    ok_after = merged.count(200)
    return Outcome(
        rows=rows,
        plot=plot,
        database=database,
        headline=(
            f"Lesson 08's `GET /heroes/` (20 heroes) at {at} concurrent requests: "
            f"{queue:.0f} requests/s with `QueuePool`, {null:.0f}/s with `NullPool`, which "
            f"opens a connection per request: **the pool gave {times(ratio)} the "
            f"throughput**. With the pool exhausted (`POOL_SIZE=2 MAX_OVERFLOW=0 "
            f"POOL_TIMEOUT={timeout}`), the 503 came after {p[50]:.0f} ms at the median, "
            f"{p[99]:.0f} ms at p99 and {p[100]:.0f} ms at worst."
        ),
        ratio=ratio,
        floor=3.0,
        floor_text="`QueuePool` at least 3× the throughput of `NullPool` at concurrency 16",
        table=table,
        notes=[
            "Served by uvicorn on 127.0.0.1 with `DATABASE_URL` and `POOL_CLASS`, loaded",
            f"with httpx.AsyncClient for {seconds:g} s per point (best of {rounds}). For the",
            f"503 path, a table lock held for {hold:g} s kept the pool's 2 connections busy",
            f"while {burst} requests came at once, {plural(bursts, 'time')}: {busy} answered",
            f"503 with `Retry-After`, {ok_after} waited for the lock and answered 200.",
        ],
    )


def seed_heroes(base: str, path: str, count: int) -> None:
    """``count`` heroes through the app's own POST (once: a second call finds them)."""
    import httpx

    with httpx.Client(base_url=base, timeout=30) as client:
        have = client.get(path, params={"limit": 100}).json()
        for i in range(len(have), count):
            body = {"name": f"Bench Hero {i:04d}", "secret_name": f"Secret {i}", "age": i % 90}
            answer = client.post(path, json=body)
            if answer.status_code != 200:
                raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")


# --------------------------------------------------------------------------- 10

# The switch lesson 10's conftest reads: "1" wipes and migrates the database before every
# test of the rollback pattern, instead of migrating once.
LESSON10_SWITCH = "LESSON10_MIGRATE_EVERY_TEST"
LESSON10_TESTS = ROOT / "tests" / "10_transactions_and_testing"


def lesson10_switch_exists() -> bool:
    conftest = LESSON10_TESTS / "conftest.py"
    return conftest.is_file() and LESSON10_SWITCH in conftest.read_text(encoding="utf-8")


def lesson10_suite_both_ways(
    server: str, tmp: Path, at_once: bool = False
) -> dict[str, tuple[float, float, int]]:
    """THE HOOK: lesson 10's rollback-per-test tests (`-m rollback_per_test`) in pytest,
    once as the suite runs them (one migration, a rolled-back transaction per test) and
    once with LESSON10_MIGRATE_EVERY_TEST=1 (a wiped database migrated before each test).
    On SQLite, or on ``server`` when given. Per way: (seconds in the tests as pytest's
    JUnit report times them, set-up included; wall seconds of the process; tests run).
    ``at_once`` (smoke runs) starts both processes together: quicker, the times shared."""
    running: dict[str, Any] = {}
    got: dict[str, tuple[float, float, int]] = {}
    for way, flag in (("rollback per test", "0"), ("migrate per test", "1")):
        report = tmp / f"junit-{flag}.xml"
        env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_DATABASE_URL"}
        env.update({LESSON10_SWITCH: flag, "PYTHONDONTWRITEBYTECODE": "1"})
        if server:
            env["WORKBOOK_DATABASE_URL"] = server
        command = [
            sys.executable, "-m", "pytest", str(LESSON10_TESTS.relative_to(ROOT)),
            "-m", "rollback_per_test", "-q", f"--junitxml={report}",
        ]  # fmt: skip
        log = tmp / f"pytest-{flag}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        running[way] = (proc, time.perf_counter(), report, log)
        if not at_once:
            got.update(wait_all({way: running.pop(way)}))
    return {**got, **wait_all(running)}


def wait_all(running: dict[str, Any], limit: float = 600) -> dict[str, tuple[float, float, int]]:
    """Wait for the pytest processes of lesson10_suite_both_ways(): each way's result."""
    got: dict[str, tuple[float, float, int]] = {}
    deadline = time.perf_counter() + limit
    while len(got) < len(running):
        for way, (proc, started, report, log) in running.items():
            if way in got or proc.poll() is None:
                continue
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                output = log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"pytest of lesson 10 ({way}) failed:\n{output}")
            cases = list(ET.parse(report).getroot().iter("testcase"))
            got[way] = (sum(float(c.get("time", "0")) for c in cases), wall, len(cases))
        if time.perf_counter() > deadline:
            for proc, *_ in running.values():
                proc.kill()
            raise RuntimeError(f"lesson 10's tests did not finish in {limit:.0f} s")
        time.sleep(0.05)
    return got


SHM = Path("/dev/shm")


def in_memory() -> bool:
    return SHM.is_dir() and os.access(SHM, os.W_OK)


def lesson10_loop(tmp: Path, count: int) -> dict[str, tuple[float, float, int]]:
    """The set-up alone: ``count`` stand-in tests, each a small write, done in a fresh
    SQLite file that lesson 10's own migrations bring to head, against the same writes
    each in a transaction rolled back on one migrated file. The file is in memory
    (/dev/shm) where the machine has it, as the test harness keeps it. In a process of its
    own (the lesson's modules are imported by name)."""
    folder = tmp / "10_transactions_and_testing"
    if not folder.exists():  # one copy for every round
        copy_solution(folder.name, tmp)
    where = Path(tempfile.mkdtemp(dir=SHM)) if in_memory() else tmp
    command = [sys.executable, str(Path(__file__).resolve()), "_lesson10_loop", str(folder)]
    command.append(str(count))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env["DATABASE_URL"] = f"sqlite:///{where / 'loop.db'}"
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, cwd=folder
        )
    finally:
        if where != tmp:
            shutil.rmtree(where, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"lesson 10 loop failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return {way: (seconds, seconds, count) for way, seconds in got.items()}


def _lesson10_loop_child(folder: Path, count: int) -> None:
    import logging.config

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    logging.config.fileConfig = lambda *args, **kwargs: None  # env.py: not for a bench
    sys.path.insert(0, str(folder))
    path = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    config = Config(str(folder / "alembic.ini"))

    def fresh() -> None:
        path.unlink(missing_ok=True)
        command.upgrade(config, "head")

    def write(connection: Any, i: int) -> None:
        connection.execute(
            text("INSERT INTO team (name, headquarters) VALUES (:n, 'HQ')"), {"n": f"T{i}"}
        )
        connection.execute(text("SELECT count(*) FROM team")).scalar_one()

    fresh()  # imports and the first migration: not timed
    engine = create_engine(os.environ["DATABASE_URL"])
    with engine.connect() as connection:  # nor the first connection
        write(connection, -1)
    started = time.perf_counter()
    for i in range(count):
        with engine.connect() as connection:
            transaction = connection.begin()
            write(connection, i)
            transaction.rollback()
    rolled = time.perf_counter() - started
    engine.dispose()
    started = time.perf_counter()
    for i in range(count):
        fresh()
        engine = create_engine(os.environ["DATABASE_URL"])
        with engine.begin() as connection:
            write(connection, i)
        engine.dispose()
    migrated = time.perf_counter() - started
    print(json.dumps({"rollback per test": rolled, "migrate per test": migrated}))


def claim_10(ctx: Context) -> Outcome:
    """Lesson 10's suite both ways (the claim, and its floor), on SQLite and on PostgreSQL
    when given; beside it, the set-up alone: stand-in tests in a loop, on SQLite."""
    rounds = 1 if ctx.smoke else 3
    loops = 3 if ctx.smoke else 20
    has_switch = lesson10_switch_exists()
    suite = ctx.lesson10 == "suite" or (ctx.lesson10 == "auto" and has_switch)
    loop = ctx.lesson10 in ("auto", "loop")
    backends = [("SQLite", "")]
    if ctx.server and not ctx.smoke:
        backends.append(("PostgreSQL", ctx.server))
    rows: list[dict[str, Any]] = []
    best: dict[tuple[str, str], float] = {}
    counts: dict[str, int] = {}

    def record(measure: str, got: dict[str, tuple[float, float, int]], round_: int) -> None:
        for way, (seconds, wall, tests) in got.items():
            backend = measure.split(", ")[0]
            row = {"measure": measure, "backend": backend, "way": way, "round": round_}
            row.update(tests=tests, seconds=round(seconds, 4), wall_seconds=round(wall, 3))
            rows.append(row)
            best[(measure, way)] = min(seconds, best.get((measure, way), seconds))
            counts[measure] = tests

    for round_ in range(1, rounds + 1):
        for backend, server in backends if suite else ():
            got = lesson10_suite_both_ways(server, ctx.tmp, at_once=ctx.smoke)
            record(f"{backend}, the suite", got, round_)
        if loop:
            record("SQLite, set-up only", lesson10_loop(ctx.tmp, loops), round_)
    measures = list(dict.fromkeys(row["measure"] for row in rows))
    ratios = {m: best[(m, "migrate per test")] / best[(m, "rollback per test")] for m in measures}
    suites = [m for m in measures if m.endswith("the suite")]
    claim = suites[-1] if suites else measures[0]  # PostgreSQL's suite, when it ran
    ratio = min(ratios[m] for m in suites) if suites else ratios[claim]
    database = sqlite_name()
    if any(m.startswith("PostgreSQL") for m in measures):
        database += " and " + postgres_version(ctx.server)

    def label(measure: str) -> str:
        backend, what = measure.split(", ")
        if what == "the suite":
            return f"{backend}: lesson 10's {counts[measure]} rollback-pattern tests"
        return f"{backend}: {counts[measure]} stand-in tests, set-up only"

    def plot(path: Path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, len(measures), figsize=(3.6 * len(measures) + 1, 3.6))
        axes = axes if len(measures) > 1 else [axes]
        for ax, measure in zip(axes, measures, strict=True):
            ways = ("rollback per test", "migrate per test")
            bars = ax.bar(
                ["rollback\nper test", "migrate\nper test"],
                [best[(measure, w)] for w in ways],
                color=["#55a868", "#c44e52"],
            )
            ax.bar_label(bars, fmt="%.2f s")
            ax.margins(y=0.15)
            ax.set_title(f"{label(measure).replace(': ', chr(10))}\n({times(ratios[measure])})")
        axes[0].set_ylabel("seconds (best run)")
        save_svg(fig, path)

    table = [
        "| what ran | rollback per test | migrate per test | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for m in measures:
        once, every = best[(m, "rollback per test")], best[(m, "migrate per test")]
        table.append(f"| {label(m)} | {once:.3f} s | {every:.3f} s | {times(ratios[m])} |")
    notes = []
    if suite:
        notes += [
            f"The suite: pytest ran `{LESSON10_TESTS.relative_to(ROOT)} -m rollback_per_test`",
            "as it runs them (the first test migrates, each test's transaction is rolled",
            f"back), and with `{LESSON10_SWITCH}=1`, which wipes and migrates the database",
            "before each test; the time is what pytest's JUnit report gives the tests",
            f"(set-up included, start-up not), best of {plural(rounds, 'run')}.",
        ]
    elif not has_switch:
        notes += [f"Lesson 10's suite has no `{LESSON10_SWITCH}` switch to run it both ways."]
    if loop:
        notes += [
            f"The set-up only: {loops} stand-in tests, each one small write, in a SQLite file",
            "(in /dev/shm, as the harness keeps it)" if in_memory() else "(on disk)",
            "brought to head by lesson 10's own migrations for each test, against the same",
            "writes each in a transaction rolled back on one migrated file. What separates",
            "the two ratios is the tests' own work (requests, assertions): it costs the same",
            "both ways.",
        ]
    what = label(claim)
    return Outcome(
        rows=rows,
        plot=plot,
        database=database,
        headline=(
            f"{what[0].upper()}{what[1:]} took {best[(claim, 'rollback per test')]:.2f} s with "
            f"a rolled-back transaction per test on one migrated database, and "
            f"{best[(claim, 'migrate per test')]:.2f} s migrating a fresh database before "
            f"each test: **rollback-per-test was {times(ratios[claim])} as fast**"
            + "".join(f" ({m.split(',')[0]}: {times(ratios[m])})" for m in suites if m != claim)
            + "."
        ),
        ratio=ratio,
        floor=3.0,
        floor_text="rollback-per-test at least 3× as fast as a migration per test",
        table=table,
        notes=notes,
    )


# --------------------------------------------------------------------------- 11


def make_raw_app() -> Any:
    """The baseline for 11: one FastAPI route, the capstone's list query through raw
    asyncpg (its columns from BENCH_RAW_COLUMNS), plain dicts out, no ORM, no models."""
    from contextlib import asynccontextmanager

    import asyncpg  # type: ignore[import-untyped]
    from fastapi import FastAPI, Query

    columns = os.environ["BENCH_RAW_COLUMNS"].split(",")
    sql = (
        "SELECT "
        + ", ".join(f'"{c}"' for c in columns)
        + " FROM hero ORDER BY id LIMIT $1 OFFSET $2"
    )
    pools: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # The capstone's default pool: 5 connections, up to 10 more.
        pools["db"] = await asyncpg.create_pool(
            os.environ["BENCH_RAW_DSN"], min_size=5, max_size=15
        )
        yield
        await pools["db"].close()

    app = FastAPI(title="bench 11: the raw asyncpg baseline", lifespan=lifespan)

    @app.get("/heroes/", response_model=None)  # no response model: the dicts go out as they are
    async def heroes(
        offset: int = Query(0, ge=0), limit: int = Query(100, ge=0, le=100)
    ) -> list[dict[str, Any]]:
        rows = await pools["db"].fetch(sql, limit, offset)
        return [dict(row) for row in rows]

    return app


def list_route(spec: dict[str, Any]) -> tuple[str, list[str]]:
    """The capstone's list of heroes, found in its /openapi.json: the path whose GET
    answers an array of a Hero… schema and that also takes a POST; and that schema's
    fields."""
    schemas = spec.get("components", {}).get("schemas", {})
    for path, operations in spec.get("paths", {}).items():
        get = operations.get("get")
        if get is None or "post" not in operations or "{" in path:
            continue
        content = get.get("responses", {}).get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        name = str(schema.get("items", {}).get("$ref", "")).rsplit("/", 1)[-1]
        if schema.get("type") == "array" and name.startswith("Hero") and name in schemas:
            return path, list(schemas[name]["properties"])
    raise RuntimeError("no list-of-heroes route in the capstone's /openapi.json")


def claim_11(ctx: Context) -> Outcome:
    import httpx

    lesson = manifest.find_lesson("11")
    heroes, concurrency = (10, 4) if ctx.smoke else (100, 10)
    seconds = 0.5 if ctx.smoke else 3.0
    rounds = 1 if ctx.smoke else 3
    folder = copy_solution(lesson.slug, ctx.tmp)
    best: dict[str, Load] = {}
    with scratch_schema(ctx.server) as (url, async_url):
        database = postgres_version(url)
        env = quiet_env(DATABASE_URL=async_url)
        with serve.served(lesson, folder, env, ctx.tmp / "11.log") as capstone:
            path, fields = list_route(httpx.get(f"{capstone}/openapi.json").json())
            seed_heroes(capstone, path, heroes)
            dsn = make_url(url).set(drivername="postgresql")
            raw_env = quiet_env(
                BENCH_RAW_DSN=dsn.render_as_string(hide_password=False),
                BENCH_RAW_COLUMNS=",".join(fields),
            )
            raw_app = bench_app("bench11raw", "raw_app")
            with serve.served(raw_app, TOOLS, raw_env, ctx.tmp / "11-raw.log") as raw:
                urls = {"capstone": f"{capstone}{path}", "raw asyncpg": f"{raw}/heroes/"}
                answers = [httpx.get(u, params={"limit": 100}).json() for u in urls.values()]
                if answers[0] != answers[1] or len(answers[0]) != min(heroes, 100):
                    raise RuntimeError("the raw baseline does not answer what the capstone does")
                for _ in range(rounds):  # alternate, so both see the same machine
                    for side, target in urls.items():
                        measured = asyncio.run(load(target, concurrency, duration=seconds))
                        if side not in best or measured.rps > best[side].rps:
                            best[side] = measured
    rows = [
        {
            "app": side,
            "route": path if side == "capstone" else "/heroes/",
            "heroes_per_answer": min(heroes, 100),
            "concurrency": concurrency,
            "requests": measured.count(),
            "seconds": round(measured.seconds, 3),
            "requests_per_s": round(measured.rps, 1),
            "p50_ms": round(measured.ms(50), 1),
            "p99_ms": round(measured.ms(99), 1),
        }
        for side, measured in best.items()
    ]
    ratio = best["capstone"].rps / best["raw asyncpg"].rps if best["raw asyncpg"].rps else 0.0

    def plot(path_: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 3.4))
        names = list(best)
        bars = ax.bar(names, [best[n].rps for n in names], color=["#4c72b0", "#8c8c8c"])
        ax.bar_label(
            bars, labels=[f"{best[n].rps:.0f}/s, p50 {best[n].ms(50):.0f} ms" for n in names]
        )
        ax.margins(y=0.15)
        ax.set_ylabel("requests per second")
        ax.set_title(
            f"GET {path}, {min(heroes, 100)} heroes, {concurrency} at a time: "
            f"capstone / raw = {ratio:.2f}×"
        )
        save_svg(fig, path_)

    table = ["| app | requests/s | median latency |", "| --- | ---: | ---: |"]
    for r in rows:
        table.append(f"| {r['app']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.0f} ms |")
    return Outcome(
        rows=rows,
        plot=plot,
        database=database,
        headline=(
            f"The capstone's `GET {path}` ({min(heroes, 100)} heroes per answer, "
            f"{concurrency} requests at a time) served {best['capstone'].rps:.0f} requests/s; "
            f"a minimal FastAPI route running the same query through raw asyncpg and "
            f"returning plain dicts served {best['raw asyncpg'].rps:.0f}/s: **the capstone "
            f"ran at {ratio:.2f}× the raw baseline**, the price of the ORM, the models and "
            "the unit of work."
        ),
        ratio=ratio,
        floor=0.5,
        floor_text="the capstone at least 0.5× the raw baseline",
        table=table,
        notes=[
            "Both served by uvicorn on 127.0.0.1 on the same PostgreSQL schema, with the",
            "same pool size (5 + 10); the list route and its fields come from the",
            "capstone's /openapi.json, and the two answers were checked equal before the",
            f"load (httpx.AsyncClient, {seconds:g} s per run, best of {rounds}, alternating).",
            "The price includes the capstone's pre-ping (`POOL_PRE_PING`, lesson 08): with",
            "asyncpg, BEGIN, an empty query and ROLLBACK each time its pool lends a",
            "connection, three round trips the raw route does not make.",
        ],
    )


# --------------------------------------------------------------------------- the claims

CLAIMS = (
    Claim(
        "03", "03_loading_strategies",
        "Statements and time to load N teams with 5 heroes each: lazy, selectinload, joinedload",
        False, claim_03,
    ),
    Claim(
        "06", "06_blocking_calls",
        "Requests per second for 50 concurrent requests that wait 50 ms: blocking, awaited, def",
        False, claim_06,
    ),
    Claim(
        "08", "08_connection_pool",
        "Requests per second against concurrency with QueuePool and NullPool; 503 latencies",
        True, claim_08,
    ),
    Claim(
        "10", "10_rollback_per_test",
        "Lesson 10's rollback-pattern tests, migrating once and migrating before each test",
        False, claim_10,
    ),
    Claim(
        "11", "11_orm_overhead",
        "The capstone's list of heroes against the same query through raw asyncpg",
        True, claim_11,
    ),
)  # fmt: skip
POSTGRES_CLAIMS = {c.number for c in CLAIMS if c.postgres}


def __getattr__(name: str) -> Any:
    """The apps uvicorn serves as `bench:app_06` and `bench:raw_app`, built on access."""
    if name == "app_06":
        return make_app_06()
    if name == "raw_app":
        return make_raw_app()
    raise AttributeError(name)


def run_claim(ctx: Context, claim: Claim) -> tuple[str, str]:
    """Measure one claim and write its files: (status, one-line summary)."""
    started = load_average()
    outcome = claim.run(ctx)
    ctx.out.mkdir(parents=True, exist_ok=True)
    write_csv(ctx.out / f"{claim.name}.csv", outcome.rows)
    outcome.plot(ctx.out / f"{claim.name}.svg")
    (ctx.out / f"{claim.name}.md").write_text(
        snippet(ctx, claim, outcome, started), encoding="utf-8"
    )
    summary = f"{times(outcome.ratio)} (floor {times(outcome.floor)})"
    if ctx.smoke:
        return "smoke", summary
    if outcome.ratio < outcome.floor:
        return "FINDING", f"{summary}: missed: {outcome.floor_text}"
    return "ok", summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("claims", nargs="*", help="lesson numbers: 03 06 08 10 11 (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no floors")
    parser.add_argument("--out", type=Path, help="output folder (default docs/bench/)")
    parser.add_argument(
        "--lesson10", choices=("auto", "suite", "loop"), default="auto",
        help="10: lesson 10's suite with its switch (auto: when it has one) or a stand-in loop",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.claims[:1] == ["_lesson10_loop"]:
        _lesson10_loop_child(Path(args.claims[1]), int(args.claims[2]))
        return 0
    known = {c.number: c for c in CLAIMS}
    wanted = list(dict.fromkeys(c.zfill(2) for c in args.claims)) or list(known)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        parser.error(f"no claim for {', '.join(unknown)}: the claims are {', '.join(known)}")
    server = os.environ.get("WORKBOOK_DATABASE_URL", "").strip()
    out = args.out or (SMOKE_OUT if args.smoke else DOCS)
    findings: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="workbook-bench-") as tmp:
        for number in wanted:
            claim = known[number]
            if claim.postgres and not server:
                findings.append((claim.name, "skipped", "no WORKBOOK_DATABASE_URL"))
                print(f"{claim.name}: skipped: no WORKBOOK_DATABASE_URL", flush=True)
                continue
            ctx = Context(out, args.smoke, server, Path(tmp) / number, args.lesson10)
            ctx.tmp.mkdir()
            print(f"{claim.name}: measuring...", flush=True)
            started = time.perf_counter()
            try:
                status, summary = run_claim(ctx, claim)
            except Exception as exc:  # one claim failing must not stop the others
                status, summary = "ERROR", f"{type(exc).__name__}: {str(exc)[:2000]}"
            took = time.perf_counter() - started
            findings.append((claim.name, status, summary))
            print(f"{claim.name}: {status}: {summary} ({took:.0f} s)", flush=True)
    print(f"\nbench: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    for name, status, summary in findings:
        print(f"  {status:<8} {name:<24} {summary}")
    missed = [f for f in findings if f[1] == "FINDING"]
    if missed:
        print(f"{len(missed)} finding(s): a floor missed on this machine (not an error)")
    return 1 if any(f[1] == "ERROR" for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
