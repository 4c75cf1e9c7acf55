"""Query-string parameters as Nova reads them: pagination, booleans, integers.

A malformed parameter is the client's mistake and gets a 400, never a 500.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # the parser behind re.compile; the public sre_* names are deprecated
import re._parser as sre_parse
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import falcon

from chronova import web

MAX_LIMIT = 1000  # Nova's max_limit
MAX_INT = 2**31 - 1  # Nova's bound on integer filters
_INTEGER = re.compile(r"^-?[0-9]+$")


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
    if raw.lower() in web.TRUE_WORDS | web.FALSE_WORDS:
        return raw.lower() in web.TRUE_WORDS
    raise falcon.HTTPBadRequest(description=f"Invalid value '{raw}' for the {name} parameter: expected a boolean.")


MAX_PATTERN_LENGTH = 255
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)


def name_pattern(raw: str) -> re.Pattern[str]:
    """Nova's name filter is a regular expression; one that can backtrack
    exponentially (a repeat or an alternation inside a repeat, like `(a+)+` or
    `(a|aa)*`) would hold a request thread for ever, so it is refused."""
    if len(raw) > MAX_PATTERN_LENGTH:
        raise falcon.HTTPBadRequest(description=f"Invalid name filter: longer than {MAX_PATTERN_LENGTH} characters.")
    try:
        parsed = sre_parse.parse(raw)
        if _nested_repeat(parsed, inside_repeat=False):
            raise falcon.HTTPBadRequest(description="Invalid name filter: repetition of a repeat or an alternation.")
        return re.compile(raw)
    # The parser refuses a repeat count past its limit (a{99999999999}) with OverflowError, and
    # some patterns (a variable-width look-behind) only when compiled.
    except (re.error, OverflowError) as e:
        raise falcon.HTTPBadRequest(description=f"Invalid regular expression in the name filter: {e}") from None


def _nested_repeat(pattern: Any, inside_repeat: bool) -> bool:
    for op, value in pattern:
        if op in _REPEATS:
            if inside_repeat or _nested_repeat(value[2], inside_repeat=True):
                return True
        elif op is sre_constants.SUBPATTERN and _nested_repeat(value[3], inside_repeat):
            return True
        elif op is sre_constants.BRANCH and (inside_repeat or any(_nested_repeat(b, False) for b in value[1])):
            return True
    return False


def integer(req: falcon.Request, name: str) -> int | None:
    raw = last_value(req, name)
    if raw is None:
        return None
    if not _INTEGER.match(raw) or raw.startswith("-") or int(raw) > MAX_INT:
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


def only_known(req: falcon.Request, known: frozenset[str]) -> None:
    """Nova's strict query schemas (per API, from some microversion) refuse unknown names."""
    unknown = sorted(name for name in req.params if name not in known)
    if unknown:
        quoted = ", ".join(repr(name) for name in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise falcon.HTTPBadRequest(description=f"Additional properties are not allowed ({quoted} {verb} unexpected)")


def invalid(name: str, value: Any, reason: str) -> falcon.HTTPBadRequest:
    """A query parameter refused by Nova's query schema, in its words."""
    return falcon.HTTPBadRequest(description=f"Invalid input for query parameters {name}. Value: {value}. {reason}")
