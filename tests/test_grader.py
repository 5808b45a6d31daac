"""The grader survives what real submissions contain, and its reports keep their contract.

Most tests grade a class of submissions of a tiny lesson (`01_tiny`, laid out in a copy
of the workbook under tmp_path, with the real harness and tools): one submission per kind
of trouble, each of which must get a clear row in the gradebook while the class run goes
on. The golden tests pin the grader's text and JSON for the real lesson 01, unsolved.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
import time
from pathlib import Path

import jsonschema
import pytest

import grader
import runner
import watch
import workbook_report
from manifest import load_lessons

# Each test grades whole suites in processes of their own: more than one test's limit.
pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
SLUG = "01_tiny"

MAIN = '''\
"""A tiny lesson for the grader's own tests: heroes in a SQLite file beside the code."""

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import crud

DEFAULT = f"sqlite:///{Path(__file__).resolve().parent / 'heroes.db'}"
DATABASE = os.environ.get("DATABASE_URL", DEFAULT).removeprefix("sqlite:///")
COLUMNS = ("id", "name", "secret_name", "age")
app = FastAPI()


class HeroIn(BaseModel):
    name: str
    secret_name: str
    age: int | None = None


def connect() -> sqlite3.Connection:
    conn = sqlite3.connect(DATABASE)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS hero "
        "(id INTEGER PRIMARY KEY, name TEXT, secret_name TEXT, age INTEGER)"
    )
    return conn


@app.post("/heroes/")
def create(hero: HeroIn) -> dict:
    with closing(connect()) as conn, conn:
        values = (hero.name, hero.secret_name, hero.age)
        cursor = conn.execute("INSERT INTO hero (name, secret_name, age) VALUES (?, ?, ?)", values)
        return {"id": cursor.lastrowid, **hero.model_dump()}


@app.get("/heroes/{hero_id}")
def read(hero_id: int) -> dict:
    with closing(connect()) as conn:
        row = conn.execute("SELECT * FROM hero WHERE id = ?", (hero_id,)).fetchone()
    if row is None:
        raise HTTPException(404, "Hero not found")
    return dict(zip(COLUMNS, row, strict=True))


@app.get("/double/{n}")
def double(n: int) -> dict:
    return {"result": crud.double(n)}
'''
SOLVED = '''\
"""What the tiny lesson's exercise asks."""


def double(n: int) -> int:
    # >>> exercise 1
    return n * 2
    # <<< exercise 1
'''
UNSOLVED = SOLVED.replace(
    "    return n * 2\n", "    # TODO(exercise 1): return twice n\n    return 0\n"
)
TESTS = {
    "test_behaviour.py": """\
def test_a_hero_reads_back(client):
    hero = client.post("/heroes/", json={"name": "A", "secret_name": "B"}).json()
    assert client.get(f"/heroes/{hero['id']}").json()["name"] == "A"
""",
    "test_exercises.py": """\
import pytest


@pytest.mark.exercise(1)
def test_double_doubles(client):
    assert client.get("/double/21").json() == {"result": 42}, "crud.double must return 2 * n"
""",
}
MANIFEST = """\
[[lesson]]
number = "01"
slug = "01_tiny"
title = "A tiny lesson"

[[lesson.exercise]]
n = 1
title = "Double it"
points = 3
hints = ["Multiplication.", "The * operator.", "return n * __"]
"""


@pytest.fixture
def workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the workbook's tools and harness, with the tiny lesson as its only one."""
    monkeypatch.delenv("WORKBOOK_DATABASE_URL", raising=False)  # SQLite: the tiny app's own
    root = tmp_path / "workbook"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "tools", root / "tools", ignore=ignore)
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, root / name)
    (root / "tests" / SLUG).mkdir(parents=True)
    for name in ("conftest.py", "test_smoke.py"):
        shutil.copy2(ROOT / "tests" / name, root / "tests" / name)
    for name, text in TESTS.items():
        (root / "tests" / SLUG / name).write_text(text)
    for tree, crud in (("solutions", SOLVED), ("lessons", UNSOLVED)):
        (root / tree / SLUG).mkdir(parents=True)
        (root / tree / SLUG / "main.py").write_text(MAIN)
        (root / tree / SLUG / "crud.py").write_text(crud)
    (root / "workbook.toml").write_text(MANIFEST)
    return root


def submission(root: Path, class_dir: Path, name: str, crud: str = SOLVED) -> Path:
    """A learner's folder of lessons holding the tiny lesson, with crud.py as given."""
    folder = class_dir / name / SLUG
    shutil.copytree(root / "solutions" / SLUG, folder)
    (folder / "crud.py").write_text(crud)
    return folder


def grade_class(root: Path, class_dir: Path) -> dict[str, dict[str, str]]:
    lessons = load_lessons(root / "workbook.toml")
    reports = root / "reports" / "grade"
    assert grader.grade_class(class_dir, lessons, reports, jobs=2, root=root) == 0
    with (reports / class_dir.name / "gradebook.csv").open() as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def student_report(root: Path, class_dir: Path, student: str) -> dict:
    path = root / "reports" / "grade" / class_dir.name / student / f"{SLUG}.json"
    return json.loads(path.read_text())


@pytest.fixture
def quick_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short time limits, so a stuck submission costs seconds here, not minutes."""
    monkeypatch.setattr(runner, "test_timeout", lambda root=None: 4.0)
    monkeypatch.setattr(runner, "IMPORT_TIMEOUT", 10.0)  # a real import takes ~1 s, more under load


def test_a_class_with_every_kind_of_trouble_gets_a_row_each(workbook, tmp_path, quick_limits):
    class_dir = tmp_path / "class-2026"
    submission(workbook, class_dir, "ada")  # solved
    submission(workbook, class_dir, "bob", UNSOLVED)
    submission(
        workbook, class_dir, "cy", SOLVED.replace("return n * 2", "while True:\n        pass")
    )
    submission(workbook, class_dir, "dee", "while True:\n    pass\n" + SOLVED)
    submission(
        workbook,
        class_dir,
        "eve",
        SOLVED.replace("def double(n: int) -> int:", "def double(n: int) -> int"),
    )
    (submission(workbook, class_dir, "fay") / "crud.py").unlink()
    (class_dir / "gus").mkdir()  # an empty submission
    noisy = SOLVED.replace("return n * 2", 'print("x" * 10_000_000)\n    return n')
    submission(workbook, class_dir, "hal", noisy)
    deleting = SOLVED.replace(
        "return n * 2", "import main, os\n    os.remove(main.DATABASE)\n    return n * 2"
    )
    submission(workbook, class_dir, "ivy", deleting)

    book = grade_class(workbook, class_dir)

    assert sorted(book) == ["ada", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy"]
    status = {name: row["01_status"] for name, row in book.items()}
    assert status == {
        "ada": "ok", "bob": "ok", "cy": "timeout", "dee": "does-not-import",
        "eve": "does-not-import", "fay": "does-not-import", "gus": "missing", "hal": "ok",
        "ivy": "ok",
    }  # fmt: skip
    assert (book["ada"]["01_solved"], book["ada"]["points"]) == ("1/1", "3")
    assert (book["bob"]["01_solved"], book["bob"]["points"]) == ("0/1", "0")
    html = (workbook / "reports" / "grade" / "class-2026" / "gradebook.html").read_text()
    assert "<script" not in html and "does-not-import" in html and "<td" in html

    cy = student_report(workbook, class_dir, "cy")
    [stuck] = [r for r in cy["results"] if r["outcome"] == "timeout"]
    assert stuck["message"] == (
        "exercise 1: test_double_doubles did not finish in 4 s: "
        "an infinite loop, or a call that blocks?"
    )
    assert [r["outcome"] for r in cy["results"] if r["exercise"] is None] == ["passed", "passed"]

    dee = student_report(workbook, class_dir, "dee")
    assert "does not finish importing in 10 s" in dee["problem"]

    eve = student_report(workbook, class_dir, "eve")["problem"]
    assert re.match(
        r".*eve/01_tiny/crud\.py does not import: SyntaxError: expected ':' \(line 4\)", eve
    )
    assert "    4 | def double(n: int) -> int\n" in eve and eve.endswith("^")
    assert eve.count("\n") == 2, "the error, the line, the caret: nothing else"

    fay = student_report(workbook, class_dir, "fay")["problem"]
    assert fay.endswith("fay/01_tiny/crud.py: missing (the lesson cannot run without it)")

    hal = student_report(workbook, class_dir, "hal")["output"]
    assert hal.startswith("[output truncated: ") and len(hal) <= runner.OUTPUT_LIMIT + 100

    ivy = student_report(workbook, class_dir, "ivy")
    assert any(r["outcome"] == "failed" for r in ivy["results"]), "the run went on and graded"


def test_a_submissions_own_tests_and_conftest_are_ignored(workbook, tmp_path):
    class_dir = tmp_path / "class"
    copy = class_dir / "mallory"
    shutil.copytree(workbook / "lessons" / SLUG, copy / "lessons" / SLUG)  # unsolved
    (copy / "tests" / SLUG).mkdir(parents=True)
    (copy / "tests" / SLUG / "test_exercises.py").write_text(
        "import pytest\n\n@pytest.mark.exercise(1)\ndef test_double_doubles():\n    pass\n"
    )
    everything_passes = "def pytest_runtest_call(item):\n    return True\n"
    (copy / "conftest.py").write_text(everything_passes)
    (copy / "lessons" / SLUG / "conftest.py").write_text(everything_passes)
    book = grade_class(workbook, class_dir)
    assert book["mallory"]["01_solved"] == "0/1"


def test_a_second_class_run_regrades_only_what_changed(workbook, tmp_path, capsys):
    class_dir = tmp_path / "class"
    submission(workbook, class_dir, "ada")
    submission(workbook, class_dir, "bob", UNSOLVED)
    grade_class(workbook, class_dir)
    assert "2 suites run, 0 reused" in capsys.readouterr().out
    # Solved now, in words of bob's own (the same text as ada's would be reused: same key).
    (class_dir / "bob" / SLUG / "crud.py").write_text(SOLVED.replace("n * 2", "2 * n"))
    book = grade_class(workbook, class_dir)
    assert "1 suites run, 1 reused" in capsys.readouterr().out
    assert book["bob"]["01_solved"] == "1/1"


def test_reports_follow_their_json_schemas(workbook, tmp_path):
    class_dir = tmp_path / "class"
    submission(workbook, class_dir, "ada")
    (class_dir / "gus").mkdir()
    grade_class(workbook, class_dir)
    schemas = ROOT / "docs" / "schemas"
    card_schema = json.loads((schemas / "scorecard.schema.json").read_text())
    lesson_schema = json.loads((schemas / "lesson-report.schema.json").read_text())
    for student in ("ada", "gus"):
        folder = workbook / "reports" / "grade" / "class" / student
        jsonschema.validate(json.loads((folder / "scorecard.json").read_text()), card_schema)
        jsonschema.validate(json.loads((folder / f"{SLUG}.json").read_text()), lesson_schema)


def test_the_scorecard_shows_the_highest_hint_revealed(workbook, tmp_path):
    lesson = load_lessons(workbook / "workbook.toml")[0]
    state = tmp_path / "hints.json"
    grader.reveal_hint(lesson, 1, state)
    out = grader.reveal_hint(lesson, 1, state)
    assert out.splitlines()[-2:] == [
        "> hint 2 of 3: The * operator.",
        "  (`nox -s hint -- 01 1` for hint 3)",
    ]
    grades, _ = grader.grade_copy(
        [lesson], workbook / "lessons", tmp_path / "r", grader.hints_shown(state), workbook
    )
    text = grades[0].text()
    assert "      hint 2 of 3: The * operator.\n" in text
    assert "`nox -s hint -- 01 1` reveals hint 3 of 3" in text


def test_the_job_summary_shows_points_and_why_a_lesson_did_not_run(workbook, tmp_path):
    class_dir = tmp_path / "class"
    submission(workbook, class_dir, "ada")
    submission(workbook, class_dir, "eve", SOLVED.replace("-> int:", "-> int"))
    grade_class(workbook, class_dir)
    reports = workbook / "reports" / "grade" / "class"
    ada = grader.job_summary(json.loads((reports / "ada" / "scorecard.json").read_text()))
    assert ada.splitlines()[0] == "## Workbook scorecard: 3/3 points, everything passes"
    assert "| 01_tiny | ok | 2/2 | 1/1 | 3/3 |  |" in ada
    eve = grader.job_summary(json.loads((reports / "eve" / "scorecard.json").read_text()))
    assert "| 01_tiny | does-not-import | 0/0 | 0/1 | 0/3 | exercise 1: Double it |" in eve
    assert "SyntaxError: expected ':' (line 4)" in eve


SMOKE = "test_uvicorn_serves_a_create_and_read_round_trip"


def outcomes(result: runner.SuiteResult) -> list[tuple[str, str]]:
    return [(row["nodeid"], row["outcome"]) for row in result.results]


def test_a_suite_split_over_two_processes_reports_what_one_process_does(workbook):
    lesson = load_lessons(workbook / "workbook.toml")[0]
    tree = workbook / "lessons"
    one = runner.run_suite(lesson, tree, use_cache=False, root=workbook, shards=1)
    two = runner.run_suite(lesson, tree, use_cache=False, root=workbook, shards=2)
    assert outcomes(two) == outcomes(one)  # the same tests, outcomes and order
    assert [outcome for _, outcome in outcomes(two)] == ["passed", "failed", "passed"]
    summaries = re.findall(r"^\d+ (?:passed|failed).* in [\d.]+s", two.output, flags=re.M)
    assert len(summaries) == 2, two.output  # two pytest processes, a share each


def test_a_test_that_hangs_in_one_share_is_reported_and_the_other_share_runs(
    workbook, quick_limits
):
    lesson = load_lessons(workbook / "workbook.toml")[0]
    crud = workbook / "lessons" / SLUG / "crud.py"
    crud.write_text(SOLVED.replace("return n * 2", "while True:\n        pass"))
    result = runner.run_suite(
        lesson, workbook / "lessons", use_cache=False, root=workbook, shards=2
    )
    assert result.status == "timeout"
    assert outcomes(result) == [
        (f"tests/{SLUG}/test_behaviour.py::test_a_hero_reads_back", "passed"),
        (f"tests/{SLUG}/test_exercises.py::test_double_doubles", "timeout"),
        (
            f"tests/test_smoke.py::test_uvicorn_serves_a_create_and_read_round_trip[{SLUG}]",
            "passed",
        ),
    ]
    assert result.problem == (
        "exercise 1: test_double_doubles did not finish in 4 s: an infinite loop, or a call "
        "that blocks?"
    )


def uvicorn_processes() -> set[str]:
    """Every running uvicorn process, as "pid: command line"."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # it ended while we looked
        text = " ".join(arg.decode(errors="replace") for arg in args)
        if "-m uvicorn" in text:
            found.add(f"{cmdline.parent.name}: {text}")
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the kernel's parent-death signal")
def test_a_lesson_that_loops_at_import_leaves_no_server_running(workbook, quick_limits):
    lesson = load_lessons(workbook / "workbook.toml")[0]
    crud = workbook / "lessons" / SLUG / "crud.py"
    crud.write_text("while True:\n    pass\n" + SOLVED)
    before = uvicorn_processes()
    # No import check first: every test runs into the loop. The two app tests end at their
    # 4 s limit; the smoke test waits for its server (longer), and the suite's own time
    # limit ends the run there: pytest's process group goes, the server's must go too.
    result = runner.run_suite(
        lesson, workbook / "lessons", use_cache=False, suite_timeout=30, import_first=False,
        root=workbook, shards=1,
    )  # fmt: skip
    assert result.status == "timeout"
    assert result.problem == (
        f"the suite did not finish in 30 s (it was running tests/test_smoke.py::{SMOKE}[{SLUG}])"
    )
    deadline = time.monotonic() + 5  # SIGKILL is delivered, not awaited
    while uvicorn_processes() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert uvicorn_processes() - before == set()


def test_watch_shows_the_next_exercise_first_then_the_suite_then_progress(workbook, capsys):
    lesson = load_lessons(workbook / "workbook.toml")[0]
    watch.run_once(lesson, workbook / "lessons", workbook)
    out = capsys.readouterr().out
    first = out.index("  exercise 1: not yet  (Double it)")
    assert out[first:].splitlines()[1] == "    AssertionError: crud.double must return 2 * n"
    assert (
        first
        < out.index("FAIL  01_tiny: A tiny lesson")
        < out.index("lesson 01: 0/1 exercises; workbook: 0/1")
    )


# --------------------------------------------------------------------------- golden


def golden_run(tmp_path: Path) -> tuple[str, dict]:
    lesson = load_lessons()[0]
    grades, card = grader.grade_copy([lesson], ROOT / "lessons", tmp_path, {})
    text = "\n".join(grade.text() for grade in grades) + "\n"
    card["tree"] = "lessons"
    return text, card


def test_golden_scorecard_text_and_json_for_lesson_01_unsolved(tmp_path):
    """The README's sample scorecard is tests/golden/grade-01-lessons.txt (nox -s sync)."""
    text, card = golden_run(tmp_path)
    assert text == (GOLDEN / "grade-01-lessons.txt").read_text()
    assert card == json.loads((GOLDEN / "grade-01-lessons.json").read_text())


def write_golden() -> None:
    """`python tools/workbook.py golden`: rewrite the golden files after a deliberate change."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text, card = golden_run(Path(tmp))
    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / "grade-01-lessons.txt").write_text(text)
    (GOLDEN / "grade-01-lessons.json").write_text(json.dumps(card, indent=2) + "\n")


def test_a_share_restarted_without_its_hung_test_keeps_every_other_test_of_its_share():
    # The runner restarts a share with `--deselect` of the test that hung. The shares are
    # drawn over the whole collection, so the restart runs the rest of the same share: drawn
    # over what is left, some of its tests moved to the other share, already finished, and
    # were never run (an exercise could then count as solved on the tests that did run).
    class Item:  # what the draw reads of a pytest item
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    whole = [Item(f"tests/{SLUG}/test_behaviour.py::test_{i}") for i in range(60)]
    whole.append(Item(f"tests/test_smoke.py::test_uvicorn_serves[{SLUG}]"))
    first = [workbook_report.my_share(whole, whole, index, 2) for index in range(2)]
    hung = first[0][4]
    left = [item for item in whole if item is not hung]
    again = [workbook_report.my_share(whole, left, index, 2) for index in range(2)]
    assert [[i.nodeid for i in share] for share in again] == [
        [i.nodeid for i in share if i is not hung] for share in first
    ]
