"""Lesson 01 imports with four legacy warnings; its tests assert each of them."""

import pytest
from pydantic.warnings import PydanticDeprecatedSince20
from sqlalchemy.exc import MovedIn20Warning


@pytest.fixture
def lesson_import_warnings() -> list[tuple[type[Warning], str]]:
    # Exactly these, and nothing else, may warn when lesson 01 is imported.
    # test_behaviour.py asserts each one with pytest.warns.
    return [
        (MovedIn20Warning, r"is now available as sqlalchemy\.orm\.declarative_base\(\)"),
        (PydanticDeprecatedSince20, r"Support for class-based `config` is deprecated"),
        (UserWarning, r"'orm_mode' has been renamed to 'from_attributes'"),
        (DeprecationWarning, r"on_event is deprecated, use lifespan event handlers instead"),
    ]
