"""The maintainer loop, measured: warm `nox` with nothing changed, and after one edit.

    python tools/bench_loop.py [--runs 3] [--lesson 05]

Runs `nox` (the default sessions) once to warm the result store, then, `--runs` times
each: `nox` with nothing changed, and `nox` after appending a comment to one file of
lesson 05's solution (undone afterwards). Prints each wall time and the medians. It needs
`nox` on PATH. Not a test: times depend on the machine, so nothing asserts them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lesson", default="05_sqlmodel_multimodels")
    args = parser.parse_args()
    folder = ROOT / "solutions" / args.lesson
    target = folder / "main.py" if (folder / "main.py").exists() else folder / "app" / "main.py"
    print("warming up: nox")
    timed(["nox"])
    unchanged, edited = [], []
    paths = [
        ROOT / tree / target.relative_to(ROOT / "solutions") for tree in ("solutions", "lessons")
    ]
    originals = {path: path.read_text() for path in paths}
    for run in range(1, args.runs + 1):
        unchanged.append(timed(["nox"]))
        print(f"run {run}: nox with nothing changed: {unchanged[-1]:.1f} s")
        try:
            # Both trees: they must stay identical outside exercise regions.
            for path in paths:
                path.write_text(originals[path] + f"\n# bench_loop edit {run}\n")
            edited.append(timed(["nox"]))
            print(f"run {run}: nox after editing {args.lesson}: {edited[-1]:.1f} s")
        finally:
            for path, text in originals.items():
                path.write_text(text)
        timed(["nox"])  # back to the stored results of the unedited lesson
    print(f"median, nothing changed: {statistics.median(unchanged):.1f} s")
    print(f"median, one lesson edited: {statistics.median(edited):.1f} s")


if __name__ == "__main__":
    main()
