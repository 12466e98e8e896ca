"""Broken copies of a valid JSON document, for the tests that hold a native fast path to the
pydantic models it stands in for: every field (and each list's first item, all the way down) deleted
or replaced in turn by each of the given values."""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

DELETED = object()


def paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))
    elif isinstance(doc, list) and doc:
        yield prefix + (0,)
        yield from paths(doc[0], prefix + (0,))


def field_mutants(doc: Any, replacements: list) -> Iterator[bytes]:
    """The document with each path deleted, then set to each replacement, as JSON (json, not orjson:
    integers beyond 64 bits too)."""
    for path in paths(doc):
        for value in [DELETED, *replacements]:
            mutant = copy.deepcopy(doc)
            parent = mutant
            for key in path[:-1]:
                parent = parent[key]
            if value is DELETED:
                if isinstance(parent, list):
                    parent.pop(path[-1])
                else:
                    del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield json.dumps(mutant, ensure_ascii=False).encode()
