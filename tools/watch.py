"""`nox -s watch -- NN`: re-run a lesson's tests every time a file of it is saved.

On each save: first the tests of the next unsolved exercise, with their failure message
(the quick answer), then the lesson's whole suite (graded as `nox -s grade` does, and
stored where the grader reads it), then progress across the workbook from the latest
results of every lesson. Ctrl-C stops it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import grader
import runner
from manifest import ROOT, Lesson, load_lessons


def exercise_runs(lesson: Lesson, tree: Path, root: Path = ROOT) -> dict[int, tuple[bool, str]]:
    """Every exercise's tests in one quick process (no smoke test, no other test):
    exercise n -> (all its tests passed, its first failure message)."""
    with tempfile.TemporaryDirectory(prefix="workbook-watch-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pytest", f"tests/{lesson.slug}", f"--tree={tree}", "-q",
            "--tb=native", f"--workbook-report={report}", "--workbook-exercise=all",
            "-p", "no:randomly",
        ]  # fmt: skip
        log = Path(tmp) / "output.txt"
        runner.run_group(cmd, root, runner.suite_env(), log, runner.SUITE_TIMEOUT)
        data = json.loads(report.read_text()) if report.exists() else {}
    rows = data.get("results", [])
    if data.get("collection_errors"):
        message = data["collection_errors"][0]["message"].strip().splitlines()[-1]
        return {exercise.n: (False, message) for exercise in lesson.exercises}
    outcome: dict[int, tuple[bool, str]] = {}
    for exercise in lesson.exercises:
        mine = [row for row in rows if row["exercise"] == exercise.n]
        failing = [row for row in mine if row["outcome"] != "passed"]
        if not mine:
            outcome[exercise.n] = (False, "no test ran: does the lesson import? (see below)")
        elif failing:
            outcome[exercise.n] = (False, (failing[0]["message"].splitlines() or [""])[0])
        else:
            outcome[exercise.n] = (True, "")
    return outcome


def workbook_progress(current: grader.LessonGrade, root: Path = ROOT) -> str:
    card = root / "reports" / "grade" / "lessons" / "scorecard.json"
    solved = {}
    if card.exists():
        for entry in json.loads(card.read_text()).get("lessons", []):
            solved[entry["lesson"]] = entry["exercises"]["solved"]
    solved[current.lesson.slug] = len(current.solved)
    lessons = load_lessons(root / "workbook.toml")
    total = sum(len(lesson.exercises) for lesson in lessons)
    return f"workbook: {sum(solved.values())}/{total}"


def run_once(lesson: Lesson, tree: Path, root: Path = ROOT) -> None:
    print("\033[2J\033[H", end="")  # clear the screen
    print(f"lesson {lesson.number}: {lesson.title}\n")
    shown = grader.hints_shown().get(lesson.slug, {})
    outcomes = exercise_runs(lesson, tree, root)
    for exercise in lesson.exercises:
        passed, message = outcomes[exercise.n]
        if passed:
            print(f"  exercise {exercise.n}: solved  ({exercise.title})")
            continue
        print(f"  exercise {exercise.n}: not yet  ({exercise.title})")
        print(f"    {message}")
        level = shown.get(str(exercise.n), 0)
        print(f"    stuck? `nox -s hint -- {lesson.number} {exercise.n}` (hint {level + 1})")
        break
    print("\n  running the whole suite...", flush=True)
    grade = grader.LessonGrade(lesson, runner.run_suite(lesson, tree, root=root), shown)
    print("\033[1A\033[2K", end="")
    print(grade.text())
    print(
        f"\nlesson {lesson.number}: {len(grade.solved)}/{len(lesson.exercises)} exercises; "
        f"{workbook_progress(grade, root)}"
    )
    print("\nwatching for changes (Ctrl-C stops)...", flush=True)


def watch(lesson: Lesson, tree: Path) -> int:
    import watchfiles

    folder = tree / lesson.slug
    run_once(lesson, tree)
    try:
        for _ in watchfiles.watch(folder, watch_filter=watchfiles.PythonFilter()):
            run_once(lesson, tree)
    except KeyboardInterrupt:
        pass
    return 0
