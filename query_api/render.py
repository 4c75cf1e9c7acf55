"""Read-model rows -> Nova's JSON, at the request's microversion.

Clients parse these bodies by key, and which keys exist depends on the
microversion and on whether the caller is an admin; that is all decided here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import falcon

from chronova import web
from domain.aggregate import DEFAULT_ZONE
from domain.placement import DISK_GB, MEMORY_MB, VCPU
from domain.states import server_status

Version = tuple[int, int]
Row = Mapping[str, Any]


_UTC_SUFFIX = "+00:00"


def nova_time(iso: str | None) -> str | None:
    """Nova's resource timestamps: UTC, whole seconds, a Z."""
    if not iso:
        return None
    if iso.endswith(_UTC_SUFFIX):  # what the projections store: sliced, not parsed (listings format thousands)
        return f"{iso[:19]}Z"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_time(iso: str | None) -> str | None:
    """Nova's OS-SRV-USG timestamps: naive UTC with microseconds."""
    if not iso:
        return None
    if iso.endswith(_UTC_SUFFIX) and len(iso) == 32:  # YYYY-MM-DDTHH:MM:SS.ffffff+00:00
        return iso[:26]
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


@lru_cache(maxsize=4096)
def decoded(text: str) -> Any:
    """A JSON column's value. Rows repeat the same texts (one flavor, "{}", "[]") thousands of
    times in a listing, so each is decoded once; callers only read what they get."""
    return json.loads(text)


# --- flavors --------------------------------------------------------------------------


def flavor_summary(req: falcon.Request, flavor: Row, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": flavor["flavorid"],
        "name": flavor["name"],
        "links": web.links(req, "flavors", flavor["flavorid"]),
    }
    if version >= (2, 55):
        body["description"] = flavor["description"]
    return body


def flavor_detail(req: falcon.Request, flavor: Row, version: Version) -> dict[str, Any]:
    body = flavor_summary(req, flavor, version) | {
        "ram": flavor["ram"],
        "disk": flavor["disk"],
        "vcpus": flavor["vcpus"],
        # Before 2.75 Nova shows "no swap" as an empty string.
        "swap": flavor["swap"] if flavor["swap"] or version >= (2, 75) else "",
        "OS-FLV-EXT-DATA:ephemeral": flavor["ephemeral"],
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": bool(flavor["is_public"]),
        "rxtx_factor": float(flavor["rxtx_factor"]),
    }
    if version >= (2, 61):
        body["extra_specs"] = dict(flavor["extra_specs"])
    return body


# --- servers --------------------------------------------------------------------------

# Statuses whose servers show a `progress` (Nova's view), and those that may show a fault.
_PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
_FAULT_STATUSES = frozenset({"ERROR", "DELETED"})
# What PUT /servers/{id} answers with before 2.75 (from 2.75 it is the full server).
_UPDATE_KEYS = frozenset(
    {
        "accessIPv4", "accessIPv6", "addresses", "created", "fault", "flavor", "hostId", "id", "image", "links",
        "metadata", "name", "progress", "status", "tenant_id", "updated", "user_id", "OS-DCF:diskConfig", "locked",
        "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason",
    }
)  # fmt: skip


def server_summary(req: falcon.Request, server: Row) -> dict[str, Any]:
    return {"id": server["id"], "name": server["name"], "links": web.links(req, "servers", server["id"])}


def server_detail(
    req: falcon.Request, server: Row, version: Version, is_admin: bool, *, single: bool = False
) -> dict[str, Any]:
    """One server; `single` adds what Nova shows only on GET /servers/{id} (and PUT)."""
    status = server_status(server["vm_state"], server["task_state"])
    body: dict[str, Any] = {
        "id": server["id"],
        "name": server["name"],
        "status": status,
        "tenant_id": server["project_id"],
        "user_id": server["user_id"],
        "metadata": decoded(server["metadata"]),
        "hostId": host_id(server["project_id"], server["host"]),
        "image": _embedded_image(req, server, version),
        "flavor": _embedded_flavor(req, decoded(server["flavor"]), version),
        "created": nova_time(server["created_at"]),
        "updated": nova_time(server["updated_at"]),
        "addresses": {},
        "accessIPv4": server["access_ip_v4"] or "",
        "accessIPv6": server["access_ip_v6"] or "",
        "links": web.links(req, "servers", server["id"]),
        "key_name": server["key_name"],
        "config_drive": "True" if server["config_drive"] else "",
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": _availability_zone(server),
        "OS-EXT-STS:vm_state": server["vm_state"],
        "OS-EXT-STS:task_state": server["task_state"],
        "OS-EXT-STS:power_state": server["power_state"],
        "OS-SRV-USG:launched_at": usage_time(server["launched_at"]),
        "OS-SRV-USG:terminated_at": usage_time(server["terminated_at"]),
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    }
    if status in _PROGRESS_STATUSES:
        body["progress"] = 0
    if status in _FAULT_STATUSES and server["fault"]:
        body["fault"] = _fault(json.loads(server["fault"]), is_admin)
    if is_admin:
        body |= _extended_attributes(server, version)
    if version >= (2, 90):
        body["OS-EXT-SRV-ATTR:hostname"] = server["hostname"]
    body |= _versioned_server_fields(server, version, is_admin, single)
    return body


def server_update_view(req: falcon.Request, server: Row, version: Version, is_admin: bool) -> dict[str, Any]:
    """PUT /servers/{id}: the full server from 2.75, a shorter body before."""
    body = server_detail(req, server, version, is_admin, single=True)
    return body if version >= (2, 75) else {key: value for key, value in body.items() if key in _UPDATE_KEYS}


def _extended_attributes(server: Row, version: Version) -> dict[str, Any]:
    """Nova's OS-EXT-SRV-ATTR fields, for admins; 2.3 added the ones an EC2 API needed."""
    attributes: dict[str, Any] = {
        "OS-EXT-SRV-ATTR:host": server["host"],
        "OS-EXT-SRV-ATTR:hypervisor_hostname": server["host"],
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{server['id']}",
    }
    if version >= (2, 3):
        attributes |= {
            "OS-EXT-SRV-ATTR:hostname": server["hostname"],
            "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:launch_index": server["launch_index"],
            "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:reservation_id": server["reservation_id"],
            "OS-EXT-SRV-ATTR:root_device_name": None,
            "OS-EXT-SRV-ATTR:user_data": server["user_data"],
        }
    return attributes


def _versioned_server_fields(server: Row, version: Version, is_admin: bool, single: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if version >= (2, 9):
        fields["locked"] = server["locked_by"] is not None
    if version >= (2, 16) and is_admin:
        fields["host_status"] = _host_status(server)
    if version >= (2, 19):
        fields["description"] = server["description"]
    if version >= (2, 26):
        fields["tags"] = decoded(server["tags"])
    if version >= (2, 63):
        certificates = server["trusted_image_certificates"]
        fields["trusted_image_certificates"] = decoded(certificates) if certificates is not None else None
    if version >= (2, 71) and single:
        fields["server_groups"] = _server_groups(decoded(server["scheduler_hints"]))
    if version >= (2, 73):
        fields["locked_reason"] = server["locked_reason"]
    if version >= (2, 96):
        fields["pinned_availability_zone"] = server["availability_zone"]
    if version >= (2, 100):
        fields["scheduler_hints"] = decoded(server["scheduler_hints"])
    return fields


def _availability_zone(server: Row) -> str:
    """Nova's: once a server has a host, that host's zone (the default zone when it is in none);
    before, the zone the request asked for, or "" when it asked for none."""
    if server["host"]:
        return server.get("host_zone") or DEFAULT_ZONE
    return server["availability_zone"] or ""


def host_id(project_id: str, host: str | None) -> str:
    """Nova's opaque per-project host token: servers on one host share it, hosts stay hidden."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


def _embedded_image(req: falcon.Request, server: Row, version: Version) -> dict[str, Any]:
    image: dict[str, Any] = {
        "id": server["image_id"],
        "links": [{"rel": "bookmark", "href": web.bookmark_href(req, "images", server["image_id"])}],
    }
    if version >= (2, 98):
        image["properties"] = decoded(server["image_properties"])
    return image


def _embedded_flavor(req: falcon.Request, flavor: Row, version: Version) -> dict[str, Any]:
    if version < (2, 47):
        return {
            "id": flavor["id"],
            "links": [{"rel": "bookmark", "href": web.bookmark_href(req, "flavors", flavor["id"])}],
        }
    return {
        "vcpus": flavor["vcpus"],
        "ram": flavor["ram"],
        "disk": flavor["disk"],
        "ephemeral": flavor["ephemeral"],
        "swap": flavor["swap"],
        "original_name": flavor["name"],
        "extra_specs": flavor.get("extra_specs", {}),
    }


def _server_groups(scheduler_hints: Row) -> list[str]:
    """The group a server was booted into (its `group` hint; Nova allows one)."""
    group = scheduler_hints.get("group")
    if group is None:
        return []
    return [group] if isinstance(group, str) else list(group)[:1]


def _fault(fault: Row, is_admin: bool) -> dict[str, Any]:
    """Details of an internal error (code 500) are for admins only, as in Nova."""
    body = {"code": fault["code"], "created": nova_time(fault["created"]), "message": fault["message"]}
    if fault["details"] and (is_admin or fault["code"] != 500):
        body["details"] = fault["details"]
    return body


def _host_status(server: Row) -> str:
    if not server["host"]:
        return ""
    if server["host_state"] is None:
        return "UNKNOWN"
    if server["host_service_status"] != "enabled":
        return "MAINTENANCE"
    return "UP" if server["host_state"] == "up" else "DOWN"


# --- instance actions -------------------------------------------------------------------


def instance_action(action: Row, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action["action"],
        "instance_uuid": action["server_id"],
        "request_id": action["request_id"],
        "user_id": action["user_id"],
        "project_id": action["project_id"],
        "start_time": usage_time(action["start_time"]),
        "message": action["message"],
    }
    if version >= (2, 58):
        body["updated_at"] = usage_time(action["updated_at"])
    return body


def instance_action_event(event: Row, project_id: str, version: Version, is_admin: bool) -> dict[str, Any]:
    """Admins see tracebacks (always), hosts (2.62) and details (2.84); everyone sees hostId from 2.62."""
    body: dict[str, Any] = {
        "event": event["event"],
        "start_time": usage_time(event["start_time"]),
        "finish_time": usage_time(event["finish_time"]),
        "result": event["result"],
    }
    if is_admin:
        body["traceback"] = event["traceback"]
    if is_admin and version >= (2, 62):
        body["host"] = event["host"] or ""
    if version >= (2, 62):
        body["hostId"] = host_id(project_id, event["host"])
    if is_admin and version >= (2, 84):
        body["details"] = event["details"]
    return body


# --- hypervisors ----------------------------------------------------------------------


def hypervisor_summary(hypervisor: Row, version: Version) -> dict[str, Any]:
    """Integer ids before 2.53 (the registration's notification id, stable and never reused), uuids after."""
    return {
        "id": hypervisor["id"] if version >= (2, 53) else hypervisor["service_number"],
        "hypervisor_hostname": hypervisor["hostname"],
        "state": hypervisor["state"],
        "status": hypervisor["status"],
    }


def hypervisor_detail(hypervisor: Row, version: Version) -> dict[str, Any]:
    info = json.loads(hypervisor["hypervisor"])
    service_id = hypervisor["service_id"] if version >= (2, 53) else hypervisor["service_number"]
    body = hypervisor_summary(hypervisor, version) | {
        "hypervisor_type": info.get("type", ""),
        "hypervisor_version": info.get("version", 0),
        "host_ip": info.get("host_ip"),
        "service": {
            "host": hypervisor["hostname"],
            "id": service_id,
            "disabled_reason": hypervisor["disabled_reason"],
        },
    }
    if version >= (2, 88):
        body["uptime"] = None  # agents do not report it; Nova too answers null when the driver cannot tell
        return body
    return body | _hypervisor_usage(hypervisor, info.get("cpu_info", {}), version)


def hypervisor_servers(servers: list[Row]) -> list[dict[str, Any]]:
    return [{"name": server["name"], "uuid": server["id"]} for server in servers]


def hypervisor_statistics(hypervisors: list[Row]) -> dict[str, int]:
    """Sums over the enabled compute services, as Nova's statistics (gone from 2.88) did."""
    enabled = [_capacity(hypervisor) for hypervisor in hypervisors if hypervisor["status"] == "enabled"]
    return {"count": len(enabled)} | {key: sum(capacity[key] for capacity in enabled) for key in _CAPACITY_KEYS}


def _json_object(text: str) -> Any:
    """An agent's cpu_info string; agents are untrusted, so a garbled one shows as {}."""
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _hypervisor_usage(hypervisor: Row, cpu_info: Any, version: Version) -> dict[str, Any]:
    """The capacity fields Nova dropped in 2.88; cpu_info is a JSON string before 2.28."""
    if version < (2, 28):
        cpu_info = cpu_info if isinstance(cpu_info, str) else json.dumps(cpu_info)
    elif isinstance(cpu_info, str):
        cpu_info = _json_object(cpu_info)
    return _capacity(hypervisor) | {"cpu_info": cpu_info}


_CAPACITY_KEYS = (
    "vcpus",
    "vcpus_used",
    "memory_mb",
    "memory_mb_used",
    "local_gb",
    "local_gb_used",
    "free_ram_mb",
    "free_disk_gb",
    "running_vms",
    "current_workload",
    "disk_available_least",
)


def _capacity(hypervisor: Row) -> dict[str, int]:
    """Totals are the inventories' totals."""
    inventories = json.loads(hypervisor["inventories"])

    def total(resource_class: str) -> int:
        return int(inventories.get(resource_class, {}).get("total", 0))

    def reserved(resource_class: str) -> int:
        return int(inventories.get(resource_class, {}).get("reserved", 0))

    # Like Nova's compute nodes, memory and disk in use include what the host reserves.
    memory_used = hypervisor["memory_mb_used"] + reserved(MEMORY_MB)
    disk_used = hypervisor["local_gb_used"] + reserved(DISK_GB)
    return {
        "vcpus": total(VCPU),
        "vcpus_used": hypervisor["vcpus_used"],
        "memory_mb": total(MEMORY_MB),
        "memory_mb_used": memory_used,
        "local_gb": total(DISK_GB),
        "local_gb_used": disk_used,
        "free_ram_mb": total(MEMORY_MB) - memory_used,
        "free_disk_gb": total(DISK_GB) - disk_used,
        "running_vms": hypervisor["running_vms"],
        "current_workload": 0,
        "disk_available_least": total(DISK_GB) - disk_used,
    }
