"""Nova request bodies -> domain commands.

Everything a request could get wrong is caught here, before a use case runs,
so an invalid request records nothing (ARCHITECTURE.md invariant 9). Error
messages follow Nova's jsonschema wording, which clients and users know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import falcon
from marshmallow import Schema, ValidationError, fields, pre_load, validate

from command_api.fields import (
    MAX_INT,
    Base64Text,
    DigitInteger,
    ImageRef,
    Name,
    Networks,
    PositiveNumber,
    Reference,
    WordBoolean,
)
from domain.commands import CreateFlavor, CreateServer

Version = tuple[int, int]
_REQUIRED = fields.Field.default_error_messages["required"]
_METADATA_KEY = validate.Regexp(r"^[a-zA-Z0-9-_:. ]{1,255}$", error="Keys must be 1 to 255 of [a-zA-Z0-9-_:. ].")
_FLAVOR_ID = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")


def _additional_properties(keys: list[str]) -> str:
    quoted = ", ".join(repr(key) for key in keys)
    return f"Additional properties are not allowed ({quoted} {'was' if len(keys) == 1 else 'were'} unexpected)"


class _NovaSchema(Schema):
    """Refuses unknown keys with Nova's message rather than marshmallow's."""

    @pre_load
    def _no__additional_properties(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            known = {field.data_key or name for name, field in self.load_fields.items()}
            unexpected = [key for key in data if key not in known]
            if unexpected:
                raise ValidationError(_additional_properties(unexpected))
        return data


class _NetworkRequestSchema(_NovaSchema):
    uuid = fields.String(validate=validate.Length(min=1, max=255))
    port = fields.UUID(allow_none=True)
    fixed_ip = fields.IP()
    tag = fields.String(validate=validate.Length(min=1, max=60))


class _BlockDeviceSchema(_NovaSchema):
    source_type = fields.String(validate=validate.OneOf(["image", "volume", "snapshot", "blank"]))
    destination_type = fields.String(validate=validate.OneOf(["local", "volume"]))
    uuid = fields.String(validate=validate.Regexp(r"^[a-zA-Z0-9._-]{1,255}$"))
    boot_index = DigitInteger(signed=True, allow_none=True)
    delete_on_termination = WordBoolean()
    device_name = fields.String(allow_none=True, validate=validate.Length(max=255))
    volume_size = DigitInteger(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))
    guest_format = fields.String(allow_none=True, validate=validate.Length(max=255))
    disk_bus = fields.String(allow_none=True, validate=validate.Length(max=255))
    device_type = fields.String(allow_none=True, validate=validate.Length(max=255))
    volume_type = fields.String(allow_none=True, validate=validate.Length(max=255))
    tag = fields.String(validate=validate.Length(min=1, max=60))
    no_device = WordBoolean(allow_none=True)


class _SecurityGroupSchema(_NovaSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))


class _ServerSchema(_NovaSchema):
    name = Name(required=True)
    image_ref = ImageRef(data_key="imageRef")
    flavor_ref = Reference(required=True, data_key="flavorRef")
    networks = Networks(item_schema=_NetworkRequestSchema())
    metadata = fields.Dict(
        keys=fields.String(validate=_METADATA_KEY),
        values=fields.String(validate=validate.Length(max=255)),
        validate=validate.Length(max=128, error="At most 128 metadata items are allowed."),
    )
    user_data = Base64Text(validate=validate.Length(max=65535))
    key_name = fields.String(validate=validate.Length(min=1, max=255))
    availability_zone = fields.String(validate=validate.Length(min=1, max=255))
    description = fields.String(allow_none=True, validate=validate.Length(max=255))
    admin_pass = fields.String(data_key="adminPass", validate=validate.Length(max=255))
    min_count = DigitInteger(validate=validate.Range(min=1, max=MAX_INT))
    max_count = DigitInteger(validate=validate.Range(min=1, max=MAX_INT))
    block_device_mapping_v2 = fields.List(fields.Nested(_BlockDeviceSchema()))
    security_groups = fields.List(fields.Nested(_SecurityGroupSchema()))
    config_drive = WordBoolean()


class _FlavorSchema(_NovaSchema):
    name = Name(required=True)
    flavorid = Reference(data_key="id", allow_none=True, pattern=_FLAVOR_ID)
    ram = DigitInteger(required=True, validate=validate.Range(min=1, max=MAX_INT))
    vcpus = DigitInteger(required=True, validate=validate.Range(min=1, max=MAX_INT))
    disk = DigitInteger(required=True, validate=validate.Range(min=0, max=MAX_INT))
    ephemeral = DigitInteger(data_key="OS-FLV-EXT-DATA:ephemeral", validate=validate.Range(min=0, max=MAX_INT))
    swap = DigitInteger(empty_as=0, validate=validate.Range(min=0, max=MAX_INT))
    rxtx_factor = PositiveNumber()
    is_public = WordBoolean(data_key="os-flavor-access:is_public")
    description = fields.String(allow_none=True, validate=validate.Length(max=65535))


_SERVER = _ServerSchema()
_FLAVOR = _FlavorSchema()
# Keys that exist only from a microversion on; before it they are unknown keys.
_SERVER_KEYS_SINCE = {"description": (2, 19)}
_FLAVOR_KEYS_SINCE = {"description": (2, 55)}
_SCHEDULER_HINTS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")


def create_server_command(body: Any, version: Version) -> CreateServer:
    """POST /servers body -> CreateServer, or HTTP 400 with Nova's kind of message."""
    server = _envelope(body, "server", allowed_beside=_SCHEDULER_HINTS)
    _reject_newer_keys(server, version, _SERVER_KEYS_SINCE, "server")
    _check_networks_for_version(server, version)
    loaded = _load(_SERVER, server, "server")
    if loaded.get("min_count", 1) != 1 or loaded.get("max_count", 1) != 1:
        raise falcon.HTTPBadRequest(
            description="Creating more than one server per request is not supported: min_count and max_count must be 1."
        )
    image_ref = loaded.get("image_ref") or _boot_image(loaded.get("block_device_mapping_v2", []))
    return CreateServer(
        name=loaded["name"],
        flavor_ref=loaded["flavor_ref"],
        image_ref=image_ref,
        metadata=loaded.get("metadata", {}),
        user_data=loaded.get("user_data"),
        description=loaded.get("description"),
        availability_zone=loaded.get("availability_zone"),
        key_name=loaded.get("key_name"),
        admin_password=loaded.get("admin_pass"),
    )


def create_flavor_command(body: Any, version: Version) -> CreateFlavor:
    """POST /flavors body -> CreateFlavor, or HTTP 400."""
    flavor = _envelope(body, "flavor")
    _reject_newer_keys(flavor, version, _FLAVOR_KEYS_SINCE, "flavor")
    loaded = _load(_FLAVOR, flavor, "flavor")
    return CreateFlavor(
        name=loaded["name"],
        vcpus=loaded["vcpus"],
        ram=loaded["ram"],
        disk=loaded["disk"],
        flavorid=loaded.get("flavorid"),
        ephemeral=loaded.get("ephemeral", 0),
        swap=loaded.get("swap", 0),
        rxtx_factor=loaded.get("rxtx_factor", 1.0),
        is_public=loaded.get("is_public", True),
        description=loaded.get("description"),
    )


def _envelope(body: Any, root: str, allowed_beside: tuple[str, ...] = ()) -> Any:
    """Nova bodies wrap the resource in one key: {"server": {...}}."""
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(description=f"The request body must be a JSON object with a '{root}' key.")
    if root not in body:
        raise falcon.HTTPBadRequest(description=f"'{root}' is a required property")
    unexpected = [key for key in body if key != root and key not in allowed_beside]
    if unexpected:
        raise falcon.HTTPBadRequest(description=_additional_properties(unexpected))
    return body[root]


def _reject_newer_keys(obj: Any, version: Version, since: dict[str, Version], root: str) -> None:
    if isinstance(obj, dict):
        too_new = [key for key, first in since.items() if key in obj and version < first]
        if too_new:
            message = _additional_properties(too_new)
            raise falcon.HTTPBadRequest(description=f"Invalid input for field/attribute {root}. {message}")


def _check_networks_for_version(server: Any, version: Version) -> None:
    """From 2.37 `networks` is required; before it, only a list is allowed."""
    if not isinstance(server, dict):
        return
    if version >= (2, 37) and "networks" not in server:
        raise falcon.HTTPBadRequest(
            description="Invalid input for field/attribute server. 'networks' is a required property"
        )
    if version < (2, 37) and isinstance(server.get("networks"), str):
        raise falcon.HTTPBadRequest(
            description="Invalid input for field/attribute networks. "
            f"Value: {json.dumps(server['networks'])}. 'none' and 'auto' need microversion 2.37 or later."
        )


def _boot_image(block_devices: list[dict[str, Any]]) -> str:
    """Without imageRef, the image is the block device an image boots from first."""
    for index, device in enumerate(block_devices):
        if device.get("source_type") == "image" and device.get("boot_index") == 0 and "uuid" in device:
            try:
                return str(UUID(device["uuid"]))
            except ValueError:
                raise falcon.HTTPBadRequest(
                    description=f"Invalid input for field/attribute block_device_mapping_v2/{index}/uuid. "
                    f"Value: {json.dumps(device['uuid'])}. Must be an image uuid."
                ) from None
    raise falcon.HTTPBadRequest(
        description="Block Device Mapping is Invalid: an imageRef or a block device with "
        "source_type 'image' and boot_index 0 is required."
    )


def _load(schema: Schema, data: Any, root: str) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as e:
        raise falcon.HTTPBadRequest(description=_describe(e.messages, data, root)) from None


def _describe(messages: Any, data: Any, root: str) -> str:
    """The first validation error, said the way Nova says it."""
    path, message = _first_error(messages, [])
    if message == _REQUIRED:
        return f"Invalid input for field/attribute {_path_text(path[:-1], root)}. '{path[-1]}' is a required property"
    if message.startswith("Additional properties"):
        return f"Invalid input for field/attribute {_path_text(path, root)}. {message}"
    if path and path[-1] == "key":  # a dict key was refused: show the key itself
        path, value = path[:-2], path[-2]
    else:
        path = path[:-1] if path and path[-1] == "value" else path
        value = _value_at(data, path)
    shown = json.dumps(value, default=str)
    if len(shown) > 100:
        shown = shown[:97] + "..."
    return f"Invalid input for field/attribute {_path_text(path, root)}. Value: {shown}. {message}"


def _first_error(messages: Any, path: list[Any]) -> tuple[list[Any], str]:
    if isinstance(messages, dict):
        key, nested = next(iter(messages.items()))
        return _first_error(nested, path if key == "_schema" else [*path, key])
    if isinstance(messages, list):
        return _first_error(messages[0], path)
    return path, str(messages)


def _value_at(data: Any, path: list[Any]) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _path_text(path: list[Any], root: str) -> str:
    return "/".join(str(step) for step in path) or root
