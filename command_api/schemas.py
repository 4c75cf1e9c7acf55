"""Nova request bodies -> domain commands.

Everything a request could get wrong is caught here, before a use case runs,
so an invalid request records nothing (ARCHITECTURE.md invariant 9). Error
messages follow Nova's jsonschema wording, which clients and users know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from uuid import UUID

import falcon
from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load, validate

from command_api.fields import (
    MAX_INT,
    MAX_TAG_LENGTH,
    Base64Text,
    DigitInteger,
    Hostname,
    ImageRef,
    Name,
    Networks,
    PositiveNumber,
    Reference,
    Tag,
    Uuid,
    UuidOrList,
    WordBoolean,
    valid_tag,
)
from domain.commands import CreateFlavor, CreateServer, UpdateServer
from domain.server import MAX_TAGS

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
    port = Uuid(allow_none=True)
    fixed_ip = fields.IP()
    tag = Tag()


class _BlockDeviceSchema(_NovaSchema):
    source_type = fields.String(validate=validate.OneOf(["image", "volume", "snapshot", "blank"]))
    destination_type = fields.String(validate=validate.OneOf(["local", "volume"]))
    uuid = fields.String(validate=validate.Regexp(r"^[a-zA-Z0-9._-]{1,255}$"))
    image_id = Uuid()
    boot_index = DigitInteger(signed=True, allow_none=True)
    delete_on_termination = WordBoolean()
    device_name = fields.String(allow_none=True, validate=validate.Length(max=255))
    volume_id = Uuid()
    snapshot_id = Uuid()
    volume_size = DigitInteger(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))
    guest_format = fields.String(allow_none=True, validate=validate.Length(max=255))
    disk_bus = fields.String(allow_none=True, validate=validate.Length(max=255))
    device_type = fields.String(allow_none=True, validate=validate.Length(max=255))
    volume_type = fields.String(allow_none=True, validate=validate.Length(max=255))
    tag = Tag()
    no_device = fields.Raw(allow_none=True)


class _SecurityGroupSchema(_NovaSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))


class _SchedulerHintsSchema(Schema):
    """Nova checks the hints it knows and passes any other on (additionalProperties: true)."""

    class Meta:
        unknown = INCLUDE

    group = UuidOrList()
    different_host = UuidOrList()
    same_host = UuidOrList()
    build_near_host_ip = fields.IP()
    cidr = fields.String(validate=validate.Regexp(r"^/[0-9a-f.:]+$"))


def _metadata_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=_METADATA_KEY), values=fields.String(validate=validate.Length(max=255)), **kwargs
    )


class _ServerSchema(_NovaSchema):
    name = Name(required=True)
    image_ref = ImageRef(data_key="imageRef")
    flavor_ref = Reference(required=True, data_key="flavorRef")
    networks = Networks(item_schema=_NetworkRequestSchema())
    metadata = _metadata_field()  # how many: the metadata_items quota
    user_data = Base64Text(validate=validate.Length(max=65535))
    key_name = fields.String(validate=validate.Length(min=1, max=255))
    availability_zone = Name()
    description = fields.String(allow_none=True, validate=validate.Length(max=255))
    admin_pass = fields.String(data_key="adminPass")
    disk_config = fields.String(data_key="OS-DCF:diskConfig", validate=validate.OneOf(["AUTO", "MANUAL"]))
    access_ip_v4 = fields.IPv4(data_key="accessIPv4")
    access_ip_v6 = fields.IPv6(data_key="accessIPv6")
    min_count = DigitInteger(validate=validate.Range(min=1, max=MAX_INT))
    max_count = DigitInteger(validate=validate.Range(min=1, max=MAX_INT))
    return_reservation_id = WordBoolean()
    block_device_mapping = fields.List(fields.Dict())
    block_device_mapping_v2 = fields.List(fields.Nested(_BlockDeviceSchema()))
    security_groups = fields.List(fields.Nested(_SecurityGroupSchema()))
    config_drive = WordBoolean()
    tags = fields.List(Tag(), validate=validate.Length(max=MAX_TAGS, error=f"At most {MAX_TAGS} tags are allowed."))
    trusted_image_certificates = fields.List(
        fields.String(validate=validate.Length(min=1)),
        allow_none=True,
        validate=validate.Length(min=1, max=50, error="Give 1 to 50 certificate ids."),
    )
    host = Hostname(fqdn=True)
    hypervisor_hostname = Hostname(fqdn=True)
    hostname = Hostname(fqdn=False)


class _ServerSchemaV294(_ServerSchema):
    """From 2.94 a hostname may be a dotted name, not only one DNS label."""

    hostname = Hostname(fqdn=True)


class _ServerUpdateSchema(_NovaSchema):
    name = Name()
    disk_config = fields.String(data_key="OS-DCF:diskConfig", validate=validate.OneOf(["AUTO", "MANUAL"]))
    access_ip_v4 = fields.IPv4(data_key="accessIPv4")
    access_ip_v6 = fields.IPv6(data_key="accessIPv6")
    description = fields.String(allow_none=True, validate=validate.Length(max=255))
    hostname = Hostname(fqdn=False)


class _ServerUpdateSchemaV294(_ServerUpdateSchema):
    hostname = Hostname(fqdn=True)


class _MetadataBodySchema(_NovaSchema):
    metadata = _metadata_field(required=True)


class _MetadataItemBodySchema(_NovaSchema):
    meta = _metadata_field(
        required=True, validate=validate.Length(min=1, max=1, error="Give exactly one metadata item.")
    )


class _TagsBodySchema(_NovaSchema):
    tags = fields.List(
        Tag(), required=True, validate=validate.Length(max=MAX_TAGS, error=f"At most {MAX_TAGS} tags are allowed.")
    )


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
_SERVER_V294 = _ServerSchemaV294()
_SERVER_UPDATE = _ServerUpdateSchema()
_SERVER_UPDATE_V294 = _ServerUpdateSchemaV294()
_SCHEDULER_HINTS_SCHEMA = _SchedulerHintsSchema()
_METADATA_BODY = _MetadataBodySchema()
_METADATA_ITEM_BODY = _MetadataItemBodySchema()
_TAGS_BODY = _TagsBodySchema()
_FLAVOR = _FlavorSchema()
# Keys that exist only from a microversion on; before it they are unknown keys.
_SERVER_KEYS_SINCE = {
    "description": (2, 19),
    "tags": (2, 52),
    "trusted_image_certificates": (2, 63),
    "host": (2, 74),
    "hypervisor_hostname": (2, 74),
    "hostname": (2, 90),
}
_SERVER_UPDATE_KEYS_SINCE = {"description": (2, 19), "hostname": (2, 90)}
_FLAVOR_KEYS_SINCE = {"description": (2, 55)}
_SCHEDULER_HINTS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")
_NO_VOLUMES = "Block Device Mapping is Invalid: volumes are not supported: this cloud has no block storage."
_ONE_IMAGE = (
    "Block Device Mapping is Invalid: only one block device is supported, the image the server boots from "
    "(source_type image, destination_type local, boot_index 0)."
)


def create_server_command(body: Any, version: Version) -> tuple[CreateServer, bool]:
    """POST /servers body -> (CreateServer, whether to answer with the reservation id), or HTTP 400."""
    server = _envelope(body, "server", allowed_beside=_SCHEDULER_HINTS)
    _reject_newer_keys(server, version, _SERVER_KEYS_SINCE, "server")
    _check_networks_for_version(server, version)
    loaded = _load(_SERVER_V294 if version >= (2, 94) else _SERVER, server, "server")
    hints = _scheduler_hints(body)
    min_count = loaded.get("min_count", 1)
    max_count = loaded.get("max_count", min_count)
    if min_count > max_count:
        raise falcon.HTTPBadRequest(description="min_count must be <= max_count")
    if loaded.get("hostname") and max_count > 1:
        raise falcon.HTTPBadRequest(description="Unable to allocate a single hostname to multiple instances")
    _check_network_requests(loaded.get("networks"))
    zone, forced_host, forced_node = _forced_destination(loaded)
    certificates = loaded.get("trusted_image_certificates")
    command = CreateServer(
        name=loaded["name"],
        flavor_ref=loaded["flavor_ref"],
        image_ref=_image_ref(loaded),
        metadata=loaded.get("metadata", {}),
        user_data=loaded.get("user_data"),
        # Before 2.19 a server's description is its name, as in Nova.
        description=loaded.get("description") if version >= (2, 19) else loaded["name"],
        availability_zone=zone,
        key_name=loaded.get("key_name"),
        admin_password=loaded.get("admin_pass"),
        min_count=min_count,
        max_count=max_count,
        hostname=loaded.get("hostname"),
        tags=tuple(loaded.get("tags", ())),
        scheduler_hints=hints,
        forced_host=forced_host,
        forced_node=forced_node,
        access_ip_v4=_text(loaded.get("access_ip_v4")),
        access_ip_v6=_text(loaded.get("access_ip_v6")),
        config_drive=loaded.get("config_drive", False),
        trusted_image_certificates=tuple(certificates) if certificates is not None else None,
    )
    return command, loaded.get("return_reservation_id", False)


def update_server_command(body: Any, version: Version) -> UpdateServer:
    """PUT /servers/{id} body -> UpdateServer; OS-DCF:diskConfig is accepted and has no effect."""
    server = _envelope(body, "server")
    _reject_newer_keys(server, version, _SERVER_UPDATE_KEYS_SINCE, "server")
    loaded = _load(_SERVER_UPDATE_V294 if version >= (2, 94) else _SERVER_UPDATE, server, "server")
    loaded.pop("disk_config", None)
    return UpdateServer(changes={key: _text(value) for key, value in loaded.items()})


def metadata_body(body: Any) -> dict[str, str]:
    """{"metadata": {...}} of PUT and POST /servers/{id}/metadata."""
    return _load(_METADATA_BODY, body, "metadata")["metadata"]


def metadata_item_body(body: Any, key: str) -> dict[str, str]:
    """{"meta": {key: value}} of PUT /servers/{id}/metadata/{key}: one item, the key of the URL."""
    meta = _load(_METADATA_ITEM_BODY, body, "meta")["meta"]
    if key not in meta:
        raise falcon.HTTPBadRequest(description="Request body and URI mismatch")
    return meta


def tags_body(body: Any) -> list[str]:
    """{"tags": [...]} of PUT /servers/{id}/tags."""
    return _load(_TAGS_BODY, body, "tags")["tags"]


def check_tag(tag: str) -> None:
    """A tag named in a URL (PUT /servers/{id}/tags/{tag}) follows the body's rules."""
    if not valid_tag(tag):
        raise falcon.HTTPBadRequest(
            description=f"Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. "
            f"Validation error message: it must be 1 to {MAX_TAG_LENGTH} characters."
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


def _check_network_requests(networks: Any) -> None:
    """Nova's checks on a list of requested networks: a network uuid or a port, each port once."""
    if not isinstance(networks, list):
        return
    ports: set[str] = set()
    for network in networks:
        port = network.get("port")
        if port:
            if port in ports:
                raise falcon.HTTPBadRequest(
                    description=f"Port ID '{port}' was specified twice: you cannot attach a port multiple times."
                )
            if network.get("fixed_ip") is not None:
                raise falcon.HTTPBadRequest(
                    description=f"Specified Fixed IP '{network['fixed_ip']}' cannot be used with port '{port}': "
                    "the two cannot be specified together."
                )
            ports.add(port)
        elif "uuid" not in network:
            raise falcon.HTTPBadRequest(description="Bad network format: missing 'uuid'")
        else:
            try:
                UUID(network["uuid"])
            except ValueError:
                raise falcon.HTTPBadRequest(
                    description=f"Bad networks format: network uuid is not in proper format ({network['uuid']})"
                ) from None


def _image_ref(loaded: dict[str, Any]) -> str:
    """imageRef, or the one block device that stands for it (what openstackclient sends)."""
    if loaded.get("block_device_mapping"):
        if loaded.get("block_device_mapping_v2"):
            raise falcon.HTTPBadRequest(
                description="Using different block_device_mapping syntaxes is not allowed in the same request."
            )
        raise falcon.HTTPBadRequest(description=_NO_VOLUMES)
    image_ref = loaded.get("image_ref") or ""
    devices = loaded.get("block_device_mapping_v2") or []
    if not devices:
        if not image_ref:
            raise falcon.HTTPBadRequest(
                description="Block Device Mapping is Invalid: an imageRef or a block device with "
                "source_type 'image' and boot_index 0 is required."
            )
        return image_ref
    device_image = _boot_device_image(devices)
    if image_ref and image_ref != device_image:
        raise falcon.HTTPBadRequest(
            description="Block Device Mapping is Invalid: the boot block device must be the image of imageRef."
        )
    return device_image


def _boot_device_image(devices: list[dict[str, Any]]) -> str:
    if any(
        device.get("source_type") in ("volume", "snapshot") or device.get("destination_type") == "volume"
        for device in devices
    ):
        raise falcon.HTTPBadRequest(description=_NO_VOLUMES)
    device = devices[0] if len(devices) == 1 else None
    if device is None or device.get("source_type") != "image" or device.get("boot_index") != 0:
        raise falcon.HTTPBadRequest(description=_ONE_IMAGE)
    uuid = device.get("uuid") or device.get("image_id")
    if uuid is None:
        raise falcon.HTTPBadRequest(description="Block Device Mapping is Invalid: Missing device UUID.")
    try:
        return str(UUID(uuid))
    except ValueError:
        raise falcon.HTTPBadRequest(
            description="Invalid input for field/attribute block_device_mapping_v2/0/uuid. "
            f"Value: {json.dumps(uuid)}. Must be an image uuid."
        ) from None


def _forced_destination(loaded: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(zone, host, node) from Nova's legacy "zone:host:node" or 2.74's host and hypervisor_hostname."""
    zone, host, node = loaded.get("availability_zone"), None, None
    if zone is not None and ":" in zone:
        parts = zone.split(":")
        if len(parts) == 2:
            zone, host = parts
        elif len(parts) == 3 and "::" in zone:
            zone, node = zone.split("::")
        elif len(parts) == 3:
            zone, host, node = parts
        else:
            raise falcon.HTTPBadRequest(description="Invalid input received: Unable to parse availability_zone")
    requested_host, requested_node = loaded.get("host"), loaded.get("hypervisor_hostname")
    if (requested_host or requested_node) and (host or node):
        raise falcon.HTTPBadRequest(
            description="One mechanism with host and/or hypervisor_hostname and another mechanism "
            "with zone:host:node are mutually exclusive."
        )
    return zone or None, host or requested_host or None, node or requested_node or None


def _scheduler_hints(body: dict[str, Any]) -> dict[str, Any]:
    key = next((key for key in _SCHEDULER_HINTS if key in body), None)
    if key is None:
        return {}
    hints = _load(_SCHEDULER_HINTS_SCHEMA, body[key], key)
    return {name: _text(value) for name, value in hints.items() if not name.startswith("_nova")}  # not Nova's own


def _text(value: Any) -> Any:
    """IP addresses as the strings clients sent; other values unchanged."""
    return str(value) if isinstance(value, (IPv4Address, IPv6Address)) else value


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
