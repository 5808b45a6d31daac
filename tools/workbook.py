"""The workbook's command line: check, grade, hint, tests, diff, sync, watch.

The nox sessions call it (`python tools/workbook.py check|grade|...`); `nox -l` lists
them. The pieces live in small modules beside it: manifest.py (workbook.toml),
checker.py (the static rules), generate.py (the generated README parts), runner.py (one
suite in a process of its own, with time limits and reuse), grader.py (scorecards,
gradebooks, hints).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import checker
import generate
import grader
import manifest
import runner
from checker import Problem, lesson_files
from manifest import ROOT, Lesson, load_lessons, resolve_tree
from runner import SuiteResult

REPORTS = ROOT / "reports"
# The checker's and grader's own tests, and what they read: they work on copies of these.
SELFTEST_FILES = ("tests/test_checker.py", "tests/test_grader.py", "tests/test_bench.py")
SELFTEST_LESSONS = ("01_legacy_orm", "02_sqlalchemy2_mapped", "03_relationships_loading")
SELFTEST_INPUTS = (
    "tools", "tests/conftest.py", "tests/test_smoke.py", "tests/test_checker.py",
    "tests/test_grader.py", "tests/test_bench.py", "tests/golden", "docs/schemas",
    "workbook.toml", "pyproject.toml", "uv.lock", "README.md",
)  # fmt: skip


def jobs_default() -> int:
    return os.cpu_count() or 1


def run_many(
    lessons: list[Lesson], trees: list[Path], jobs: int | None = None, root: Path = ROOT
) -> dict[tuple[str, Path], SuiteResult]:
    """Every (lesson, tree) suite, ``jobs`` at once (default: one per core), each reused
    when nothing it depends on changed. Prints one line per suite as it ends."""
    work = [(lesson, tree) for lesson in lessons for tree in trees]
    done: dict[tuple[str, Path], SuiteResult] = {}
    # Several suites at once fill the cores already: each runs in one process then.
    shards = 1 if len(work) > 1 else None
    with ThreadPoolExecutor(max_workers=jobs or jobs_default()) as pool:
        futures = {
            pool.submit(runner.run_suite, lesson, tree, root=root, shards=shards): (lesson, tree)
            for lesson, tree in work
        }
        for future in as_completed(futures):
            lesson, tree = futures[future]
            result = future.result()
            done[(lesson.slug, tree)] = result
            print(summary_line(result, tree), flush=True)
    return done


def summary_line(result: SuiteResult, tree: Path) -> str:
    counts: dict[str, int] = {}
    for row in result.results:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    text = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no tests"
    how = "reused" if result.reused else f"{result.seconds:.1f} s"
    where = runner.shown_path(tree)
    label = result.status.upper()
    failing = [row for row in result.results if row["outcome"] != "passed"]
    only_exercises = failing and all(row["exercise"] is not None for row in failing)
    if result.status == "failed" and tree.name == "lessons" and only_exercises:
        # The unsolved tree: only exercise tests fail, which is what check expects.
        label, text = "UNSOLVED", f"{text} (only exercise tests fail)"
    line = f"{label:<8} {result.lesson} on {where}/ ({result.backend}): {text} [{how}]"
    if result.problem:
        line += f"\n        {result.problem.splitlines()[0]}"
    return line


# --------------------------------------------------------------------------- tests


def run_tests(
    lessons: list[Lesson], tree: Path, jobs: int | None = None, verbose: bool = True
) -> int:
    results = run_many(lessons, [tree], jobs)
    failed = [r for r in results.values() if r.status != "ok"]
    for result in sorted(failed, key=lambda r: r.lesson):
        print(f"\n== {result.lesson} on {runner.shown_path(tree)}/: {result.status}")
        for row in result.results:
            if row["outcome"] != "passed":
                print(f"  {row['outcome'].upper()} {row['nodeid']}\n    {row['message'][:500]}")
        if verbose and not result.results:
            print(result.problem or result.output[-3000:])
    if failed:
        print(f"\nfailing lessons: {', '.join(sorted(r.lesson for r in failed))}")
        return 1
    print(f"\nall {len(lessons)} lesson suites passed on {runner.shown_path(tree)}/")
    return 0


# --------------------------------------------------------------------------- check


def check_dynamic(
    lessons: list[Lesson],
    root: Path = ROOT,
    trees: tuple[str, ...] = ("solutions", "lessons"),
    jobs: int | None = None,
) -> list[Problem]:
    """The dynamic rules: exercise tests fail on lessons/ and pass on solutions/; every
    other test passes on both."""
    paths = [root / tree for tree in trees]
    results = run_many(lessons, paths, jobs, root)
    problems: list[Problem] = []
    for lesson in lessons:
        for tree, path in zip(trees, paths, strict=True):
            result = results[(lesson.slug, path)]
            where = f"{lesson.slug} on {tree}/"
            if result.status in ("does-not-import", "missing", "crashed", "timeout"):
                problems.append(Problem("suite-collects", where, result.problem))
                continue
            if result.collection_errors or not result.results:
                message = (
                    result.collection_errors[0]["message"][-500:]
                    if result.collection_errors
                    else "no tests ran"
                )
                problems.append(Problem("suite-collects", where, message))
            for row in result.results:
                if row["exercise"] is None:
                    if row["outcome"] != "passed":
                        problems.append(
                            Problem("behaviours-pass", where, f"{row['nodeid']} {row['outcome']}")
                        )
                    continue
                want = "passed" if tree == "solutions" else "failed"
                if row["outcome"] != want:
                    rule = (
                        "exercises-pass-solved"
                        if tree == "solutions"
                        else "exercises-fail-unsolved"
                    )
                    problems.append(
                        Problem(
                            rule,
                            where,
                            f"exercise {row['exercise']} test {row['nodeid']} "
                            f"{row['outcome']}, expected {want}",
                        )
                    )
    return problems


def lay_over(lesson: Lesson, wrong: Path, tree: Path, root: Path = ROOT) -> None:
    """A copy of solutions/NN_slug under ``tree``, with the wrong answer's files over it."""
    import shutil

    target = tree / lesson.slug
    ignore = shutil.ignore_patterns("__pycache__", "*.db", "*.db-*")
    shutil.copytree(root / "solutions" / lesson.slug, target, ignore=ignore)
    for rel in checker.wrong_answer_files(wrong):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wrong / rel, target / rel)


def check_wrong_answers(
    lessons: list[Lesson], root: Path = ROOT, jobs: int | None = None
) -> list[Problem]:
    """Each wrong answer, laid over a copy of the solution, must fail its exercise's tests
    with a message holding its mistake.toml `message` (the rule wrong-answers-caught)."""
    import tempfile

    work: list[tuple[Lesson, Path, int, dict[str, str]]] = []
    for lesson in lessons:
        for folder in checker.wrong_answers(root / "tests" / lesson.slug):
            try:
                n, mistake = checker.wrong_answer_of(folder)
            except ValueError:
                continue  # the static rule wrong-answers reports it
            work.append((lesson, folder, n, mistake))
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="workbook-wrong-") as tmp:

        def run(item: tuple[Lesson, Path, int, dict[str, str]]) -> SuiteResult:
            lesson, folder, n, _ = item
            tree = Path(tmp) / folder.name / "tree"
            lay_over(lesson, folder, tree, root)
            # No separate import check: the wrong answer is the solution with one region
            # changed, and a process less per run matters at ninety runs.
            return runner.run_suite(
                lesson, tree, extra=(f"--workbook-exercise={n}",), import_first=False, root=root,
                shards=1,
            )  # fmt: skip

        with ThreadPoolExecutor(max_workers=jobs or jobs_default()) as pool:
            for item, result in zip(work, pool.map(run, work), strict=True):
                lesson, folder, n, mistake = item
                where = f"tests/{lesson.slug}/wrong/{folder.name}"
                failing = [
                    row for row in result.results
                    if row["exercise"] == n and row["outcome"] != "passed"
                ]  # fmt: skip
                how = "reused" if result.reused else f"{result.seconds:.1f} s"
                if result.status in ("does-not-import", "missing", "crashed", "timeout"):
                    message = f"the wrong answer did not run: {result.problem.splitlines()[0]}"
                elif not failing:
                    message = f"exercise {n}'s tests pass this wrong answer ({mistake['mistake']})"
                elif not any(mistake["message"] in row["message"] for row in failing):
                    message = (
                        f"exercise {n}'s tests fail, but no failure message contains "
                        f"{mistake['message']!r}; the first says: "
                        f"{failing[0]['message'].strip()[:300]!r}"
                    )
                else:
                    print(f"CAUGHT   {where} ({len(failing)} failing) [{how}]", flush=True)
                    continue
                print(f"MISSED   {where} [{how}]", flush=True)
                problems.append(Problem("wrong-answers-caught", where, message))
    return problems


def print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(f"check: {problem}")
    fixes = {p.rule for p in problems}
    for name in sorted(fixes):
        print(f"  how to fix [{name}]: {checker.rule_named(name).fix}")
    print(f"check: {len(problems)} problem(s)" if problems else "check: the workbook is consistent")


# --------------------------------------------------------------------------- diffing


def shown(path: Path) -> str:
    """A path relative to the repository when inside it, else absolute."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def diff_trees(
    left: Path, right: Path, color: bool = False, moved: tuple[tuple[str, str], ...] = ()
) -> tuple[str, list[tuple]]:
    """A unified diff of two lesson folders' code, and a stat.

    Caches, databases and the READMEs (prose, not code) are left out. ``moved`` holds
    (new path, old path) pairs, from the later lesson's manifest entry: a moved file is
    compared with its old self (shown as ``old -> new``), not as one file deleted and
    another added.
    """
    import difflib

    out: list[str] = []
    stat: list[tuple] = []
    new_to_old = {new: old for new, old in moved if (left / old).exists()}
    pairs = [(new_to_old.get(rel, rel), rel) for rel in sorted(lesson_files(right))]
    pairs += [
        (rel, rel)
        for rel in sorted(lesson_files(left) - lesson_files(right) - set(new_to_old.values()))
    ]
    for old_rel, rel in sorted(pairs, key=lambda pair: pair[1]):
        if rel == "README.md":
            continue
        a, b = left / old_rel, right / rel
        a_lines = a.read_text(encoding="utf-8").splitlines(keepends=True) if a.exists() else []
        b_lines = b.read_text(encoding="utf-8").splitlines(keepends=True) if b.exists() else []
        a_name = shown(a) if a.exists() else "/dev/null"
        b_name = shown(b) if b.exists() else "/dev/null"
        lines = list(difflib.unified_diff(a_lines, b_lines, a_name, b_name))
        if not lines:
            continue
        added = sum(1 for x in lines[2:] if x.startswith("+"))
        removed = sum(1 for x in lines[2:] if x.startswith("-"))
        stat.append((rel if old_rel == rel else f"{old_rel} -> {rel}", added, removed))
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


# --------------------------------------------------------------------------- CLI


def select(keys: list[str]) -> list[Lesson]:
    try:
        return manifest.select(keys)
    except LookupError as exc:
        raise SystemExit(str(exc)) from None


def tree_name(tree: Path) -> str:
    if tree == ROOT / "lessons":
        return "lessons"
    return tree.parent.name if tree.name == "lessons" else tree.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbook")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="static rules, then the suites on both trees")
    c.add_argument("lessons", nargs="*")
    c.add_argument("--static-only", action="store_true")
    c.add_argument(
        "--skip-wrong", action="store_true", help="do not lay the wrong answers over the solutions"
    )
    c.add_argument("--jobs", type=int, default=None)
    g = sub.add_parser("grade", help="grade a copy (or a class of copies) and print a scorecard")
    g.add_argument("lessons", nargs="*")
    g.add_argument("--path", default="lessons", help="a workbook copy or lessons folder")
    g.add_argument("--class", dest="class_dir", default=None, help="a folder of submissions")
    g.add_argument("--reports", default=None)
    g.add_argument("--jobs", type=int, default=None)
    h = sub.add_parser("hint", help="reveal the next hint of an exercise")
    h.add_argument("lesson")
    h.add_argument("exercise", nargs="?", type=int, default=None)
    d = sub.add_parser(
        "diff",
        help="A B: solutions/A against lessons/B, what a learner receives (B's exercises "
        "still TODOs); A B --solutions: the two solved apps; NN: lessons/NN against its "
        "solution (the answer key)",
    )
    d.add_argument("lessons", nargs="+")
    d.add_argument("--stat", action="store_true", help="only the per-file line counts")
    d.add_argument(
        "--solutions", action="store_true", help="A B: compare the solved apps (spoilers)"
    )
    t = sub.add_parser("tests", help="run lesson suites, one process each, in parallel")
    t.add_argument("lessons", nargs="*")
    t.add_argument("--tree", default="solutions")
    t.add_argument("--jobs", type=int, default=None)
    w = sub.add_parser("watch", help="re-run a lesson's tests on every save")
    w.add_argument("lesson")
    w.add_argument("--path", default="lessons")
    sub.add_parser("list", help="print the lessons, one slug a line")
    sub.add_parser("rules", help="print the checker's rules")
    sub.add_parser("sync", help="rewrite the generated parts of the READMEs")
    m = sub.add_parser("summary", help="a grading report folder's scorecard as Markdown")
    m.add_argument("folder", help="e.g. reports/grade/lessons")
    sub.add_parser("golden", help="rewrite tests/golden/ from a real grading run")
    sub.add_parser("selftest", help="the checker's and grader's own tests (reused if unchanged)")
    args = parser.parse_args(argv)

    if args.command == "list":
        print("\n".join(lesson.slug for lesson in load_lessons()))
        return 0
    if args.command == "rules":
        for item in checker.RULES:
            print(f"{item.name:<24} {item.kind:<8} {item.summary}")
        return 0
    if args.command == "sync":
        changed = generate.sync(ROOT, load_lessons())
        for path in changed:
            print(f"sync: rewrote {path.relative_to(ROOT)}")
        print(f"sync: {len(changed)} file(s) changed")
        return 0
    if args.command == "summary":
        card = Path(args.folder) / "scorecard.json"
        if not card.exists():
            print(f"No scorecard: {card} is missing (did grading start at all?)")
            return 1
        sys.stdout.write(grader.job_summary(json.loads(card.read_text())))
        return 0
    if args.command == "golden":
        sys.path.insert(0, str(ROOT / "tests"))
        import test_grader

        test_grader.write_golden()
        generate.sync(ROOT, load_lessons())
        print("golden: rewrote tests/golden/ and the README's sample scorecard")
        return 0
    if args.command == "selftest":
        inputs = [ROOT / name for name in SELFTEST_INPUTS]
        inputs += [ROOT / tree / slug for tree in ("lessons", "solutions", "tests")
                   for slug in SELFTEST_LESSONS]  # fmt: skip
        cmd = [sys.executable, "-m", "pytest", *SELFTEST_FILES, "-q"]
        return runner.run_cached("selftest", cmd, inputs)
    if args.command == "tests":
        return run_tests(select(args.lessons), resolve_tree(args.tree), args.jobs)
    if args.command == "hint":
        print(grader.reveal_hint(select([args.lesson])[0], args.exercise))
        return 0
    if args.command == "watch":
        import watch

        return watch.watch(select([args.lesson])[0], resolve_tree(args.path))
    if args.command == "diff":
        if len(args.lessons) > 2:
            raise SystemExit("diff: give one lesson (against its solution) or two lessons")
        chosen = select(args.lessons)
        if len(chosen) == 1:
            left, right = ROOT / "lessons" / chosen[0].slug, ROOT / "solutions" / chosen[0].slug
        else:
            # What a learner receives: the previous lesson solved, against this lesson with
            # its exercises still to do. --solutions shows the whole story, answers and all.
            right_tree = "solutions" if args.solutions else "lessons"
            left, right = ROOT / "solutions" / chosen[0].slug, ROOT / right_tree / chosen[1].slug
        moved = chosen[1].moved if len(chosen) == 2 else ()
        color = sys.stdout.isatty() and not args.stat
        text, stat = diff_trees(left, right, color=color, moved=moved)
        if not args.stat:
            sys.stdout.write(text)
        print(format_stat(stat))
        return 0
    if args.command == "check":
        chosen = select(args.lessons)
        problems = checker.check_static(ROOT, only=[lesson.slug for lesson in chosen])
        if not args.static_only:
            problems += check_dynamic(chosen, jobs=args.jobs)
            if not args.skip_wrong:
                problems += check_wrong_answers(chosen, jobs=args.jobs)
        print_problems(problems)
        return 1 if problems else 0
    if args.command == "grade":
        report_root = Path(args.reports) if args.reports else REPORTS / "grade"
        chosen = select(args.lessons)
        if args.class_dir:
            class_dir = Path(args.class_dir).expanduser().resolve()
            if not class_dir.is_dir():
                raise SystemExit(f"grade: {args.class_dir} is not a folder")
            return grader.grade_class(class_dir, chosen, report_root, args.jobs)
        tree = resolve_tree(args.path)
        if not tree.is_dir():
            raise SystemExit(f"grade: {args.path} is not a folder")
        if not args.lessons:
            missing = [lesson.slug for lesson in chosen if not (tree / lesson.slug).is_dir()]
            chosen = [lesson for lesson in chosen if (tree / lesson.slug).is_dir()]
            if missing:
                print(f"not in {tree}, not graded: {', '.join(missing)}")
        report_dir = report_root / tree_name(tree)
        grades, card = grader.grade_copy(chosen, tree, report_dir, grader.hints_shown())
        grader.print_scorecard(grades, tree, report_dir)
        return 0 if card["passed"] else 1
    return 2


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
