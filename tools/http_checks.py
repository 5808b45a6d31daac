"""Helpers the lesson suites share for hostile input and declared errors.

Importable from any test (pytest's `pythonpath = ["tools"]`); plain functions, no lesson
code. The harness (tests/conftest.py) holds the fixtures; these are the pure parts.
"""

from __future__ import annotations

import json
from typing import Any

# JSON numbers Python's json module reads but no float can send back: NaN, the
# infinities, and a literal too big for a float (read as inf).
NOT_FINITE = ("NaN", "Infinity", "-Infinity", "1e400")


def json_with(body: dict[str, Any], literal: str, placeholder: str = "@") -> bytes:
    """``body`` as JSON text, with the string value ``placeholder`` written as the raw
    JSON text ``literal`` (httpx refuses to encode NaN, so tests send these bytes)."""
    return json.dumps(body).replace(json.dumps(placeholder), literal).encode()


def declared_statuses(spec: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(METHOD, path) -> the sorted status codes its OpenAPI `responses` declare."""
    return {
        (method.upper(), path): sorted(operation["responses"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
