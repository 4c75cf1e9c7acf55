"""Query-string parameters as Nova reads them: pagination, booleans, integers.

A malformed parameter is the client's mistake and gets a 400, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import falcon

from chronova import web

MAX_LIMIT = 1000  # Nova's max_limit
_INTEGER = re.compile(r"^-?[0-9]+$")
_TRUE_WORDS = frozenset({"true", "1", "on", "yes", "y", "t"})
_FALSE_WORDS = frozenset({"false", "0", "off", "no", "n", "f"})


@dataclass(frozen=True)
class Page:
    limit: int
    marker: str | None


def last_value(req: falcon.Request, name: str) -> str | None:
    """A parameter given once or repeated; the last one counts, as in Nova."""
    value = req.params.get(name)
    return value[-1] if isinstance(value, list) else value


def all_values(req: falcon.Request, name: str) -> list[str]:
    value = req.params.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def page(req: falcon.Request) -> Page:
    raw = last_value(req, "limit")
    limit = MAX_LIMIT
    if raw is not None:
        if not _INTEGER.match(raw):
            raise falcon.HTTPBadRequest(description="limit param must be an integer")
        limit = int(raw)
        if limit < 0:
            raise falcon.HTTPBadRequest(description="limit param must be positive")
    return Page(limit=min(limit, MAX_LIMIT), marker=last_value(req, "marker"))


def boolean(req: falcon.Request, name: str, *, empty: bool) -> bool | None:
    """A word parameter (`all_tenants=1`, `deleted=False`); absent is None, `?name` alone is `empty`."""
    raw = last_value(req, name)
    if raw is None:
        return None
    if raw == "":
        return empty
    if raw.lower() in _TRUE_WORDS | _FALSE_WORDS:
        return raw.lower() in _TRUE_WORDS
    raise falcon.HTTPBadRequest(description=f"Invalid value '{raw}' for the {name} parameter: expected a boolean.")


def integer(req: falcon.Request, name: str) -> int | None:
    raw = last_value(req, name)
    if raw is None:
        return None
    if not _INTEGER.match(raw) or raw.startswith("-"):
        raise falcon.HTTPBadRequest(description=f"Invalid {name} filter [{raw}]")
    return int(raw)


def next_links(req: falcon.Request, path: str, items: list[dict[str, Any]], page: Page, rel_key: str) -> dict[str, Any]:
    """`{"<x>_links": [next]}` when a page came back full, so clients know to ask again."""
    if not items or len(items) < page.limit:
        return {}
    params = [(key, value) for key, value in _pairs(req) if key != "marker"]
    params.append(("marker", items[-1]["id"]))
    href = f"{web.collection_href(req, path)}?{urlencode(params)}"
    return {rel_key: [{"rel": "next", "href": href}]}


def _pairs(req: falcon.Request) -> list[tuple[str, str]]:
    return [(key, value) for key in req.params for value in all_values(req, key)]
