"""The lesson manifest, `workbook.toml`: its types and its loader.

`workbook.toml` is the one home of every lesson's title and every exercise's title,
points and hints. The checker, the grader, the harness and the README generator all read
it through this module. Standard library only, so any Python 3.11 can import it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "workbook.toml"


@dataclass(frozen=True)
class Exercise:
    n: int
    title: str
    hints: tuple[str, ...]
    points: int = 1


@dataclass(frozen=True)
class FuzzAllow:
    """A finding `nox -s fuzz` accepts because the lesson teaches it as a mistake."""

    code: str  # schemathesis failure code, e.g. "ST101" (a 5xx)
    operations: tuple[str, ...]  # e.g. ("POST /heroes/",)
    mistake: str  # the README mistake that teaches it, e.g. "M4"
    test: str  # the test that proves it, e.g. "test_m4_..."


@dataclass(frozen=True)
class Lesson:
    number: str
    slug: str
    title: str
    app: str = "main:app"
    driver: str = "sync"
    prepare: tuple[str, ...] = ()
    exercises: tuple[Exercise, ...] = field(default_factory=tuple)
    assumes: tuple[str, ...] = ()
    leaves_out: tuple[str, ...] = ()
    # Files this lesson moved from where the previous lesson kept them: new path -> old
    # path. The differ compares each moved file with its old self.
    moved: tuple[tuple[str, str], ...] = ()
    # Findings of `nox -s fuzz` that are this lesson's taught mistakes.
    fuzz_allow: tuple[FuzzAllow, ...] = ()
    # Where the lesson's tables are declared, for its ER diagram: "module:object", the
    # object a MetaData or something that has one (a declarative base, SQLModel).
    erd: str = ""

    @property
    def points(self) -> int:
        return sum(e.points for e in self.exercises)

    def exercise(self, n: int) -> Exercise:
        for exercise in self.exercises:
            if exercise.n == n:
                return exercise
        known = ", ".join(str(e.n) for e in self.exercises) or "none"
        raise LookupError(f"lesson {self.number} has no exercise {n} (it has: {known})")


def hint_text(lesson: Lesson, n: int, level: int) -> str:
    """What `nox -s hint -- NN n` prints when ``level`` hints were shown before: the
    title, the hints already shown, then the next one (the README's sample is this too)."""
    exercise = lesson.exercise(n)
    lines = [f"lesson {lesson.number}, exercise {n}: {exercise.title}"]
    for k, hint in enumerate(exercise.hints[:level], 1):
        lines.append(f"  hint {k}: {hint}")
    if level >= len(exercise.hints):
        lines.append(f"  (all {len(exercise.hints)} hints are shown)")
        return "\n".join(lines)
    lines.append(f"> hint {level + 1} of {len(exercise.hints)}: {exercise.hints[level]}")
    if level + 1 < len(exercise.hints):
        lines.append(f"  (`nox -s hint -- {lesson.number} {n}` for hint {level + 2})")
    return "\n".join(lines)


def load_lessons(manifest: Path = MANIFEST) -> list[Lesson]:
    data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    lessons = []
    for raw in data.get("lesson", []):
        exercises = tuple(
            Exercise(
                n=int(e["n"]),
                title=e["title"],
                hints=tuple(e.get("hints", ())),
                points=int(e.get("points", 1)),
            )
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
                assumes=tuple(raw.get("assumes", ())),
                leaves_out=tuple(raw.get("leaves_out", ())),
                moved=tuple(sorted(raw.get("moved", {}).items())),
                erd=raw.get("erd", ""),
                fuzz_allow=tuple(
                    FuzzAllow(a["code"], tuple(a["operations"]), a["mistake"], a["test"])
                    for a in raw.get("fuzz_allow", [])
                ),
            )
        )
    return lessons


def find_lesson(key: str, lessons: list[Lesson] | None = None) -> Lesson:
    """A lesson by number ("5", "05") or slug ("05_sqlmodel_multimodels").

    Raises LookupError, naming the lessons that exist, for an unknown key.
    """
    lessons = load_lessons() if lessons is None else lessons
    for lesson in lessons:
        if key in (lesson.slug, lesson.number) or (
            key.isdigit() and int(key) == int(lesson.number)
        ):
            return lesson
    known = ", ".join(lesson.number for lesson in lessons)
    raise LookupError(f"no lesson {key!r} in workbook.toml (known: {known})")


def select(keys: list[str], manifest: Path = MANIFEST) -> list[Lesson]:
    """The lessons named by ``keys``, or every lesson when none is named."""
    lessons = load_lessons(manifest)
    return [find_lesson(k, lessons) for k in keys] if keys else lessons


def previous(lesson: Lesson, lessons: list[Lesson] | None = None) -> Lesson | None:
    """The lesson before this one in the manifest, or None for the first."""
    lessons = load_lessons() if lessons is None else lessons
    slugs = [item.slug for item in lessons]
    index = slugs.index(lesson.slug)
    return lessons[index - 1] if index else None


def resolve_tree(value: str, root: Path = ROOT) -> Path:
    """`solutions`, `lessons`, a folder of NN_slug lessons, or a workbook copy holding one."""
    if value in ("solutions", "lessons"):
        return root / value
    path = Path(value).expanduser().resolve()
    if (path / "lessons").is_dir():
        return path / "lessons"
    return path
