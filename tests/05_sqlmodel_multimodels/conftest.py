"""Lesson 05 helpers: create a team over HTTP, and read what response schemas can hold."""

from collections.abc import Callable
from typing import Any

import pytest


def response_properties(spec: dict[str, Any]) -> dict[str, set[str]]:
    """Per response ("GET /heroes/{hero_id} 200"), every property name its schema can hold.

    Follows $ref into components (each component once per walk, so recursive schemas end)
    and every nested schema: properties, items, anyOf, allOf...
    """
    components = spec.get("components", {}).get("schemas", {})

    def walk(node: Any, seen: frozenset[str]) -> set[str]:
        if isinstance(node, list):
            return set().union(*(walk(item, seen) for item in node))
        if not isinstance(node, dict):
            return set()
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return set() if name in seen else walk(components[name], seen | {name})
        found = set(node.get("properties", {}))
        for value in node.values():
            found |= walk(value, seen)
        return found

    result = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                for media in response.get("content", {}).values():
                    key = f"{method.upper()} {path} {status}"
                    result[key] = walk(media["schema"], frozenset())
    return result


@pytest.fixture
def schema_properties() -> Callable[[dict[str, Any]], dict[str, set[str]]]:
    return response_properties
