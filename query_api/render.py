"""Read-model rows -> Nova's JSON, at the request's microversion.

Clients parse these bodies by key, and which keys exist depends on the
microversion and on whether the caller is an admin; that is all decided here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import falcon

from chronova import web
from domain.placement import DISK_GB, MEMORY_MB, VCPU
from domain.states import server_status

Version = tuple[int, int]
Row = Mapping[str, Any]
SERVICE_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/compute-service")


def nova_time(iso: str | None) -> str | None:
    """Nova's resource timestamps: UTC, whole seconds, a Z."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if iso else None


def usage_time(iso: str | None) -> str | None:
    """Nova's OS-SRV-USG timestamps: naive UTC with microseconds."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") if iso else None


def service_id(hypervisor_id: str) -> str:
    """The nova-compute service on a host gets its own stable uuid, derived from the host's."""
    return str(uuid5(SERVICE_NAMESPACE, str(UUID(hypervisor_id))))


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


def server_summary(req: falcon.Request, server: Row) -> dict[str, Any]:
    return {"id": server["id"], "name": server["name"], "links": web.links(req, "servers", server["id"])}


def server_detail(
    req: falcon.Request, server: Row, version: Version, is_admin: bool, *, single: bool = False
) -> dict[str, Any]:
    """One server; `single` adds what Nova shows only on GET /servers/{id}."""
    flavor = json.loads(server["flavor"])
    body: dict[str, Any] = {
        "id": server["id"],
        "name": server["name"],
        "status": server_status(server["vm_state"], server["task_state"]),
        "tenant_id": server["project_id"],
        "user_id": server["user_id"],
        "metadata": json.loads(server["metadata"]),
        "hostId": _host_id(server["project_id"], server["host"]),
        "image": {
            "id": server["image_id"],
            "links": [{"rel": "bookmark", "href": web.bookmark_href(req, "images", server["image_id"])}],
        },
        "flavor": _embedded_flavor(req, flavor, version),
        "created": nova_time(server["created_at"]),
        "updated": nova_time(server["updated_at"]),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": web.links(req, "servers", server["id"]),
        "key_name": server["key_name"],
        "config_drive": "",
        "progress": 0,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": server["availability_zone"] or "nova",
        "OS-EXT-STS:vm_state": server["vm_state"],
        "OS-EXT-STS:task_state": server["task_state"],
        "OS-EXT-STS:power_state": server["power_state"],
        "OS-SRV-USG:launched_at": usage_time(server["launched_at"]),
        "OS-SRV-USG:terminated_at": usage_time(server["terminated_at"]),
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    }
    if server["vm_state"] == "error" and server["fault"]:
        body["fault"] = _fault(json.loads(server["fault"]), is_admin)
    if is_admin:
        body |= {
            "OS-EXT-SRV-ATTR:host": server["host"],
            "OS-EXT-SRV-ATTR:hypervisor_hostname": server["host"],
            "OS-EXT-SRV-ATTR:instance_name": f"instance-{server['id']}",
        }
    if version >= (2, 90) or (is_admin and version >= (2, 3)):
        body["OS-EXT-SRV-ATTR:hostname"] = _hostname(server["name"])
    body |= _versioned_server_fields(server, version, is_admin, single)
    return body


def _versioned_server_fields(server: Row, version: Version, is_admin: bool, single: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if version >= (2, 9):
        fields["locked"] = False
    if version >= (2, 16) and is_admin:
        fields["host_status"] = _host_status(server)
    if version >= (2, 19):
        fields["description"] = server["description"]
    if version >= (2, 26):
        fields["tags"] = []
    if version >= (2, 63):
        fields["trusted_image_certificates"] = None
    if version >= (2, 71) and single:
        fields["server_groups"] = []
    if version >= (2, 73):
        fields["locked_reason"] = None
    if version >= (2, 96):
        fields["pinned_availability_zone"] = server["availability_zone"]
    if version >= (2, 100):
        fields["scheduler_hints"] = {}
    return fields


def _host_id(project_id: str, host: str | None) -> str:
    """Nova's opaque per-project host token: servers on one host share it, hosts stay hidden."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


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


def _fault(fault: Row, is_admin: bool) -> dict[str, Any]:
    body = {"code": fault["code"], "created": nova_time(fault["created"]), "message": fault["message"]}
    if is_admin:
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


def _hostname(name: str) -> str:
    """A DNS label from a display name, the way Nova sanitizes one."""
    label = re.sub(r"[^a-z0-9.-]", "", re.sub(r"[ _]", "-", name.lower())).strip(".-")[:63]
    return label or "server"


# --- hypervisors ----------------------------------------------------------------------


def hypervisor_detail(hypervisor: Row, version: Version) -> dict[str, Any]:
    info = json.loads(hypervisor["hypervisor"])
    body: dict[str, Any] = {
        "id": hypervisor["id"],
        "hypervisor_hostname": hypervisor["hostname"],
        "hypervisor_type": info.get("type", ""),
        "hypervisor_version": info.get("version", 0),
        "host_ip": info.get("host_ip"),
        "state": hypervisor["state"],
        "status": hypervisor["status"],
        "service": {"host": hypervisor["hostname"], "id": service_id(hypervisor["id"]), "disabled_reason": None},
    }
    if version >= (2, 88):
        body["uptime"] = None
        return body
    return body | _hypervisor_usage(hypervisor, info.get("cpu_info", {}), version)


def _json_object(text: str) -> Any:
    """An agent's cpu_info string; agents are untrusted, so a garbled one shows as {}."""
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _hypervisor_usage(hypervisor: Row, cpu_info: Any, version: Version) -> dict[str, Any]:
    """The capacity fields Nova dropped in 2.88; totals are the inventories' totals."""
    inventories = json.loads(hypervisor["inventories"])

    def total(resource_class: str) -> int:
        return int(inventories.get(resource_class, {}).get("total", 0))

    def reserved(resource_class: str) -> int:
        return int(inventories.get(resource_class, {}).get("reserved", 0))

    # Like Nova's compute nodes, memory and disk in use include what the host reserves.
    memory_used = hypervisor["memory_mb_used"] + reserved(MEMORY_MB)
    disk_used = hypervisor["local_gb_used"] + reserved(DISK_GB)
    if version < (2, 28):
        cpu_info = cpu_info if isinstance(cpu_info, str) else json.dumps(cpu_info)
    elif isinstance(cpu_info, str):
        cpu_info = _json_object(cpu_info)
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
        "cpu_info": cpu_info,
    }
