"""Lesson 01 warns on import and while it serves; its tests assert each of those warnings."""

from pathlib import Path

import pytest
from pydantic.warnings import PydanticDeprecatedSince20
from sqlalchemy.exc import MovedIn20Warning

# The five kinds of warning importing lesson 01 raises, as (class, message regex).
LEGACY_WARNINGS = [
    (MovedIn20Warning, r"is now available as sqlalchemy\.orm\.declarative_base\(\)"),
    (PydanticDeprecatedSince20, r"Support for class-based `config` is deprecated"),
    (UserWarning, r"'orm_mode' has been renamed to 'from_attributes'"),
    (PydanticDeprecatedSince20, r"Pydantic V1 style `@validator` validators are deprecated"),
    (DeprecationWarning, r"on_event is deprecated, use lifespan event handlers instead"),
]

# The one kind it raises while it serves: every PATCH calls the Pydantic 1 method .dict()
# (crud.update_hero). Ignored in this lesson's tests, or every PATCH would fail with it;
# test_behaviour.py asserts that a PATCH raises it, and that serving raises no other.
SERVING_WARNINGS = [
    (PydanticDeprecatedSince20, r"The `dict` method is deprecated; use `model_dump` instead\."),
]


@pytest.fixture
def lesson_import_warnings() -> list[tuple[type[Warning], str]]:
    # These, and nothing else, may warn when lesson 01 is imported. test_behaviour.py
    # asserts that each of them really does, and that there is no sixth kind.
    return LEGACY_WARNINGS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            for category, pattern in SERVING_WARNINGS:
                kind = f"{category.__module__}.{category.__qualname__}"
                item.add_marker(pytest.mark.filterwarnings(f"ignore:{pattern}:{kind}"))
