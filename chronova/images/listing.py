"""GET /v2/images query strings, read and checked the way Glance reads them.

Known attributes filter the images' columns (`name`, `id=in:a,b`, `size_min`,
`created_at=gt:...`); `tag` may repeat; any other parameter filters on an
extra property. Sorting takes `sort_key`/`sort_dir` or `sort=key:dir,...`.
A malformed parameter is a 400 before anything is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import falcon

from projections.images import stamp

DEFAULT_LIMIT = 25  # Glance's limit_param_default
MAX_LIMIT = 1000  # Glance's api_limit_max
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")
DEFAULT_SORT = ("created_at", "desc")
# Columns matched exactly or against a list (`in:a,b,"c,d"`).
LISTABLE = ("name", "id", "status", "container_format", "disk_format")
# Columns matched exactly; integers and booleans parsed first.
EQUALS_TEXT = ("owner", "checksum", "os_hash_value")
EQUALS_INTEGER = ("min_ram", "min_disk", "size", "virtual_size")
COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "<>"}
_QUOTED_OR_PLAIN = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,')
_PAGING = ("limit", "marker", "member_status", "sort", "sort_key", "sort_dir", "tag")


@dataclass(frozen=True)
class ImageListing:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: tuple[tuple[str, str], ...] = (DEFAULT_SORT,)
    visibility: str | None = None  # None: Glance's default mix; "all": every visibility the caller may see
    matches: dict[str, tuple[str, ...]] = field(default_factory=dict)
    equals: dict[str, object] = field(default_factory=dict)
    # (column, SQL operator, value): size ranges and created_at/updated_at comparisons.
    comparisons: tuple[tuple[str, str, object], ...] = ()
    tags: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)


def _bad(message: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(description=message)


def _values(req: falcon.Request, name: str) -> list[str]:
    value = req.params.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _last(req: falcon.Request, name: str) -> str | None:
    values = _values(req, name)
    return values[-1] if values else None


def image_listing(req: falcon.Request) -> ImageListing:
    matches: dict[str, tuple[str, ...]] = {}
    equals: dict[str, object] = {"os_hidden": _boolean(req, "os_hidden", default=False)}
    comparisons: list[tuple[str, str, object]] = []
    properties: dict[str, str] = {}
    if (protected := _boolean(req, "protected", default=None)) is not None:
        equals["protected"] = protected
    for name, raw in req.params.items():
        value = raw[-1] if isinstance(raw, list) else raw
        if name in _PAGING or name in ("os_hidden", "protected", "visibility"):
            continue
        if name == "changes-since":
            raise _bad('The "changes-since" filter is no longer available on v2.')
        if name in LISTABLE:
            matches[name] = _match(value)
        elif name in EQUALS_TEXT:
            equals[name] = value
        elif name in EQUALS_INTEGER:
            equals[name] = _integer(value)
        elif name in ("size_min", "size_max"):
            comparisons.append(("size", ">=" if name == "size_min" else "<=", _range_bound(value)))
        elif name in ("created_at", "updated_at"):
            comparisons.append(_time_comparison(name, value))
        else:
            properties[name] = value
    member_status = _last(req, "member_status") or "accepted"
    if member_status not in ("pending", "accepted", "rejected", "all"):
        raise _bad(f"Invalid status: {member_status}")
    return ImageListing(
        limit=_limit(_last(req, "limit")),
        marker=_last(req, "marker"),
        sort=_sorting(req),
        visibility=_visibility(_last(req, "visibility")),
        matches=matches,
        equals=equals,
        comparisons=tuple(comparisons),
        tags=tuple(tag.strip() for tag in _values(req, "tag")),
        properties=properties,
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise _bad("limit param must be an integer") from None
    if limit < 0:
        raise _bad("limit param must be positive")
    return min(limit, MAX_LIMIT)


def _visibility(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw not in ("community", "public", "private", "shared", "all"):
        raise _bad(f"Invalid visibility value: {raw}")
    return raw


def _boolean(req: falcon.Request, name: str, default: bool | None) -> bool | None:
    raw = _last(req, name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise _bad(f"Invalid value '{raw}' for '{name}' filter. Valid values are 'true' or 'false'.")
    return raw.lower() == "true"


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _bad(f"Invalid filter value {raw}: expected an integer.") from None


def _range_bound(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _bad("Unable to filter on a range with a non-numeric value.") from None


def _split_operator(expression: str) -> tuple[str, str]:
    """`in:a,b` -> ("in", "a,b"); a plain value, or an ISO time with colons, is `eq`."""
    operator, separator, rest = expression.partition(":")
    if not separator or _parse_time(expression) is not None:
        return "eq", expression
    return operator, rest


def _match(expression: str) -> tuple[str, ...]:
    operator, value = _split_operator(expression)
    if operator == "eq":
        return (value,)
    if operator == "in":
        return tuple(quoted or plain for quoted, plain in _QUOTED_OR_PLAIN.findall(value))
    raise _bad(f"Unable to filter by unknown operator '{operator}'.")


def _time_comparison(column: str, expression: str) -> tuple[str, str, object]:
    operator, value = _split_operator(expression)
    if operator not in COMPARISONS:
        raise _bad("Unable to filter on a unknown operator.")
    moment = _parse_time(value)
    if moment is None:
        raise _bad(f'Bad "{column}" query filter format. Use ISO 8601 DateTime notation.')
    return column, COMPARISONS[operator], stamp(moment)


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sorting(req: falcon.Request) -> tuple[tuple[str, str], ...]:
    """Glance's two syntaxes; a single sort_dir applies to every key, several must pair up."""
    sort = _last(req, "sort")
    if sort is not None:
        if "sort_key" in req.params or "sort_dir" in req.params:
            raise _bad("Old and new sorting syntax cannot be combined")
        pairs = []
        for part in sort.strip().split(","):
            key, _, direction = part.partition(":")
            pairs.append((_sort_key(key.strip()), _sort_dir(direction.strip() or DEFAULT_SORT[1])))
        return tuple(pairs)
    keys = [_sort_key(key.strip()) for key in _values(req, "sort_key")]
    dirs = [_sort_dir(direction.strip()) for direction in _values(req, "sort_dir")]
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise _bad("Number of sort dirs does not match the number of sort keys")
    keys = keys or [DEFAULT_SORT[0]]
    dirs = dirs * len(keys) if len(dirs) == 1 else dirs or [DEFAULT_SORT[1]] * len(keys)
    return tuple(zip(keys, dirs, strict=True))


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise _bad(f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}.")
    return key


def _sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise _bad(f"Invalid sort direction: {direction}")
    return direction
