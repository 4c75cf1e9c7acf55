"""The servers resource's reads: listings, one server, its metadata, tags and
instance actions, from the servers and instance_actions views.

A member never sees another project's server: every lookup here answers 404
for one, as for a server that does not exist.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

import falcon

from chronova import web
from domain.commands import RequestContext
from domain.errors import NotFound
from projections.views import ViewStore
from query_api import params, render
from query_api.queries import ActionFilter, InstanceActionQueries, ServerFilter, ServerQueries, Sort

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

Version = tuple[int, int]

# --- listing parameters, as Nova reads them --------------------------------------------------

# Every parameter Nova's query schema knows; from 2.75 any other is refused.
_KNOWN = frozenset(
    {
        "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id", "ramdisk_id",
        "hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node", "flavor", "reservation_id",
        "launched_at", "terminated_at", "availability_zone", "name", "display_name", "description",
        "display_description", "locked_by", "uuid", "root_device_name", "config_drive", "access_ip_v4",
        "access_ip_v6", "auto_disk_config", "progress", "sort_key", "sort_dir", "all_tenants", "soft_deleted",
        "deleted", "status", "changes-since", "ip", "ip6", "created_at", "limit", "marker", "tags", "tags-any",
        "not-tags", "not-tags-any", "changes-before", "locked",
    }
)  # fmt: skip
_JOINED_TABLES = frozenset(
    {"block_device_mapping", "services", "metadata", "system_metadata", "info_cache", "security_groups", "pci_devices"}
)
_PAGING = frozenset({"sort_key", "sort_dir", "limit", "marker"})
# What a member may filter by, from a microversion on; admins may use every filter.
_MEMBER_FILTERS_SINCE: dict[str, Version] = {
    **dict.fromkeys(("reservation_id", "name", "status", "image", "flavor", "ip", "changes-since"), (2, 1)),
    "all_tenants": (2, 1),
    "ip6": (2, 5),
    **dict.fromkeys(("tags", "tags-any", "not-tags", "not-tags-any"), (2, 26)),
    "changes-before": (2, 66),
    "locked": (2, 73),
    **dict.fromkeys(("availability_zone", "key_name", "power_state", "task_state", "vm_state", "user_id"), (2, 83)),
    "hostname": (2, 90),
}
# Parameters that exist only from a microversion on (before it, Nova ignores them).
_FILTERS_SINCE: dict[str, Version] = {
    **dict.fromkeys(("tags", "tags-any", "not-tags", "not-tags-any"), (2, 26)),
    "changes-before": (2, 66),
    "locked": (2, 73),
}
# Nova's status words and the vm_states that can show each one.
_STATUS_VM_STATES: dict[str, frozenset[str]] = {
    "ACTIVE": frozenset({"active"}),
    "BUILD": frozenset({"building"}),
    "SHUTOFF": frozenset({"stopped"}),
    "VERIFY_RESIZE": frozenset({"resized"}),
    "REVERT_RESIZE": frozenset({"resized"}),
    "PAUSED": frozenset({"paused"}),
    "SUSPENDED": frozenset({"suspended"}),
    "RESCUE": frozenset({"rescued"}),
    "ERROR": frozenset({"error"}),
    "DELETED": frozenset({"deleted"}),
    "SOFT_DELETED": frozenset({"soft-delete"}),
    "SHELVED": frozenset({"shelved"}),
    "SHELVED_OFFLOADED": frozenset({"shelved_offloaded"}),
    "REBOOT": frozenset({"active"}),
    "HARD_REBOOT": frozenset({"active"}),
    "PASSWORD": frozenset({"active"}),
    "REBUILD": frozenset({"active", "stopped", "error"}),
    "MIGRATING": frozenset({"active", "paused"}),
    "RESIZE": frozenset({"active", "stopped"}),
}
# Regular-expression filters (matched in Python) and exact ones (SQL), by parameter.
_PATTERNS = {
    "name": "name",
    "display_name": "name",
    "description": "description",
    "display_description": "description",
    "reservation_id": "reservation_id",
    "availability_zone": "availability_zone",
    "key_name": "key_name",
    "hostname": "hostname",
    "node": "host",
}
_EQUAL = {
    "host": "host",
    "flavor": "flavor_id",
    "image": "image_id",
    "image_ref": "image_id",
    "uuid": "id",
    "user_id": "user_id",
    "vm_state": "vm_state",
    "task_state": "task_state",
}
_SORT_KEYS = frozenset(
    {
        "access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone", "config_drive", "created_at",
        "display_description", "display_name", "host", "hostname", "image_ref", "instance_type_id", "kernel_id",
        "key_name", "launch_index", "launched_at", "locked_by", "node", "power_state", "progress", "project_id",
        "ramdisk_id", "root_device_name", "task_state", "terminated_at", "updated_at", "user_id", "uuid", "vm_state",
    }
)  # fmt: skip
# Sort keys Nova once took and now ignores; from 2.75 they are refused.
_IGNORED_SORT_KEYS = frozenset(
    {
        "architecture", "cell_name", "cleaned", "default_ephemeral_device", "default_swap_device", "deleted",
        "deleted_at", "disable_terminate", "ephemeral_gb", "ephemeral_key_uuid", "id", "key_data", "launched_on",
        "locked", "memory_mb", "os_type", "reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus",
        "vm_mode",
    }
)  # fmt: skip


class _NothingMatches(Exception):
    """A filter no server can pass (an unknown status before 2.38, an IP filter on servers without IPs)."""


class _Readable:
    """HEAD answers as GET does (Falcon sends no body for HEAD)."""

    def on_head(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        self.on_get(req, resp, **params)  # type: ignore[attr-defined]


def _forbidden(policy: str) -> falcon.HTTPForbidden:
    return falcon.HTTPForbidden(description=f"Policy doesn't allow {policy} to be performed.")


def timestamp(req: falcon.Request, name: str) -> str | None:
    """A date-time parameter (changes-since...) in the views' own time form; naive means UTC."""
    raw = params.last_value(req, name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        utc = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one beyond year 1..9999 once in UTC
        utc = None
    if utc is None or len(raw) <= 10:
        raise params.invalid(name, raw, f"'{raw}' is not a 'date-time'")
    return utc.isoformat(timespec="microseconds")


def _changes_window(req: falcon.Request, with_before: bool) -> tuple[str | None, str | None]:
    since = timestamp(req, "changes-since")
    before = timestamp(req, "changes-before") if with_before else None
    if since is not None and before is not None and before < since:
        raise falcon.HTTPBadRequest(
            description="The value of changes-since must be less than or equal to changes-before."
        )
    return since, before


class _ListingRequest:
    """One GET /servers[/detail] request's filters and sort, with Nova's rules for who may use which."""

    def __init__(self, req: falcon.Request, detail: bool) -> None:
        self._req = req
        self._caller: RequestContext = req.context.caller
        self._version: Version = req.context.api_version
        self._detail = detail
        if self._version >= (2, 75):
            params.only_known(req, _KNOWN | {name for name in req.params if name.startswith("_")})
        self.names = {name for name in req.params if self._usable(name)}
        if self._caller.is_admin:
            invalid = sorted(name for name in self.names if name in _JOINED_TABLES or name.startswith("_"))
            if invalid:
                raise falcon.HTTPBadRequest(description=f"Invalid filter field: {invalid[0]}.")

    def _usable(self, name: str) -> bool:
        """Filters a member may not use are dropped silently, as Nova does; so are ones too new."""
        if name in _FILTERS_SINCE and self._version < _FILTERS_SINCE[name]:
            return False
        if self._caller.is_admin or name in _PAGING:
            return True
        return name in _MEMBER_FILTERS_SINCE and self._version >= _MEMBER_FILTERS_SINCE[name]

    def value(self, name: str) -> str | None:
        return params.last_value(self._req, name) if name in self.names else None

    def server_filter(self) -> ServerFilter:
        if "ip" in self.names or "ip6" in self.names:
            raise _NothingMatches  # no server has an address yet
        since, before = _changes_window(self._req, with_before="changes-before" in self.names)
        deleted = self._deleted(changes=since is not None or before is not None)
        vm_states, statuses = self._statuses()
        if vm_states == {"deleted"}:
            if not self._caller.is_admin:
                raise falcon.HTTPForbidden(description="Only administrators may list deleted instances")
            deleted = True
        return ServerFilter(
            project_id=self._project(),
            deleted=deleted,
            equal=tuple((column, value) for name, column in _EQUAL.items() if (value := self.value(name)) is not None),
            vm_states=vm_states if statuses else None,
            statuses=statuses,
            changes_since=since,
            changes_before=before,
            tags=self._tags("tags"),
            tags_any=self._tags("tags-any"),
            not_tags=self._tags("not-tags"),
            not_tags_any=self._tags("not-tags-any"),
            locked=params.boolean(self._req, "locked", empty=False) if "locked" in self.names else None,
            patterns=tuple(
                (column, params.name_pattern(value))
                for name, column in _PATTERNS.items()
                if (value := self.value(name)) is not None
            ),
        )

    def _project(self) -> str | None:
        if not ("all_tenants" in self.names and params.boolean(self._req, "all_tenants", empty=True)):
            return self._caller.project_id  # without all_tenants, project_id and tenant_id are ignored
        if not self._caller.is_admin:
            raise _forbidden(f"os_compute_api:servers:{'detail' if self._detail else 'index'}:get_all_tenants")
        return self.value("project_id") or self.value("tenant_id")

    def _deleted(self, changes: bool) -> bool | None:
        """Non-deleted servers, unless an admin asks; changes-since/-before also show recently deleted ones."""
        raw = self.value("deleted")
        if raw is None:
            return None if changes else False
        return raw.lower() in web.TRUE_WORDS

    def _statuses(self) -> tuple[frozenset[str], frozenset[str]]:
        if "status" not in self.names:
            return frozenset(), frozenset()
        statuses = frozenset(s.upper() for s in params.all_values(self._req, "status"))
        vm_states = frozenset().union(*(_STATUS_VM_STATES.get(status, frozenset()) for status in statuses))
        if not vm_states:
            if self._version >= (2, 38):
                raise falcon.HTTPBadRequest(description="Invalid status value")
            raise _NothingMatches
        return vm_states, statuses

    def _tags(self, name: str) -> tuple[str, ...]:
        raw = self.value(name)
        return tuple(tag for tag in raw.split(",") if tag) if raw else ()

    def sort(self) -> Sort:
        """Nova's sort: created_at when no key is given, desc when no direction; ignored keys are dropped."""
        keys = [key.strip() for key in params.all_values(self._req, "sort_key")] if "sort_key" in self.names else []
        ways = [way.strip() for way in params.all_values(self._req, "sort_dir")] if "sort_dir" in self.names else []
        keys = keys or ["created_at"]
        ignored = _IGNORED_SORT_KEYS - {"locked"} if self._version >= (2, 73) else _IGNORED_SORT_KEYS
        valid = _SORT_KEYS | ({"locked"} if self._version >= (2, 73) else set())
        if self._version < (2, 75):
            valid |= ignored
        for key in keys:
            if key not in valid:
                raise params.invalid("sort_key", key, f"'{key}' is not one of the sort keys Nova knows")
        if any(way not in ("asc", "desc") for way in ways):
            raise falcon.HTTPBadRequest(
                description="Invalid input received: Unknown sort direction, must be 'desc' or 'asc'"
            )
        if len(ways) > len(keys):
            raise falcon.HTTPBadRequest(description="Invalid input received: Sort direction size exceeds sort key size")
        default_way = ways[0] if ways else "desc"
        chosen = [(key, ways[i] if i < len(ways) else default_way) for i, key in enumerate(keys) if key not in ignored]
        for key, _ in chosen:
            if key in ("host", "node") and not self._caller.is_admin:
                raise falcon.HTTPForbidden(description=f"Only administrators can sort servers by {key}")
        return Sort(keys=tuple(chosen))


class ServerListResource(_Readable):
    """GET /servers and /servers/detail: same filters and paging, two renderings."""

    def __init__(self, servers: ServerQueries, detail: bool, read_your_writes: ReadYourWrites) -> None:
        self._servers = servers
        self._detail = detail
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller: RequestContext = req.context.caller
        listing = _ListingRequest(req, self._detail)
        page = params.page(req)
        sort = listing.sort()
        self._read_your_writes.caught_up("servers")
        try:
            rows = self._servers.page(listing.server_filter(), page, sort)
        except _NothingMatches:
            rows = []
        version = req.context.api_version
        if self._detail:
            items = [render.server_detail(req, row, version, caller.is_admin) for row in rows]
        else:
            items = [render.server_summary(req, row) for row in rows]
        path = "servers/detail" if self._detail else "servers"
        resp.media = {"servers": items} | params.next_links(req, path, items, page, "servers_links")


# --- one server and what hangs off it -------------------------------------------------------------


class _ServerLookup:
    """Finds a server the caller may see, waiting for the view when it may be the caller's own new one."""

    def __init__(self, servers: ServerQueries, read_your_writes: ReadYourWrites) -> None:
        self._servers = servers
        self._read_your_writes = read_your_writes

    def visible(self, req: falcon.Request, server_id: str, *, deleted_too: bool = False) -> dict[str, Any]:
        caller: RequestContext = req.context.caller
        not_found = NotFound(f"Instance {server_id} could not be found.")
        try:
            canonical_id = str(UUID(server_id))
        except ValueError:
            raise not_found from None
        server = self._read_your_writes.find("servers", lambda: self._servers.get(canonical_id))
        if server is None or not (caller.is_admin or server["project_id"] == caller.project_id):
            raise not_found
        if server["vm_state"] == "deleted" and not deleted_too:
            raise not_found
        return server


class ServerResource(_Readable):
    def __init__(self, lookup: _ServerLookup) -> None:
        self._lookup = lookup

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        server = self._lookup.visible(req, server_id)
        body = render.server_detail(req, server, req.context.api_version, req.context.caller.is_admin, single=True)
        resp.media = {"server": body}


class ServerMetadataResource(_Readable):
    def __init__(self, lookup: _ServerLookup) -> None:
        self._lookup = lookup

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        resp.media = {"metadata": _metadata(self._lookup.visible(req, server_id))}


class ServerMetadataItemResource(_Readable):
    def __init__(self, lookup: _ServerLookup) -> None:
        self._lookup = lookup

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, key: str) -> None:
        metadata = _metadata(self._lookup.visible(req, server_id))
        if key not in metadata:
            raise NotFound("Metadata item was not found")
        resp.media = {"meta": {key: metadata[key]}}


def _metadata(server: dict[str, Any]) -> dict[str, str]:
    return json.loads(server["metadata"])


def require_tags_version(req: falcon.Request) -> None:
    """Server tags exist from 2.26; before it the URL is unknown, as in Nova."""
    if req.context.api_version < (2, 26):
        raise falcon.HTTPNotFound(description="The resource could not be found.")


class ServerTagsResource(_Readable):
    def __init__(self, lookup: _ServerLookup) -> None:
        self._lookup = lookup

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        require_tags_version(req)
        resp.media = {"tags": _tags(self._lookup.visible(req, server_id))}


class ServerTagResource(_Readable):
    def __init__(self, lookup: _ServerLookup) -> None:
        self._lookup = lookup

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, tag: str) -> None:
        require_tags_version(req)
        if tag not in _tags(self._lookup.visible(req, server_id)):
            raise NotFound(f"Server {server_id} has no tag '{tag}'")
        resp.status = falcon.HTTP_204


def _tags(server: dict[str, Any]) -> list[str]:
    return json.loads(server["tags"])


# --- os-instance-actions ----------------------------------------------------------------------------

_ACTION_PARAMS_SINCE: dict[str, Version] = {
    "limit": (2, 58),
    "marker": (2, 58),
    "changes-since": (2, 58),
    "changes-before": (2, 66),
}


class InstanceActionsResource(_Readable):
    """From 2.21 a deleted server's actions stay readable; from 2.58 they page and filter by time."""

    def __init__(self, lookup: _ServerLookup, actions: InstanceActionQueries) -> None:
        self._lookup = lookup
        self._actions = actions

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = req.context.api_version
        server = self._lookup.visible(req, server_id, deleted_too=version >= (2, 21))
        limit, marker, wanted = params.MAX_LIMIT, None, ActionFilter()
        if version >= (2, 58):
            params.only_known(req, frozenset(n for n, since in _ACTION_PARAMS_SINCE.items() if version >= since))
            page = params.page(req)
            since, before = _changes_window(req, with_before=version >= (2, 66))
            limit, marker, wanted = page.limit, page.marker, ActionFilter(changes_since=since, changes_before=before)
        rows = self._actions.page(server["id"], wanted, limit, marker) if limit else []
        body: dict[str, Any] = {"instanceActions": [render.instance_action(row, version) for row in rows]}
        if version >= (2, 58) and rows and len(rows) == limit:
            body["links"] = [{"rel": "next", "href": _next_href(req, server_id, rows[-1]["request_id"])}]
        resp.media = body


def _next_href(req: falcon.Request, server_id: str, marker: str) -> str:
    pairs = [(k, v) for k in req.params for v in params.all_values(req, k) if k != "marker"]
    path = f"servers/{server_id}/os-instance-actions"
    return f"{web.collection_href(req, path)}?{urlencode([*pairs, ('marker', marker)])}"


class InstanceActionResource(_Readable):
    """Events are for admins before 2.51, for the server's project too from 2.51 (tracebacks stay admin-only)."""

    def __init__(self, lookup: _ServerLookup, actions: InstanceActionQueries) -> None:
        self._lookup = lookup
        self._actions = actions

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str, request_id: str) -> None:
        version = req.context.api_version
        is_admin = req.context.caller.is_admin
        server = self._lookup.visible(req, server_id, deleted_too=version >= (2, 21))
        action = self._actions.get(server["id"], request_id)
        if action is None:
            raise NotFound(f"Action {request_id} not found")
        body = render.instance_action(action, version)
        if is_admin or version >= (2, 51):
            project_id = action["project_id"] or server["project_id"]
            body["events"] = [
                render.instance_action_event(event, project_id, version, is_admin)
                for event in self._actions.events(server["id"], request_id)
            ]
        resp.media = {"instanceAction": body}


def add_routes(app: falcon.App, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
    """The server routes the query app answers (the command app has the same paths for writes)."""
    servers = ServerQueries(views)
    lookup = _ServerLookup(servers, read_your_writes)
    actions = InstanceActionQueries(views)
    prefix = f"{web.API_PREFIX}/servers"
    app.add_route(prefix, ServerListResource(servers, detail=False, read_your_writes=read_your_writes))
    app.add_route(f"{prefix}/detail", ServerListResource(servers, detail=True, read_your_writes=read_your_writes))
    app.add_route(f"{prefix}/{{server_id}}", ServerResource(lookup))
    app.add_route(f"{prefix}/{{server_id}}/metadata", ServerMetadataResource(lookup))
    app.add_route(f"{prefix}/{{server_id}}/metadata/{{key}}", ServerMetadataItemResource(lookup))
    app.add_route(f"{prefix}/{{server_id}}/tags", ServerTagsResource(lookup))
    app.add_route(f"{prefix}/{{server_id}}/tags/{{tag}}", ServerTagResource(lookup))
    app.add_route(f"{prefix}/{{server_id}}/os-instance-actions", InstanceActionsResource(lookup, actions))
    app.add_route(f"{prefix}/{{server_id}}/os-instance-actions/{{request_id}}", InstanceActionResource(lookup, actions))
