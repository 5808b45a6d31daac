"""The grading figures, measured: one lesson graded, the watch loop, a whole class.

    python tools/bench_grading.py [--runs 3] [--lesson 03] [--students 30] [--skip-class]

1. `nox -s grade -- NN --path COPY` on a solved copy, every suite run afresh
   (WORKBOOK_FRESH=1: nothing reused), median of `--runs`.
2. The watch loop: `workbook.py watch NN --path COPY` on an unsolved copy; after it has
   settled, one file of the lesson is saved, and the time until the next exercise's
   result is on screen is taken, median of `--runs`.
3. A class: `--students` copies of every lesson (the unsolved tree, each copy made
   distinct by a comment, so no result can be reused), graded with
   `workbook.py grade --class`, once.

Not a test: times depend on the machine, so nothing asserts them. It prints each figure
with the number of cores, for the README and the closing notes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import manifest
from manifest import ROOT

IGNORE = shutil.ignore_patterns("__pycache__", "*.db", "*.db-*")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, check=False, capture_output=True)
    return time.monotonic() - start


def grade_one(lesson: manifest.Lesson, runs: int, tmp: Path) -> list[float]:
    copy = tmp / "solved"
    shutil.copytree(ROOT / "solutions" / lesson.slug, copy / lesson.slug, ignore=IGNORE)
    env = {**os.environ, "WORKBOOK_FRESH": "1"}
    cmd = ["nox", "-s", "grade", "--", lesson.number, "--path", str(copy)]
    timed(cmd, env)  # warm: the environment, bytecode, the page cache
    return [timed(cmd, env) for _ in range(runs)]


def watch_once(lesson: manifest.Lesson, copy: Path) -> float:
    """Save a file of the lesson while watch waits; seconds until the next exercise's
    result ("exercise N: not yet" or "solved") is printed."""
    cmd = [sys.executable, "tools/workbook.py", "watch", lesson.number, "--path", str(copy)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    saved_at: list[float] = []
    shown = threading.Event()
    waiting = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "watching for changes" in line:
                waiting.set()
            if saved_at and "exercise" in line and ("not yet" in line or "solved" in line):
                shown.set()
                return

    threading.Thread(target=read, daemon=True).start()
    try:
        if not waiting.wait(300):
            raise RuntimeError("watch never settled")
        target = next(
            p for p in sorted((copy / lesson.slug).rglob("*.py")) if p.name != "README.md"
        )
        saved_at.append(time.monotonic())
        target.write_text(target.read_text() + "\n# saved\n")
        if not shown.wait(120):
            raise RuntimeError("watch showed no result after the save")
        return time.monotonic() - saved_at[0]
    finally:
        proc.terminate()
        proc.wait(10)


def grade_class(students: int, tmp: Path) -> float:
    class_dir = tmp / "class"
    for i in range(students):
        folder = class_dir / f"student{i:02d}" / "lessons"
        shutil.copytree(ROOT / "lessons", folder, ignore=IGNORE)
        for lesson_dir in folder.iterdir():
            main = next(iter(sorted(lesson_dir.rglob("main.py"))), None)
            if main is not None:  # distinct content: no result can be reused
                main.write_text(main.read_text() + f"\n# student {i}\n")
    cmd = [sys.executable, "tools/workbook.py", "grade", "--class", str(class_dir),
           "--reports", str(tmp / "reports")]  # fmt: skip
    return timed(cmd, dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lesson", default="03")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--skip-class", action="store_true")
    args = parser.parse_args()
    lesson = manifest.find_lesson(args.lesson)
    print(f"machine: {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="workbook-bench-") as name:
        tmp = Path(name)
        times = grade_one(lesson, args.runs, tmp)
        shown = ", ".join(f"{t:.1f}" for t in times)
        print(f"grade {lesson.number}, solved copy, fresh: {shown} s; "
              f"median {statistics.median(times):.1f} s")  # fmt: skip
        unsolved = tmp / "unsolved"
        shutil.copytree(ROOT / "lessons" / lesson.slug, unsolved / lesson.slug, ignore=IGNORE)
        latencies = [watch_once(lesson, unsolved) for _ in range(args.runs)]
        shown = ", ".join(f"{t:.1f}" for t in latencies)
        print(f"watch {lesson.number}, save to next exercise's result: {shown} s; "
              f"median {statistics.median(latencies):.1f} s")  # fmt: skip
        if not args.skip_class:
            lessons = len(manifest.load_lessons())
            seconds = grade_class(args.students, tmp)
            print(
                f"class of {args.students} copies x {lessons} lessons: "
                f"{seconds / 60:.1f} min, {seconds:.0f} s "
                f"({seconds / (args.students * lessons):.2f} s a suite)"
            )


if __name__ == "__main__":
    main()
