"""A pytest plugin: every test's outcome, with its exercise number, as one JSON report.

Loaded with ``-p workbook_report`` (the pytest configuration in pyproject.toml does it).
It does two things:

* Each test marked ``@pytest.mark.exercise(n)`` carries ``("exercise", n)`` in its
  ``user_properties``, so the number reaches every report, JUnit XML included.
* With ``--workbook-report=FILE`` it writes FILE: the run's metadata, each test's
  outcome, exercise number and failure message, and the collection errors. The file is
  rewritten after every test, with the test running now under ``"running"``, so a run
  stopped from outside (a time limit) still says how far it got and where it hung.

The grader and the checker read that file; its shape is ``reports/schema`` (REPORT_VERSION).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

REPORT_VERSION = 1
# Metadata a conftest adds for the report (lesson, tree, backend): config.stash[META].
META = pytest.StashKey[dict[str, Any]]()
_RESULTS = pytest.StashKey[dict[str, dict[str, Any]]]()
_STATE = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("workbook").addoption(
        "--workbook-report",
        default=None,
        help="write every test's outcome, with its exercise number, to this JSON file",
    )
    parser.getgroup("workbook").addoption(
        "--workbook-exercise",
        default=None,
        help="run only the tests of this exercise number, or of every exercise (`all`)",
    )
    parser.getgroup("workbook").addoption(
        "--workbook-shard",
        default=None,
        help="I/N: run only the I-th of N shares of the tests (0-based), for N processes",
    )


# A test that starts a server (the smoke test) costs about as much as this many others:
# the shares are balanced by this weight, not by count.
SERVER_WEIGHT = 40


def shard_of(config: pytest.Config) -> tuple[int, int] | None:
    value = config.getoption("--workbook-shard")
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--workbook-shard={value}: give I/N, e.g. 0/2") from None
    if not 0 <= index < count:
        raise pytest.UsageError(f"--workbook-shard={value}: I must be 0 to N-1")
    return index, count


def shares(items: list[pytest.Item], count: int) -> list[int]:
    """Each item's share, by weight: the heavy tests first, each to the lightest share, so
    every process gets the same amount of work and the same split every run."""
    weights = [SERVER_WEIGHT if "test_smoke.py" in item.nodeid else 1 for item in items]
    load = [0] * count
    share = [0] * len(items)
    for i in sorted(range(len(items)), key=lambda i: -weights[i]):
        share[i] = min(range(count), key=lambda n: load[n])
        load[share[i]] += weights[i]
    return share


def wanted_exercise(config: pytest.Config) -> Callable[[int | None], bool] | None:
    value = config.getoption("--workbook-exercise")
    if value is None:
        return None
    if value == "all":
        return lambda number: number is not None
    try:
        wanted = int(value)
    except ValueError:
        raise pytest.UsageError(
            f"--workbook-exercise={value}: give an exercise number, or `all`"
        ) from None
    return lambda number: number == wanted


def my_share(
    whole: list[pytest.Item], items: list[pytest.Item], index: int, count: int
) -> list[pytest.Item]:
    """The items of ``items`` that fall to share ``index``, the shares being drawn over
    ``whole``, the collection before anything was deselected. A share restarted after a
    hung test deselects that test: drawn over what is left, the split would move, and
    tests of this share would land in another share that has already finished."""
    share = dict(zip((item.nodeid for item in whole), shares(whole, count), strict=True))
    return [item for item in items if share.get(item.nodeid, index) == index]


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    whole = list(items)  # before any plugin deselects, pytest's own --deselect included
    yield  # every other plugin's hook
    keep = wanted_exercise(config)
    if keep is not None:
        dropped = [item for item in items if not keep(exercise_of(item))]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if keep(exercise_of(item))]
    shard = shard_of(config)
    if shard is not None:
        # Every shard sees the whole collection: it reports the order of all of it, so
        # the runner can put the shards' results back in one order.
        config.stash[_STATE]["order"] = [item.nodeid for item in items]
        index, count = shard
        drawn = [item for item in whole if keep is None or keep(exercise_of(item))]
        mine = my_share(drawn, items, index, count)
        if len(mine) < len(items):
            kept = {id(item) for item in mine}
            config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
            items[:] = mine


def pytest_configure(config: pytest.Config) -> None:
    config.stash.setdefault(META, {})
    config.stash[_RESULTS] = {}
    config.stash[_STATE] = {
        "collection_errors": [],
        "collected": [],
        "order": [],
        "running": None,
        "exit_status": None,
    }


def exercise_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker("exercise")
    return int(marker.args[0]) if marker else None


def pytest_itemcollected(item: pytest.Item) -> None:
    number = exercise_of(item)
    if number is not None:
        item.user_properties.append(("exercise", number))


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[_STATE]
    state["collected"] = [
        {"nodeid": item.nodeid, "exercise": exercise_of(item)} for item in session.items
    ]
    _write(session.config)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        config = _config_of(report)
        if config is not None:
            text = str(report.longrepr)
            config.stash[_STATE]["collection_errors"].append(
                {"nodeid": report.nodeid, "message": text[-4000:]}
            )
            _write(config)


# pytest hands collect reports no config; the plugin keeps the one it was configured with.
_CONFIGS: list[pytest.Config] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIGS.append(session.config)


def _config_of(_report: Any) -> pytest.Config | None:
    return _CONFIGS[-1] if _CONFIGS else None


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    config = _config_of(None)
    if config is not None:
        config.stash[_STATE]["running"] = nodeid
        _write(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _config_of(report)
    if config is None:
        return
    exercise = dict(report.user_properties).get("exercise")
    entry = config.stash[_RESULTS].setdefault(
        report.nodeid,
        {"nodeid": report.nodeid, "exercise": exercise, "outcome": None, "message": ""},
    )
    if report.when == "call":
        entry["outcome"] = report.outcome
    elif report.failed and entry["outcome"] != "failed":
        entry["outcome"] = "error"  # a fixture failed in setup or teardown
    elif report.when == "setup" and report.skipped:
        entry["outcome"] = "skipped"
    if report.failed and not entry["message"] and report.longrepr is not None:
        crash = getattr(report.longrepr, "reprcrash", None)
        entry["message"] = crash.message if crash is not None else str(report.longrepr)[-500:]
    if report.when == "teardown":
        config.stash[_STATE]["running"] = None
        _write(config)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_STATE]["exit_status"] = int(exitstatus)
    _write(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _CONFIGS:
        _CONFIGS.remove(config)


def _write(config: pytest.Config) -> None:
    path = config.getoption("--workbook-report", None)
    if not path:
        return
    state = config.stash[_STATE]
    data = {
        "version": REPORT_VERSION,
        **config.stash[META],
        "exit_status": state["exit_status"],
        "running": state["running"],
        "collection_errors": state["collection_errors"],
        "collected": state["collected"],
        "order": state["order"],
        "results": [r for r in config.stash[_RESULTS].values() if r["outcome"] is not None],
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2))
    temporary.replace(target)  # atomic: a reader never sees half a file
