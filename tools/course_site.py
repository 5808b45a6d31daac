"""The course site: Material for MkDocs over the workbook's own files.

`python tools/course_site.py build` builds it strictly into reports/site/html/ (`nox -s
docs` does that, then checks it in headless Chromium: tests/test_site.py); `serve` serves
it with reload; `generate` only writes its source. mkdocs.yml loads this file as a hook:
before every build it writes the site's Markdown source into reports/site-src/ (ignored
by git, never edited by hand) from the real files, and it takes the navigation from
workbook.toml. What the source holds:

* the root README as the home page, each lesson's README as its page, docs/design.md,
  docs/CONTRIBUTING.md and docs/bench/, all at the paths they have in the repository, so
  the links between them resolve as they do on GitHub. A link to another file of the
  repository brings that file in: a Markdown file as a page, an image as itself, a
  source file as a page that includes the file (pymdownx.snippets, read at build time),
  a folder as its README or a list of its files. A link that leads nowhere fails the
  strict build. Two differences between GitHub's Markdown and Python-Markdown are
  bridged: list items are re-indented (GitHub nests by the item's text column,
  Python-Markdown by four spaces), and the tags GitHub shows as text are escaped.
* a "what changed" page per lesson from 02 on: `tools/workbook.py`'s `diff_trees`, the
  differ of `nox -s diff`, rendered side by side and highlighted with Pygments. The
  learner's view (solutions/N-1 against lessons/N) is the tab shown; the solved view
  (against solutions/N) waits behind a second tab marked as spoilers.
* Mermaid, served from the site itself (Material would fetch it from a CDN): the npm
  package's dist/mermaid.min.js, fetched once with `npm pack`, checked against the
  integrity the registry publishes and cached in reports/site-cache/.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import html
import itertools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:  # as a mkdocs hook, tools/ is on the path only at import
    sys.path.insert(0, str(TOOLS))

import manifest  # noqa: E402
import workbook  # noqa: E402
from manifest import ROOT, Lesson  # noqa: E402

CONFIG = ROOT / "mkdocs.yml"
SRC = ROOT / "reports" / "site-src"
SITE = ROOT / "reports" / "site" / "html"
CACHE = ROOT / "reports" / "site-cache"

# Mermaid as Material 9 expects it (it asks unpkg for mermaid@11 unless `mermaid` exists).
MERMAID_VERSION = "11.9.0"
MERMAID_INTEGRITY = (  # of the npm tarball, as `npm view mermaid@11.9.0 dist.integrity`
    "sha512-YdPXn9slEwO0omQfQIsW6vS84weVQftIyyTGAZCwM//MGhPzL1+l6vO6bkf0wnP4tHigH1alZ5Ooy3HXI2gOag=="
)
MERMAID_SHA256 = "0b3ed4374117363815daefdadfcc20ff704d7dd4513b55ed803abddcbd86a898"
MERMAID_JS = "assets/javascripts/mermaid.min.js"
STYLESHEET = "assets/stylesheets/workbook.css"

# The pages every build has, at their repository paths; docs/bench/ is copied whole.
DOCS = ("docs/design.md", "docs/CONTRIBUTING.md")
BENCH = "docs/bench"
ASSET_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".pdf"}
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".venv"}


# The "what changed" pages: wider than prose, two columns of code, long lines wrapped.
STYLES = """\
body:has(.wb-diff-view) .md-grid { max-width: 100rem; }
.md-typeset .wb-diff-summary { margin-bottom: .4em; }
.md-typeset ul.wb-diff-files { columns: 2; margin-top: 0; }
.md-typeset ul.wb-diff-files li { margin-bottom: 0; }
.md-typeset h3.wb-file { font-size: .8rem; margin: 1.6em 0 .5em; }
.md-typeset .wb-plus { color: #1a7f37; }
.md-typeset .wb-minus { color: #cf222e; }
.md-typeset .wb-diff-scroll {
  overflow-x: auto; border: .05rem solid var(--md-default-fg-color--lightest);
  border-radius: .1rem;
}
.md-typeset table.wb-diff {
  display: table; width: 100%; margin: 0; table-layout: fixed; border-collapse: collapse;
  border: none; font-family: var(--md-code-font-family); font-size: .68rem; line-height: 1.45;
  background-color: var(--md-code-bg-color); color: var(--md-code-fg-color);
}
.md-typeset table.wb-diff col.wb-num-col { width: 3.4em; }
.md-typeset table.wb-diff td { padding: 0 .5em; vertical-align: top; border: none; }
.md-typeset table.wb-diff td.wb-num {
  color: var(--md-default-fg-color--light); text-align: right; user-select: none;
}
.md-typeset table.wb-diff td.wb-num::before { content: attr(data-mark); float: left; }
.md-typeset table.wb-diff td.wb-code { white-space: pre-wrap; overflow-wrap: anywhere; }
.md-typeset table.wb-diff .wb-del { background-color: var(--md-typeset-del-color); }
.md-typeset table.wb-diff .wb-add { background-color: var(--md-typeset-ins-color); }
.md-typeset table.wb-diff .wb-empty { background-color: var(--md-default-fg-color--lightest); }
.md-typeset table.wb-diff tr.wb-hunk td {
  padding: .15em .5em; color: var(--md-default-fg-color--light);
  background-color: var(--md-accent-fg-color--transparent);
}
.md-typeset .wb-views .tabbed-labels > label.wb-spoiler-tab { color: #b35900; }
"""


class SiteError(Exception):
    """The site's source cannot be made (the message says which file, which link)."""


# --------------------------------------------------------------------------- links

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
INLINE_LINK = re.compile(
    r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?)([^)\s>]+)(>?(?:\s+\"[^\"]*\")?\s*\))"
)
REFERENCE = re.compile(r"^( {0,3}\[[^\]]+\]:\s*<?)(\S+?)(>?(?:\s.*)?)$")
HTML_ATTR = re.compile(r"(\b(?:src|href)=\")([^\"]+)(\")")
# GitHub's tag filter (GFM's "Disallowed Raw HTML"): these tags, written in a README's
# prose, show as text on GitHub; passed raw to the browser, `<title>` would swallow the
# rest of the page.
DISALLOWED_TAG = re.compile(
    r"<(?=/?(?:title|textarea|style|xmp|iframe|noembed|noframes|script|plaintext)\b)", re.I
)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a fenced code block opened with ``fence``."""
    rest = line.strip()
    return len(rest) >= len(fence) and set(rest) == {fence[0]}


def map_links(text: str, change: Callable[[str], str]) -> str:
    """``text`` with every link target outside code (inline links and images, reference
    definitions, src= and href= of raw HTML) replaced by ``change(target)``, and the
    tags GitHub shows as text escaped."""
    out: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        opened = FENCE.match(line.lstrip(" "))  # at any depth: a list item's code too
        if fence:
            if closes(line, fence):
                fence = ""
            out.append(line)
            continue
        if opened:
            fence = opened.group(1)
            out.append(line)
            continue
        out.append(_map_line(line, change))
    return "".join(out)


def _map_line(line: str, change: Callable[[str], str]) -> str:
    # Code spans are masked, not cut out: a link's text may hold one ([`main.py`](main.py)).
    masked = CODE_SPAN.sub(lambda span: "\0" * len(span.group(0)), line)
    edits = [
        (found.start(2), found.end(2), change(line[found.start(2) : found.end(2)]))
        for pattern in (INLINE_LINK, HTML_ATTR, REFERENCE)
        for found in pattern.finditer(masked)
    ]
    edits += [(tag.start(), tag.end(), "&lt;") for tag in DISALLOWED_TAG.finditer(masked)]
    for start, end, text in sorted(edits, reverse=True):
        line = line[:start] + text + line[end:]
    return line


LIST_ITEM = re.compile(r"^( *)([-*+]|\d{1,9}[.)])( {1,4}(?=\S)|$)")


def commonmark_lists(text: str) -> str:
    """GitHub's list layout in Python-Markdown's: only the indentation changes.

    GitHub (CommonMark) nests a block in a list item when it is indented to the item's
    text, two columns for `- `, three for `1. `; Python-Markdown wants four per level, and
    otherwise ends the list there (a numbered list then starts again at 1, a code block
    falls out of its item). Each line inside an item is moved from the item's CommonMark
    column to its Python-Markdown one, fenced code included, its own indentation kept."""
    out: list[str] = []
    items: list[tuple[int, int]] = []  # open items: (CommonMark column, Python-Markdown column)
    fence = ""  # the open fence's marker, and the item it sits in
    fence_item = (0, 0)
    previous_blank = True
    loose = False  # the current item has a blank line inside: its blocks are paragraphs
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        indent = len(body) - len(body.lstrip(" "))
        if fence:
            source, target = fence_item
            moved = " " * target + line[source:] if indent >= source else line
            out.append(moved)
            if closes(moved[target:], fence):
                fence = ""
            continue
        if not body.strip():
            out.append(line)
            previous_blank = True
            loose = loose or bool(items)
            continue
        item = LIST_ITEM.match(body)
        if item and (items or indent <= 3):
            if not items and not previous_blank and not out[-1].lstrip().startswith("#"):
                out.append("\n")  # Python-Markdown starts a list only after a blank line
            elif items and loose and not previous_blank:
                out.append("\n")  # and the next item of a loose list after one too
            loose = False
            while items and items[-1][0] > indent:
                items.pop()
            target = items[-1][1] if items else 0
            items.append((indent + len(item.group(2)) + len(item.group(3)), target + 4))
            moved = " " * target + line[indent:]
        elif items and indent >= items[-1][0]:
            source, target = items[-1]
            moved = " " * target + line[source:]
        elif items and not previous_blank:
            moved = line  # a lazy continuation line of the item's paragraph
        else:
            while items and items[-1][0] > indent:
                items.pop()
            source, target = items[-1] if items else (0, 0)
            moved = " " * target + line[source:] if items else line
        opened = FENCE.match(moved[items[-1][1] if items else 0 :])
        if opened:
            fence = opened.group(1)
            fence_item = items[-1] if items else (0, 0)
        out.append(moved)
        previous_blank = False
    return "".join(out)


def relative(target: str, start: str) -> str:
    """The POSIX relative path from folder ``start`` to ``target`` (both site paths)."""
    return os.path.relpath(target, start or ".").replace(os.sep, "/")


# --------------------------------------------------------------------------- the source


@dataclass
class Source:
    """The site's source, as site path -> content, being collected."""

    files: dict[str, bytes] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)  # Markdown pages, in order of arrival
    queue: list[str] = field(default_factory=list)  # repository Markdown files to bring in
    problems: list[str] = field(default_factory=list)
    # HTML put into pages after Markdown ran (the diffs: as raw HTML inside Markdown they
    # would cost Python-Markdown's HTML parser most of the build): marker -> HTML.
    fragments: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, content: str | bytes) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        if path in self.files and self.files[path] != data:
            raise SiteError(f"two different contents for {path} in the site's source")
        if path.endswith(".md") and path not in self.files:
            self.pages.append(path)
        self.files[path] = data

    def page_from_repository(self, rel: str) -> None:
        """Bring in the repository's Markdown file ``rel`` as a page (once)."""
        if rel in self.files or rel in self.queue:
            return
        self.queue.append(rel)


def shown_files(folder: Path) -> list[Path]:
    """A folder's files as a clone has them: no caches, no databases, sorted."""
    found = []
    for path in sorted(folder.rglob("*")):
        parts = set(path.relative_to(folder).parts)
        if path.is_file() and not parts & SKIPPED_PARTS and ".db" not in path.name:
            found.append(path)
    return found


def link_resolver(source: Source, page: str) -> Callable[[str], str]:
    """What a link of repository page ``page`` becomes on the site, bringing its target in."""
    folder = Path(page).parent.as_posix().removeprefix(".")

    def change(target: str) -> str:
        if EXTERNAL.match(target) or target.startswith("#"):
            return target
        if target.startswith("/"):
            source.problems.append(f"{page}: absolute link {target!r}: make it relative")
            return target
        path, hashmark, fragment = target.partition("#")
        path = path.split("?")[0]
        real = (ROOT / folder / path).resolve()
        if not real.is_relative_to(ROOT):
            source.problems.append(f"{page}: link {target!r} leaves the repository")
            return target
        if not real.exists():
            return target  # the strict build names it
        rel = real.relative_to(ROOT).as_posix()
        suffix = hashmark + fragment
        if rel in source.files and not rel.endswith(".md"):
            return target  # on the site as itself already (docs/bench/'s data, say)
        if real.is_dir():
            inside = "" if rel == "." else rel + "/"  # a link to the repository itself
            if (real / "README.md").exists():
                source.page_from_repository(f"{inside}README.md")
                return relative(f"{inside}README.md", folder) + suffix
            folder_page(source, real)
            return relative(f"{inside}index.md", folder) + suffix
        if real.suffix == ".md":
            source.page_from_repository(rel)
        elif real.suffix.lower() not in ASSET_SUFFIXES and source_page(source, real):
            return relative(f"{rel}.md", folder) + suffix
        else:
            source.add(rel, real.read_bytes())  # an image, or a file that is not text
        return target

    return change


def folder_page(source: Source, folder: Path) -> None:
    """A page listing a folder's files, each linked to its own page."""
    rel = folder.relative_to(ROOT).as_posix()
    lines = [f"# `{rel}/`", "", "The files of this folder in the repository:", ""]
    for path in shown_files(folder):
        name = path.relative_to(folder).as_posix()
        lines.append(f"- [`{name}`]({name})")
    text = "\n".join(lines) + "\n"
    source.add(f"{rel}/index.md", map_links(text, link_resolver(source, f"{rel}/index.md")))


def source_page(source: Source, path: Path) -> bool:
    """A page showing a repository file, included at build time (not copied here); False
    for a file that is not UTF-8 text."""
    rel = path.relative_to(ROOT).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    language = code_language(path)
    body = (
        f"---\nsearch:\n  exclude: true\n---\n\n# `{rel}`\n\n"
        f'{ticks}{language} title="{rel}"\n--8<-- "{rel}"\n{ticks}\n'
    )
    source.add(f"{rel}.md", body)
    return True


def code_language(path: Path) -> str:
    from pygments.lexers import get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return str(get_lexer_for_filename(path.name).aliases[0])
    except ClassNotFound:
        return "text"


def collect(lessons: list[Lesson]) -> Source:
    """Every file of the site's source, from the repository as it is now."""
    source = Source()
    source.page_from_repository("README.md")
    for lesson in lessons:
        source.page_from_repository(f"lessons/{lesson.slug}/README.md")
    for doc in DOCS:
        source.page_from_repository(doc)
    bench = ROOT / BENCH
    if bench.is_dir():
        for path in shown_files(bench):
            rel = path.relative_to(ROOT).as_posix()
            if path.suffix == ".md":
                source.page_from_repository(rel)
            else:
                source.add(rel, path.read_bytes())
    while source.queue:
        rel = source.queue.pop(0)
        text = (ROOT / rel).read_text(encoding="utf-8")
        source.add(rel, commonmark_lists(map_links(text, link_resolver(source, rel))))
    highlighted_lines.cache_clear()  # the files may have changed since the last build
    for before, lesson in itertools.pairwise(lessons):
        source.add(changes_path(lesson), changes_page(source, before, lesson))
    source.add(MERMAID_JS, mermaid_js())
    source.add(MERMAID_JS.replace(".min.js", ".LICENSE.txt"), mermaid_license())
    source.add(STYLESHEET, STYLES)
    if source.problems:
        raise SiteError("\n".join(source.problems))
    return source


def write(source: Source, dest: Path = SRC) -> int:
    """Make ``dest`` hold exactly ``source``; files already right are left alone, so that
    `mkdocs serve` (which watches ``dest``) settles after one rebuild. Returns how many
    files were written."""
    written = 0
    for rel, data in source.files.items():
        path = dest / rel
        if path.is_file() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += 1
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest).as_posix()
        if path.is_file() and rel not in source.files:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return written


def generate(dest: Path = SRC) -> Source:
    source = collect(manifest.load_lessons())
    dest.mkdir(parents=True, exist_ok=True)
    write(source, dest)
    return source


# --------------------------------------------------------------------------- navigation


def changes_path(lesson: Lesson) -> str:
    return f"lessons/{lesson.slug}/changes.md"


def navigation(lessons: list[Lesson], pages: list[str]) -> list[Any]:
    """mkdocs' `nav`: home, the lessons in manifest order (each with its "what changed"
    page), the benchmark pages, the contributor docs."""
    items: list[Any] = [{"Home": "README.md"}]
    lesson_items: list[Any] = []
    for index, lesson in enumerate(lessons):
        title = f"{lesson.number} · {lesson.title}"
        readme = f"lessons/{lesson.slug}/README.md"
        # A section of its own, the README its index (navigation.indexes), even for the
        # first lesson: as a plain page it would become the index of "Lessons" itself.
        changes = [{"What changed": changes_path(lesson)}] if index else []
        lesson_items.append({title: [readme, *changes]})
    items.append({"Lessons": lesson_items})
    bench = sorted(p for p in pages if p.startswith(BENCH + "/") and p.endswith(".md"))
    if bench:
        items.append({"Benchmarks": [{bench_title(p): p} for p in bench]})
    items.append({"Contributing": [{"Design": DOCS[0]}, {"Contributing": DOCS[1]}]})
    return items


def bench_title(path: str) -> str:
    """`docs/bench/03_loading_strategies.md` -> `03 · loading strategies`."""
    number, _, name = Path(path).stem.partition("_")
    return f"{number} · {name.replace('_', ' ')}"


# --------------------------------------------------------------------------- diff pages

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class FileDiff:
    name: str  # as the stat shows it: `path`, or `old -> new` for a moved file
    left: str  # repository-relative path, or /dev/null
    right: str
    added: int
    removed: int
    hunks: list[tuple[str, list[str]]]  # (header, lines with their " ", "-", "+" mark)


def parse_unified(text: str, stat: list[tuple[str, int, int]]) -> list[FileDiff]:
    """``diff_trees``' unified diff, file by file (its stat is in the same order)."""
    lines = text.splitlines()
    files: list[FileDiff] = []
    i = 0
    for name, added, removed in stat:
        if not (lines[i].startswith("--- ") and lines[i + 1].startswith("+++ ")):
            raise SiteError(f"unexpected line in the differ's output: {lines[i]!r}")
        diff = FileDiff(name, lines[i][4:], lines[i + 1][4:], added, removed, [])
        i += 2
        while i < len(lines) and (match := HUNK.match(lines[i])):
            old_count = int(match.group(2) or 1)
            new_count = int(match.group(4) or 1)
            header, body = lines[i], []
            i += 1
            while old_count or new_count:
                line = lines[i] or " "
                body.append(line)
                old_count -= line[0] in " -"
                new_count -= line[0] in " +"
                i += 1
            diff.hunks.append((header, body))
        files.append(diff)
    if i != len(lines):
        raise SiteError(f"the differ's output has more files than its stat: {lines[i]!r}")
    return files


@functools.cache
def highlighted_lines(rel: str) -> list[str]:
    """A repository file highlighted by Pygments, as one HTML string per line."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    if rel == "/dev/null":
        return []
    path = Path(rel) if Path(rel).is_absolute() else ROOT / rel
    text = path.read_text(encoding="utf-8")
    options = {"stripnl": False, "ensurenl": False}
    try:
        lexer = get_lexer_for_filename(path.name, **options)
    except ClassNotFound:
        lexer = TextLexer(**options)
    plain = [line.rstrip("\r\n") for line in text.splitlines(keepends=True)]
    out: list[str] = str(highlight(text, lexer, HtmlFormatter(nowrap=True))).split("\n")
    if out and out[-1] == "" and text.endswith("\n"):
        out.pop()
    if len(out) != len(plain):  # a line break Pygments does not split on (\f, \r, ...)
        return [html.escape(line) for line in plain]
    return out


def side_by_side(diff: FileDiff) -> str:
    """One file's diff as a four-column table: old number, old line, new number, new line."""
    left, right = highlighted_lines(diff.left), highlighted_lines(diff.right)
    rows = []
    for header, body in diff.hunks:
        match = HUNK.match(header)
        assert match
        a, b = int(match.group(1)), int(match.group(3))
        rows.append(f'<tr class="wb-hunk"><td colspan="4">{html.escape(header)}</td></tr>')
        for kind, run in itertools.groupby(body, key=lambda line: line[0] == " "):
            lines = list(run)
            if kind:
                for _ in lines:
                    rows.append(row(a, left[a - 1], "", b, right[b - 1], ""))
                    a, b = a + 1, b + 1
                continue
            old = [x for x in lines if x[0] == "-"]
            new = [x for x in lines if x[0] == "+"]
            for o, n in itertools.zip_longest(old, new):
                cells = (
                    (a, left[a - 1], "wb-del") if o is not None else (None, "", "wb-empty"),
                    (b, right[b - 1], "wb-add") if n is not None else (None, "", "wb-empty"),
                )
                rows.append(row(*cells[0], *cells[1]))
                a += o is not None
                b += n is not None
    return (
        '<table class="wb-diff highlight"><colgroup><col class="wb-num-col"><col>'
        '<col class="wb-num-col"><col></colgroup><tbody>' + "".join(rows) + "</tbody></table>"
    )


def row(a: int | None, a_html: str, a_kind: str, b: int | None, b_html: str, b_kind: str) -> str:
    def cells(number: int | None, code: str, kind: str) -> str:
        mark = {"wb-del": "-", "wb-add": "+"}.get(kind, "")
        num = "" if number is None else str(number)
        return (
            f'<td class="wb-num {kind}" data-mark="{mark}">{num}</td>'
            f'<td class="wb-code {kind}">{code}</td>'
        )

    return f"<tr>{cells(a, a_html, a_kind)}{cells(b, b_html, b_kind)}</tr>"


def anchor(prefix: str, name: str) -> str:
    return prefix + "-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def file_title(f: FileDiff) -> str:
    """The file's path in the lesson, `old → new` for a moved one."""
    return html.escape(f.name.replace(" -> ", " → "))


def file_status(f: FileDiff) -> str:
    if f.left == "/dev/null":
        return " (new file)"
    if f.right == "/dev/null":
        return " (deleted)"
    return " (moved)" if " -> " in f.name else ""


def file_counts(f: FileDiff) -> str:
    return f'<span class="wb-plus">+{f.added}</span> <span class="wb-minus">−{f.removed}</span>'


def diff_view(left: Path, right: Path, lesson: Lesson, prefix: str) -> str:
    """The differ's output for two lesson folders: a file list, then one table a file."""
    text, stat = workbook.diff_trees(left, right, moved=lesson.moved)
    files = parse_unified(text, stat)
    total_added = sum(f.added for f in files)
    total_removed = sum(f.removed for f in files)
    out = [
        '<div class="wb-diff-view">',
        f'<p class="wb-diff-summary">{len(files)} files changed, '
        f'<span class="wb-plus">+{total_added}</span> '
        f'<span class="wb-minus">−{total_removed}</span>. '
        f"Left: <code>{html.escape(workbook.shown(left))}</code>, "
        f"right: <code>{html.escape(workbook.shown(right))}</code>.</p>",
        '<ul class="wb-diff-files">',
    ]
    for f in files:
        out.append(
            f'<li><a href="#{anchor(prefix, f.name)}"><code>{file_title(f)}</code></a>'
            f"{file_status(f)} {file_counts(f)}</li>"
        )
    out.append("</ul>")
    for f in files:
        out.append(
            f'<h3 class="wb-file" id="{anchor(prefix, f.name)}"><code>{file_title(f)}</code>'
            f"{file_status(f)} {file_counts(f)}</h3>"
        )
        out.append('<div class="wb-diff-scroll">' + side_by_side(f) + "</div>")
    out.append("</div>")
    return "\n".join(out)


def changes_page(source: Source, before: Lesson, lesson: Lesson) -> str:
    """Lesson ``lesson``'s "what changed" page: the diff from ``before`` solved. The
    diffs themselves are fragments, put in by `on_page_content`."""
    solved_before = ROOT / "solutions" / before.slug
    learner = ROOT / "lessons" / lesson.slug
    solved = ROOT / "solutions" / lesson.slug
    n, m = before.number, lesson.number
    moved = ""
    if lesson.moved:
        listed = ", ".join(f"`{old}` → `{new}`" for new, old in lesson.moved)
        moved = f"\nFiles this lesson moved are compared with their old selves: {listed}.\n"
    views = f"""<div class="tabbed-set tabbed-alternate wb-views" data-tabs="1:2">
<input checked="checked" id="__tabbed_1_1" name="__tabbed_1" type="radio">
<input id="__tabbed_1_2" name="__tabbed_1" type="radio">
<div class="tabbed-labels">
<label for="__tabbed_1_1">Lesson {m} as you get it</label>
<label for="__tabbed_1_2" class="wb-spoiler-tab">Lesson {m} solved (spoilers)</label>
</div>
<div class="tabbed-content">
<div class="tabbed-block wb-learner">
{diff_view(solved_before, learner, lesson, "learner")}
</div>
<div class="tabbed-block wb-solved">
<div class="admonition warning"><p class="admonition-title">Spoilers</p>
<p>This view holds the answers to lesson {m}'s exercises: lesson {n}'s solution against
lesson {m}'s, as <code>nox -s diff -- {n} {m} --solutions</code> prints it. Read it once
you have solved them, or to see the whole step at once.</p></div>
{diff_view(solved_before, solved, lesson, "solved")}
</div>
</div>
</div>"""
    return f"""---
title: "Lesson {m}: what changed since lesson {n}"
search:
  exclude: true
hide:
  - toc
---

# What changed in lesson {m}

[Lesson {m}](README.md) starts from [lesson {n}](../{before.slug}/README.md) solved. Here
is the diff between the two, side by side, as `nox -s diff -- {n} {m}` prints it in a
terminal (the same differ, reading the files themselves; READMEs are left out, they are
the lessons' prose). The first tab shows lesson {m} as you get it, its exercises still to
do; the second, marked as spoilers, shows it solved.
{moved}
{fragment(source, lesson, "views", views)}
"""


def fragment(source: Source, lesson: Lesson, view: str, content: str) -> str:
    """A marker for the page, standing for ``content`` until `on_page_content`."""
    marker = f'<div class="wb-fragment" data-lesson="{lesson.number}" data-view="{view}"></div>'
    source.fragments[marker] = content
    return marker


# --------------------------------------------------------------------------- Mermaid


def mermaid_js() -> bytes:
    """dist/mermaid.min.js of the pinned npm package, from the cache or fetched once."""
    cached = CACHE / f"mermaid-{MERMAID_VERSION}.min.js"
    if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == MERMAID_SHA256:
        return cached.read_bytes()
    npm = shutil.which("npm")
    if not npm:
        raise SiteError(
            f"npm is needed once to fetch mermaid@{MERMAID_VERSION} (the site serves it "
            f"itself); then it is cached in {workbook.shown(CACHE)}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"mermaid@{MERMAID_VERSION}", "--silent", "--pack-destination", tmp],
            cwd=tmp, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        tarball = Path(tmp) / f"mermaid-{MERMAID_VERSION}.tgz"
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if f"sha512-{digest}" != MERMAID_INTEGRITY:
            raise SiteError(f"{tarball.name}: not the tarball the registry published")
        with tarfile.open(tarball) as archive:
            js = archive.extractfile("package/dist/mermaid.min.js")
            license_file = archive.extractfile("package/LICENSE")
            assert js and license_file
            data, license_text = js.read(), license_file.read()
    if hashlib.sha256(data).hexdigest() != MERMAID_SHA256:
        raise SiteError(f"mermaid@{MERMAID_VERSION}: dist/mermaid.min.js is not the pinned one")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / f"mermaid-{MERMAID_VERSION}.LICENSE.txt").write_bytes(license_text)
    cached.write_bytes(data)
    return data


def mermaid_license() -> bytes:
    path = CACHE / f"mermaid-{MERMAID_VERSION}.LICENSE.txt"
    return path.read_bytes() if path.is_file() else b"mermaid: MIT License\n"


# --------------------------------------------------------------------------- mkdocs hooks


def on_config(config: Any) -> Any:
    """Snippets are read from the repository wherever mkdocs runs."""
    config.mdx_configs.setdefault("pymdownx.snippets", {})["base_path"] = [str(ROOT)]
    return config


_fragments: dict[str, str] = {}


def on_pre_build(config: Any) -> None:
    """Write the source (again, under `mkdocs serve`: something it comes from changed),
    and the navigation from workbook.toml."""
    source = generate(Path(config.docs_dir))
    _fragments.clear()
    _fragments.update(source.fragments)
    config.nav = navigation(manifest.load_lessons(), source.pages)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Put the diffs into the "what changed" pages; a marker left over fails the build."""
    for marker, content in _fragments.items():
        html = html.replace(marker, content)
    if 'class="wb-fragment"' in html:
        raise SiteError(f"{page.file.src_uri}: a diff marker has no diff")
    return html


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Mermaid (2.7 MB) only on the pages that draw a diagram, before Material's script
    (which would fetch it from a CDN if `mermaid` were not defined)."""
    if '<pre class="mermaid">' not in output:
        return output
    from mkdocs.utils import get_relative_url

    script = f'<script src="{get_relative_url(MERMAID_JS, page.url)}"></script>'
    bundle = re.search(r'<script src="[^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js">', output)
    if not bundle:
        raise SiteError(f"{page.file.src_uri}: Material's script tag not found")
    return output[: bundle.start()] + script + output[bundle.start() :]


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """Under `mkdocs serve`, rebuild when a file the site comes from changes. Folders are
    watched one by one, caches left out: a test run's bytecode is no reason to rebuild."""
    for rel in ("README.md", "workbook.toml", "mkdocs.yml"):
        server.watch(str(ROOT / rel), recursive=False)
    for top in ("docs", "lessons", "solutions", "tools"):
        for folder in [ROOT / top, *sorted((ROOT / top).rglob("*"))]:
            if folder.is_dir() and not set(folder.relative_to(ROOT).parts) & SKIPPED_PARTS:
                server.watch(str(folder), recursive=False)
    return server


# --------------------------------------------------------------------------- command line


def mkdocs(*args: str) -> None:
    SRC.mkdir(parents=True, exist_ok=True)  # mkdocs checks docs_dir before any hook runs
    command = [sys.executable, "-m", "mkdocs", *args, "--config-file", str(CONFIG)]
    # Material's banner about its end of life (2027) says nothing about this build.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode:
        raise SystemExit(result.returncode)


def built_pages(site: Path = SITE) -> list[Path]:
    """The built site's pages (404.html aside)."""
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course_site", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "serve", "generate"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="more options for mkdocs")
    args = parser.parse_args(argv)
    if args.command == "generate":
        source = generate()
        print(f"{workbook.shown(SRC)}: {len(source.pages)} pages, {len(source.files)} files")
        return 0
    if args.command == "serve":
        mkdocs("serve", *args.args)
        return 0
    started = time.perf_counter()
    mkdocs("build", "--strict", "--clean", *args.args)
    took = time.perf_counter() - started
    pages = built_pages()
    print(f"course site: {len(pages)} pages in {workbook.shown(SITE)}, built in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
