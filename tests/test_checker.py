"""The checker catches what each of its rules forbids, broken on purpose in a copy.

One test per rule of `tools/checker.py`'s RULES, named `test_rule_<name>` (dashes become
underscores); `test_every_rule_has_a_test` keeps the two lists in step. Each test copies
the workbook (lessons 01 and 02) into tmp_path, breaks one rule in the copy, and asserts
that rule, and only that rule, reports it, naming the file (and line, where there is one).
The unbroken copy must pass, so a checker that reports everything or nothing fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import checker
import generate
import workbook
from manifest import load_lessons

ROOT = Path(__file__).resolve().parents[1]
LESSON = "01_legacy_orm"
SECOND = "02_sqlalchemy2_mapped"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the workbook holding lessons 01 and 02."""
    root = tmp_path / "workbook"
    ignore = shutil.ignore_patterns("__pycache__", "*.db", ".venv", ".nox", "reports")
    for name in ("tools", "pyproject.toml", "uv.lock", "README.md"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=ignore)
        else:
            shutil.copy2(src, root / name)
    for tree in ("lessons", "solutions", "tests"):
        for slug in (LESSON, SECOND):
            shutil.copytree(ROOT / tree / slug, root / tree / slug, ignore=ignore)
    for name in ("conftest.py", "test_smoke.py"):
        shutil.copy2(ROOT / "tests" / name, root / "tests" / name)
    # The manifest's header and its first two [[lesson]] blocks: lessons 01 and 02.
    blocks = re.split(r"^(?=\[\[lesson\]\]$)", (ROOT / "workbook.toml").read_text(), flags=re.M)
    (root / "workbook.toml").write_text("".join(blocks[:3]))
    generate.sync(root, load_lessons(root / "workbook.toml"))  # the copy's curriculum table
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_readme(root: Path, slug: str, old: str, new: str) -> None:
    for tree in ("lessons", "solutions"):  # the two copies of a README are identical
        edit(root / tree / slug / "README.md", old, new)


def found(root: Path, only: list[str] | None = None) -> dict[str, list[str]]:
    """Rule name -> the problems it reported, as text."""
    result: dict[str, list[str]] = {}
    for problem in checker.check_static(root, only=only):
        result.setdefault(problem.rule, []).append(str(problem))
    return result


def the_only(root: Path, rule: str, only: list[str] | None = None) -> list[str]:
    problems = found(root, only)
    assert set(problems) == {rule}, problems
    return problems[rule]


def lesson_of(root: Path) -> object:
    return load_lessons(root / "workbook.toml")[0]


# --------------------------------------------------------------------------- the table


def test_every_rule_has_a_test():
    tests = {name for name in dir(sys.modules[__name__]) if name.startswith("test_rule_")}
    rules = {f"test_rule_{item.name.replace('-', '_')}" for item in checker.RULES}
    assert rules - tests == set(), "rules without a test_rule_<name> test"


def test_every_rule_says_how_to_fix_what_it_finds():
    for item in checker.RULES:
        assert item.summary and item.fix, item.name
        assert item.kind in ("static", "dynamic")


def test_the_unbroken_copy_passes(copy):
    assert found(copy) == {}


# --------------------------------------------------------------------------- static rules


def test_rule_unlisted_folder(copy):
    shutil.copytree(copy / "lessons" / LESSON, copy / "lessons" / "99_stray")
    assert the_only(copy, "unlisted-folder") == [
        "lessons/99_stray: is not in workbook.toml [unlisted-folder]"
    ]


def test_rule_unlisted_folder_applies_whatever_lessons_are_selected(copy):
    shutil.copytree(copy / "lessons" / LESSON, copy / "lessons" / "99_stray")
    assert the_only(copy, "unlisted-folder", only=[SECOND])


def test_rule_missing_folder(copy):
    shutil.rmtree(copy / "tests" / SECOND)
    assert the_only(copy, "missing-folder") == [f"tests/{SECOND}: is missing [missing-folder]"]


def test_rule_same_files(copy):
    (copy / "solutions" / LESSON / "extra.py").write_text("x = 1\n")
    assert the_only(copy, "same-files") == [
        f"{LESSON}: extra.py is in solutions/ but not in lessons/ [same-files]"
    ]


def test_rule_region_markers(copy):
    edit(copy / "lessons" / LESSON / "crud.py", "# <<< exercise 3\n", "")
    problems = found(copy)
    assert any("exercise 3 is never closed" in p for p in problems["region-markers"])


def test_rule_outside_regions(copy):
    edit(copy / "lessons" / LESSON / "main.py", 'detail="Hero not found"', 'detail="Not found"')
    assert the_only(copy, "outside-regions") == [
        f"{LESSON}: lessons/main.py and solutions/main.py differ outside exercise regions "
        "(see `nox -s diff -- 01`) [outside-regions]"
    ]


def test_rule_outside_regions_allows_a_difference_inside_a_region(copy):
    edit(
        copy / "lessons" / LESSON / "main.py",
        "# TODO(exercise 2): add",
        "# TODO(exercise 2): add a",
    )
    assert found(copy) == {}


def test_rule_solution_todo(copy):
    edit(copy / "solutions" / LESSON / "crud.py", "    name: str | None = None,\n",
         "    name: str | None = None,  # TODO(exercise 1)\n")  # fmt: skip
    [problem] = the_only(copy, "solution-todo")
    assert re.match(rf"solutions/{LESSON}/crud\.py:\d+: still has a TODO", problem)


def test_rule_exercise_todos(copy):
    with (copy / "workbook.toml").open("a") as manifest:
        manifest.write('\n[[lesson.exercise]]\nn = 9\ntitle = "x"\nhints = ["y"]\n')
    problems = found(copy)  # appended to the last lesson block, 02's
    assert (
        f"{SECOND}: no TODO(exercise 9) in lessons/{SECOND} [exercise-todos]"
        in (problems["exercise-todos"])
    )


def test_rule_exercise_tests(copy):
    tests = copy / "tests" / LESSON / "test_exercises.py"
    tests.write_text(tests.read_text().replace("mark.exercise(2)", "mark.exercise(1)"))
    assert the_only(copy, "exercise-tests") == [
        f"{LESSON}: exercise 2 has no @pytest.mark.exercise(2) test [exercise-tests]"
    ]


def test_rule_readme_sections(copy):
    edit_readme(copy, SECOND, "## Further reading", "## Read more")
    assert the_only(copy, "readme-sections") == [
        f"{SECOND}: README has no '## Further reading' section [readme-sections]"
    ]


def test_rule_mistake_tests(copy):
    edit_readme(copy, LESSON, "## Exercises", "### M9 A new mistake\n\n## Exercises")
    assert the_only(copy, "mistake-tests") == [
        f"{LESSON}: README mistake M9 has no test named *m9* in test_mistakes.py [mistake-tests]"
    ]


def test_rule_mistake_references(copy):
    line = "# Not so fast (M9); lesson 01's M1 and its own M1 are fine.\n"
    for tree in ("lessons", "solutions"):
        path = copy / tree / SECOND / "database.py"
        path.write_text(path.read_text() + line)
    lines = (copy / "lessons" / SECOND / "database.py").read_text().count("\n")
    assert the_only(copy, "mistake-references") == [
        f"{tree}/{SECOND}/database.py:{lines}: names M9, which is not a mistake of its README "
        f"({SECOND}) [mistake-references]"
        for tree in ("lessons", "solutions")
    ]


def test_rule_moved_files(copy):
    manifest = copy / "workbook.toml"
    text = manifest.read_text()
    second = text.index('slug = "02_sqlalchemy2_mapped"')
    end = text.index("\n", second) + 1
    manifest.write_text(
        text[:end] + 'moved = { "main.py" = "app.py", "nowhere.py" = "main.py" }\n' + text[end:]
    )
    assert sorted(the_only(copy, "moved-files")) == [
        f"{SECOND}: moved: app.py is not in solutions/{LESSON} [moved-files]",
        f"{SECOND}: moved: nowhere.py is not a file of the lesson [moved-files]",
    ]


def test_rule_generated_sections_redraws_an_er_diagram_the_models_left_behind(copy):
    readme = copy / "lessons" / SECOND / "README.md"
    assert "<!-- BEGIN generated: er-diagram -->" in readme.read_text()
    line = readme.read_text().splitlines().index("<!-- BEGIN generated: er-diagram -->") + 1
    for tree in ("lessons", "solutions"):  # a column the diagram does not show yet
        edit(
            copy / tree / SECOND / "models.py",
            "    age: Mapped[int | None] = mapped_column(index=True)\n",
            "    age: Mapped[int | None] = mapped_column(index=True)\n"
            "    nickname: Mapped[str | None] = mapped_column(String(20))\n",
        )
    assert the_only(copy, "generated-sections") == [
        f"{tree}/{SECOND}/README.md:{line}: generated section 'er-diagram' is out of date "
        "[generated-sections]"
        for tree in ("lessons", "solutions")
    ]
    generate.sync(copy, load_lessons(copy / "workbook.toml"))
    assert "VARCHAR(20) nickname" in readme.read_text()
    assert "generated-sections" not in found(copy)


def test_rule_generated_sections_embeds_what_bench_measured_for_the_lesson(copy):
    snippet = copy / "docs" / "bench" / "02_some_claim.md"
    snippet.parent.mkdir(parents=True)
    snippet.write_text("Awaiting was **3.0x** as fast.\n")
    assert sorted(the_only(copy, "generated-sections")) == [
        f"{tree}/{SECOND}/README.md:1: generated section 'measured' is out of date "
        "[generated-sections]"
        for tree in ("lessons", "solutions")
    ]
    generate.sync(copy, load_lessons(copy / "workbook.toml"))
    text = (copy / "lessons" / SECOND / "README.md").read_text()
    walkthrough, mistakes = text.index("## Walkthrough"), text.index("## Common mistakes")
    assert walkthrough < text.index("Awaiting was **3.0x** as fast.") < mistakes
    assert "generated-sections" not in found(copy)


def test_rule_cited_tests(copy):
    edit_readme(copy, LESSON, "## Exercises", "See test_m9_imaginary.\n\n## Exercises")
    assert the_only(copy, "cited-tests") == [
        f"{LESSON}: README cites test_m9_imaginary, which no test defines [cited-tests]"
    ]


def test_rule_exercise_headings(copy):
    manifest = copy / "workbook.toml"
    title = load_lessons(manifest)[0].exercises[0].title
    edit(manifest, f'title = "{title}"', 'title = "A new title"')
    [problem] = the_only(copy, "exercise-headings")
    assert re.match(
        rf"lessons/{LESSON}/README\.md:\d+: exercise 1 is titled '{re.escape(title)}' here but "
        "'A new title' in workbook.toml",
        problem,
    ), problem


def test_rule_hints_in_manifest(copy):
    hint = load_lessons(copy / "workbook.toml")[0].exercises[0].hints[1]
    edit_readme(copy, LESSON, "## Further reading", f"{hint}\n\n## Further reading")
    problems = found(copy)
    # The hint is in the Exercises section (it ends where Further reading starts).
    assert problems == {
        "hints-in-manifest": [
            f"lessons/{LESSON}/README.md: repeats hint 2 of exercise 1 [hints-in-manifest]"
        ]
    }


def test_rule_generated_sections(copy):
    manifest = copy / "workbook.toml"
    edit(manifest, 'title = "The pre-2.0 way', 'title = "The old way')
    [problem] = the_only(copy, "generated-sections")
    assert re.match(r"README\.md:\d+: generated section 'curriculum' is out of date", problem)


def test_rule_readme_code(copy):
    readme = copy / "lessons" / LESSON / "README.md"
    blocks = [b for b in checker.code_blocks(readme.read_text()) if b.language == "python"]
    block = next(b for b in blocks if not b.illustration)
    line = next(x for x in block.lines if x.strip() and x.strip() not in ("...",))
    edit_readme(copy, LESSON, line, line + "  + 1" if "#" not in line else line + "x")
    [problem] = the_only(copy, "readme-code")
    assert problem.startswith(
        f"lessons/{LESSON}/README.md:{block.line + 1 + block.lines.index(line)}:"
    )


def test_rule_readme_code_accepts_a_marked_illustration(copy):
    edit_readme(
        copy, LESSON, "## Further reading",
        "<!-- illustration: not in the app -->\n```python\nnot_in_the_app()\n```\n\n"
        "## Further reading",
    )  # fmt: skip
    assert found(copy) == {}


def test_rule_fuzz_allowances(copy):
    manifest = copy / "workbook.toml"
    text = manifest.read_text()
    first_exercise = text.index("\n[[lesson.exercise]]") + 1
    allow = (
        '[[lesson.fuzz_allow]]\ncode = "ST101"\noperations = ["POST /heroes/"]\n'
        'mistake = "M99"\ntest = "test_m99_nothing"\n\n'
    )
    manifest.write_text(text[:first_exercise] + allow + text[first_exercise:])
    assert set(the_only(copy, "fuzz-allowances")) == {
        f"workbook.toml: lesson 01 fuzz_allow ST101: 'M99' is not a mistake of "
        f"lessons/{LESSON}/README.md [fuzz-allowances]",
        f"workbook.toml: lesson 01 fuzz_allow ST101: no test named test_m99_nothing in "
        f"tests/{LESSON} [fuzz-allowances]",
    }


def set_hints(root: Path, hints: list[str]) -> None:
    """Replace the first exercise's hints in the copy's workbook.toml."""
    manifest = root / "workbook.toml"
    text = manifest.read_text()
    start = text.index("hints = [")
    end = text.index("\n]", start) + 2
    manifest.write_text(text[:start] + f"hints = {json.dumps(hints)}" + text[end:])


def region_code(root: Path, slug: str, n: int) -> tuple[str, str]:
    """(file, line) of the first code line a hint may not give away, in exercise n."""
    code = checker.solution_region_code(root / "solutions" / slug)[n]
    return code[0]


def test_rule_hints_teach(copy):
    rel, line = region_code(copy, LESSON, 1)
    set_hints(copy, ["The idea: https://docs.sqlalchemy.org/", "The API.", f"Type `{line}`."])
    assert the_only(copy, "hints-teach") == [
        f"workbook.toml: lesson 01 exercise 1: hint 3 gives away a line of "
        f"solutions/{LESSON}/{rel}: {line!r} [hints-teach]"
    ]


def test_rule_hints_teach_wants_three_and_a_link_in_the_first(copy):
    set_hints(copy, ["The idea, with no link.", "The API."])
    assert set(the_only(copy, "hints-teach")) == {
        "workbook.toml: lesson 01 exercise 1: has 2 hints; every exercise has exactly 3 "
        "[hints-teach]",
        "workbook.toml: lesson 01 exercise 1: hint 1 links no documentation "
        "(no https:// address) [hints-teach]",
    }


def exercise_file(root: Path, slug: str, n: int) -> str:
    """A solution file of the lesson with a region of exercise n."""
    return region_code(root, slug, n)[0]


def make_wrong(root: Path, slug: str, name: str, files: dict[str, str], message: str) -> Path:
    folder = root / "tests" / slug / "wrong" / name
    shutil.rmtree(folder, ignore_errors=True)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    (folder / "mistake.toml").write_text(
        f'mistake = "a mistake made for this test"\nmessage = {json.dumps(message)}\n'
    )
    return folder


def harmless(root: Path, slug: str, n: int) -> dict[str, str]:
    """The solution file of exercise n with a comment added inside its region: it still
    solves the exercise, so as a "wrong answer" its tests must let it through."""
    rel = exercise_file(root, slug, n)
    text = (root / "solutions" / slug / rel).read_text()
    marker = next(x for x in text.splitlines() if checker.REGION_START.search(x) and f" {n}" in x)
    return {rel: text.replace(marker, f"{marker}\n# a harmless comment", 1)}


def test_rule_wrong_answers(copy):
    wrong = copy / "tests" / LESSON / "wrong"
    for folder in wrong.glob("ex1_*"):
        shutil.rmtree(folder)
    make_wrong(copy, LESSON, "ex1_only_one", harmless(copy, LESSON, 1), "x")
    rel = exercise_file(copy, LESSON, 2)
    text = (copy / "solutions" / LESSON / rel).read_text()
    make_wrong(copy, LESSON, "ex2_edits_outside", {rel: text + "\nx = 1\n"}, "x")
    assert set(the_only(copy, "wrong-answers")) == {
        f"tests/{LESSON}/wrong: exercise 1 has 1 wrong answer(s); every exercise keeps at "
        "least two [wrong-answers]",
        f"tests/{LESSON}/wrong/ex2_edits_outside/{rel}: differs from solutions/{LESSON}/{rel} "
        "outside the exercise regions (copy the solution file again and change only a "
        "region) [wrong-answers]",
    }


# --------------------------------------------------------------------------- dynamic rules


def dynamic(copy: Path, trees: tuple[str, ...]) -> dict[str, list[str]]:
    problems = workbook.check_dynamic([lesson_of(copy)], root=copy, trees=trees)
    result: dict[str, list[str]] = {}
    for problem in problems:
        result.setdefault(problem.rule, []).append(str(problem))
    return result


@pytest.mark.timeout(300)  # it runs a whole lesson suite
def test_rule_suite_collects(copy):
    (copy / "tests" / LESSON / "test_behaviour.py").write_text("import nothing_of_that_name\n")
    problems = dynamic(copy, ("solutions",))
    assert "suite-collects" in problems, problems


@pytest.mark.timeout(300)  # it runs a whole lesson suite
def test_rule_behaviours_pass(copy):
    edit(copy / "solutions" / LESSON / "main.py", 'return {"ok": True}', 'return {"ok": False}')
    edit(copy / "lessons" / LESSON / "main.py", 'return {"ok": True}', 'return {"ok": False}')
    problems = dynamic(copy, ("solutions",))
    assert (
        f"{LESSON} on solutions/: tests/{LESSON}/test_behaviour.py::"
        "test_delete_answers_ok_and_the_hero_is_gone failed [behaviours-pass]"
    ) in problems["behaviours-pass"], problems


@pytest.mark.timeout(300)  # it runs a whole lesson suite
def test_rule_exercises_fail_unsolved(copy):
    # "Solve" exercise 1 in lessons/: its tests now pass there, which the checker refuses.
    for name in ("crud.py", "main.py"):
        shutil.copy2(copy / "solutions" / LESSON / name, copy / "lessons" / LESSON / name)
    problems = dynamic(copy, ("lessons",))
    assert problems["exercises-fail-unsolved"], problems
    assert all("passed, expected failed" in p for p in problems["exercises-fail-unsolved"])


@pytest.mark.timeout(300)  # it runs a whole lesson suite
def test_rule_exercises_pass_solved(copy):
    # Unsolve the solution: its exercise tests now fail there.
    for name in ("crud.py", "main.py"):
        shutil.copy2(copy / "lessons" / LESSON / name, copy / "solutions" / LESSON / name)
    problems = dynamic(copy, ("solutions",))
    assert problems["exercises-pass-solved"], problems
    assert all("failed, expected passed" in p for p in problems["exercises-pass-solved"])


@pytest.mark.timeout(300)  # it runs exercise 1's tests twice
def test_rule_wrong_answers_caught(copy):
    wrong = copy / "tests" / LESSON / "wrong"
    shutil.rmtree(wrong, ignore_errors=True)
    # Not wrong at all: the tests let it through, so the checker must say so.
    make_wrong(copy, LESSON, "ex1_not_wrong", harmless(copy, LESSON, 1), "x")
    # Wrong (the unsolved file), but its failure messages do not hold the phrase given.
    rel = exercise_file(copy, LESSON, 1)
    unsolved = {rel: (copy / "lessons" / LESSON / rel).read_text()}
    make_wrong(copy, LESSON, "ex1_unnamed", unsolved, "a phrase no message holds")
    problems = workbook.check_wrong_answers([lesson_of(copy)], root=copy)
    by_folder = {p.where.rsplit("/", 1)[-1]: p for p in problems}
    assert set(by_folder) == {"ex1_not_wrong", "ex1_unnamed"}, problems
    assert {p.rule for p in problems} == {"wrong-answers-caught"}
    assert "exercise 1's tests pass this wrong answer" in by_folder["ex1_not_wrong"].message
    assert (
        "exercise 1's tests fail, but no failure message contains 'a phrase no message holds'"
        in by_folder["ex1_unnamed"].message
    )
