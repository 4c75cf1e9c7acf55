"""GET os-quota-sets (+ /detail, /defaults), os-quota-class-sets and /limits,
from the quota views, shaped per microversion.

Which resources a response names changes with the microversion: 2.36 drops
the retired network ones from quota sets and limits, 2.50 does the same for
quota classes (and shows their server group ones), 2.57 drops personality
files everywhere. The same lists say which keys an update may carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import falcon

from chronova import web
from domain.quota import (
    INJECTED_FILE_RESOURCES,
    NETWORK_RESOURCES,
    RESOURCES,
    SERVER_GROUP_RESOURCES,
)
from projections.quotas import class_limits, default_limits, project_limits, project_usage
from projections.views import ViewStore
from query_api.keypairs import known_params_only

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

Version = tuple[int, int]
# Limit names in GET /limits, per quota resource.
_ABSOLUTE = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
_USED = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


def _without(dropped: frozenset[str]) -> tuple[str, ...]:
    return tuple(resource for resource in RESOURCES if resource not in dropped)


def project_resources(version: Version) -> tuple[str, ...]:
    """What os-quota-sets shows and accepts at `version`."""
    if version >= (2, 57):
        return _without(NETWORK_RESOURCES | INJECTED_FILE_RESOURCES)
    if version >= (2, 36):
        return _without(NETWORK_RESOURCES)
    return RESOURCES


def class_settable(version: Version) -> tuple[str, ...]:
    """What os-quota-class-sets accepts at `version`."""
    if version >= (2, 57):
        return _without(NETWORK_RESOURCES | INJECTED_FILE_RESOURCES)
    if version >= (2, 50):
        return _without(NETWORK_RESOURCES)
    return RESOURCES


def class_resources(version: Version) -> tuple[str, ...]:
    """What os-quota-class-sets shows: before 2.50, not the server group resources."""
    settable = class_settable(version)
    return settable if version >= (2, 50) else tuple(r for r in settable if r not in SERVER_GROUP_RESOURCES)


def shown(values: Mapping[str, Any], resources: tuple[str, ...]) -> dict[str, Any]:
    return {resource: values[resource] for resource in resources}


def _limits_resources(version: Version) -> frozenset[str]:
    dropped = {"floating_ips", "security_groups", "security_group_rules"} if version >= (2, 36) else set()
    if version >= (2, 57):
        dropped |= {"injected_files", "injected_file_content_bytes"}
    return frozenset(set(RESOURCES) - dropped)


def absolute_limits(limits: Mapping[str, int], usage: Mapping[str, int], version: Version) -> dict[str, int]:
    """GET /limits' `absolute`: each maxX from its quota, each totalXUsed from usage."""
    resources = _limits_resources(version)
    body = {
        name: limits[resource]
        for resource, names in _ABSOLUTE.items()
        if resource in resources
        for name in names
        if not (name == "maxImageMeta" and version >= (2, 39))
    }
    return body | {name: usage[resource] for name, resource in _USED.items() if resource in resources}


# --- resources ----------------------------------------------------------------------------


def _readable_project(req: falcon.Request, project_id: str, action: str) -> None:
    """Members read their own project's quota only; admins any."""
    caller = req.context.caller
    if project_id != caller.project_id:
        web.require_admin(req, f"os_compute_api:os-quota-sets:{action}")


class QuotaSetResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        """`?user_id=` shows the same: per-user quotas are never set, so a user's are the project's."""
        self._read_your_writes.caught_up("quotas")
        _readable_project(req, project_id, "show")
        known_params_only(req, frozenset({"user_id"}))
        limits = project_limits(self._views, project_id)
        resp.media = {"quota_set": {"id": project_id} | shown(limits, project_resources(req.context.api_version))}

    on_head = on_get


class QuotaSetDetailResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        self._read_your_writes.caught_up("quotas")
        _readable_project(req, project_id, "detail")
        known_params_only(req, frozenset({"user_id"}))
        limits = project_limits(self._views, project_id)
        usage = project_usage(self._views, project_id)
        detail = {
            resource: {"in_use": usage[resource], "limit": limits[resource], "reserved": 0}
            for resource in project_resources(req.context.api_version)
        }
        resp.media = {"quota_set": {"id": project_id} | detail}

    on_head = on_get


class QuotaSetDefaultsResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        self._read_your_writes.caught_up("quotas")
        defaults = default_limits(self._views)
        resp.media = {"quota_set": {"id": project_id} | shown(defaults, project_resources(req.context.api_version))}

    on_head = on_get


class QuotaClassSetResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._read_your_writes.caught_up("quotas")
        web.require_admin(req, "os_compute_api:os-quota-class-sets:show")
        known_params_only(req, frozenset(), since=(2, 102))
        limits = class_limits(self._views, name)
        resp.media = {"quota_class_set": {"id": name} | shown(limits, class_resources(req.context.api_version))}

    on_head = on_get


class LimitsResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """An admin may ask for another project's limits with `?tenant_id=`."""
        self._read_your_writes.caught_up("quotas")
        known_params_only(req, frozenset({"tenant_id"}))
        project_id = req.context.caller.project_id
        if "tenant_id" in req.params:
            web.require_admin(req, "os_compute_api:limits:other_project")
            project_id = (req.get_param_as_list("tenant_id") or [project_id])[-1]
        limits = project_limits(self._views, project_id)
        usage = project_usage(self._views, project_id)
        absolute = absolute_limits(limits, usage, req.context.api_version)
        resp.media = {"limits": {"absolute": absolute, "rate": []}}

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
    """Every quota read waits (bounded) for the quota views: a client that just changed
    a limit or made a server reads the change back, as Nova's database answers do."""
    prefix = web.API_PREFIX
    app.add_route(f"{prefix}/os-quota-sets/{{project_id}}", QuotaSetResource(views, read_your_writes))
    app.add_route(f"{prefix}/os-quota-sets/{{project_id}}/detail", QuotaSetDetailResource(views, read_your_writes))
    app.add_route(f"{prefix}/os-quota-sets/{{project_id}}/defaults", QuotaSetDefaultsResource(views, read_your_writes))
    app.add_route(f"{prefix}/os-quota-class-sets/{{name}}", QuotaClassSetResource(views, read_your_writes))
    app.add_route(f"{prefix}/limits", LimitsResource(views, read_your_writes))
