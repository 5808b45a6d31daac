"""`nox -s watch -- NN`: re-run a lesson's tests every time a file of it is saved.

On each save: first the tests of the next unsolved exercise, with their failure message
(the quick answer), then the lesson's whole suite (graded as `nox -s grade` does, and
stored where the grader reads it), then progress across the workbook from the latest
results of every lesson. Ctrl-C stops it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import grader
import runner
from manifest import ROOT, Lesson, load_lessons


def exercise_run(lesson: Lesson, tree: Path, n: int, root: Path = ROOT) -> tuple[bool, str]:
    """Run exercise n's tests only; (all passed, first failure message)."""
    with tempfile.TemporaryDirectory(prefix="workbook-watch-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pytest", f"tests/{lesson.slug}", f"--tree={tree}", "-q",
            "--tb=native", f"--workbook-report={report}", f"--workbook-exercise={n}",
            "-p", "no:randomly",
        ]  # fmt: skip
        subprocess.run(cmd, cwd=root, capture_output=True, timeout=300)
        data = json.loads(report.read_text()) if report.exists() else {}
    rows = data.get("results", [])
    failing = [r for r in rows if r["outcome"] != "passed"]
    if data.get("collection_errors"):
        return False, data["collection_errors"][0]["message"].strip().splitlines()[-1]
    if not rows:
        return False, "no test ran: does the lesson import? (the full run below says)"
    return not failing, (failing[0]["message"].splitlines() or [""])[0] if failing else ""


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
    for exercise in lesson.exercises:
        passed, message = exercise_run(lesson, tree, exercise.n, root)
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
