"""`nox -s fuzz [-- NN ...]`: schemathesis against every lesson, served by real uvicorn.

Each lesson's solved app is copied to a temporary folder and served the way a learner
runs it (`tools/serve.py`): on a SQLite file by default, on a scratch PostgreSQL schema
when `WORKBOOK_DATABASE_URL` is set, migrated first where the lesson has a `prepare`
command. Schemathesis then runs every check, with positive and negative data, through
its examples, coverage, fuzzing and stateful phases, bounded by `--examples` per
operation and `--max-time` per lesson, with a fixed `--seed` so a run can be repeated.

The run fails on a server error (5xx) or a response that breaks its own schema, unless
the lesson's `[[lesson.fuzz_allow]]` in workbook.toml declares it as a mistake the lesson
teaches, naming the README mistake and the test that proves it. Other findings (an
undocumented status code, say) are listed in the table without failing the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import scratch_db
import serve

import manifest
from manifest import ROOT, Lesson

# Schemathesis failure codes that fail the run: a 5xx (ST101, and ST102 for an
# undeclared media type), a response its schema rejects (ST108), or a body that is not
# the JSON it claims (ST109). `schemathesis explain STxxx` says more about any code.
FAILING = {"ST101", "ST102", "ST108", "ST109"}


@dataclass
class Finding:
    code: str
    title: str
    count: int
    operations: list[str]
    allowed_by: str = ""  # "M4 (test_m4_...)" when the manifest declares it


@dataclass
class FuzzResult:
    lesson: str
    backend: str
    generated: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    problem: str = ""  # the lesson could not be served, or schemathesis did not report

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.code in FAILING and not f.allowed_by]

    @property
    def ok(self) -> bool:
        return not self.problem and not self.failures


def allowance(lesson: Lesson, code: str, operations: list[str]) -> str:
    """The manifest's declaration covering every operation of this finding, if any."""
    for allow in lesson.fuzz_allow:
        if allow.code == code and set(operations) <= set(allow.operations):
            return f"{allow.mistake} ({allow.test})"
    return ""


def database_env(lesson: Lesson, folder: Path, server: str) -> tuple[dict[str, str], str]:
    """The environment to serve with, and the scratch PostgreSQL role to drop afterwards."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if not server:
        scheme = "sqlite+aiosqlite" if lesson.driver == "async" else "sqlite"
        env["DATABASE_URL"] = f"{scheme}:///{folder.parent / 'fuzz.db'}"
        return env, ""
    admin = scratch_db.admin_url(server)
    name = scratch_db.create(admin, prefix="fuzz")
    url, async_url = scratch_db.urls(admin, name)
    env["DATABASE_URL"] = async_url if lesson.driver == "async" else url
    return env, name


def fuzz_lesson(
    lesson: Lesson, examples: int, max_time: int, seed: int, reports: Path
) -> FuzzResult:
    server = os.environ.get("WORKBOOK_DATABASE_URL", "").strip()
    result = FuzzResult(lesson.slug, "postgresql" if server else "sqlite")
    reports.mkdir(parents=True, exist_ok=True)
    report = reports / f"{lesson.slug}.json"
    report.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="workbook-fuzz-") as tmp:
        folder = Path(tmp) / lesson.slug
        ignore = shutil.ignore_patterns("__pycache__", "*.db", "*.db-*")
        shutil.copytree(ROOT / "solutions" / lesson.slug, folder, ignore=ignore)
        env, role = database_env(lesson, folder, server)
        try:
            with serve.served(lesson, folder, env, reports / f"{lesson.slug}.uvicorn.log") as base:
                cmd = [
                    str(Path(sys.executable).parent / "schemathesis"), "run",
                    f"{base}/openapi.json", "--checks", "all",
                    "--phases", "examples,coverage,fuzzing,stateful",
                    "--max-examples", str(examples), "--max-time", str(max_time),
                    "--seed", str(seed), "--workers", "1", "--request-timeout", "10",
                    "--no-color", "--report", "json", "--report-json-path", str(report),
                ]  # fmt: skip
                log = reports / f"{lesson.slug}.schemathesis.txt"
                with log.open("wb") as out:
                    subprocess.run(
                        cmd, stdout=out, stderr=subprocess.STDOUT, timeout=max_time + 120,
                        env={**os.environ, "NO_COLOR": "1"},
                        cwd=tmp,  # schemathesis keeps a .schemathesis/ cache where it runs
                    )  # fmt: skip
        except serve.ServeError as exc:
            result.problem = f"could not be served: {str(exc)[:500]}"
            return result
        except subprocess.TimeoutExpired:
            result.problem = f"schemathesis did not finish in {max_time + 120} s"
            return result
        finally:
            if role:
                scratch_db.drop(scratch_db.admin_url(server), role)
    if not report.exists():
        result.problem = f"schemathesis wrote no report (see {log})"
        return result
    data = json.loads(report.read_text())
    result.generated = int(data.get("test_cases", {}).get("generated", 0))
    result.seconds = round(float(data.get("running_time", 0.0)), 1)
    for raw in data.get("failures", []):
        operations = list(raw.get("operations", []))
        result.findings.append(
            Finding(
                raw["code"],
                raw["title"],
                int(raw.get("count", 0)),
                operations,
                allowance(lesson, raw["code"], operations),
            )  # fmt: skip
        )
    if data.get("errors"):
        result.problem = f"schemathesis reported errors: {json.dumps(data['errors'])[:500]}"
    elif result.generated == 0:
        # No request sent proves nothing: the budget went on loading the schema.
        result.problem = (
            f"schemathesis sent no request in {max_time} s (a busy machine?): "
            "give it more --max-time"
        )
    return result


def print_table(results: list[FuzzResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="nox -s fuzz: schemathesis against each lesson")
    for column in ("lesson", "backend", "cases", "5xx / schema", "declared", "other findings"):
        table.add_column(column)
    for r in sorted(results, key=lambda r: r.lesson):
        failing = ", ".join(f"{f.code} x{f.count} {' '.join(f.operations)}" for f in r.failures)
        declared = ", ".join(f"{f.code} by {f.allowed_by}" for f in r.findings if f.allowed_by)
        other = ", ".join(f"{f.code} x{f.count}" for f in r.findings if f.code not in FAILING)
        table.add_row(
            r.lesson, r.backend, str(r.generated),
            r.problem or failing or "0", declared or "-", other or "-",
        )  # fmt: skip
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz")
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--examples", type=int, default=25, help="examples per operation")
    parser.add_argument("--max-time", type=int, default=60, help="seconds per lesson")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    try:
        lessons = manifest.select(args.lessons)
    except LookupError as exc:
        raise SystemExit(str(exc)) from None
    reports = ROOT / "reports" / "fuzz"

    def run(lesson: Lesson) -> FuzzResult:
        result = fuzz_lesson(lesson, args.examples, args.max_time, args.seed, reports)
        state = "ok" if result.ok else "FAILED"
        print(f"{state:<7}{lesson.slug}: {result.generated} cases, {result.seconds} s", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run, lessons))
    print_table(results)
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"{r.lesson}: {r.problem or 'undeclared 5xx or schema violation'}; "
              f"details in reports/fuzz/{r.lesson}.schemathesis.txt")  # fmt: skip
    print(f"fuzz: {len(results) - len(bad)}/{len(results)} lessons clean")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
