"""The generated parts of the READMEs, written from workbook.toml and the checker's rules.

A generated part sits between two markers, and nothing else in the file is touched:

    <!-- BEGIN generated: curriculum -->
    ...
    <!-- END generated: curriculum -->

`python tools/workbook.py sync` (`nox -s sync`) rewrites every part, and the exercise
headings of each lesson README (`### Exercise N: <title from workbook.toml>`).
`nox -s check` fails when a part differs from what sync would write (rule
generated-sections) or a heading from the manifest (rule exercise-headings).

Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path

import erd

from manifest import Lesson, hint_text

BEGIN = "<!-- BEGIN generated: {} -->"
END = "<!-- END generated: {} -->"
PART = re.compile(
    r"^<!-- BEGIN generated: (?P<name>[\w-]+) -->\n(?P<body>.*?)"
    r"^<!-- END generated: (?P=name) -->$",
    flags=re.MULTILINE | re.DOTALL,
)
# The grader's real output on lessons/01 (unsolved), pinned by tests/test_grader.py.
SCORECARD_GOLDEN = Path("tests/golden/grade-01-lessons.txt")


def replace_part(text: str, name: str, body: str, before: str | None = None) -> str:
    """``text`` with part ``name`` holding ``body``; a missing part is inserted on the
    line before the first line starting with ``before`` (or appended)."""
    block = f"{BEGIN.format(name)}\n{body.rstrip()}\n{END.format(name)}"
    pattern = re.compile(
        rf"^{re.escape(BEGIN.format(name))}\n.*?^{re.escape(END.format(name))}$",
        flags=re.MULTILINE | re.DOTALL,
    )
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    if before is not None:
        match = re.search(rf"^{re.escape(before)}", text, flags=re.MULTILINE)
        if match:
            return text[: match.start()] + block + "\n\n" + text[match.start() :]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def parts(text: str) -> dict[str, tuple[int, str]]:
    """Every generated part: name -> (line of its BEGIN marker, body)."""
    return {m["name"]: (text.count("\n", 0, m.start()) + 1, m["body"]) for m in PART.finditer(text)}


def stale_sections(current: str, expected: str) -> list[tuple[str, int]]:
    """(name, line) of each part whose body differs, or that is missing, in ``current``."""
    have, want = parts(current), parts(expected)
    stale = []
    for name, (_, body) in want.items():
        if name not in have:
            stale.append((name, 1))
        elif have[name][1] != body:
            stale.append((name, have[name][0]))
    return stale


# --------------------------------------------------------------------------- the parts


def curriculum(lessons: list[Lesson]) -> str:
    rows = [
        "| lesson | what it teaches | exercises | points |",
        "| --- | --- | --- | --- |",
    ]
    for lesson in lessons:
        rows.append(
            f"| [{lesson.slug}](lessons/{lesson.slug}/README.md) | {lesson.title} "
            f"| {len(lesson.exercises)} | {lesson.points} |"
        )
    return "\n".join(rows)


def rules_table() -> str:
    import checker

    rows = ["| rule | kind | what it checks | how to fix it |", "| --- | --- | --- | --- |"]
    for item in checker.RULES:
        rows.append(f"| `{item.name}` | {item.kind} | {item.summary} | {item.fix} |")
    return "\n".join(rows)


def scorecard(root: Path) -> str | None:
    golden = root / SCORECARD_GOLDEN
    if not golden.exists():
        return None
    return "```text\n" + golden.read_text(encoding="utf-8").rstrip() + "\n```"


HINT_SAMPLE = ("02", 1)  # the README shows the first hint of this exercise


def hint_sample(lessons: list[Lesson]) -> str | None:
    number, n = HINT_SAMPLE
    lesson = next((item for item in lessons if item.number == number), None)
    if lesson is None or not any(e.n == n for e in lesson.exercises):
        return None
    command = f"$ nox -s hint -- {number} {n}"
    return f"```console\n{command}\n{hint_text(lesson, n, 0)}\n```"


def before_you_start(lesson: Lesson) -> str | None:
    if not lesson.assumes and not lesson.leaves_out:
        return None
    lines = []
    if lesson.assumes:
        lines += ["**Before you start**, you should know:", ""]
        lines += [f"- {item}" for item in lesson.assumes]
        lines.append("")
    if lesson.leaves_out:
        lines += ["**Not in this lesson:**", ""]
        lines += [f"- {item}" for item in lesson.leaves_out]
    return "\n".join(lines).rstrip()


def exercise_headings(text: str, lesson: Lesson) -> str:
    """The README with each `### Exercise N ...` heading set to the manifest's title."""
    titles = {e.n: e.title for e in lesson.exercises}

    def heading(match: re.Match[str]) -> str:
        n = int(match[2])
        return f"{match[1]} Exercise {n}: {titles[n]}" if n in titles else match[0]

    return re.sub(r"^(#{3,4}) +Exercise (\d+)\b.*$", heading, text, flags=re.MULTILINE)


# --------------------------------------------------------------------------- files


def root_readme(text: str, root: Path, lessons: list[Lesson]) -> str:
    text = replace_part(text, "curriculum", curriculum(lessons))
    text = replace_part(text, "checker-rules", rules_table())
    card = scorecard(root)
    if card is not None:
        text = replace_part(text, "scorecard", card)
    sample = hint_sample(lessons)
    if sample is not None and "generated: hint-sample" in text:
        text = replace_part(text, "hint-sample", sample)
    return text


def measured(root: Path, lesson: Lesson) -> str | None:
    """The lesson's measured claims: what `nox -s bench` wrote for it in docs/bench/."""
    snippets = sorted((root / "docs" / "bench").glob(f"{lesson.number}_*.md"))
    if not snippets:
        return None
    body = "\n\n".join(path.read_text(encoding="utf-8").strip() for path in snippets)
    return f"### Measured\n\n{body}\n"


def lesson_readme(
    text: str,
    lesson: Lesson,
    headings: bool = False,
    diagram: str | None = None,
    bench: str | None = None,
) -> str:
    block = before_you_start(lesson)
    if block is not None:
        text = replace_part(text, "before-you-start", block, before="## Run it")
    if diagram is not None:
        # At the end of "What changed": the tables as they are after this lesson.
        text = replace_part(text, "er-diagram", f"### The tables\n\n{diagram}", "## Walkthrough")
    if bench is not None:
        # At the end of the walkthrough: the speed claims it made, measured.
        text = replace_part(text, "measured", bench, before="## Common mistakes")
    return exercise_headings(text, lesson) if headings else text


def expected_files(
    root: Path, lessons: list[Lesson], selected: list[Lesson], headings: bool = False
) -> dict[Path, str]:
    """Each file with generated parts, as sync would write it."""
    files: dict[Path, str] = {}
    readme = root / "README.md"
    if readme.exists():
        files[readme] = root_readme(readme.read_text(encoding="utf-8"), root, lessons)
    drawable = [lesson for lesson in selected if (root / "solutions" / lesson.slug).is_dir()]
    diagrams = erd.diagrams(drawable, root)
    for lesson in selected:
        for tree in ("lessons", "solutions"):
            path = root / tree / lesson.slug / "README.md"
            if path.exists():
                text = path.read_text(encoding="utf-8")
                diagram = diagrams.get(lesson.slug)
                bench = measured(root, lesson)
                files[path] = lesson_readme(text, lesson, headings, diagram, bench)
    return files


def sync(root: Path, lessons: list[Lesson]) -> list[Path]:
    """Rewrite every generated part and exercise heading; return the files changed."""
    changed = []
    for path, text in expected_files(root, lessons, lessons, headings=True).items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
