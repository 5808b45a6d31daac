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


def exercise_runs(
    lesson: Lesson, tree: Path, root: Path = ROOT, only: int | None = None
) -> dict[int, tuple[bool, str]]:
    """The exercises' tests in one quick process (no smoke test, no other test), forked
    from the warm pytest: exercise n -> (all its tests passed, its first failure message).
    ``only``: that exercise's tests alone."""
    wanted = [e for e in lesson.exercises if only is None or e.n == only]
    with tempfile.TemporaryDirectory(prefix="workbook-watch-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pytest", f"tests/{lesson.slug}", f"--tree={tree}", "-q",
            "--tb=native", f"--workbook-report={report}",
            f"--workbook-exercise={'all' if only is None else only}", "-p", "no:randomly",
        ]  # fmt: skip
        log = Path(tmp) / "output.txt"
        runner.run_group(cmd, root, runner.suite_env(), log, runner.SUITE_TIMEOUT)
        data = json.loads(report.read_text()) if report.exists() else {}
    rows = data.get("results", [])
    if data.get("collection_errors"):
        message = data["collection_errors"][0]["message"].strip().splitlines()[-1]
        return {exercise.n: (False, message) for exercise in wanted}
    outcome: dict[int, tuple[bool, str]] = {}
    for exercise in wanted:
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


def show_exercise(lesson: Lesson, n: int, passed: bool, message: str) -> None:
    exercise = next(e for e in lesson.exercises if e.n == n)
    if passed:
        print(f"  exercise {n}: solved  ({exercise.title})", flush=True)
        return
    level = grader.hints_shown().get(lesson.slug, {}).get(str(n), 0)
    print(f"  exercise {n}: not yet  ({exercise.title})")
    print(f"    {message}")
    print(f"    stuck? `nox -s hint -- {lesson.number} {n}` (hint {level + 1})", flush=True)


def run_once(lesson: Lesson, tree: Path, root: Path = ROOT, first: int | None = None) -> int | None:
    """One round: the tests of exercise ``first`` (the one unsolved last time) alone, at
    once; then the whole suite, graded; then progress. Returns the next unsolved exercise."""
    print("\033[2J\033[H", end="")  # clear the screen
    print(f"lesson {lesson.number}: {lesson.title}\n")
    first = first or (lesson.exercises[0].n if lesson.exercises else None)
    quick: tuple[bool, str] | None = None
    if first is not None:
        quick = exercise_runs(lesson, tree, root, only=first)[first]
        show_exercise(lesson, first, *quick)
    print("\n  running the whole suite...", flush=True)
    grade = grader.LessonGrade(
        lesson, runner.run_suite(lesson, tree, root=root), grader.hints_shown().get(lesson.slug, {})
    )
    print("\033[1A\033[2K", end="")
    unsolved = [e.n for e in lesson.exercises if e.n not in grade.solved]
    if unsolved and (quick is None or quick[0] or unsolved[0] != first):
        # The exercise shown first is solved now (or was not the first unsolved one):
        # the next one's failure, from the suite's results.
        n = unsolved[0]
        rows = [r for r in grade.exercise_rows(n) if r["outcome"] != "passed"]
        message = (rows[0]["message"].splitlines() or [""])[0] if rows else ""
        show_exercise(lesson, n, False, message)
    print(grade.text())
    print(
        f"\nlesson {lesson.number}: {len(grade.solved)}/{len(lesson.exercises)} exercises; "
        f"{workbook_progress(grade, root)}"
    )
    print("\nwatching for changes (Ctrl-C stops)...", flush=True)
    return unsolved[0] if unsolved else None


def watch(lesson: Lesson, tree: Path) -> int:
    import watchfiles

    folder = tree / lesson.slug
    # The watcher starts before the first run: a save made while a run is going is
    # noticed after it, not lost. It yields nothing (an empty set) every half second.
    changes = watchfiles.watch(
        folder, watch_filter=watchfiles.PythonFilter(), rust_timeout=500, yield_on_timeout=True
    )
    try:
        next(changes)  # the watcher is set up
        following = run_once(lesson, tree)
        for changed in changes:
            if changed:
                following = run_once(lesson, tree, first=following)
    except KeyboardInterrupt:
        pass
    finally:
        runner.WARM.close()
    return 0
