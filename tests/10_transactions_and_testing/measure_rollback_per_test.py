"""What the rollback-per-test pattern saves, measured: lesson 10's rollback tests, both ways.

From the repository root, in the workbook's environment:

    python tests/10_transactions_and_testing/measure_rollback_per_test.py

It runs the tests that use the rollback pattern (the ``client`` fixture: every request in
one outer transaction, rolled back after the test; conftest.py marks them
``rollback_per_test``) in separate pytest processes, on the backend the suite would use
(SQLite, or PostgreSQL when WORKBOOK_DATABASE_URL names a server), two ways:

* migrate once: as conftest.py runs them, the first test migrates the database
  (``alembic upgrade head``) and every later one starts on it as the one before left it;
* migrate every test: with LESSON10_MIGRATE_EVERY_TEST=1, each test starts on a wiped
  database that ``alembic upgrade head`` first brings to head.

Each way runs ``--rounds`` times (3), alternating; the time of a run is what pytest spent
in the tests (set-up, call and tear-down, from its JUnit XML report, so the start of the
process does not count), and the fastest run of each way is compared. Any further
arguments go to pytest (``--tree lessons``, say). The exit code is 1 if a test failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WAYS = {"migrate once": "0", "migrate every test": "1"}


def run(migrate_every_test: str, extra: list[str]) -> tuple[float, int]:
    """One pytest process over the rollback tests: (seconds in the tests, tests run)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        command = [sys.executable, "-m", "pytest", str(HERE), "-m", "rollback_per_test", "-q"]
        command += [f"--junitxml={report}", *extra]
        env = {**os.environ, "LESSON10_MIGRATE_EVERY_TEST": migrate_every_test}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
        cases = ET.parse(report).getroot().iter("testcase")
        times = [float(case.get("time", "0")) for case in cases]
    return sum(times), len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each way (default 3)")
    args, extra = parser.parse_known_args()
    backend = "PostgreSQL" if os.environ.get("WORKBOOK_DATABASE_URL") else "SQLite"
    best: dict[str, float] = {}
    count = 0
    for _ in range(args.rounds):
        for way, flag in WAYS.items():
            seconds, count = run(flag, extra)
            best[way] = min(seconds, best.get(way, seconds))
    print(f"lesson 10, the {count} tests that use the rollback pattern, on {backend}")
    print(f"(fastest of {args.rounds} runs each; time spent in the tests, set-up included)")
    for way, seconds in best.items():
        print(f"  {way:<20} {seconds:6.2f} s")
    ratio = best["migrate every test"] / best["migrate once"]
    print(f"migrating once is {ratio:.1f} times as fast")


if __name__ == "__main__":
    main()
