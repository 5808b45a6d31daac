"""Lesson 01 imports with four kinds of legacy warning; its tests assert each of them."""

import pytest
from pydantic.warnings import PydanticDeprecatedSince20
from sqlalchemy.exc import MovedIn20Warning

# The four kinds of warning importing lesson 01 raises, as (class, message regex).
LEGACY_WARNINGS = [
    (MovedIn20Warning, r"is now available as sqlalchemy\.orm\.declarative_base\(\)"),
    (PydanticDeprecatedSince20, r"Support for class-based `config` is deprecated"),
    (UserWarning, r"'orm_mode' has been renamed to 'from_attributes'"),
    (DeprecationWarning, r"on_event is deprecated, use lifespan event handlers instead"),
]


@pytest.fixture
def lesson_import_warnings() -> list[tuple[type[Warning], str]]:
    # These, and nothing else, may warn when lesson 01 is imported. test_behaviour.py
    # asserts that each of them really does, and that there is no fifth kind.
    return LEGACY_WARNINGS
