"""The checker's static rules: the workbook is consistent, without running a test.

Every rule is a function registered in RULES with a name, a one-line summary and the way
to fix what it finds. The CLI (`python tools/workbook.py rules`), the maintainers' table
in README.md (generated from RULES) and tests/test_checker.py (one test per rule, named
`test_rule_<name with underscores>`) all follow that one table. The dynamic rules, which
need the suites to run, are listed here too and implemented in workbook.py.

Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import generate
from manifest import Lesson, load_lessons

# Every lesson README has these level-2 sections (matched at the start of the heading).
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
LESSON_FOLDER = "[0-9][0-9]_*"


@dataclass(frozen=True)
class Problem:
    rule: str
    where: str  # "NN_slug" or a path, with ":line" when there is one
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # "static" (this module) or "dynamic" (needs the suites: workbook.py)
    summary: str
    fix: str
    check: Callable[[Context], Iterator[Problem]] | None = None


@dataclass
class Context:
    """What the rules look at: the workbook root, its manifest, the lessons selected."""

    root: Path
    lessons: list[Lesson]  # the whole manifest
    selected: list[Lesson]  # the lessons to check (every lesson by default)

    def folders(self, lesson: Lesson) -> tuple[Path, Path, Path]:
        return (
            self.root / "lessons" / lesson.slug,
            self.root / "solutions" / lesson.slug,
            self.root / "tests" / lesson.slug,
        )

    def complete(self) -> Iterator[Lesson]:
        """Selected lessons whose three folders exist (missing-folder reports the rest)."""
        for lesson in self.selected:
            if all(folder.is_dir() for folder in self.folders(lesson)):
                yield lesson

    def readme(self, lesson: Lesson) -> str | None:
        path = self.root / "lessons" / lesson.slug / "README.md"
        return path.read_text(encoding="utf-8") if path.exists() else None

    def readmes(self) -> Iterator[tuple[Lesson, str, str]]:
        """(lesson, README text, its path for messages) for each complete lesson that has
        a README (readme-sections reports the ones that do not)."""
        for lesson in self.complete():
            text = self.readme(lesson)
            if text is not None:
                yield lesson, text, f"lessons/{lesson.slug}/README.md"


RULES: list[Rule] = []


def rule(name: str, summary: str, fix: str) -> Callable[[Callable], Callable]:
    def register(func: Callable[[Context], Iterator[Problem]]) -> Callable:
        RULES.append(Rule(name, "static", summary, fix, func))
        return func

    return register


def dynamic_rule(name: str, summary: str, fix: str) -> None:
    RULES.append(Rule(name, "dynamic", summary, fix))


def rule_named(name: str) -> Rule:
    for item in RULES:
        if item.name == name:
            return item
    raise LookupError(f"no checker rule named {name!r}")


# --------------------------------------------------------------------------- helpers


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


def section_span(text: str, title: str) -> tuple[int, str]:
    """The 1-based line where a level-2 section's body starts, and the body."""
    match = re.search(
        rf"^## +{re.escape(title)}.*?$(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL
    )
    if not match:
        return 0, ""
    return text.count("\n", 0, match.start(1)) + 1, match[1]


def section_body(text: str, title: str) -> str:
    return section_span(text, title)[1]


def readme_mistakes(text: str) -> set[int]:
    """M-numbers named in headings of the Common mistakes section (### M1 ...)."""
    body = section_body(text, "Common mistakes")
    return {int(n) for n in re.findall(r"^#{3,4} +M(\d+)\b", body, flags=re.MULTILINE)}


EXERCISE_HEADING = re.compile(r"^#{3,4} +Exercise (\d+)\b:? *(.*)$", flags=re.MULTILINE)


def readme_exercise_headings(text: str) -> dict[int, tuple[int, str]]:
    """Exercise number -> (README line, title) from the Exercises section's headings."""
    start, body = section_span(text, "Exercises")
    found = {}
    for match in EXERCISE_HEADING.finditer(body):
        line = start + body.count("\n", 0, match.start())
        found[int(match[1])] = (line, match[2].strip())
    return found


def test_functions(path: Path) -> list[str]:
    if not path.exists():
        return []
    return re.findall(r"^\s*(?:async\s+)?def (test_\w+)", path.read_text(), flags=re.MULTILINE)


def mistake_tests(test_dir: Path) -> set[int]:
    """M-numbers with a test function named after them in test_mistakes.py."""
    names = test_functions(test_dir / "test_mistakes.py")
    return {int(n) for name in names for n in re.findall(r"(?:^|_)m(\d+)(?:_|$)", name)}


def test_names(test_dir: Path) -> set[str]:
    """Every test function (and test module name) in a lesson's test folder."""
    names: set[str] = set()
    for path in test_dir.glob("*.py"):
        names.add(path.stem)
        names |= set(test_functions(path))
    return names


def exercise_tests(test_dir: Path) -> set[int]:
    path = test_dir / "test_exercises.py"
    if not path.exists():
        return set()
    return {int(n) for n in re.findall(r"mark\.exercise\((\d+)\)", path.read_text())}


def normalized(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- folders and trees


@rule(
    "unlisted-folder",
    "every lesson folder under lessons/, solutions/ and tests/ is in workbook.toml",
    "add a [[lesson]] entry for it to workbook.toml, or remove the folder",
)
def unlisted_folder(ctx: Context) -> Iterator[Problem]:
    # Whatever lessons were selected: a stray folder is a problem of the whole workbook.
    listed = {lesson.slug for lesson in ctx.lessons}
    for tree in ("lessons", "solutions", "tests"):
        for folder in sorted((ctx.root / tree).glob(LESSON_FOLDER)):
            if folder.is_dir() and folder.name not in listed:
                yield Problem("unlisted-folder", f"{tree}/{folder.name}", "is not in workbook.toml")


@rule(
    "missing-folder",
    "every lesson of workbook.toml has its lessons/, solutions/ and tests/ folders",
    "create the folder (copy the previous lesson's), or remove the lesson from workbook.toml",
)
def missing_folder(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.selected:
        for folder in ctx.folders(lesson):
            if not folder.is_dir():
                where = folder.relative_to(ctx.root).as_posix()
                yield Problem("missing-folder", where, "is missing")


@rule(
    "same-files",
    "lessons/NN and solutions/NN hold the same files",
    "add the file to the other tree too (an exercise fills a region, it adds no file)",
)
def same_files(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        learner, answer, _ = ctx.folders(lesson)
        a, b = lesson_files(learner), lesson_files(answer)
        for rel in sorted(a - b):
            yield Problem("same-files", lesson.slug, f"{rel} is in lessons/ but not in solutions/")
        for rel in sorted(b - a):
            yield Problem("same-files", lesson.slug, f"{rel} is in solutions/ but not in lessons/")


def shared_files(ctx: Context, lesson: Lesson) -> Iterator[tuple[str, str, str]]:
    learner, answer, _ = ctx.folders(lesson)
    for rel in sorted(lesson_files(learner) & lesson_files(answer)):
        left = (learner / rel).read_text(encoding="utf-8", errors="replace")
        right = (answer / rel).read_text(encoding="utf-8", errors="replace")
        yield rel, left, right


@rule(
    "region-markers",
    "every `# >>> exercise N` region is closed by `# <<< exercise N`, and none nests",
    "close the region with `# <<< exercise N` on its own line, in both trees",
)
def region_markers(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        for rel, left, right in shared_files(ctx, lesson):
            for tree, text in (("lessons", left), ("solutions", right)):
                for message in strip_regions(text)[1]:
                    yield Problem("region-markers", f"{tree}/{lesson.slug}/{rel}", message)


@rule(
    "outside-regions",
    "lessons/NN and solutions/NN are identical outside exercise regions",
    "make the two files equal outside the regions (`nox -s diff -- NN` shows where)",
)
def outside_regions(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        for rel, left, right in shared_files(ctx, lesson):
            if strip_regions(left)[0] != strip_regions(right)[0]:
                yield Problem(
                    "outside-regions",
                    lesson.slug,
                    f"lessons/{rel} and solutions/{rel} differ outside exercise regions "
                    f"(see `nox -s diff -- {lesson.number}`)",
                )


@rule(
    "solution-todo",
    "no TODO(exercise N) is left in solutions/",
    "replace the TODO with the answer in solutions/",
)
def solution_todo(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        for rel, _, right in shared_files(ctx, lesson):
            for number, line in enumerate(right.splitlines(), 1):
                if TODO.search(line):
                    yield Problem(
                        "solution-todo",
                        f"solutions/{lesson.slug}/{rel}:{number}",
                        "still has a TODO(exercise N)",
                    )


@rule(
    "exercise-todos",
    "each exercise of workbook.toml has a TODO(exercise N) in lessons/, and no TODO names "
    "an exercise the manifest lacks",
    "add the TODO inside the exercise's region, or the [[lesson.exercise]] to workbook.toml",
)
def exercise_todos(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        todos: set[int] = set()
        for _, left, _ in shared_files(ctx, lesson):
            todos |= {int(n) for n in TODO.findall(left)}
        expected = {e.n for e in lesson.exercises}
        for n in sorted(expected - todos):
            yield Problem(
                "exercise-todos", lesson.slug, f"no TODO(exercise {n}) in lessons/{lesson.slug}"
            )
        for n in sorted(todos - expected):
            yield Problem(
                "exercise-todos", lesson.slug, f"TODO(exercise {n}) is not in workbook.toml"
            )


@rule(
    "exercise-tests",
    "each exercise has at least one @pytest.mark.exercise(N) test",
    "mark the exercise's tests in tests/NN_slug/test_exercises.py",
)
def exercise_tests_rule(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        marked = exercise_tests(ctx.folders(lesson)[2])
        for n in sorted({e.n for e in lesson.exercises} - marked):
            yield Problem(
                "exercise-tests",
                lesson.slug,
                f"exercise {n} has no @pytest.mark.exercise({n}) test",
            )


# --------------------------------------------------------------------------- READMEs


@rule(
    "readme-sections",
    "each lesson README has the seven sections, from '## What you will learn' to "
    "'## Further reading'",
    "add the missing level-2 heading (docs/CONTRIBUTING.md lists them in order)",
)
def readme_sections_rule(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        text = ctx.readme(lesson)
        if text is None:
            yield Problem(
                "readme-sections", lesson.slug, f"lessons/{lesson.slug}/README.md is missing"
            )
            continue
        headings = [h.lower() for h in readme_sections(text)]
        for section in README_SECTIONS:
            if not any(h.startswith(section.lower()) for h in headings):
                yield Problem(
                    "readme-sections", lesson.slug, f"README has no '## {section}' section"
                )


@rule(
    "mistake-tests",
    "each README mistake (### M3 ...) has a test named test_m3_* in test_mistakes.py",
    "reproduce the mistake in a test whose name holds m3",
)
def mistake_tests_rule(ctx: Context) -> Iterator[Problem]:
    for lesson, text, _ in ctx.readmes():
        for n in sorted(readme_mistakes(text) - mistake_tests(ctx.folders(lesson)[2])):
            yield Problem(
                "mistake-tests",
                lesson.slug,
                f"README mistake M{n} has no test named *m{n}* in test_mistakes.py",
            )


# "M3", "mistake M3", "(M3)": a mistake of the lesson the file belongs to; "lesson 08's
# M4": a mistake of lesson 08.
MISTAKE_REFERENCE = re.compile(r"(?:\blesson (\d{2})'s (?:mistake )?)?\bM(\d+)\b")


@rule(
    "mistake-references",
    "a mistake named in a lesson's code (M3, or lesson 08's M4) is a ### M3 heading of that "
    "lesson's README (or of lesson 08's)",
    "point the comment at the mistake that explains it, or drop the reference",
)
def mistake_references(ctx: Context) -> Iterator[Problem]:
    by_number = {lesson.number: lesson for lesson in ctx.lessons}
    mistakes: dict[str, set[int]] = {}

    def of(lesson: Lesson) -> set[int]:
        if lesson.slug not in mistakes:
            mistakes[lesson.slug] = readme_mistakes(ctx.readme(lesson) or "")
        return mistakes[lesson.slug]

    for lesson in ctx.complete():
        for tree in ctx.folders(lesson)[:2]:
            for rel in sorted(lesson_files(tree)):
                if not rel.endswith(".py"):
                    continue
                text = (tree / rel).read_text(encoding="utf-8")
                for lineno, line in enumerate(text.splitlines(), 1):
                    for match in MISTAKE_REFERENCE.finditer(line):
                        target = by_number.get(match[1], lesson) if match[1] else lesson
                        if int(match[2]) not in of(target):
                            whose = "its" if target is lesson else f"lesson {target.number}'s"
                            yield Problem(
                                "mistake-references",
                                f"{tree.relative_to(ctx.root).as_posix()}/{rel}:{lineno}",
                                f"names M{match[2]}, which is not a mistake of {whose} "
                                f"README ({target.slug})",
                            )


@rule(
    "moved-files",
    "each file workbook.toml says a lesson moved (moved = { new = old }) is at its new path "
    "in the lesson and at its old path in the previous lesson's solution",
    "fix the paths in the lesson's `moved` table (new path = old path)",
)
def moved_files(ctx: Context) -> Iterator[Problem]:
    order = [lesson.slug for lesson in ctx.lessons]
    for lesson in ctx.complete():
        index = order.index(lesson.slug)
        before = ctx.lessons[index - 1] if index > 0 else None
        for new, old in lesson.moved:
            if not (ctx.folders(lesson)[0] / new).is_file():
                yield Problem(
                    "moved-files", lesson.slug, f"moved: {new} is not a file of the lesson"
                )
            if before is None or not (ctx.folders(before)[1] / old).is_file():
                whose = f"solutions/{before.slug}" if before else "a previous lesson"
                yield Problem("moved-files", lesson.slug, f"moved: {old} is not in {whose}")


@rule(
    "cited-tests",
    "every test a README cites by name exists",
    "correct the name in the README, or write the test",
)
def cited_tests(ctx: Context) -> Iterator[Problem]:
    for lesson, text, _ in ctx.readmes():
        defined = test_names(ctx.folders(lesson)[2])
        for name in sorted(set(re.findall(r"\btest_[a-z0-9_]*[a-z0-9]", text)) - defined):
            yield Problem("cited-tests", lesson.slug, f"README cites {name}, which no test defines")


@rule(
    "exercise-headings",
    "each README has one `### Exercise N: <title>` per exercise, with workbook.toml's title",
    "run `nox -s sync`: it rewrites the headings from workbook.toml",
)
def exercise_headings(ctx: Context) -> Iterator[Problem]:
    for lesson, text, where in ctx.readmes():
        found = readme_exercise_headings(text)
        for exercise in lesson.exercises:
            if exercise.n not in found:
                yield Problem(
                    "exercise-headings", where, f"has no heading for exercise {exercise.n}"
                )
            elif found[exercise.n][1] != exercise.title:
                line, title = found[exercise.n]
                yield Problem(
                    "exercise-headings",
                    f"{where}:{line}",
                    f"exercise {exercise.n} is titled {title!r} here but "
                    f"{exercise.title!r} in workbook.toml",
                )
        for n in sorted(set(found) - {e.n for e in lesson.exercises}):
            yield Problem(
                "exercise-headings",
                f"{where}:{found[n][0]}",
                f"exercise {n} is not in workbook.toml",
            )


@rule(
    "hints-in-manifest",
    "hints live in workbook.toml only: a README's Exercises section repeats none of them, "
    "and tells the learner how to reveal them (`nox -s hint -- NN N`)",
    "delete the hint from the README and point to `nox -s hint -- NN N`",
)
def hints_in_manifest(ctx: Context) -> Iterator[Problem]:
    for lesson, text, where in ctx.readmes():
        if not lesson.exercises:
            continue
        start, body = section_span(text, "Exercises")
        flat = normalized(body)
        for exercise in lesson.exercises:
            for level, hint in enumerate(exercise.hints, 1):
                if normalized(hint) in flat:
                    yield Problem(
                        "hints-in-manifest",
                        where,
                        f"repeats hint {level} of exercise {exercise.n}",
                    )
        if "nox -s hint" not in body:
            yield Problem(
                "hints-in-manifest",
                f"{where}:{start}",
                f"the Exercises section does not say how to reveal hints "
                f"(`nox -s hint -- {lesson.number} N`)",
            )


@rule(
    "generated-sections",
    "every generated part of a README (between `<!-- BEGIN generated: NAME -->` and "
    "`<!-- END generated: NAME -->`) is what `nox -s sync` writes from workbook.toml",
    "run `nox -s sync` and commit the result; never edit between the markers by hand",
)
def generated_sections(ctx: Context) -> Iterator[Problem]:
    for path, expected in generate.expected_files(ctx.root, ctx.lessons, ctx.selected).items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == expected:
            continue
        for name, line in generate.stale_sections(current, expected):
            where = f"{path.relative_to(ctx.root).as_posix()}:{line}"
            yield Problem("generated-sections", where, f"generated section {name!r} is out of date")


@rule(
    "fuzz-allowances",
    "each [[lesson.fuzz_allow]] in workbook.toml names a mistake of the lesson's README "
    "(### Mn) and a test of the lesson that exists",
    "point the allowance at the README mistake that teaches the finding and at its test, "
    "or fix the app so `nox -s fuzz` no longer finds it",
)
def fuzz_allowances(ctx: Context) -> Iterator[Problem]:
    for lesson, text, _ in ctx.readmes():
        mistakes = readme_mistakes(text)
        tests = test_names(ctx.folders(lesson)[2])
        for allow in lesson.fuzz_allow:
            where = f"workbook.toml: lesson {lesson.number} fuzz_allow {allow.code}"
            number = re.fullmatch(r"M(\d+)", allow.mistake)
            if not number or int(number[1]) not in mistakes:
                yield Problem(
                    "fuzz-allowances",
                    where,
                    f"{allow.mistake!r} is not a mistake of lessons/{lesson.slug}/README.md",
                )
            if allow.test not in tests:
                yield Problem(
                    "fuzz-allowances", where, f"no test named {allow.test} in tests/{lesson.slug}"
                )


# ------------------------------------------------------------------ hints and wrong answers

HINTS_PER_EXERCISE = 3
# A solution line a hint may not contain: code (not a comment) of at least this many
# characters once whitespace is removed. Shorter lines (`)`, `else:`, `return hero`) are
# vocabulary, not answers.
GIVEAWAY_LENGTH = 12
WRONG_FOLDER = re.compile(r"^ex(\d+)_[a-z0-9_]+$")
MISTAKE_FILE = "mistake.toml"


def region_lines(text: str) -> dict[int, list[str]]:
    """Exercise number -> the lines inside its regions (markers excluded)."""
    found: dict[int, list[str]] = {}
    open_n: int | None = None
    for line in text.splitlines():
        start, end = REGION_START.search(line), REGION_END.search(line)
        if start:
            open_n = int(start[1])
            continue
        if end:
            open_n = None
            continue
        if open_n is not None:
            found.setdefault(open_n, []).append(line)
    return found


def squeezed(text: str) -> str:
    return "".join(text.split())


def solution_region_code(folder: Path) -> dict[int, list[tuple[str, str]]]:
    """Exercise number -> (file, code line) for each line a hint may not give away."""
    found: dict[int, list[tuple[str, str]]] = {}
    for rel in sorted(lesson_files(folder)):
        if rel == "README.md":
            continue
        text = (folder / rel).read_text(encoding="utf-8", errors="replace")
        for n, lines in region_lines(text).items():
            for line in lines:
                code = line.strip()
                if code.startswith("#") or len(squeezed(code)) < GIVEAWAY_LENGTH:
                    continue
                found.setdefault(n, []).append((rel, code))
    return found


@rule(
    "hints-teach",
    f"each exercise has exactly {HINTS_PER_EXERCISE} hints (the idea with a link to the "
    "docs, the API, the shape with the key part blank), and none contains a code line of "
    "the solution's exercise region",
    "rewrite the hint in workbook.toml: name the idea and the API, leave the answer's "
    "line for the learner to write",
)
def hints_teach(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        code = solution_region_code(ctx.folders(lesson)[1])
        for exercise in lesson.exercises:
            where = f"workbook.toml: lesson {lesson.number} exercise {exercise.n}"
            if len(exercise.hints) != HINTS_PER_EXERCISE:
                yield Problem(
                    "hints-teach",
                    where,
                    f"has {len(exercise.hints)} hints; every exercise has exactly "
                    f"{HINTS_PER_EXERCISE}",
                )
            if exercise.hints and "https://" not in exercise.hints[0]:
                yield Problem(
                    "hints-teach", where, "hint 1 links no documentation (no https:// address)"
                )
            for level, hint in enumerate(exercise.hints, 1):
                flat = squeezed(hint)
                for rel, line in code.get(exercise.n, []):
                    if squeezed(line) in flat:
                        yield Problem(
                            "hints-teach",
                            where,
                            f"hint {level} gives away a line of solutions/{lesson.slug}/{rel}: "
                            f"{line!r}",
                        )
                        break


def wrong_answers(tests: Path) -> list[Path]:
    """The wrong-answer folders of a lesson's tests: tests/NN_slug/wrong/exN_what/."""
    folder = tests / "wrong"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def wrong_answer_of(folder: Path) -> tuple[int, dict[str, str]]:
    """(exercise number, mistake.toml) of a wrong-answer folder; ValueError if malformed."""
    import tomllib

    match = WRONG_FOLDER.match(folder.name)
    if not match:
        raise ValueError("its name is not exN_what_is_wrong (lower case, digits, _)")
    path = folder / MISTAKE_FILE
    if not path.exists():
        raise ValueError(f"it has no {MISTAKE_FILE} (keys: mistake, message)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{MISTAKE_FILE} is not TOML: {exc}") from None
    for key in ("mistake", "message"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{MISTAKE_FILE} has no {key} (a non-empty string)")
    return int(match[1]), {"mistake": data["mistake"], "message": data["message"]}


def wrong_answer_files(folder: Path) -> list[str]:
    return sorted(rel for rel in lesson_files(folder) if rel != MISTAKE_FILE)


@rule(
    "wrong-answers",
    "each exercise has at least two wrong answers under tests/NN_slug/wrong/exN_what/: "
    "a mistake.toml (mistake, message) and files that replace solution files, differing "
    "from them only inside exercise regions",
    "add the wrong answer (copy the solution file, change only its exercise region), "
    "or fix the folder the message names",
)
def wrong_answers_rule(ctx: Context) -> Iterator[Problem]:
    for lesson in ctx.complete():
        _, solved, tests = ctx.folders(lesson)
        counts: dict[int, int] = {}
        for folder in wrong_answers(tests):
            where = f"tests/{lesson.slug}/wrong/{folder.name}"
            try:
                n, _ = wrong_answer_of(folder)
            except ValueError as exc:
                yield Problem("wrong-answers", where, str(exc))
                continue
            if n not in {e.n for e in lesson.exercises}:
                yield Problem("wrong-answers", where, f"lesson {lesson.number} has no exercise {n}")
                continue
            files = wrong_answer_files(folder)
            if not files:
                yield Problem("wrong-answers", where, "it replaces no file of the solution")
                continue
            counts[n] = counts.get(n, 0) + 1
            for rel in files:
                target = solved / rel
                if not target.exists():
                    yield Problem(
                        "wrong-answers", f"{where}/{rel}", f"solutions/{lesson.slug} has no {rel}"
                    )
                    continue
                mine = (folder / rel).read_text(encoding="utf-8")
                theirs = target.read_text(encoding="utf-8")
                if mine == theirs:
                    yield Problem(
                        "wrong-answers", f"{where}/{rel}", "identical to the solution's file"
                    )
                elif strip_regions(mine)[0] != strip_regions(theirs)[0]:
                    yield Problem(
                        "wrong-answers",
                        f"{where}/{rel}",
                        f"differs from solutions/{lesson.slug}/{rel} outside the exercise "
                        "regions (copy the solution file again and change only a region)",
                    )
        for exercise in lesson.exercises:
            if counts.get(exercise.n, 0) < 2:
                yield Problem(
                    "wrong-answers",
                    f"tests/{lesson.slug}/wrong",
                    f"exercise {exercise.n} has {counts.get(exercise.n, 0)} wrong answer(s); "
                    "every exercise keeps at least two",
                )


# --------------------------------------------------------------------------- README code


FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
ILLUSTRATION = "<!-- illustration"
FILE_LABEL = re.compile(r"^#\s+([\w./-]+\.(?:py|ini|mako|toml))\b")
OMITTED = {"...", "# ..."}


@dataclass
class CodeBlock:
    line: int  # the README line of the opening fence
    language: str
    lines: list[str]
    illustration: bool


def code_blocks(text: str) -> list[CodeBlock]:
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match[2]:
            i += 1
            continue
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            body.append(lines[j])
            j += 1
        blocks.append(
            CodeBlock(i + 1, match[2].lower(), body, before.strip().startswith(ILLUSTRATION))
        )
        i = j + 1
    return blocks


def _code_part(line: str) -> str:
    return line.split("  #", 1)[0].rstrip()


def _same(readme_line: str, file_line: str) -> bool:
    if readme_line == file_line:
        return True
    # A comment added in the README for the reader: the code before it must still match.
    code = _code_part(readme_line)
    return bool(code) and code != readme_line and code == _code_part(file_line)


def segments(block: CodeBlock) -> list[tuple[int, list[tuple[int, str]]]]:
    """The block cut at `...` lines and file labels (`# models.py`): each piece must be a
    run of consecutive lines (blank lines aside) of one file. Returns (offset, lines)."""
    pieces: list[list[tuple[int, str]]] = [[]]
    for offset, raw in enumerate(block.lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line in OMITTED or FILE_LABEL.match(line):
            pieces.append([])
            continue
        pieces[-1].append((offset, line))
    return [(piece[0][0], piece) for piece in pieces if piece]


def longest_match(piece: list[tuple[int, str]], files: list[list[str]]) -> int:
    """How many lines of the piece, from its start, stand consecutively in one file."""
    best = 0
    for lines in files:
        for start in range(len(lines)):
            if not _same(piece[0][1], lines[start]):
                continue
            k = 1
            while (
                k < len(piece) and start + k < len(lines) and _same(piece[k][1], lines[start + k])
            ):
                k += 1
            best = max(best, k)
            if best == len(piece):
                return best
    return best


def solution_lines(folder: Path) -> list[list[str]]:
    """Each text file of a solved lesson (README aside), as its non-blank stripped lines."""
    files = []
    for rel in sorted(lesson_files(folder)):
        if rel == "README.md":
            continue
        text = (folder / rel).read_text(encoding="utf-8", errors="replace")
        files.append([line.strip() for line in text.splitlines() if line.strip()])
    return files


@rule(
    "readme-code",
    "each fenced python block in a lesson README is a verbatim excerpt of the lesson's "
    "solutions/ files (indentation aside; `...` stands for omitted lines; `# file.py` "
    "starts an excerpt of another file), or is marked <!-- illustration: why --> on the "
    "line before",
    "copy the block again from the file it quotes, or mark it <!-- illustration: ... -->",
)
def readme_code(ctx: Context) -> Iterator[Problem]:
    for lesson, text, where in ctx.readmes():
        files = solution_lines(ctx.folders(lesson)[1])
        for block in code_blocks(text):
            if block.language not in ("python", "py") or block.illustration:
                continue
            for _offset, piece in segments(block):
                matched = longest_match(piece, files)
                if matched < len(piece):
                    line = block.line + piece[matched][0]
                    yield Problem(
                        "readme-code",
                        f"{where}:{line}",
                        f"this line of the python block opened at line {block.line} is not "
                        f"in solutions/{lesson.slug} where the excerpt continues: "
                        f"{piece[matched][1]!r}",
                    )
                    break


# --------------------------------------------------------------------------- dynamic rules

dynamic_rule(
    "suite-collects",
    "each lesson's suite collects and runs at least one test, on both trees",
    "run `pytest tests/NN_slug` and fix the error it prints",
)
dynamic_rule(
    "behaviours-pass",
    "every test that is not an exercise test passes on lessons/ and on solutions/",
    "fix the lesson (or the test); `pytest tests/NN_slug --tree lessons` shows it",
)
dynamic_rule(
    "exercises-fail-unsolved",
    "every exercise test fails on lessons/ (the unsolved lesson)",
    "make the test check what the exercise adds, so the unsolved code fails it",
)
dynamic_rule(
    "wrong-answers-caught",
    "each wrong answer, laid over a copy of solutions/NN, fails its exercise's tests with "
    "a message that contains its mistake.toml `message`",
    "make the exercise's tests catch the mistake, with an assertion message naming it",
)
dynamic_rule(
    "exercises-pass-solved",
    "every exercise test passes on solutions/",
    "fix the solution's exercise region, or the test",
)


# --------------------------------------------------------------------------- running


def check_static(
    root: Path, only: list[str] | None = None, rules: list[str] | None = None
) -> list[Problem]:
    """Every static rule (or those named) over the selected lessons (default: all)."""
    lessons = load_lessons(root / "workbook.toml")
    selected = [lesson for lesson in lessons if only is None or lesson.slug in only]
    ctx = Context(root, lessons, selected)
    problems: list[Problem] = []
    for item in RULES:
        if item.check is not None and (rules is None or item.name in rules):
            problems.extend(item.check(ctx))
    return problems


if __name__ == "__main__":  # `python tools/checker.py [NN_slug ...]`: the static rules only
    import sys

    root = Path(__file__).resolve().parents[1]
    found = check_static(root, only=sys.argv[1:] or None)
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s)")
    raise SystemExit(1 if found else 0)
