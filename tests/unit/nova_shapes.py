"""Nova's response formats, written down as data to hold Chronova's bodies against.

Each expectation restates, in our own compact form, what upstream nova promises
for a call at a microversion: the exact set of keys of every object (nested ones
too), the JSON type of each value and the textual format of the ones that are
strings (timestamps, uuids, links). They were learned from nova's response
schemas (nova/api/openstack/compute/schemas/<area>.py, the `*_response*`
objects) and its API samples (doc/api_samples/<area>/[v2.N/]*.json); each table
names the ones it came from.

A shape is one of:
- a type (`str`, `int`, `float`, `bool`): a JSON value of that type (an int is not a bool);
- `None`, or a literal str/int/bool: that very value;
- a `Pattern`: a string matching it;
- `OneOf(a, b, ...)`: any of the shapes;
- a dict: an object with exactly these keys, each value of its shape;
- a list: an array of exactly these items, in order;
- `ListOf(s)` / `MapOf(s)`: an array / an object with any keys, every item / value of shape s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Version = tuple[int, int]


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: str

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.regex, value) is not None


@dataclass(frozen=True)
class OneOf:
    choices: tuple[Any, ...]

    def __init__(self, *choices: Any) -> None:
        object.__setattr__(self, "choices", choices)


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    value: Any


def nullable(shape: Any) -> OneOf:
    return OneOf(shape, None)


def mismatches(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Every way `value` departs from `shape`, as 'path: what' lines (empty when it conforms)."""
    if isinstance(shape, type):
        wanted = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
        return [] if wanted else [f"{path}: {value!r} is not a JSON {shape.__name__}"]
    if shape is None or isinstance(shape, (str, int, bool)):
        same = type(value) is type(shape) and value == shape
        return [] if same else [f"{path}: {value!r} is not {shape!r}"]
    if isinstance(shape, Pattern):
        ok = isinstance(value, str) and shape.matches(value)
        return [] if ok else [f"{path}: {value!r} is not {shape.name}"]
    if isinstance(shape, OneOf):
        if any(not mismatches(value, choice, path) for choice in shape.choices):
            return []
        return [f"{path}: {value!r} fits none of {len(shape.choices)} allowed shapes"]
    if isinstance(shape, dict):
        return _object_mismatches(value, shape, path)
    if isinstance(shape, list):
        if not isinstance(value, list) or len(value) != len(shape):
            return [f"{path}: {value!r} is not a list of {len(shape)} items"]
        return [
            line
            for i, (item, s) in enumerate(zip(value, shape, strict=True))
            for line in mismatches(item, s, f"{path}[{i}]")
        ]
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not a list"]
        return [line for i, item in enumerate(value) for line in mismatches(item, shape.item, f"{path}[{i}]")]
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        return [line for key, item in value.items() for line in mismatches(item, shape.value, f"{path}.{key}")]
    raise TypeError(f"not a shape: {shape!r}")


def _object_mismatches(value: Any, shape: Mapping[str, Any], path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: {value!r} is not an object"]
    lines = [f"{path}: missing key {key!r}" for key in sorted(shape.keys() - value.keys())]
    lines += [f"{path}: unexpected key {key!r}" for key in sorted(value.keys() - shape.keys())]
    for key in sorted(shape.keys() & value.keys()):
        lines += mismatches(value[key], shape[key], f"{path}.{key}")
    return lines


def since(version: Version, table: tuple[tuple[Version, Mapping[str, Any]], ...]) -> dict[str, Any]:
    """The fields of a versioned table that exist at `version` (later entries replace earlier ones)."""
    fields: dict[str, Any] = {}
    for first, added in table:
        if version >= first:
            fields |= added
    return fields


def without(keys: frozenset[str], *dropped: tuple[Version, frozenset[str]]) -> Callable[[Version], frozenset[str]]:
    """A key set that loses some keys at some microversions."""
    return lambda version: keys - frozenset().union(*(gone for first, gone in dropped if version >= first))


# --- value formats ---------------------------------------------------------------------------------

UUID = Pattern("a uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# "2013-09-03T04:01:32Z": servers' created/updated and fault.created (servers/server-get-resp.json).
TIME_Z = Pattern("a UTC time in whole seconds with a Z", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# "2013-09-23T13:37:00.880302": OS-SRV-USG:*, keypairs, services, aggregates, actions, usage (their samples).
TIME_US = Pattern("a naive UTC time with microseconds", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}")
REQUEST_ID = Pattern("a request id", r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Nova's hostId: sha224 over project and host, "" while the server has no host.
HOST_ID = Pattern("a hostId", r"([0-9a-f]{56})?")
IPV4 = Pattern("an IPv4 address", r"(\d{1,3}\.){3}\d{1,3}")
IPV6 = Pattern("an IPv6 address", r"[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")
# ssh keys: md5 in colon-separated hex; x509 certificates: sha1 the same way (os-keypairs samples).
FINGERPRINT = Pattern("a key fingerprint", r"([0-9a-f]{2}:){15}[0-9a-f]{2}|([0-9a-f]{2}:){19}[0-9a-f]{2}")
SELF_HREF = Pattern("a versioned link", r"https?://[^/\s]+(/\S*)?/v2\.1/\S+")
BOOKMARK_HREF = Pattern("an unversioned link", r"https?://[^/\s]+/(?!v2\.1/)\S+")
NEXT_HREF = Pattern("a next-page link", r"https?://[^/\s]+(/\S*)?/v2\.1/\S+\?(\S+&)?marker=\S+")
NUMBER = OneOf(int, float)

SELF_AND_BOOKMARK = [{"rel": "self", "href": SELF_HREF}, {"rel": "bookmark", "href": BOOKMARK_HREF}]
BOOKMARK = [{"rel": "bookmark", "href": BOOKMARK_HREF}]
NEXT_LINKS = [{"rel": "next", "href": NEXT_HREF}]  # response_types.collection_links: exactly one

# --- servers: schemas/servers.py (_server_response and its _v2NN copies, create/update_response) ---

SERVER_STATUS = OneOf(
    "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD", "PAUSED", "REBOOT", "REBUILD",
    "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED", "SHUTOFF", "SOFT_DELETED", "SUSPENDED",
    "UNKNOWN", "VERIFY_RESIZE",
)  # fmt: skip
VM_STATE = OneOf(
    "active", "building", "paused", "suspended", "stopped", "rescued", "resized", "soft-delete", "deleted", "error",
    "shelved", "shelved_offloaded",
)  # fmt: skip
POWER_STATE = OneOf(0, 1, 3, 4, 6, 7)
# Nova's views/servers.py shows `progress` for these statuses only, and `fault` for ERROR and DELETED.
PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
FAULT_STATUSES = frozenset({"ERROR", "DELETED"})

_ADDRESS = {
    "addr": OneOf(IPV4, IPV6),
    "version": OneOf(4, 6),
    "OS-EXT-IPS:type": OneOf("fixed", "floating"),
    "OS-EXT-IPS-MAC:mac_addr": Pattern("a MAC address", r"([0-9a-f]{2}:){5}[0-9a-f]{2}"),
}
_SERVER_2_1 = {
    "id": UUID,
    "name": str,
    "status": SERVER_STATUS,
    "tenant_id": str,
    "user_id": str,
    "metadata": MapOf(str),
    "hostId": HOST_ID,
    "image": {"id": UUID, "links": BOOKMARK},  # "" for a server booted from a volume
    "flavor": {"id": str, "links": BOOKMARK},
    "created": TIME_Z,
    "updated": TIME_Z,
    "addresses": MapOf(ListOf(_ADDRESS)),
    "accessIPv4": OneOf("", IPV4),
    "accessIPv6": OneOf("", IPV6),
    "links": SELF_AND_BOOKMARK,
    "key_name": nullable(str),
    "config_drive": OneOf("", "True", "False"),
    "OS-DCF:diskConfig": OneOf("AUTO", "MANUAL"),
    "OS-EXT-AZ:availability_zone": str,
    "OS-EXT-STS:vm_state": VM_STATE,
    "OS-EXT-STS:task_state": nullable(str),
    "OS-EXT-STS:power_state": POWER_STATE,
    "OS-SRV-USG:launched_at": nullable(TIME_US),
    "OS-SRV-USG:terminated_at": nullable(TIME_US),
    "os-extended-volumes:volumes_attached": ListOf({"id": str}),
    "security_groups": ListOf({"name": str}),
}
# Behind the extended-server-attributes policy: admins only by default (servers/server-get-resp.json,
# servers/v2.3/server-get-resp.json).
_SERVER_ADMIN = (
    (
        (2, 1),
        {
            "OS-EXT-SRV-ATTR:host": nullable(str),
            "OS-EXT-SRV-ATTR:hypervisor_hostname": nullable(str),
            "OS-EXT-SRV-ATTR:instance_name": str,
        },
    ),
    (
        (2, 3),
        {
            "OS-EXT-SRV-ATTR:hostname": str,
            "OS-EXT-SRV-ATTR:kernel_id": nullable(str),
            "OS-EXT-SRV-ATTR:launch_index": nullable(int),
            "OS-EXT-SRV-ATTR:ramdisk_id": nullable(str),
            "OS-EXT-SRV-ATTR:reservation_id": nullable(str),
            "OS-EXT-SRV-ATTR:root_device_name": nullable(str),
            "OS-EXT-SRV-ATTR:user_data": nullable(str),
        },
    ),
    ((2, 16), {"host_status": OneOf("UP", "DOWN", "MAINTENANCE", "UNKNOWN", "")}),
)
_SERVER_ALL = (
    ((2, 3), {"os-extended-volumes:volumes_attached": ListOf({"id": str, "delete_on_termination": bool})}),
    ((2, 9), {"locked": bool}),
    ((2, 19), {"description": nullable(str)}),
    ((2, 26), {"tags": ListOf(str)}),
    (
        (2, 47),
        {
            "flavor": {
                "vcpus": int,
                "ram": int,
                "disk": int,
                "ephemeral": int,
                "swap": int,
                "original_name": str,
                "extra_specs": MapOf(str),  # shown to the server's project by default (servers:show:flavor-extra-specs)
            },
        },
    ),
    ((2, 63), {"trusted_image_certificates": nullable(ListOf(str))}),
    ((2, 73), {"locked_reason": nullable(str)}),
    ((2, 90), {"OS-EXT-SRV-ATTR:hostname": str}),
    ((2, 96), {"pinned_availability_zone": nullable(str)}),
    ((2, 98), {"image": {"id": UUID, "links": BOOKMARK, "properties": MapOf(nullable(str))}}),
    ((2, 100), {"scheduler_hints": MapOf(OneOf(str, ListOf(str)))}),
)
# GET /servers/{id} (and PUT) only; GET /servers/detail does not show it (_server_detail_response_v273).
_SERVER_SHOW_ONLY = (((2, 71), {"server_groups": ListOf(UUID)}),)
# What PUT /servers/{id} answers before 2.75 (update_response ... update_response_v273); from 2.75, the full server.
_UPDATE_KEYS = frozenset(
    {
        "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created", "updated",
        "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "fault", "locked",
        "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason",
    }
)  # fmt: skip


def fault(admin: bool, code: int = 500) -> dict[str, Any]:
    """A server's fault; an internal error's details are for admins only (views/servers.py _get_fault)."""
    shape: dict[str, Any] = {"code": code, "created": TIME_Z, "message": str}
    if admin or code != 500:
        shape["details"] = str
    return shape


def server(version: Version, *, admin: bool, single: bool, status: str, with_fault: bool = False) -> dict[str, Any]:
    """One server of GET /servers/{id} (`single`) or /servers/detail, as `status` shows it."""
    shape = dict(_SERVER_2_1) | since(version, _SERVER_ALL)
    if admin:
        shape |= since(version, _SERVER_ADMIN)
    if single:
        shape |= since(version, _SERVER_SHOW_ONLY)
    if status in PROGRESS_STATUSES:
        shape["progress"] = int
    if with_fault and status in FAULT_STATUSES:
        shape["fault"] = fault(admin)
    return shape | {"status": status}


def server_update(version: Version, *, admin: bool, status: str) -> dict[str, Any]:
    shown = server(version, admin=admin, single=True, status=status)
    return shown if version >= (2, 75) else {key: s for key, s in shown.items() if key in _UPDATE_KEYS}


# servers/server-create-resp.json; adminPass because [api]enable_instance_password is on by default.
SERVER_CREATED = {
    "server": {
        "id": UUID,
        "links": SELF_AND_BOOKMARK,
        "OS-DCF:diskConfig": OneOf("AUTO", "MANUAL"),
        "security_groups": ListOf({"name": str}),
        "adminPass": str,
    }
}
# With return_reservation_id (os-multiple-create/multiple-create-post-resp.json; nova/utils.py generate_uid).
SERVERS_RESERVED = {"reservation_id": Pattern("a reservation id", r"r-[0-9a-z]{8}")}
SERVER_SUMMARY = {"id": UUID, "name": str, "links": SELF_AND_BOOKMARK}  # servers/servers-list-resp.json

# --- flavors: schemas/flavors.py (_flavor_basic, _flavor, _v255/_v261/_v275); flavors/*, flavor-manage/* --

_FLAVOR_SUMMARY = (
    ((2, 1), {"id": str, "name": str, "links": SELF_AND_BOOKMARK}),
    ((2, 55), {"description": nullable(str)}),
)
_FLAVOR_DETAIL = (
    (
        (2, 1),
        {
            "ram": int, "disk": int, "vcpus": int, "OS-FLV-EXT-DATA:ephemeral": int, "OS-FLV-DISABLED:disabled": bool,
            "os-flavor-access:is_public": bool, "rxtx_factor": float,
            "swap": OneOf(int, ""),  # "" for no swap (flavors/flavor-get-resp.json)
        },
    ),
    ((2, 61), {"extra_specs": MapOf(str)}),
    ((2, 75), {"swap": int}),  # flavors/v2.75/flavor-get-resp.json: 0, never ""
)  # fmt: skip


def flavor_summary(version: Version) -> dict[str, Any]:
    return since(version, _FLAVOR_SUMMARY)


def flavor(version: Version) -> dict[str, Any]:
    return flavor_summary(version) | since(version, _FLAVOR_DETAIL)


# --- keypairs: schemas/keypairs.py (create/show/index_response and _v22/_v235/_v292); os-keypairs/* -------

_KEYPAIR_TYPE = (((2, 2), {"type": OneOf("ssh", "x509")}),)


# A generated key comes back once: an ssh key as PEM, an x509 one as base64 PKCS#12 (nova/crypto.py).
_PRIVATE_KEYS = {
    "ssh": Pattern("a PEM private key", r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----\n.+"),
    "x509": Pattern("a base64 PKCS#12 bundle", r"[A-Za-z0-9+/]+={0,2}"),
}


def keypair_created(version: Version, *, generated: bool, kind: str = "ssh") -> dict[str, Any]:
    shape = {"name": str, "public_key": str, "fingerprint": FINGERPRINT, "user_id": str} | since(version, _KEYPAIR_TYPE)
    if generated and version < (2, 92):
        shape["private_key"] = _PRIVATE_KEYS[kind]
    return shape


def keypair_shown(version: Version) -> dict[str, Any]:
    """Nova shows its soft-delete columns but never fills them (keypairs-get-resp.json)."""
    return {
        "name": str, "public_key": str, "fingerprint": FINGERPRINT, "user_id": str, "created_at": TIME_US,
        "deleted": False, "deleted_at": None, "updated_at": None, "id": int,
    } | since(version, _KEYPAIR_TYPE)  # fmt: skip


def keypair_listed(version: Version) -> dict[str, Any]:
    return {"keypair": {"name": str, "public_key": str, "fingerprint": FINGERPRINT} | since(version, _KEYPAIR_TYPE)}


# --- os-hypervisors: schemas/hypervisors.py; os-hypervisors/[v2.28,v2.33,v2.53,v2.88]/* -----------------

_CAPACITY = {
    "vcpus": int, "vcpus_used": int, "memory_mb": int, "memory_mb_used": int, "local_gb": int, "local_gb_used": int,
    "free_ram_mb": nullable(int), "free_disk_gb": nullable(int), "current_workload": nullable(int),
    "running_vms": nullable(int), "disk_available_least": nullable(int),
}  # fmt: skip
HYPERVISOR_SERVERS = ListOf({"name": str, "uuid": UUID})
HYPERVISOR_STATISTICS = {"hypervisor_statistics": {"count": int} | _CAPACITY}


def _hypervisor_id(version: Version) -> Any:
    """Integers until 2.53, uuids from 2.53 (hypervisors and their services alike)."""
    return UUID if version >= (2, 53) else int


def hypervisor(version: Version) -> dict[str, Any]:
    return {
        "id": _hypervisor_id(version),
        "hypervisor_hostname": str,
        "state": OneOf("up", "down"),
        "status": OneOf("enabled", "disabled"),
    }


def hypervisor_detail(version: Version) -> dict[str, Any]:
    shape = hypervisor(version) | {
        "hypervisor_type": str,
        "hypervisor_version": OneOf(int, str),
        "host_ip": nullable(str),
        "service": {"host": str, "id": _hypervisor_id(version), "disabled_reason": nullable(str)},
    }
    if version >= (2, 88):
        return shape | {"uptime": nullable(str)}  # the capacity fields are gone, uptime came in
    return shape | _CAPACITY | {"cpu_info": dict if version >= (2, 28) else str}


# --- os-services: schemas/services.py; os-services/[v2.11,v2.53,v2.69]/* -------------------------------


def service(version: Version) -> dict[str, Any]:
    shape = {
        "id": _hypervisor_id(version),
        "binary": str,
        "host": str,
        "zone": str,
        "status": OneOf("enabled", "disabled"),
        "state": OneOf("up", "down"),
        "updated_at": nullable(TIME_US),
        "disabled_reason": nullable(str),
    }
    return shape | ({"forced_down": bool} if version >= (2, 11) else {})


# The answers to the action-style PUTs before 2.53 (update_response's two forms, service-*-put-resp.json).
SERVICE_STATUS_CHANGED = {"service": {"host": str, "binary": str, "status": OneOf("enabled", "disabled")}}
SERVICE_DISABLED_WITH_REASON = {"service": SERVICE_STATUS_CHANGED["service"] | {"disabled_reason": str}}
SERVICE_FORCED_DOWN = {"service": {"host": str, "binary": str, "forced_down": bool}}

# --- limits: schemas/limits.py (_absolute_quota_response and _v236/_v239/_v257); limits/* -------------

absolute_limit_keys = without(
    frozenset(
        {
            "maxImageMeta", "maxPersonality", "maxPersonalitySize", "maxSecurityGroups", "maxSecurityGroupRules",
            "maxServerMeta", "maxServerGroups", "maxServerGroupMembers", "maxTotalCores", "maxTotalFloatingIps",
            "maxTotalInstances", "maxTotalKeypairs", "maxTotalRAMSize", "totalCoresUsed", "totalFloatingIpsUsed",
            "totalInstancesUsed", "totalRAMUsed", "totalSecurityGroupsUsed", "totalServerGroupsUsed",
        }
    ),
    ((2, 36), frozenset({
        "maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps", "totalFloatingIpsUsed",
        "totalSecurityGroupsUsed",
    })),
    ((2, 39), frozenset({"maxImageMeta"})),
    ((2, 57), frozenset({"maxPersonality", "maxPersonalitySize"})),
)  # fmt: skip


def limits(version: Version) -> dict[str, Any]:
    return {"limits": {"absolute": dict.fromkeys(absolute_limit_keys(version), int), "rate": []}}


# --- os-quota-sets / os-quota-class-sets: schemas/quota_sets.py, quota_classes.py; their samples -------

_PROXY_QUOTAS = frozenset({"fixed_ips", "floating_ips", "security_groups", "security_group_rules"})
_FILE_QUOTAS = frozenset({"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"})
_GROUP_QUOTAS = frozenset({"server_groups", "server_group_members"})
_BASE_QUOTAS = frozenset({"cores", "instances", "ram", "key_pairs", "metadata_items"})
quota_keys = without(
    _BASE_QUOTAS | _PROXY_QUOTAS | _FILE_QUOTAS | _GROUP_QUOTAS, ((2, 36), _PROXY_QUOTAS), ((2, 57), _FILE_QUOTAS)
)


def quota_class_keys(version: Version) -> frozenset[str]:
    """Quota classes gained the server group quotas (and lost the proxies) at 2.50, not 2.36."""
    keys = _BASE_QUOTAS | _FILE_QUOTAS | (_PROXY_QUOTAS if version < (2, 50) else _GROUP_QUOTAS)
    return keys - _FILE_QUOTAS if version >= (2, 57) else keys


def quota_set(version: Version, *, with_id: bool = True) -> dict[str, Any]:
    """GET .../{project} and .../defaults carry the project as `id`; PUT's answer does not."""
    return dict.fromkeys(quota_keys(version), int) | ({"id": str} if with_id else {})


def quota_set_detail(version: Version) -> dict[str, Any]:
    return {key: {"in_use": int, "limit": int, "reserved": int} for key in quota_keys(version)} | {"id": str}


def quota_class_set(version: Version, *, with_id: bool = True) -> dict[str, Any]:
    return dict.fromkeys(quota_class_keys(version), int) | ({"id": str} if with_id else {})


# --- os-instance-actions: schemas/instance_actions.py; os-instance-actions/[v2.21...v2.84]/* ------------


def instance_action(version: Version) -> dict[str, Any]:
    shape = {
        "action": str,
        "instance_uuid": UUID,
        "request_id": REQUEST_ID,
        "user_id": nullable(str),
        "project_id": nullable(str),
        "start_time": TIME_US,
        "message": nullable(str),
    }
    return shape | ({"updated_at": nullable(TIME_US)} if version >= (2, 58) else {})


def instance_action_event(version: Version, *, admin: bool) -> dict[str, Any]:
    """Tracebacks (always), hosts (2.62) and details (2.84) are for admins; hostId (2.62) for everyone."""
    shape: dict[str, Any] = {
        "event": str,
        "start_time": TIME_US,
        "finish_time": nullable(TIME_US),
        "result": nullable(str),
    }
    if admin:
        shape["traceback"] = nullable(str)
    if version >= (2, 62):
        shape["hostId"] = HOST_ID
        if admin:
            shape["host"] = str
    if admin and version >= (2, 84):
        shape["details"] = nullable(str)
    return shape


def instance_action_shown(version: Version, *, admin: bool) -> dict[str, Any]:
    """Events are for admins before 2.51, for the server's project too from 2.51."""
    shape = instance_action(version)
    if admin or version >= (2, 51):
        shape["events"] = ListOf(instance_action_event(version, admin=admin))
    return shape


# --- os-aggregates: schemas/aggregates.py (_aggregate_response, _v241, create_response); os-aggregates/* -


def aggregate(version: Version, *, created: bool = False) -> dict[str, Any]:
    """POST's answer has no hosts or metadata yet; never deleted, so deleted/deleted_at stay false/null."""
    shape: dict[str, Any] = {
        "availability_zone": nullable(str),
        "created_at": TIME_US,
        "deleted": False,
        "deleted_at": None,
        "id": int,
        "name": str,
        "updated_at": nullable(TIME_US),
    }
    if not created:
        shape |= {"hosts": ListOf(str), "metadata": MapOf(str)}
    return shape | ({"uuid": UUID} if version >= (2, 41) else {})


# --- os-server-groups: schemas/server_groups.py (_server_group_response, _v213/_v215/_v264); samples -------


def server_group(version: Version) -> dict[str, Any]:
    policies = ("affinity", "anti-affinity") + (("soft-affinity", "soft-anti-affinity") if version >= (2, 15) else ())
    shape: dict[str, Any] = {"id": UUID, "name": str, "members": ListOf(UUID)}
    if version >= (2, 13):
        shape |= {"project_id": str, "user_id": str}
    if version >= (2, 64):
        return shape | {"policy": OneOf(*policies), "rules": OneOf({}, {"max_server_per_host": int})}
    return shape | {"policies": [OneOf(*policies)], "metadata": {}}


# --- os-availability-zone: schemas/availability_zone.py; os-availability-zone/* --------------------------

_ZONE = {"zoneName": str, "zoneState": {"available": bool}}
AVAILABILITY_ZONES = {"availabilityZoneInfo": ListOf(_ZONE | {"hosts": None})}
AVAILABILITY_ZONES_DETAIL = {
    "availabilityZoneInfo": ListOf(
        _ZONE | {"hosts": nullable(MapOf(MapOf({"available": bool, "active": bool, "updated_at": nullable(TIME_US)})))}
    )
}

# --- os-simple-tenant-usage: schemas/simple_tenant_usage.py; os-simple-tenant-usage/[v2.40/]* ----------

TENANT_USAGE = {
    "tenant_id": str,
    "total_local_gb_usage": NUMBER,
    "total_vcpus_usage": NUMBER,
    "total_memory_mb_usage": NUMBER,
    "total_hours": NUMBER,
    "start": TIME_US,
    "stop": TIME_US,
}
SERVER_USAGE = {
    "instance_id": UUID,
    "name": str,
    "hours": NUMBER,
    "memory_mb": int,
    "local_gb": int,
    "vcpus": int,
    "tenant_id": str,
    "flavor": str,
    "started_at": TIME_US,
    "ended_at": nullable(TIME_US),
    "state": OneOf(
        "active", "building", "error", "paused", "rescued", "resized", "shelved", "shelved_offloaded", "stopped",
        "suspended", "terminated",
    ),
    "uptime": int,
}  # fmt: skip
