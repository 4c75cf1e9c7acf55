"""Glance request bodies -> domain requests: POST /v2/images and the JSON patches of PATCH.

Glance checks bodies against its image JSON schema (base attributes typed,
extra properties strings), refuses read-only attributes with 403 and bad
values with 400, all before anything is stored. The same is done here, with
Glance's messages, so an invalid request records nothing.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import falcon
from marshmallow import INCLUDE, Schema, ValidationError, fields

from domain.image import Change, CreateImage

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("community", "public", "private", "shared")
# Shown by every image, never set by a client.
READ_ONLY = frozenset(
    {
        "created_at",
        "updated_at",
        "status",
        "checksum",
        "size",
        "virtual_size",
        "direct_url",
        "self",
        "file",
        "schema",
        "id",
        "os_hash_algo",
        "os_hash_value",
        "locations",
        "stores",
    }
)
RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
PATCH_MEDIA_TYPES = {
    "application/openstack-images-v2.0-json-patch": 4,
    "application/openstack-images-v2.1-json-patch": 10,
}
_UUID = re.compile(r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")
_OPERATIONS = ("add", "remove", "replace")
MAX_INTEGER = 2**31 - 1


def _schema_error(reason: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(description=f"Provided object does not match schema 'image': {reason}")


def _read_only(name: str) -> falcon.HTTPForbidden:
    return falcon.HTTPForbidden(description=f"Attribute '{name}' is read-only.")


class JsonValue(fields.Field):
    """A value of one JSON schema type, checked as jsonschema does: `1` is no boolean, `true` no integer."""

    _TYPE_NAMES = {str: "string", int: "integer", bool: "boolean", list: "array"}

    def __init__(
        self,
        kind: type,
        *,
        nullable: bool = False,
        max_length: int | None = None,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern[str] | None = None,
        items: fields.Field | None = None,
        **kwargs: Any,
    ) -> None:
        null = f"None is not of type {self._TYPE_NAMES[kind]!r}"
        super().__init__(allow_none=nullable, error_messages={"null": null}, **kwargs)
        self._kind, self._nullable = kind, nullable
        self._max_length, self._choices, self._pattern, self._items = max_length, choices, pattern, items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if self._choices is not None and value not in self._choices:
            allowed = [None, *self._choices] if self._nullable else list(self._choices)
            raise ValidationError(f"{value!r} is not one of {allowed!r}")
        if not isinstance(value, self._kind) or (self._kind is int and isinstance(value, bool)):
            expected = self._TYPE_NAMES[self._kind]
            raise ValidationError(f"{value!r} is not of type {expected!r}")
        if self._max_length is not None and len(value) > self._max_length:
            raise ValidationError(f"{value!r} is too long")
        if self._pattern is not None and not self._pattern.match(value):
            raise ValidationError(f"{value!r} does not match {self._pattern.pattern!r}")
        if self._items is not None:
            return [self._items.deserialize(item) for item in value]
        return value


def _attribute_fields() -> dict[str, fields.Field]:
    return {
        "id": JsonValue(str, pattern=_UUID),
        "name": JsonValue(str, nullable=True, max_length=255),
        "visibility": JsonValue(str, choices=VISIBILITIES),
        "protected": JsonValue(bool),
        "os_hidden": JsonValue(bool),
        "owner": JsonValue(str, nullable=True, max_length=255),
        "min_ram": JsonValue(int),
        "min_disk": JsonValue(int),
        "disk_format": JsonValue(str, nullable=True, choices=DISK_FORMATS),
        "container_format": JsonValue(str, nullable=True, choices=CONTAINER_FORMATS),
        "tags": JsonValue(list, items=JsonValue(str, max_length=255)),
    }


ImageSchema = Schema.from_dict(_attribute_fields(), name="ImageSchema")
_IMAGE = ImageSchema(unknown=INCLUDE)
_ATTRIBUTES = _attribute_fields()
_EXTRA_VALUE = JsonValue(str)


def _load_attribute(name: str, value: Any) -> Any:
    field = _ATTRIBUTES.get(name, _EXTRA_VALUE)
    try:
        value = field.deserialize(value)
    except ValidationError as e:
        raise _schema_error(_first_message(e.messages)) from None
    if name in ("min_ram", "min_disk") and value < 0:
        raise falcon.HTTPBadRequest(
            description=f"Invalid value '{value}' for parameter '{name}': Cannot be a negative value"
        )
    if name in ("min_ram", "min_disk") and value > MAX_INTEGER:
        # Glance's columns are 32-bit too; a larger value stored as an event could never be projected.
        raise falcon.HTTPBadRequest(
            description=f"Invalid value '{value}' for parameter '{name}': Must be at most {MAX_INTEGER}"
        )
    return value


def _first_message(messages: Any) -> str:
    while not isinstance(messages, str):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return messages


def _check_property_name(name: str) -> None:
    if name in READ_ONLY:
        raise _read_only(name)
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise falcon.HTTPForbidden(description=f"Attribute '{name}' is reserved.")


def create_image_request(body: Any) -> CreateImage:
    """POST /v2/images: base attributes typed, anything else an extra property with a string value."""
    if not isinstance(body, dict):
        raise _schema_error(f"{body!r} is not of type 'object'")
    for name in ("direct_url", "self", "file", "schema", "stores"):
        if name in body:
            raise _read_only(name)
    try:
        loaded = _IMAGE.load(body)
    except ValidationError as e:
        raise _schema_error(_first_message(e.messages)) from None
    extra = {name: value for name, value in loaded.items() if name not in _ATTRIBUTES}
    for name, value in extra.items():
        _check_property_name(name)
        if len(name) > 255:
            raise falcon.HTTPBadRequest(description="Custom property should not be greater than 255 characters.")
        _load_attribute(name, value)
    for name in ("min_ram", "min_disk"):
        _load_attribute(name, loaded.get(name, 0))
    return CreateImage(
        id=UUID(loaded["id"]) if "id" in loaded else None,
        name=loaded.get("name"),
        disk_format=loaded.get("disk_format"),
        container_format=loaded.get("container_format"),
        visibility=loaded.get("visibility", "shared"),
        protected=loaded.get("protected", False),
        os_hidden=loaded.get("os_hidden", False),
        min_disk=loaded.get("min_disk", 0),
        min_ram=loaded.get("min_ram", 0),
        owner=loaded.get("owner"),
        tags=tuple(loaded.get("tags", ())),
        properties=tuple(extra.items()),
    )


# --- PATCH ----------------------------------------------------------------------------------


def patch_draft(content_type: str | None) -> int:
    """The JSON schema draft a PATCH speaks, from its media type; any other is 415."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in PATCH_MEDIA_TYPES:
        allowed = ", ".join(sorted(PATCH_MEDIA_TYPES))
        raise falcon.HTTPUnsupportedMediaType(
            description=f"Image PATCH expects Content-Type one of: {allowed}", headers={"Accept-Patch": allowed}
        )
    return PATCH_MEDIA_TYPES[media_type]


def image_changes(body: Any, draft: int) -> list[Change]:
    """A JSON patch document -> changes, each checked as Glance checks it before touching the image."""
    if not isinstance(body, list):
        raise falcon.HTTPBadRequest(description="Request body must be a JSON array of operation objects.")
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise falcon.HTTPBadRequest(description="Operations must be JSON objects.")
        op, pointer = _operation(raw) if draft == 10 else _draft4_operation(raw)
        attribute = _attribute(pointer)
        _check_property_name(attribute)
        value = None
        if op != "remove":
            if "value" not in raw:
                raise falcon.HTTPBadRequest(description=f'Operation "{op}" requires a member named "value".')
            value = _load_attribute(attribute, raw["value"])
        changes.append(Change(op=op, attribute=attribute, value=value, refuse_existing=draft == 4))
    return changes


def _operation(raw: dict[str, Any]) -> tuple[str, Any]:
    available = ", ".join(_OPERATIONS)
    op = raw.get("op")
    if op is None:
        raise falcon.HTTPBadRequest(
            description=f"Unable to find `op` in JSON Schema change. It must be one of the following: {available}."
        )
    if op not in _OPERATIONS:
        raise falcon.HTTPBadRequest(
            description=f"Invalid operation: `{op}`. It must be one of the following: {available}."
        )
    if "path" not in raw:
        raise falcon.HTTPBadRequest(description="Unable to find 'path' in JSON Schema change")
    return op, raw["path"]


def _draft4_operation(raw: dict[str, Any]) -> tuple[str, Any]:
    present = [op for op in _OPERATIONS if op in raw]
    if len(present) != 1:
        raise falcon.HTTPBadRequest(
            description='Operation objects must contain exactly one member named "add", "remove", or "replace".'
        )
    return present[0], raw[present[0]]


def _attribute(pointer: Any) -> str:
    """A JSON pointer of one token ('/name', '/tags'); '~1' and '~0' decode to '/' and '~'."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise falcon.HTTPBadRequest(description=f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"~[^01]", pointer) or pointer.endswith("~"):
        raise falcon.HTTPBadRequest(
            description=f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.'
        )
    tokens = pointer[1:].split("/")
    if len(tokens) != 1 or not tokens[0].strip():
        raise falcon.HTTPBadRequest(description=f"Invalid JSON pointer for this resource: '{pointer}'")
    return tokens[0].replace("~1", "/").replace("~0", "~").strip()
