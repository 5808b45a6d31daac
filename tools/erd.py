"""ER diagrams for the lesson READMEs, drawn by paracelsus from each lesson's metadata.

Each lesson names, in workbook.toml, where its tables' metadata lives (`erd =
"database:Base"`: a module of the lesson and an object that is a `MetaData` or has one,
like a declarative base or `SQLModel`). The lesson's solution is imported in a process of
its own, one lesson after another (their modules forgotten in between: lessons share
module names, `models` and `database`), and paracelsus's Mermaid
transformer draws the metadata as an `erDiagram`. `nox -s sync` writes the diagram
between the README's `er-diagram` markers; the `generated-sections` rule of `nox -s
check` fails when a diagram no longer matches its lesson's metadata.

Drawing costs an import of the lesson, so a diagram is kept under reports/cache/ of this
workbook (copies of it, in the checker's tests, share it), keyed by the lesson's Python
files, the manifest entry and the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from manifest import ROOT, Lesson

CACHE_VERSION = "1"

_DRAW = r"""
import importlib, json, sys, traceback, warnings
from pathlib import Path
warnings.simplefilter("ignore")  # lesson 01 teaches its warnings elsewhere
from sqlalchemy import MetaData
from paracelsus.transformers.mermaid import Mermaid
out = {}
for folder, target in json.loads(sys.argv[1]):
    # Lessons share module names (models, database): forget the previous lesson's.
    names = {p.stem for p in Path(folder).glob("*.py")}
    names |= {p.name for p in Path(folder).iterdir() if (p / "__init__.py").exists()}
    for name in list(sys.modules):
        if name.split(".")[0] in names:
            del sys.modules[name]
    if "sqlmodel" in sys.modules:  # SQLModel's tables live in one global MetaData
        from sqlmodel import SQLModel
        from sqlmodel.main import default_registry
        SQLModel.metadata.clear()
        default_registry.dispose()
        default_registry._class_registry.clear()
    sys.path.insert(0, folder)
    try:
        module, _, attribute = target.partition(":")
        found = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
        metadata = found if isinstance(found, MetaData) else found.metadata
        out[folder] = {"mermaid": str(Mermaid(metadata, "preserve-order"))}
    except Exception as exc:
        out[folder] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        sys.path.remove(folder)
sys.stdout.write(json.dumps(out))
"""


class DiagramError(RuntimeError):
    """The lesson's metadata could not be imported or drawn."""


def _key(lesson: Lesson, folder: Path, root: Path) -> str:
    digest = hashlib.sha256(f"workbook-erd {CACHE_VERSION} {lesson.erd}\n".encode())
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    lock = root / "uv.lock"
    digest.update(lock.read_bytes() if lock.exists() else b"-")
    return digest.hexdigest()[:32]


def draw_all(work: list[tuple[Lesson, Path]], root: Path = ROOT) -> dict[str, str]:
    """Folder -> the Mermaid source of its lesson's tables (no fences). The ones not
    cached are drawn in one process, one lesson after another."""
    drawn: dict[str, str] = {}
    todo: list[tuple[Lesson, Path, Path]] = []
    for lesson, folder in work:
        if not lesson.erd:
            raise DiagramError(f"{lesson.slug} has no `erd` in workbook.toml")
        cached = ROOT / "reports" / "cache" / f"erd-{_key(lesson, folder, root)}.mmd"
        if cached.exists():
            drawn[str(folder)] = cached.read_text(encoding="utf-8")
        else:
            todo.append((lesson, folder, cached))
    if not todo:
        return drawn
    with tempfile.TemporaryDirectory(prefix="workbook-erd-") as tmp:
        # The lessons read DATABASE_URL at import; none connects then.
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{Path(tmp) / 'erd.db'}"}
        request = json.dumps([[str(folder), lesson.erd] for lesson, folder, _ in todo])
        done = subprocess.run(
            [sys.executable, "-c", _DRAW, request],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DiagramError(f"cannot draw the diagrams: {last}")
    results = json.loads(done.stdout)
    for lesson, folder, cached in todo:
        result = results[str(folder)]
        if "error" in result:
            raise DiagramError(f"{lesson.slug}: cannot draw {lesson.erd}: {result['error']}")
        text = result["mermaid"].strip() + "\n"
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(text, encoding="utf-8")
        drawn[str(folder)] = text
    return drawn


def section(lesson: Lesson, mermaid: str) -> str:
    """The README's generated part: the diagram and where it comes from."""
    source = lesson.erd.partition(":")[0].replace(".", "/") + ".py"
    note = (
        f"The tables of this lesson, drawn by paracelsus from `{lesson.erd}` (in "
        f"`{source}`); `nox -s sync` redraws it when the models change."
    )
    if lesson.prepare:
        note += (
            " Here the schema comes from the migrations: the suite runs `alembic check`, "
            "which proves the migrated database and this metadata equal."
        )
    return f"{note}\n\n```mermaid\n{mermaid.rstrip()}\n```\n"


def diagrams(lessons: list[Lesson], root: Path = ROOT) -> dict[str, str]:
    """Slug -> the README section, for every lesson with an `erd`, drawn from the
    solutions tree (the tables do not depend on the exercises)."""
    work = [(lesson, root / "solutions" / lesson.slug) for lesson in lessons if lesson.erd]
    drawn = draw_all(work, root)
    return {lesson.slug: section(lesson, drawn[str(folder)]) for lesson, folder in work}
