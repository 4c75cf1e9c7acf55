"""Images as Glance shows them: extra properties at the top level beside the base
attributes, relative links, times to the second. Views rows and aggregates
render alike (commands answer from the aggregate they just saved)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from domain.image import Image
from projections.images import stamp

IMAGE_SCHEMA = "/v2/schemas/image"
IMAGES_SCHEMA = "/v2/schemas/images"


def image_href(image_id: str) -> str:
    """Glance's links are relative to the image endpoint (clients join them to it)."""
    return f"/v2/images/{image_id}"


def image_body(row: dict[str, Any]) -> dict[str, Any]:
    image_id = row["id"]
    body: dict[str, Any] = json.loads(row["properties"])
    body.update(
        id=image_id,
        name=row["name"],
        status=row["status"],
        visibility=row["visibility"],
        protected=bool(row["protected"]),
        os_hidden=bool(row["os_hidden"]),
        checksum=row["checksum"],
        os_hash_algo=row["os_hash_algo"],
        os_hash_value=row["os_hash_value"],
        owner=row["owner"],
        size=row["size"],
        virtual_size=row["virtual_size"],
        min_ram=row["min_ram"],
        min_disk=row["min_disk"],
        disk_format=row["disk_format"],
        container_format=row["container_format"],
        created_at=_seconds(row["created_at"]),
        updated_at=_seconds(row["updated_at"]),
        tags=json.loads(row["tags"]),
        self=image_href(image_id),
        file=image_href(image_id) + "/file",
        schema=IMAGE_SCHEMA,
    )
    return body


def _seconds(stamped: str) -> str:
    """'2024-05-01T10:00:00.123456Z' -> '2024-05-01T10:00:00Z', as Glance shows times."""
    return stamped[:19] + "Z"


def image_row(image: Image) -> dict[str, Any]:
    """The aggregate in the shape of an images view row."""
    names = (
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "size",
        "min_ram",
        "min_disk",
        "disk_format",
        "container_format",
    )
    return {name: getattr(image, name) for name in names} | {
        "id": str(image.id),
        "virtual_size": None,
        "tags": json.dumps(image.tags),
        "properties": json.dumps(image.properties),
        "created_at": stamp(image.created_on),
        "updated_at": stamp(image.modified_on),
    }


def images_page(query: list[tuple[str, str]], items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A page, with `next` when it came back full (Glance cannot tell whether more follow either)."""
    without_marker = [(key, value) for key, value in query if key != "marker"]
    body: dict[str, Any] = {"images": items, "first": "/v2/images", "schema": IMAGES_SCHEMA}
    if without_marker:
        body["first"] += "?" + urlencode(without_marker)
    if items and len(items) == limit:
        body["next"] = "/v2/images?" + urlencode([*without_marker, ("marker", items[-1]["id"])])
    return body
