"""Grading: a scorecard for one copy of the workbook, a gradebook for a class of them.

`nox -s grade` grades lessons/ (or `--path COPY`); `nox -s grade -- --class DIR` grades
every submission under DIR. The instructor's tests/ always grade: a submission's own tests
or conftest.py are never collected. Reports are versioned JSON (REPORT_VERSION), checked
against docs/schemas/ by tests/test_grader.py.
"""

from __future__ import annotations

import csv
import html
import json
import os
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import runner
from manifest import ROOT, Lesson, hint_text, load_lessons, resolve_tree
from runner import SuiteResult

REPORT_VERSION = 1
HINTS_STATE = runner.REPORTS / "hints.json"


# --------------------------------------------------------------------------- hints


def hints_shown(state_file: Path = HINTS_STATE) -> dict[str, dict[str, int]]:
    """{slug: {exercise number (as text): highest hint level revealed}}."""
    if not state_file.exists():
        return {}
    try:
        return json.loads(state_file.read_text())
    except json.JSONDecodeError:
        return {}


def reveal_hint(lesson: Lesson, n: int | None, state_file: Path = HINTS_STATE) -> str:
    """Reveal the next hint of exercise n (default: the first exercise with hints left)."""
    state = hints_shown(state_file)
    shown = state.setdefault(lesson.slug, {})
    if n is None:
        pending = [e for e in lesson.exercises if shown.get(str(e.n), 0) < len(e.hints)]
        if not pending:
            return f"lesson {lesson.number}: every hint is already shown; see above with --all"
        n = pending[0].n
    exercise = lesson.exercise(n)
    level = shown.get(str(n), 0)
    text = hint_text(lesson, n, level)
    if level < len(exercise.hints):
        shown[str(n)] = level + 1
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(state, indent=2, sort_keys=True))
    return text


# --------------------------------------------------------------------------- one lesson


@dataclass
class LessonGrade:
    lesson: Lesson
    suite: SuiteResult
    hints: dict[str, int]

    @property
    def behaviours(self) -> list[dict[str, Any]]:
        return [r for r in self.suite.results if r["exercise"] is None]

    def exercise_rows(self, n: int) -> list[dict[str, Any]]:
        return [r for r in self.suite.results if r["exercise"] == n]

    @property
    def solved(self) -> list[int]:
        if self.suite.status in ("missing", "does-not-import"):
            return []
        return [
            e.n
            for e in self.lesson.exercises
            if self.exercise_rows(e.n)
            and all(r["outcome"] == "passed" for r in self.exercise_rows(e.n))
        ]

    @property
    def points(self) -> int:
        return sum(e.points for e in self.lesson.exercises if e.n in self.solved)

    @property
    def passing(self) -> int:
        return sum(1 for r in self.behaviours if r["outcome"] == "passed")

    @property
    def failing_behaviours(self) -> list[str]:
        return [r["nodeid"] for r in self.behaviours if r["outcome"] != "passed"]

    @property
    def ok(self) -> bool:
        return (
            self.suite.status == "ok"
            and not self.failing_behaviours
            and len(self.solved) == len(self.lesson.exercises)
        )

    @property
    def status(self) -> str:
        """For the gradebook: ok, timeout, does-not-import, missing (or failed, crashed)."""
        if self.suite.status in ("timeout", "does-not-import", "missing", "crashed"):
            return self.suite.status
        return "ok"

    def to_json(self) -> dict[str, Any]:
        unsolved = [e for e in self.lesson.exercises if e.n not in self.solved]
        entry: dict[str, Any] = {
            "lesson": self.lesson.slug,
            "title": self.lesson.title,
            "status": self.status,
            "problem": self.suite.problem or None,
            "behaviours": {"passed": self.passing, "total": len(self.behaviours)},
            "failing_behaviours": self.failing_behaviours,
            "exercises": {"solved": len(self.solved), "total": len(self.lesson.exercises)},
            "points": {"earned": self.points, "total": self.lesson.points},
            "solved": self.solved,
            "next": None,
        }
        if unsolved:
            first = unsolved[0]
            level = self.hints.get(str(first.n), 0)
            failing = [r for r in self.exercise_rows(first.n) if r["outcome"] != "passed"]
            message = failing[0]["message"] if failing and failing[0].get("message") else None
            entry["next"] = {
                "exercise": first.n,
                "title": first.title,
                "hints_revealed": level,
                "hints_total": len(first.hints),
                "hint": first.hints[level - 1] if level else None,
                "first_failure": message.splitlines()[0][:300] if message else None,
            }
        return entry

    def text(self) -> str:
        entry = self.to_json()
        lesson = self.lesson
        lines = [f"{'PASS' if self.ok else 'FAIL'}  {lesson.slug}: {lesson.title}"]
        if self.suite.status in ("missing", "does-not-import", "crashed"):
            label = {"missing": "missing", "crashed": "crashed"}.get(self.suite.status, "")
            problem = self.suite.problem.splitlines()
            lines.append(f"      {label + ': ' if label else ''}{problem[0]}")
            lines += [f"      {line}" for line in problem[1:]]
            if self.suite.status == "crashed" and self.suite.output:
                lines += [f"      | {line}" for line in self.suite.output.splitlines()[-10:]]
            return "\n".join(lines)
        if self.suite.status == "timeout":
            lines.append(f"      timeout: {self.suite.problem}")
        lines.append(f"      behaviours passing  {self.passing}/{len(self.behaviours)}")
        lines.append(
            f"      exercises solved    {len(self.solved)}/{len(lesson.exercises)}"
            f"    points {self.points}/{lesson.points}"
        )
        for nodeid in self.failing_behaviours[:5]:
            lines.append(f"      failing behaviour   {nodeid}")
        if self.suite.collection_errors:
            message = self.suite.collection_errors[0]["message"].strip().splitlines()
            lines.append(f"      collection error    {message[-1][:300] if message else ''}")
        following = entry["next"]
        if following:
            n = following["exercise"]
            lines.append(f"      next: exercise {n}: {following['title']}")
            level, total = following["hints_revealed"], following["hints_total"]
            if level:
                lines.append(f"      hint {level} of {total}: {following['hint']}")
            if level < total:
                lines.append(
                    f"      stuck? `nox -s hint -- {lesson.number} {n}` reveals hint {level + 1}"
                    f" of {total}"
                )
            if following["first_failure"]:
                lines.append(f"      first failure: {following['first_failure']}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reports


def junit_xml(grade: LessonGrade) -> str:
    suite = ET.Element(
        "testsuite",
        name=grade.lesson.slug,
        tests=str(len(grade.suite.results)),
        failures=str(sum(1 for r in grade.suite.results if r["outcome"] == "failed")),
        errors=str(sum(1 for r in grade.suite.results if r["outcome"] in ("error", "timeout"))),
    )
    if grade.suite.status in ("missing", "does-not-import", "crashed"):
        case = ET.SubElement(suite, "testcase", classname=grade.lesson.slug, name="import")
        ET.SubElement(
            case, "error", message=grade.suite.problem.splitlines()[0]
        ).text = grade.suite.problem
    for row in grade.suite.results:
        module, _, name = row["nodeid"].rpartition("::")
        case = ET.SubElement(suite, "testcase", classname=module, name=name)
        if row["exercise"] is not None:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="exercise", value=str(row["exercise"]))
        if row["outcome"] == "failed":
            ET.SubElement(case, "failure", message=row["message"][:500]).text = row["message"]
        elif row["outcome"] in ("error", "timeout"):
            ET.SubElement(case, "error", message=row["message"][:500]).text = row["message"]
        elif row["outcome"] == "skipped":
            ET.SubElement(case, "skipped")
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode")


def lesson_report(grade: LessonGrade) -> dict[str, Any]:
    suite = grade.suite
    return {
        "version": REPORT_VERSION,
        "lesson": grade.lesson.slug,
        "tree": suite.tree,
        "backend": suite.backend,
        "status": grade.status,
        "problem": suite.problem or None,
        "reused": suite.reused,
        "seconds": suite.seconds,
        "results": suite.results,
        "collection_errors": suite.collection_errors,
        "output": suite.output,
    }


def write_reports(grades: list[LessonGrade], tree: Path, report_dir: Path) -> dict[str, Any]:
    report_dir.mkdir(parents=True, exist_ok=True)
    for grade in grades:
        slug = grade.lesson.slug
        (report_dir / f"{slug}.json").write_text(json.dumps(lesson_report(grade), indent=2))
        (report_dir / f"{slug}.xml").write_text(junit_xml(grade))
    card = {
        "version": REPORT_VERSION,
        "tree": str(tree),
        "lessons": [grade.to_json() for grade in grades],
        "points": {
            "earned": sum(g.points for g in grades),
            "total": sum(g.lesson.points for g in grades),
        },
        "passed": bool(grades) and all(g.ok for g in grades),
    }
    (report_dir / "scorecard.json").write_text(json.dumps(card, indent=2))
    return card


def grade_lesson(
    lesson: Lesson, tree: Path, hints: dict[str, dict[str, int]], root: Path = ROOT
) -> LessonGrade:
    suite = runner.run_suite(lesson, tree, root=root)
    return LessonGrade(lesson, suite, hints.get(lesson.slug, {}))


def grade_copy(
    lessons: list[Lesson],
    tree: Path,
    report_dir: Path,
    hints: dict[str, dict[str, int]],
    root: Path = ROOT,
) -> tuple[list[LessonGrade], dict[str, Any]]:
    grades = [grade_lesson(lesson, tree, hints, root) for lesson in lessons]
    return grades, write_reports(grades, tree, report_dir)


def print_scorecard(grades: list[LessonGrade], tree: Path, report_dir: Path) -> None:
    print(f"Grading {runner.shown_path(tree)}\n")
    for grade in grades:
        print(grade.text() + "\n")
    earned = sum(g.points for g in grades)
    total = sum(g.lesson.points for g in grades)
    solved = sum(len(g.solved) for g in grades)
    exercises = sum(len(g.lesson.exercises) for g in grades)
    print(f"workbook: {solved}/{exercises} exercises, {earned}/{total} points")
    print(f"Reports: {runner.shown_path(report_dir)}/")


def job_summary(card: dict[str, Any]) -> str:
    """A scorecard.json as Markdown: the GitHub Actions job summary of a graded push."""
    points = card["points"]
    verdict = "everything passes" if card["passed"] else "not everything passes yet"
    lines = [
        f"## Workbook scorecard: {points['earned']}/{points['total']} points, {verdict}",
        "",
        "| lesson | status | behaviours | exercises | points | next |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in card["lessons"]:
        following = entry["next"]
        nxt = f"exercise {following['exercise']}: {following['title']}" if following else ""
        cells = [
            entry["lesson"],
            entry["status"],
            f"{entry['behaviours']['passed']}/{entry['behaviours']['total']}",
            f"{entry['exercises']['solved']}/{entry['exercises']['total']}",
            f"{entry['points']['earned']}/{entry['points']['total']}",
            nxt.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    problems = [e for e in card["lessons"] if e["problem"]]
    for entry in problems:
        lines += [
            "",
            f"**{entry['lesson']}**: {entry['status']}",
            "",
            "```text",
            entry["problem"],
            "```",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- a class


def submission_tree(folder: Path) -> Path:
    """A submission is a workbook copy (holding lessons/) or a folder of lessons."""
    return resolve_tree(str(folder))


def class_jobs() -> int:
    """Suites run at once in class mode: two per core. A suite spends about a sixth of its
    time waiting, not computing (lesson 08's pool timeouts, lesson 11's retries, servers
    starting), and a second suite per core fills that time. Measured on 2 cores, 4
    submissions x 11 lessons: 163 s at one suite per core, 134 s at 3, 126 s at 4."""
    return 2 * (os.cpu_count() or 1)


def grade_class(
    class_dir: Path,
    lessons: list[Lesson],
    report_root: Path,
    jobs: int | None = None,
    root: Path = ROOT,
) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    students = sorted(p for p in class_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        print(f"grade: no submissions (folders) under {class_dir}")
        return 2
    report_dir = report_root / class_dir.name
    jobs = jobs or class_jobs()
    work = [(student, lesson) for student in students for lesson in lessons]
    results: dict[tuple[str, str], LessonGrade] = {}

    def run(item: tuple[Path, Lesson]) -> tuple[Path, Lesson, LessonGrade]:
        student, lesson = item
        # Several suites per core already: each in one process.
        suite = runner.run_suite(lesson, submission_tree(student), root=root, shards=1)
        return student, lesson, LessonGrade(lesson, suite, {})

    print(f"Grading {len(students)} submissions x {len(lessons)} lessons, {jobs} at a time")
    reused = 0
    with (
        Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
        ) as progress,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):  # fmt: skip
        task = progress.add_task("grading", total=len(work), last="")
        for student, lesson, grade in pool.map(run, work):
            results[(student.name, lesson.slug)] = grade
            reused += grade.suite.reused
            progress.update(task, advance=1, last=f"{student.name} {lesson.number}")
    rows = []
    for student in students:
        grades = [results[(student.name, lesson.slug)] for lesson in lessons]
        write_reports(grades, submission_tree(student), report_dir / student.name)
        rows.append((student.name, grades))
    write_gradebook(rows, lessons, report_dir)
    print(f"{len(work) - reused} suites run, {reused} reused (unchanged since the last run)")
    print_gradebook(rows, lessons)
    print(f"Gradebook: {runner.shown_path(report_dir)}/gradebook.csv and gradebook.html")
    return 0


def gradebook_columns(lessons: list[Lesson]) -> list[str]:
    columns = ["student", "points", "points_total"]
    for lesson in lessons:
        columns += [f"{lesson.number}_solved", f"{lesson.number}_points", f"{lesson.number}_status"]
    return columns


def gradebook_row(student: str, grades: list[LessonGrade]) -> list[str]:
    row = [student, str(sum(g.points for g in grades)), str(sum(g.lesson.points for g in grades))]
    for grade in grades:
        row += [
            f"{len(grade.solved)}/{len(grade.lesson.exercises)}",
            f"{grade.points}/{grade.lesson.points}",
            grade.status,
        ]
    return row


def write_gradebook(
    rows: list[tuple[str, list[LessonGrade]]], lessons: list[Lesson], report_dir: Path
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    with (report_dir / "gradebook.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(gradebook_columns(lessons))
        for student, grades in rows:
            writer.writerow(gradebook_row(student, grades))
    (report_dir / "gradebook.html").write_text(gradebook_html(rows, lessons, report_dir.name))


def gradebook_html(
    rows: list[tuple[str, list[LessonGrade]]], lessons: list[Lesson], name: str
) -> str:
    e = html.escape
    head = "".join(
        f'<th scope="col" title="{e(lesson.title)}">{e(lesson.number)}</th>' for lesson in lessons
    )
    body = []
    for student, grades in rows:
        cells = []
        for grade in grades:
            status = grade.status
            text = f"{len(grade.solved)}/{len(grade.lesson.exercises)}"
            note = "" if status == "ok" else f"<br><small>{e(status)}</small>"
            title = e(grade.suite.problem or f"{grade.points}/{grade.lesson.points} points")
            cells.append(f'<td class="{e(status)}" title="{title}">{e(text)}{note}</td>')
        points = f"{sum(g.points for g in grades)}/{sum(g.lesson.points for g in grades)}"
        body.append(
            f'<tr><th scope="row">{e(student)}</th><td>{e(points)}</td>{"".join(cells)}</tr>'
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Gradebook: {e(name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: center; }}
td.timeout, td.crashed {{ background: #fde2c8; }}
td.does-not-import {{ background: #f8d0d0; }}
td.missing {{ background: #eee; color: #666; }}
</style>
</head>
<body>
<h1>Gradebook: {e(name)}</h1>
<p>Exercises solved per lesson; points in the second column. A cell that is not ok says
why (timeout, does-not-import, missing); hover it for the details.</p>
<table>
<thead><tr><th scope="col">student</th><th scope="col">points</th>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
</body>
</html>
"""


def print_gradebook(rows: list[tuple[str, list[LessonGrade]]], lessons: list[Lesson]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gradebook")
    table.add_column("student")
    table.add_column("points", justify="right")
    for lesson in lessons:
        table.add_column(lesson.number, justify="center")
    for student, grades in rows:
        cells = [
            f"{len(g.solved)}/{len(g.lesson.exercises)}"
            + ("" if g.status == "ok" else f" {g.status}")
            for g in grades
        ]
        points = f"{sum(g.points for g in grades)}/{sum(g.lesson.points for g in grades)}"
        table.add_row(student, points, *cells)
    Console(width=max(100, 20 + 14 * len(lessons))).print(table)


def all_lessons() -> list[Lesson]:
    return load_lessons()


__all__ = ["ROOT", "grade_class", "grade_copy", "print_scorecard", "reveal_hint"]
