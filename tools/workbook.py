"""The workbook's own tooling: the manifest, the consistency checker and the grader.

The nox sessions call this module (`python tools/workbook.py check|grade|...`), and the
test harness imports it to read the manifest. It uses only the standard library, so it
runs in any Python 3.11 environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "workbook.toml"
REPORTS = ROOT / "reports"

# Every lesson README has these sections (level-2 headings, matched case-insensitively
# at the start of the heading text).
README_SECTIONS = (
    "What you will learn",
    "Run it",
    "What changed since the previous lesson",
    "Walkthrough",
    "Common mistakes",
    "Exercises",
    "Further reading",
)

REGION_START = re.compile(r">>> exercise (\d+)\b")
REGION_END = re.compile(r"<<< exercise (\d+)\b")
TODO = re.compile(r"TODO\(exercise (\d+)\)")
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Exercise:
    n: int
    title: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Lesson:
    number: str
    slug: str
    title: str
    app: str = "main:app"
    driver: str = "sync"
    prepare: tuple[str, ...] = ()
    exercises: tuple[Exercise, ...] = field(default_factory=tuple)


def load_lessons(manifest: Path = MANIFEST) -> list[Lesson]:
    data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    lessons = []
    for raw in data.get("lesson", []):
        exercises = tuple(
            Exercise(n=int(e["n"]), title=e["title"], hints=tuple(e.get("hints", ())))
            for e in raw.get("exercise", [])
        )
        lessons.append(
            Lesson(
                number=raw["number"],
                slug=raw["slug"],
                title=raw["title"],
                app=raw.get("app", "main:app"),
                driver=raw.get("driver", "sync"),
                prepare=tuple(raw.get("prepare", ())),
                exercises=exercises,
            )
        )
    return lessons


def find_lesson(key: str, lessons: list[Lesson] | None = None) -> Lesson:
    """A lesson by number ("5", "05") or slug ("05_sqlmodel_multimodels")."""
    lessons = load_lessons() if lessons is None else lessons
    for lesson in lessons:
        if key in (lesson.slug, lesson.number) or (
            key.isdigit() and int(key) == int(lesson.number)
        ):
            return lesson
    known = ", ".join(lesson.number for lesson in lessons)
    raise SystemExit(f"no lesson {key!r} in workbook.toml (known: {known})")


def resolve_tree(value: str, root: Path = ROOT) -> Path:
    """`solutions`, `lessons`, a folder of NN_slug lessons, or a workbook copy holding one."""
    if value in ("solutions", "lessons"):
        return root / value
    path = Path(value).expanduser().resolve()
    if (path / "lessons").is_dir():
        return path / "lessons"
    return path


# --------------------------------------------------------------------------- static checks


def lesson_files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file()
        and not IGNORED_PARTS.intersection(p.relative_to(folder).parts)
        and p.suffix not in (".db", ".pyc")
        and not p.name.endswith((".db-journal", ".db-wal", ".db-shm"))
    }


def strip_regions(text: str) -> tuple[list[str], list[str]]:
    """The lines outside exercise regions, and a list of problems with the markers."""
    kept: list[str] = []
    problems: list[str] = []
    open_n: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        start, end = REGION_START.search(line), REGION_END.search(line)
        if start:
            if open_n is not None:
                problems.append(
                    f"line {number}: exercise {start[1]} opens inside exercise {open_n}"
                )
            open_n = start[1]
            kept.append(line)
        elif end:
            if open_n != end[1]:
                problems.append(f"line {number}: exercise {end[1]} closes but {open_n} is open")
            open_n = None
            kept.append(line)
        elif open_n is None:
            kept.append(line)
    if open_n is not None:
        problems.append(f"exercise {open_n} is never closed")
    return kept, problems


def readme_sections(text: str) -> list[str]:
    return [m[1].strip() for m in re.finditer(r"^## +(.+)$", text, flags=re.MULTILINE)]


def section_body(text: str, title: str) -> str:
    match = re.search(
        rf"^## +{re.escape(title)}.*?$(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL
    )
    return match[1] if match else ""


def readme_mistakes(text: str) -> set[int]:
    """M-numbers named in headings of the Common mistakes section (### M1 ...)."""
    body = section_body(text, "Common mistakes")
    return {int(n) for n in re.findall(r"^#{3,4} +M(\d+)\b", body, flags=re.MULTILINE)}


def readme_exercises(text: str) -> set[int]:
    body = section_body(text, "Exercises")
    return {int(n) for n in re.findall(r"^#{3,4} +Exercise (\d+)\b", body, flags=re.MULTILINE)}


def mistake_tests(test_dir: Path) -> set[int]:
    """M-numbers with a test function named after them in test_mistakes.py."""
    path = test_dir / "test_mistakes.py"
    if not path.exists():
        return set()
    names = re.findall(r"^\s*(?:async\s+)?def (test_\w+)", path.read_text(), flags=re.MULTILINE)
    return {int(n) for name in names for n in re.findall(r"(?:^|_)m(\d+)(?:_|$)", name)}


def test_names(test_dir: Path) -> set[str]:
    """Every test function (and test module name) in a lesson's test folder."""
    names: set[str] = set()
    for path in test_dir.glob("*.py"):
        names.add(path.stem)
        names |= set(re.findall(r"^\s*(?:async\s+)?def (test_\w+)", path.read_text(), re.M))
    return names


def exercise_tests(test_dir: Path) -> set[int]:
    path = test_dir / "test_exercises.py"
    if not path.exists():
        return set()
    return {int(n) for n in re.findall(r"mark\.exercise\((\d+)\)", path.read_text())}


def check_static(root: Path = ROOT, only: list[str] | None = None) -> list[str]:
    """Every rule that needs no test run. Returns the problems found, one line each."""
    problems: list[str] = []
    lessons = load_lessons(root / "workbook.toml")
    listed = {lesson.slug for lesson in lessons}
    for tree in ("lessons", "solutions", "tests"):
        for folder in sorted((root / tree).glob("[0-9][0-9]_*")):
            if folder.is_dir() and folder.name not in listed and only is None:
                problems.append(f"{tree}/{folder.name} is not in workbook.toml")
    for lesson in lessons:
        if only is not None and lesson.slug not in only:
            continue
        learner, answer = root / "lessons" / lesson.slug, root / "solutions" / lesson.slug
        tests = root / "tests" / lesson.slug
        for folder in (learner, answer, tests):
            if not folder.is_dir():
                problems.append(f"{lesson.slug}: {folder.relative_to(root)} is missing")
        if problems and not (learner.is_dir() and answer.is_dir()):
            continue
        a, b = lesson_files(learner), lesson_files(answer)
        for rel in sorted(a - b):
            problems.append(f"{lesson.slug}: {rel} is in lessons/ but not in solutions/")
        for rel in sorted(b - a):
            problems.append(f"{lesson.slug}: {rel} is in solutions/ but not in lessons/")
        todos_in_lessons: set[int] = set()
        for rel in sorted(a & b):
            left = (learner / rel).read_text(encoding="utf-8", errors="replace")
            right = (answer / rel).read_text(encoding="utf-8", errors="replace")
            todos_in_lessons |= {int(n) for n in TODO.findall(left)}
            if TODO.search(right):
                problems.append(f"{lesson.slug}: solutions/{rel} still has a TODO(exercise N)")
            kept_left, bad_left = strip_regions(left)
            kept_right, bad_right = strip_regions(right)
            problems += [f"{lesson.slug}: lessons/{rel}: {p}" for p in bad_left]
            problems += [f"{lesson.slug}: solutions/{rel}: {p}" for p in bad_right]
            if kept_left != kept_right:
                problems.append(
                    f"{lesson.slug}: lessons/{rel} and solutions/{rel} differ outside "
                    "exercise regions (see `nox -s diff -- " + lesson.number + "`)"
                )
        expected = {e.n for e in lesson.exercises}
        for n in sorted(expected - todos_in_lessons):
            problems.append(f"{lesson.slug}: no TODO(exercise {n}) in lessons/{lesson.slug}")
        for n in sorted(todos_in_lessons - expected):
            problems.append(f"{lesson.slug}: TODO(exercise {n}) is not in workbook.toml")
        readme = learner / "README.md"
        if not readme.exists():
            problems.append(f"{lesson.slug}: lessons/{lesson.slug}/README.md is missing")
            continue
        text = readme.read_text(encoding="utf-8")
        headings = [h.lower() for h in readme_sections(text)]
        for section in README_SECTIONS:
            if not any(h.startswith(section.lower()) for h in headings):
                problems.append(f"{lesson.slug}: README has no '## {section}' section")
        for n in sorted(readme_mistakes(text) - mistake_tests(tests)):
            problems.append(
                f"{lesson.slug}: README mistake M{n} has no test named *m{n}* in test_mistakes.py"
            )
        defined = test_names(tests)
        for name in sorted(set(re.findall(r"\btest_[a-z0-9_]*[a-z0-9]", text)) - defined):
            problems.append(f"{lesson.slug}: README cites {name}, which no test defines")
        for n in sorted(readme_exercises(text) ^ expected):
            problems.append(
                f"{lesson.slug}: exercise {n} is in only one of README.md and workbook.toml"
            )
        for n in sorted(expected - exercise_tests(tests)):
            problems.append(f"{lesson.slug}: exercise {n} has no @pytest.mark.exercise({n}) test")
    return problems


# --------------------------------------------------------------------------- running suites


def pytest_command(
    lesson: Lesson, tree: str, report: Path | None = None, junit: Path | None = None
) -> list[str]:
    cmd = [
        sys.executable, "-m", "pytest", f"tests/{lesson.slug}", "tests/test_smoke.py",
        f"--tree={tree}", "-q",
    ]  # fmt: skip
    if report:
        # Machine-read runs: native tracebacks also dodge a CPython 3.11.7 crash while
        # pytest formats some tracebacks of broken code (gh-106905).
        cmd.append("--tb=native")
    if report:
        cmd.append(f"--workbook-report={report}")
    if junit:
        cmd.append(f"--junitxml={junit}")
    return cmd


def run_suite(
    lesson: Lesson, tree: str, report: Path, junit: Path | None = None, root: Path = ROOT
) -> dict:
    """Run one lesson's suite in its own process and return its JSON report."""
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    cmd = pytest_command(lesson, tree, report, junit)
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if not report.exists():
        sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"{lesson.slug}: pytest wrote no report (exit {proc.returncode})")
    data = json.loads(report.read_text())
    data["exit_code"] = proc.returncode
    data["output"] = proc.stdout
    return data


def classify(results: list[dict]) -> tuple[list[dict], dict[int, list[dict]]]:
    behaviours = [r for r in results if r["exercise"] is None]
    exercises: dict[int, list[dict]] = {}
    for r in results:
        if r["exercise"] is not None:
            exercises.setdefault(r["exercise"], []).append(r)
    return behaviours, exercises


def check_dynamic(
    lessons: list[Lesson],
    report_dir: Path,
    root: Path = ROOT,
    trees: tuple[str, ...] = ("solutions", "lessons"),
    jobs: int | None = None,
) -> list[str]:
    """Exercise tests fail on lessons/ and pass on solutions/; all others pass on both.

    Each (lesson, tree) suite is its own pytest process; ``jobs`` of them run at once
    (default: one per CPU, at most 4).
    """
    from concurrent.futures import ThreadPoolExecutor

    runs = [(lesson, tree) for lesson in lessons for tree in trees]

    def run(item: tuple[Lesson, str]) -> dict:
        lesson, tree = item
        report = report_dir / f"check-{tree}-{lesson.slug}.json"
        return run_suite(lesson, tree, report, root=root)

    workers = jobs or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(run, runs))
    problems: list[str] = []
    for (lesson, tree), data in zip(runs, reports, strict=True):
        if data.get("collection_errors"):
            problems.append(f"{lesson.slug} on {tree}/: collection errors")
            sys.stdout.write(data["output"][-3000:])
        behaviours, exercises = classify(data["results"])
        for r in behaviours:
            if r["outcome"] != "passed":
                problems.append(f"{lesson.slug} on {tree}/: {r['nodeid']} {r['outcome']}")
        for n, rows in sorted(exercises.items()):
            for r in rows:
                want = "passed" if tree == "solutions" else "failed"
                if r["outcome"] != want:
                    problems.append(
                        f"{lesson.slug} on {tree}/: exercise {n} test {r['nodeid']} "
                        f"{r['outcome']}, expected {want}"
                    )
        if not data["results"]:
            problems.append(f"{lesson.slug} on {tree}/: no tests ran")
    return problems


def run_tests(lessons: list[Lesson], tree: str, jobs: int | None = None) -> int:
    """Each lesson's suite in its own process, ``jobs`` at once; print each as it ends."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def run(lesson: Lesson) -> tuple[Lesson, subprocess.CompletedProcess[str]]:
        cmd = pytest_command(lesson, tree)
        return lesson, subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)

    failed: list[str] = []
    workers = jobs or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(run, lesson) for lesson in lessons]):
            lesson, proc = future.result()
            print(f"\n== {lesson.slug} on {tree}/: {' '.join(proc.args[1:])}", flush=True)
            sys.stdout.write(proc.stdout + proc.stderr)
            sys.stdout.flush()
            if proc.returncode != 0:
                failed.append(lesson.slug)
    if failed:
        print(f"\nfailing lessons: {', '.join(sorted(failed))}")
        return 1
    print(f"\nall {len(lessons)} lesson suites passed on {tree}/")
    return 0


# --------------------------------------------------------------------------- grading


def grade(lessons: list[Lesson], tree: str, report_dir: Path) -> int:
    report_dir.mkdir(parents=True, exist_ok=True)
    card: list[dict] = []
    everything_passed = True
    print(f"\nGrading {resolve_tree(tree)}\n")
    for lesson in lessons:
        data = run_suite(
            lesson, tree, report_dir / f"{lesson.slug}.json", report_dir / f"{lesson.slug}.xml"
        )
        behaviours, exercises = classify(data["results"])
        passing = [r for r in behaviours if r["outcome"] == "passed"]
        solved = [
            e.n
            for e in lesson.exercises
            if exercises.get(e.n) and all(r["outcome"] == "passed" for r in exercises[e.n])
        ]
        unsolved = [e for e in lesson.exercises if e.n not in solved]
        failing_behaviours = [r["nodeid"] for r in behaviours if r["outcome"] != "passed"]
        ok = not failing_behaviours and not unsolved and data["results"]
        everything_passed = everything_passed and bool(ok)
        entry = {
            "lesson": lesson.slug,
            "title": lesson.title,
            "behaviours": {"passed": len(passing), "total": len(behaviours)},
            "failing_behaviours": failing_behaviours,
            "exercises": {"solved": len(solved), "total": len(lesson.exercises)},
            "solved": solved,
            "next": None,
        }
        mark = "PASS" if ok else "FAIL"
        print(f"{mark}  {lesson.slug}: {lesson.title}")
        print(f"      behaviours passing  {len(passing)}/{len(behaviours)}")
        print(f"      exercises solved    {len(solved)}/{len(lesson.exercises)}")
        for nodeid in failing_behaviours[:5]:
            print(f"      failing behaviour   {nodeid}")
        if unsolved:
            first = unsolved[0]
            hint = first.hints[0] if first.hints else None
            entry["next"] = {"exercise": first.n, "title": first.title, "hint": hint}
            print(f"      next: exercise {first.n}: {first.title}")
            if first.hints:
                print(f"      hint 1: {first.hints[0]}")
            failing = [r for r in exercises.get(first.n, []) if r["outcome"] != "passed"]
            if failing and failing[0].get("message"):
                print(f"      first failure: {failing[0]['message'].splitlines()[0][:300]}")
        print()
        card.append(entry)
    summary = {"tree": str(resolve_tree(tree)), "lessons": card, "passed": everything_passed}
    (report_dir / "scorecard.json").write_text(json.dumps(summary, indent=2))
    shown = report_dir.relative_to(ROOT) if report_dir.is_relative_to(ROOT) else report_dir
    print(f"Reports: {shown}/")
    print("  scorecard.json, and per lesson <slug>.json (every test) and <slug>.xml (JUnit)")
    return 0 if everything_passed else 1


# --------------------------------------------------------------------------- diffing


def shown(path: Path) -> str:
    """A path relative to the repository when inside it, else absolute."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def diff_trees(left: Path, right: Path, color: bool = False) -> tuple[str, list[tuple]]:
    """A unified diff of two lesson folders' code, and a stat.

    Caches, databases and the READMEs (prose, not code) are left out.
    """
    import difflib

    out: list[str] = []
    stat: list[tuple] = []
    for rel in sorted(lesson_files(left) | lesson_files(right)):
        if rel == "README.md":
            continue
        a, b = left / rel, right / rel
        a_lines = a.read_text(encoding="utf-8").splitlines(keepends=True) if a.exists() else []
        b_lines = b.read_text(encoding="utf-8").splitlines(keepends=True) if b.exists() else []
        a_name = shown(a) if a.exists() else "/dev/null"
        b_name = shown(b) if b.exists() else "/dev/null"
        lines = list(difflib.unified_diff(a_lines, b_lines, a_name, b_name))
        if not lines:
            continue
        added = sum(1 for x in lines[2:] if x.startswith("+"))
        removed = sum(1 for x in lines[2:] if x.startswith("-"))
        stat.append((rel, added, removed))
        for line in lines:
            line = line if line.endswith("\n") else line + "\n"
            if color and line.startswith(("+++", "---")):
                line = f"\033[1m{line.rstrip()}\033[0m\n"
            elif color and line.startswith("+"):
                line = f"\033[32m{line.rstrip()}\033[0m\n"
            elif color and line.startswith("-"):
                line = f"\033[31m{line.rstrip()}\033[0m\n"
            elif color and line.startswith("@@"):
                line = f"\033[36m{line.rstrip()}\033[0m\n"
            out.append(line)
    return "".join(out), stat


def format_stat(stat: list[tuple]) -> str:
    width = max((len(rel) for rel, _, _ in stat), default=0)
    rows = [f" {rel:<{width}} | +{added:<4} -{removed}" for rel, added, removed in stat]
    total_a = sum(a for _, a, _ in stat)
    total_r = sum(r for _, _, r in stat)
    rows.append(f" {len(stat)} files changed, {total_a} insertions(+), {total_r} deletions(-)")
    return "\n".join(rows)


# --------------------------------------------------------------------------- CLI


def select(keys: list[str]) -> list[Lesson]:
    lessons = load_lessons()
    return [find_lesson(k, lessons) for k in keys] if keys else lessons


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbook")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="static and dynamic consistency checks")
    c.add_argument("lessons", nargs="*")
    c.add_argument("--static-only", action="store_true")
    g = sub.add_parser("grade", help="grade a tree and print a scorecard")
    g.add_argument("lessons", nargs="*")
    g.add_argument("--path", default="lessons", help="a workbook copy or lessons folder")
    g.add_argument("--reports", default=None)
    d = sub.add_parser("diff", help="diff two lessons' solutions, or a lesson and its solution")
    d.add_argument("lessons", nargs="+")
    d.add_argument("--stat", action="store_true", help="only the per-file line counts")
    d.add_argument("--tree", default="solutions", help="tree for a two-lesson diff")
    t = sub.add_parser("tests", help="run lesson suites, one process each, in parallel")
    t.add_argument("lessons", nargs="*")
    t.add_argument("--tree", default="solutions")
    t.add_argument("--jobs", type=int, default=None)
    sub.add_parser("list", help="print the lessons, one slug a line")
    sub.add_parser("table", help="print the curriculum table for README.md")
    args = parser.parse_args(argv)

    if args.command == "list":
        print("\n".join(lesson.slug for lesson in load_lessons()))
        return 0
    if args.command == "tests":
        return run_tests(select(args.lessons), args.tree, args.jobs)
    if args.command == "diff":
        if len(args.lessons) > 2:
            raise SystemExit("diff: give one lesson (against its solution) or two lessons")
        chosen = select(args.lessons)
        if len(chosen) == 1:
            left, right = ROOT / "lessons" / chosen[0].slug, ROOT / "solutions" / chosen[0].slug
        else:
            tree = resolve_tree(args.tree)
            left, right = tree / chosen[0].slug, tree / chosen[1].slug
        text, stat = diff_trees(left, right, color=sys.stdout.isatty() and not args.stat)
        if not args.stat:
            sys.stdout.write(text)
        print(format_stat(stat))
        return 0
    if args.command == "table":
        print("| lesson | what it teaches | exercises |\n| --- | --- | --- |")
        for lesson in load_lessons():
            print(f"| [{lesson.slug}](lessons/{lesson.slug}/README.md) | {lesson.title} "
                  f"| {len(lesson.exercises)} |")  # fmt: skip
        return 0
    if args.command == "check":
        chosen = select(args.lessons)
        problems = check_static(only=[lesson.slug for lesson in chosen])
        if not args.static_only:
            problems += check_dynamic(chosen, REPORTS / "check")
        for p in problems:
            print(f"check: {p}")
        print(
            f"check: {len(problems)} problem(s)"
            if problems
            else "check: the workbook is consistent"
        )
        return 1 if problems else 0
    if args.command == "grade":
        tree = resolve_tree(args.path)
        if not tree.is_dir():
            raise SystemExit(f"grade: {args.path} is not a folder")
        name = "lessons" if tree == ROOT / "lessons" else tree.parent.name or tree.name
        report_dir = Path(args.reports) if args.reports else REPORTS / "grade" / name
        chosen = select(args.lessons)
        if not args.lessons:
            missing = [lesson.slug for lesson in chosen if not (tree / lesson.slug).is_dir()]
            chosen = [lesson for lesson in chosen if (tree / lesson.slug).is_dir()]
            if missing:
                print(f"not in {tree}, not graded: {', '.join(missing)}")
        return grade(chosen, str(tree), report_dir)
    return 2


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
