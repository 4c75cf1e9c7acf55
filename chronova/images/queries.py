"""SQL over the images view; the image API reads nothing else.

Filters run in SQL. Ordering and the marker are applied to the filtered rows
in Python: Glance sorts on columns that may be NULL (name, size, formats),
and PostgreSQL and SQLite disagree on where NULLs go, so one ordering rule
written here (NULL first, as Glance's MySQL does) serves both.
"""

from __future__ import annotations

from typing import Any

import falcon

from chronova.images.listing import ImageListing
from domain.commands import RequestContext
from domain.image import OPEN_VISIBILITIES
from projections.views import ViewStore


class ImageQueries:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def visible(self, image_id: str, ctx: RequestContext) -> dict[str, Any] | None:
        rows = self._views.query("SELECT * FROM images WHERE id = %(id)s", {"id": image_id})
        if not rows:
            return None
        row = rows[0]
        if ctx.is_admin or row["visibility"] in OPEN_VISIBILITIES or row["owner"] == ctx.project_id:
            return row
        return None

    def page(self, listing: ImageListing, ctx: RequestContext) -> list[dict[str, Any]]:
        where, params = _conditions(listing, ctx)
        rows = self._views.query(f"SELECT * FROM images WHERE {' AND '.join(where)}", params)
        if listing.marker is None:
            return _ordered(rows, listing.sort)[: listing.limit]
        marker = self.visible(listing.marker, ctx)
        if marker is None:
            raise falcon.HTTPBadRequest(description=f"No image found with ID {listing.marker}")
        ordered = _ordered([row for row in rows if row["id"] != marker["id"]] + [marker], listing.sort)
        start = next(index for index, row in enumerate(ordered) if row["id"] == marker["id"]) + 1
        return ordered[start : start + listing.limit]


def _conditions(listing: ImageListing, ctx: RequestContext) -> tuple[list[str], dict[str, Any]]:
    where = ["1 = 1"]
    params: dict[str, Any] = {"project": ctx.project_id}
    if not ctx.is_admin:
        where.append("(visibility IN ('public', 'community') OR owner = %(project)s)")
    if listing.visibility is None:
        # Community images are listed to their owner, or when asked for by visibility.
        where.append("(owner = %(project)s OR visibility <> 'community')")
    elif listing.visibility != "all":
        where.append("visibility = %(visibility)s")
        params["visibility"] = listing.visibility
    for column, values in listing.matches.items():
        names = [f"m_{column}_{index}" for index in range(len(values))]
        where.append(f"{column} IN ({', '.join(f'%({name})s' for name in names)})")
        params |= dict(zip(names, values, strict=True))
    for column, value in listing.equals.items():
        where.append(f"{column} = %(e_{column})s")
        params[f"e_{column}"] = value
    for index, (column, operator, value) in enumerate(listing.comparisons):
        where.append(f"{column} {operator} %(c_{index})s")
        params[f"c_{index}"] = value
    for index, tag in enumerate(listing.tags):
        where.append(f"EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = images.id AND t.tag = %(t_{index})s)")
        params[f"t_{index}"] = tag
    for index, (name, value) in enumerate(listing.properties.items()):
        where.append(
            "EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = images.id "
            f"AND p.name = %(pn_{index})s AND p.value = %(pv_{index})s)"
        )
        params |= {f"pn_{index}": name, f"pv_{index}": value}
    return where, params


def _ordered(rows: list[dict[str, Any]], sort: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """Sorted by the asked keys, then created_at and id (Glance's tie-breakers), stable sorts last key first."""
    default_dir = sort[0][1] if len(sort) == 1 else "desc"
    keys = list(sort) + [(key, default_dir) for key in ("created_at", "id") if key not in dict(sort)]
    ordered = list(rows)
    for key, direction in reversed(keys):
        ordered.sort(key=lambda row, key=key: _sort_value(row[key]), reverse=direction == "desc")
    return ordered


def _sort_value(value: Any) -> tuple[bool, Any]:
    return (False, 0) if value is None else (True, value)
