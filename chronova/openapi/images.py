"""The image API's routes (Glance v2 subset, chronova/images/app.py)."""

from __future__ import annotations

from typing import Any

from chronova.openapi.operations import PAGING, Op, Query, q_integer, q_string
from chronova.openapi.schemas import JsonSchema, derived

# --- the image API (Glance v2 subset, chronova/images/app.py) -----------------------------------

IMAGES = "/image/v2/images"
_PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"


def _image(summary: str, ok: int | tuple[int, ...] = 200, **kwargs: Any) -> Op:
    return Op(summary, ok, api="image", **kwargs)


def _image_create() -> JsonSchema:
    """The base attributes are typed; any other key is an extra property with a string value."""
    described = derived("chronova.images.schemas", "ImageSchema")
    return described | {"additionalProperties": {"type": "string", "maxLength": 255}}


def _image_patch() -> JsonSchema:
    """A JSON patch (draft 10 media type): operations on one top-level attribute each."""
    operation = {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace"]},
            "path": {"type": "string", "pattern": "^/[^/]+$"},
            "value": {},
        },
        "required": ["op", "path"],
    }
    return {"type": "array", "items": operation}


_IMAGE_LIST = (
    *PAGING,
    q_string("name"),
    q_string("id"),
    Query("status", {"type": "string", "enum": ["queued", "saving", "active", "killed", "deleted", "deactivated"]}),
    q_string("owner"),
    Query("visibility", {"type": "string", "enum": ["community", "public", "private", "shared", "all"]}),
    Query("member_status", {"type": "string", "enum": ["pending", "accepted", "rejected", "all"]}),
    Query("os_hidden", {"type": "boolean"}),
    Query("protected", {"type": "boolean"}),
    q_string("tag"),
    q_integer("size_min"),
    q_integer("size_max"),
    q_string("created_at", "A comparison like gt:2016-04-18T21:38:54Z."),
    q_string("updated_at", "A comparison like lte:2016-04-18T21:38:54Z."),
    q_string("sort", "key:dir pairs, comma separated."),
    Query(
        "sort_key",
        {
            "type": "string",
            "enum": ["name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"],
        },
    ),
    Query("sort_dir", {"type": "string", "enum": ["asc", "desc"]}),
)

IMAGE: dict[str, dict[str, Op]] = {
    "/image": {"get": _image("List image API versions", 300, public=True, errors=())},
    "/image/versions": {"get": _image("List image API versions", public=True, errors=())},
    "/image/v2": {"get": _image("List image API versions", public=True, errors=())},
    IMAGES: {
        "get": _image("List images", query=_IMAGE_LIST, errors=(400,)),
        "post": _image("Create an image record", 201, body=_image_create, errors=(400, 403, 409)),
    },
    f"{IMAGES}/{{image_id}}": {
        "get": _image("Show an image", errors=(404,)),
        "patch": _image(
            "Change an image's attributes",
            body=_image_patch,
            media_type=_PATCH_MEDIA_TYPE,
            errors=(400, 403, 404, 409, 415),
        ),
        "delete": _image("Delete an image", 204, errors=(403, 404, 409)),
    },
    f"{IMAGES}/{{image_id}}/file": {
        "put": _image(
            "Upload the image's data",
            204,
            body=lambda: {"type": "string", "format": "binary"},
            media_type="application/octet-stream",
            errors=(400, 403, 404, 409, 413, 415),
        ),
        "get": _image("Download the image's data", (200, 204), answers="application/octet-stream", errors=(404,)),
    },
}
