"""`nox -s bench` keeps working: its smoke mode writes each claim's CSV, plot and snippet.

The smoke run of claims 03 and 06 (tiny sizes, no floors) goes to a temporary folder, in a
process of its own, exactly as `nox -s bench -- 03 06 --smoke --out DIR` runs it. Times
are not checked (they depend on the machine); what does not depend on it is: the CSV's
columns and rows, lesson 03's statement counts (N + 1 lazy, 2 with selectinload, 1 with
joinedload), every request answered, and a snippet that names its plot and its command.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import bench
import pytest

ROOT = Path(__file__).resolve().parents[1]

# The smoke run starts Python, a uvicorn server and matplotlib: seconds alone, more on a
# busy machine; bounded here, and by the bench's own limits.
pytestmark = pytest.mark.timeout(150)


def run_bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "tools" / "bench.py"), *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=140
    )  # fmt: skip


def rows_of(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        return list(reader.fieldnames or []), list(reader)


def test_smoke_run_writes_csv_plot_and_snippet_for_03_and_06(tmp_path):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = run_bench("03", "06", "--smoke", "--out", str(tmp_path), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "03_loading_strategies: smoke:" in done.stdout
    assert "06_blocking_calls: smoke:" in done.stdout

    columns, rows = rows_of(tmp_path / "03_loading_strategies.csv")
    assert columns == [
        "n_teams", "heroes", "strategy", "statements", "best_ms", "median_ms", "runs",
    ]  # fmt: skip
    assert [(r["n_teams"], r["strategy"]) for r in rows] == [
        (n, s) for n in ("10", "30") for s in ("lazy", "selectinload", "joinedload")
    ]
    for row in rows:
        n = int(row["n_teams"])
        assert int(row["heroes"]) == 5 * n
        expected = {"lazy": n + 1, "selectinload": 2, "joinedload": 1}[row["strategy"]]
        assert int(row["statements"]) == expected, row
        assert float(row["best_ms"]) > 0

    columns, rows = rows_of(tmp_path / "06_blocking_calls.csv")
    assert columns == [
        "route", "concurrency", "requests", "ok", "seconds", "requests_per_s", "p50_ms", "p99_ms",
    ]  # fmt: skip
    assert [r["route"] for r in rows] == ["blocking", "awaited", "threaded"]
    assert all(r["ok"] == r["requests"] == "20" for r in rows), rows

    for name, number in (("03_loading_strategies", "03"), ("06_blocking_calls", "06")):
        svg = (tmp_path / f"{name}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<?xml") and "<svg" in svg
        assert "<dc:date>" not in svg  # no timestamp: equal data, equal file
        text = (tmp_path / f"{name}.md").read_text(encoding="utf-8")
        assert f"`nox -s bench -- {number} --smoke`" in text
        assert f"](../../docs/bench/{name}.svg)" in text
        assert "cores" in text and "Python" in text


def test_postgres_claims_say_they_are_skipped_without_a_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_DATABASE_URL"}
    done = run_bench("08", "11", "--smoke", "--out", str(tmp_path), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "08_connection_pool: skipped: no WORKBOOK_DATABASE_URL" in done.stdout
    assert "11_orm_overhead: skipped: no WORKBOOK_DATABASE_URL" in done.stdout
    assert not list(tmp_path.iterdir())


def test_the_capstone_list_route_is_found_in_its_openapi_wherever_it_is_mounted():
    hero = {"properties": {"name": {}, "id": {}, "version_id": {}}}
    array = {"type": "array", "items": {"$ref": "#/components/schemas/HeroPublic"}}
    listed = {"responses": {"200": {"content": {"application/json": {"schema": array}}}}}
    spec = {
        "paths": {
            "/api/v1/teams/{team_id}/heroes": {"get": listed},  # a path parameter: not it
            "/api/v1/heroes/batch": {"post": {}},
            "/api/v1/heroes/": {"get": listed, "post": {}},
        },
        "components": {"schemas": {"HeroPublic": hero}},
    }
    assert bench.list_route(spec) == ("/api/v1/heroes/", ["name", "id", "version_id"])
    with pytest.raises(RuntimeError, match="no list-of-heroes route"):
        bench.list_route({"paths": {}, "components": {}})


def test_percentiles_are_nearest_rank():
    values = [0.1 * k for k in range(1, 11)]
    assert bench.percentile(values, 50) == pytest.approx(0.5)
    assert bench.percentile(values, 90) == pytest.approx(0.9)
    assert bench.percentile(values, 100) == pytest.approx(1.0)
    assert bench.percentile([], 50) == 0.0
