"""The checker (`nox -s check`) catches every rule it enforces, broken on purpose.

Each test copies the workbook into tmp_path, breaks one rule in the copy, and asserts
the checker names the problem. The unbroken copy must pass the static checks, so a
checker that reports everything (or nothing) fails here too.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import workbook

ROOT = Path(__file__).resolve().parents[1]
LESSON = "01_legacy_orm"
SECOND = "02_sqlalchemy2_mapped"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the workbook holding lessons 01 and 02."""
    root = tmp_path / "workbook"
    ignore = shutil.ignore_patterns("__pycache__", "*.db", ".venv", ".nox", "reports")
    for name in ("tools", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=ignore)
        else:
            shutil.copy2(src, root / name)
    for tree in ("lessons", "solutions", "tests"):
        for slug in (LESSON, SECOND):
            shutil.copytree(ROOT / tree / slug, root / tree / slug, ignore=ignore)
    shutil.copy2(ROOT / "tests" / "conftest.py", root / "tests" / "conftest.py")
    shutil.copy2(ROOT / "tests" / "test_smoke.py", root / "tests" / "test_smoke.py")
    # The manifest's header and its first two [[lesson]] blocks: lessons 01 and 02.
    blocks = re.split(r"^(?=\[\[lesson\]\]$)", (ROOT / "workbook.toml").read_text(), flags=re.M)
    (root / "workbook.toml").write_text("".join(blocks[:3]))
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def lesson(root: Path) -> workbook.Lesson:
    return workbook.load_lessons(root / "workbook.toml")[0]


def test_the_unbroken_copy_passes_the_static_checks(copy):
    assert workbook.check_static(copy) == []


def test_the_real_workbook_passes_the_static_checks():
    assert workbook.check_static(ROOT) == []


def test_catches_trees_holding_different_files(copy):
    (copy / "solutions" / LESSON / "extra.py").write_text("x = 1\n")
    assert f"{LESSON}: extra.py is in solutions/ but not in lessons/" in workbook.check_static(copy)


def test_catches_a_lesson_folder_missing_from_the_manifest(copy):
    shutil.copytree(copy / "lessons" / LESSON, copy / "lessons" / "99_unlisted")
    assert "lessons/99_unlisted is not in workbook.toml" in workbook.check_static(copy)


def test_a_problem_in_one_lesson_does_not_hide_one_in_the_next(copy):
    (copy / "solutions" / LESSON / "extra.py").write_text("x = 1\n")
    for tree in ("lessons", "solutions"):
        edit(copy / tree / SECOND / "README.md", "## Further reading", "## Read more")
    problems = workbook.check_static(copy)
    assert f"{LESSON}: extra.py is in solutions/ but not in lessons/" in problems
    assert f"{SECOND}: README has no '## Further reading' section" in problems


def test_catches_a_readme_citing_a_test_that_does_not_exist(copy):
    for tree in ("lessons", "solutions"):
        edit(
            copy / tree / LESSON / "README.md",
            "## Exercises",
            "See test_m9_imaginary.\n\n## Exercises",
        )
    assert f"{LESSON}: README cites test_m9_imaginary, which no test defines" in (
        workbook.check_static(copy)
    )


def test_catches_a_difference_outside_exercise_regions(copy):
    edit(copy / "lessons" / LESSON / "main.py", 'detail="Hero not found"', 'detail="Not found"')
    assert any(
        "lessons/main.py and solutions/main.py differ outside exercise regions" in p
        for p in workbook.check_static(copy)
    )


def test_a_difference_inside_an_exercise_region_is_allowed(copy):
    edit(
        copy / "lessons" / LESSON / "main.py",
        "# TODO(exercise 2): add PUT",
        "# TODO(exercise 2): add a PUT",
    )
    assert workbook.check_static(copy) == []


def test_catches_an_unclosed_exercise_region(copy):
    edit(copy / "lessons" / LESSON / "crud.py", "# <<< exercise 2\n", "")
    assert any("exercise 2 is never closed" in p for p in workbook.check_static(copy))


def test_catches_a_todo_left_in_the_solution(copy):
    edit(copy / "solutions" / LESSON / "crud.py", "    name: str | None = None,\n",
         "    name: str | None = None,  # TODO(exercise 1)\n")  # fmt: skip
    assert any("still has a TODO(exercise N)" in p for p in workbook.check_static(copy))


def test_catches_a_missing_readme_section(copy):
    for tree in ("lessons", "solutions"):
        edit(copy / tree / LESSON / "README.md", "## Further reading", "## Read more")
    assert f"{LESSON}: README has no '## Further reading' section" in workbook.check_static(copy)


def test_catches_a_readme_mistake_without_a_test(copy):
    for tree in ("lessons", "solutions"):
        edit(
            copy / tree / LESSON / "README.md",
            "## Exercises",
            "### M9 A new mistake\n\n## Exercises",
        )
    assert (
        f"{LESSON}: README mistake M9 has no test named *m9* in test_mistakes.py"
        in workbook.check_static(copy)
    )


def test_catches_an_exercise_without_a_test(copy):
    tests = copy / "tests" / LESSON / "test_exercises.py"
    tests.write_text(tests.read_text().replace("mark.exercise(2)", "mark.exercise(1)"))
    assert f"{LESSON}: exercise 2 has no @pytest.mark.exercise(2) test" in workbook.check_static(
        copy
    )


def test_catches_an_exercise_missing_from_the_readme(copy):
    with (copy / "workbook.toml").open("a") as manifest:
        manifest.write('\n[[lesson.exercise]]\nn = 3\ntitle = "x"\nhints = ["y"]\n')
    problems = workbook.check_static(copy)  # appended to the last lesson block, 02's
    assert f"{SECOND}: exercise 3 is in only one of README.md and workbook.toml" in problems
    assert f"{SECOND}: no TODO(exercise 3) in lessons/{SECOND}" in problems


def test_catches_an_exercise_test_that_passes_on_the_unsolved_lesson(copy, tmp_path):
    # "Solve" exercise 1 in lessons/: its tests now pass there, which the checker refuses.
    for name in ("crud.py", "main.py"):
        shutil.copy2(copy / "solutions" / LESSON / name, copy / "lessons" / LESSON / name)
    problems = workbook.check_dynamic(
        [lesson(copy)], tmp_path / "reports", root=copy, trees=("lessons",)
    )
    assert any(
        p.startswith(f"{LESSON} on lessons/: exercise 1 test")
        and p.endswith("passed, expected failed")
        for p in problems
    ), problems


def test_catches_a_solution_that_fails_its_tests(copy, tmp_path):
    edit(copy / "solutions" / LESSON / "main.py", 'return {"ok": True}', 'return {"ok": False}')
    edit(copy / "lessons" / LESSON / "main.py", 'return {"ok": True}', 'return {"ok": False}')
    problems = workbook.check_dynamic(
        [lesson(copy)], tmp_path / "reports", root=copy, trees=("solutions",)
    )
    assert (
        f"{LESSON} on solutions/: tests/{LESSON}/test_behaviour.py::"
        "test_delete_answers_ok_and_the_hero_is_gone failed" in problems
    ), problems
