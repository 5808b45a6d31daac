"""The course site, checked in a real browser: headless Chromium, driven by Selenium.

`nox -s docs` builds the site (tools/course_site.py) and then runs this file; alone,
`pytest tests/test_site.py` builds it first when reports/site/html/ is missing. The
built site is served on a free loopback port by the standard library's HTTP server, and
Chromium is told that every other host does not exist, so a page that needs the network
(a CDN's script, a web font) fails here as it would offline. Every page must load with no
console error, every Mermaid block must have become an SVG, every image must have loaded,
and every link into the site must lead to a page (and to the anchor it names). Then
search must find a lesson, and screenshots of the home page, a lesson page and a "what
changed" page go to reports/site/.

The browser is Debian's `chromium` and `chromium-driver` (`.ci/browser` installs them);
WORKBOOK_CHROMIUM and WORKBOOK_CHROMEDRIVER point elsewhere (a CI runner's Chrome).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

import course_site
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SITE = course_site.SITE
SHOTS = SITE.parent
CHROMIUM = os.environ.get("WORKBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("WORKBOOK_CHROMEDRIVER", "/usr/bin/chromedriver")
PAGE_TIMEOUT = 30  # seconds for one page to load and draw its diagrams
LESSON_SHOT = "lessons/03_relationships_loading/"  # a lesson with an ER diagram
CHANGES_SHOT = "lessons/03_relationships_loading/changes/"


def site_pages() -> list[str]:
    """Every page of the built site, as its path under the site's root URL."""
    if not (SITE / "index.html").is_file():
        course_site.main(["build"])
    pages = []
    for path in course_site.built_pages(SITE):
        rel = path.relative_to(SITE).as_posix()
        pages.append(rel.removesuffix("index.html"))
    return pages


PAGES = site_pages()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file() and not shutil.which(path):
            pytest.fail(f"{path} not found: install Chromium with `.ci/browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root, in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--force-device-scale-factor=1",
        # Offline: any host but the loopback one does not resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def mermaid_blocks(page: str) -> int:
    """How many Mermaid blocks the built page holds before any script runs."""
    html = (SITE / page / "index.html").read_text(encoding="utf-8")
    return len(re.findall(r'<pre class="mermaid"', html))


def diagrams(browser: webdriver.Chrome) -> list[str]:
    """Each Mermaid block of the open page: "ok" when it became an SVG with a size.

    Material draws a diagram into a closed shadow root, out of reach of page scripts;
    the DevTools protocol's DOM, pierced, reaches it."""
    document = browser.execute_cdp_cmd("DOM.getDocument", {"depth": -1, "pierce": True})
    found = []

    def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for key in ("children", "shadowRoots", "contentDocument"):
            value = node.get(key) or []
            for child in [value] if isinstance(value, dict) else value:
                yield from walk(child)

    for node in walk(document["root"]):
        attributes = node.get("attributes", [])
        classes = dict(zip(attributes[::2], attributes[1::2], strict=True)).get("class", "")
        if node.get("nodeName") not in ("DIV", "PRE") or "mermaid" not in classes.split():
            continue
        inside = list(walk(node))[1:]
        svgs = [n for n in inside if n.get("nodeName", "").lower() == "svg"]
        text = " ".join(n.get("nodeValue", "") for n in inside)
        if not svgs:
            found.append(f"not rendered ({node['nodeName'].lower()})")
        elif "Syntax error" in text:
            found.append("syntax error")
        else:
            box = browser.execute_cdp_cmd("DOM.getBoxModel", {"nodeId": svgs[0]["nodeId"]})
            found.append("ok" if box["model"]["width"] > 0 else "empty svg")
    return found


def load(browser: webdriver.Chrome, url: str) -> list[str]:
    """Open ``url``; the console errors it logged."""
    browser.get_log("browser")  # forget what an earlier page logged
    browser.get(url)
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    return severe(browser)


def severe(browser: webdriver.Chrome) -> list[str]:
    """The console errors logged since the last call."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def wait_for_mermaid(browser: webdriver.Chrome, expected: int) -> list[str]:
    if not expected:
        return []
    with contextlib.suppress(TimeoutException):  # the assertion says what is missing
        WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: diagrams(d).count("ok") == expected)
    return diagrams(browser)


class Links:
    """Whether links resolve: each address fetched once, its ids read once."""

    def __init__(self) -> None:
        self.answers: dict[str, str | set[str]] = {}  # address -> its ids, or what failed

    def check(self, url: str) -> str:
        """What is wrong with ``url`` ("" when it answers 200 and, for a #fragment, has
        the element the fragment names)."""
        address, fragment = urldefrag(url)
        if address not in self.answers:
            try:
                with urllib.request.urlopen(address, timeout=PAGE_TIMEOUT) as response:
                    body = response.read()
                is_html = response.headers.get_content_type() == "text/html"
                text = body.decode("utf-8", "replace") if is_html else ""
                self.answers[address] = set(re.findall(r'\bid="([^"]+)"', text))
            except urllib.error.HTTPError as error:
                self.answers[address] = f"HTTP {error.code}"
        answer = self.answers[address]
        if isinstance(answer, str):
            return answer
        if fragment and fragment not in answer:
            return f"no element with id {fragment!r}"
        return ""


@pytest.fixture(scope="module")
def links() -> Links:
    return Links()


@pytest.mark.timeout(4 * PAGE_TIMEOUT)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page or "home")
def test_page_renders_offline_with_no_error(
    page: str, base_url: str, browser: webdriver.Chrome, links: Links
) -> None:
    url = base_url + page
    errors = load(browser, url)
    expected = mermaid_blocks(page)
    drawn = wait_for_mermaid(browser, expected)
    errors += severe(browser)
    scripts_ran = browser.execute_script(
        "return !document.documentElement.classList.contains('no-js')"
        " && !!document.querySelector('body > .md-container footer.md-footer')"
    )
    images = browser.execute_script(
        "return [...document.images].filter((i) => !i.complete || i.naturalWidth === 0)"
        ".map((i) => i.currentSrc || i.src)"
    )
    hrefs = browser.execute_script(
        "return [...document.querySelectorAll('a[href]')].map((a) => a.href)"
    )
    origin = urlsplit(base_url).netloc
    internal = sorted({h for h in hrefs if urlsplit(h).netloc == origin})
    broken = {h: problem for h in internal if (problem := links.check(h))}
    assert not errors, f"console errors on {url}: {errors}"
    assert scripts_ran, f"{url}: Material's script did not run (is the page cut short?)"
    assert drawn.count("ok") == expected == len(drawn), (
        f"{url}: {expected} Mermaid block(s) in the page, rendered: {drawn}"
    )
    assert not images, f"{url}: images that did not load: {images}"
    assert not broken, f"{url}: links that do not resolve: {broken}"
    assert internal, f"{url}: no link into the site at all"


@pytest.mark.timeout(4 * PAGE_TIMEOUT)
def test_search_finds_a_lesson_offline(base_url: str, browser: webdriver.Chrome) -> None:
    load(browser, base_url)
    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.click()
    box.send_keys("selectinload")
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item")
    )
    links = [
        a.get_attribute("href")
        for a in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
    ]
    assert any("/lessons/03_relationships_loading/" in (link or "") for link in links), links


@pytest.mark.timeout(4 * PAGE_TIMEOUT)
def test_screenshots(base_url: str, browser: webdriver.Chrome) -> None:
    """The home page, a lesson page at its ER diagram, a "what changed" page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    load(browser, base_url)
    assert browser.save_screenshot(str(SHOTS / "home.png"))
    load(browser, base_url + LESSON_SHOT)
    assert wait_for_mermaid(browser, 1) == ["ok"]
    browser.execute_script("document.querySelector('.mermaid').scrollIntoView({block: 'center'})")
    time.sleep(0.6)  # the header's title slides to the page's when it scrolls
    assert browser.save_screenshot(str(SHOTS / "lesson.png"))
    load(browser, base_url + CHANGES_SHOT)
    browser.execute_script(  # from the two views' tabs, under the fixed header
        "const top = document.querySelector('.wb-views').getBoundingClientRect().top;"
        "window.scrollTo(0, top + window.scrollY - 70)"
    )
    time.sleep(0.6)
    assert browser.save_screenshot(str(SHOTS / "changes.png"))
    for name in ("home", "lesson", "changes"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000, name


@pytest.mark.timeout(4 * PAGE_TIMEOUT)
def test_the_solved_view_waits_behind_its_tab(base_url: str, browser: webdriver.Chrome) -> None:
    """A "what changed" page opens on the lesson as the learner gets it (its exercises
    still TODOs); the solution shows only once its tab is chosen."""
    load(browser, base_url + CHANGES_SHOT)
    learner = browser.find_element(By.CSS_SELECTOR, ".wb-learner table.wb-diff")
    solved = browser.find_element(By.CSS_SELECTOR, ".wb-solved table.wb-diff")
    assert learner.is_displayed() and not solved.is_displayed()
    assert "TODO(exercise" in (learner.get_attribute("textContent") or "")
    assert "TODO(exercise" not in (solved.get_attribute("textContent") or "")
    browser.find_element(By.CSS_SELECTOR, "label.wb-spoiler-tab").click()
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: solved.is_displayed())
    assert not learner.is_displayed()


def test_a_github_list_keeps_its_items_and_code_on_the_site() -> None:
    """A numbered list whose items hold code and a nested list, indented as GitHub wants
    it (to the item's text), stays one list with the code and the sublist in its items."""
    import markdown

    text = "1. First:\n\n   ```python\n   x = 1\n   ```\n\n   After.\n2. Second\n   - nested\n"
    html = markdown.markdown(
        course_site.commonmark_lists(text), extensions=["pymdownx.superfences"]
    )
    assert html.count("<ol>") == 1 and html.count("<li>") == 3, html
    first = html[: html.index("Second")]
    assert "<code>" in first and "After." in first, html
    assert re.search(r"Second</p>\s*<ul>\s*<li>nested</li>\s*</ul>\s*</li>\s*</ol>", html), html
