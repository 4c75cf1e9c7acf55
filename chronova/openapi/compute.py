"""The compute API's routes (/v2.1), as the command and query apps register them."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from chronova import web
from chronova.openapi.operations import PAGING, Op, Query, q_boolean, q_integer, q_string, readable
from chronova.openapi.schemas import _HOST, JsonSchema, derived, envelope, one_of_versions, schema_of

# --- the compute API -----------------------------------------------------------------------

P = web.API_PREFIX
_SCHEMAS = "command_api.schemas"


def _server_create() -> JsonSchema:
    hints = derived(_SCHEMAS, "_SCHEDULER_HINTS_SCHEMA")
    beside = {"os:scheduler_hints": hints, "OS-SCH-HNT:scheduler_hints": hints}
    return one_of_versions(
        envelope("server", derived(_SCHEMAS, "_SERVER_V294"), **beside),
        envelope("server", derived(_SCHEMAS, "_SERVER"), **beside),
    )


def _server_update() -> JsonSchema:
    return one_of_versions(
        *(envelope("server", derived(_SCHEMAS, name)) for name in ("_SERVER_UPDATE_V294", "_SERVER_UPDATE"))
    )


def _server_action() -> JsonSchema:
    """One key names the action (command_api/server_actions.py); Nova ignores the value of most.
    `lock` takes a reason from 2.73 (before it, any value)."""
    module = "command_api.server_actions"
    lock = {**derived(module, "_LOCK_V273"), "nullable": True}
    any_value = ("os-stop", "os-start", "pause", "unpause", "suspend", "resume", "unlock")
    return one_of_versions(
        envelope("reboot", derived(module, "_REBOOT")),
        *(envelope(name, {}) for name in any_value),
        envelope("lock", lock),
        envelope("os-resetState", derived(module, "_RESET_STATE")),
        envelope("os-getConsoleOutput", derived(module, "_CONSOLE_OUTPUT")),
        *_lifecycle_actions(),
        *_move_actions(),
    )


def _move_actions() -> tuple[JsonSchema, ...]:
    """command_api/move_actions.py: resize an object, migrate null or (2.56+) a host, os-migrateLive and
    evacuate an object per microversion; confirmResize and revertResize any value."""
    module = "command_api.move_actions"
    return (
        envelope("resize", derived(module, "_ResizeSchema")),
        envelope("migrate", {**derived(module, "_MigrateSchemaV256"), "nullable": True}),
        *(
            envelope("os-migrateLive", derived(module, name))
            for name in ("_LiveMigrateSchemaV225", "_LiveMigrateSchemaV230", "_LiveMigrateSchema")
        ),
        *(
            envelope("evacuate", derived(module, name))
            for name in ("_EvacuateSchemaV214", "_EvacuateSchemaV229", "_EvacuateSchema")
        ),
        envelope("confirmResize", {}),
        envelope("revertResize", {}),
    )


def _lifecycle_actions() -> tuple[JsonSchema, ...]:
    """command_api/lifecycle_actions.py: rebuild (personality before 2.57), rescue and unshelve take null or
    an object, createImage and changePassword an object; the others any value."""
    module = "command_api.lifecycle_actions"
    any_value = ("shelve", "shelveOffload", "unrescue", "restore", "forceDelete")
    return (
        envelope("rebuild", derived(module, "_REBUILD")),
        envelope("rebuild", derived(module, "_REBUILD_V256")),
        envelope("rescue", {**derived(module, "_RESCUE"), "nullable": True}),
        envelope("unshelve", {**derived(module, "_UNSHELVE"), "nullable": True}),
        envelope("createImage", derived(module, "_CREATE_IMAGE")),
        envelope("changePassword", derived(module, "_CHANGE_PASSWORD")),
        *(envelope(name, {}) for name in any_value),
    )


def _extra_specs() -> JsonSchema:
    """Extra specs are validated by hand (command_api/flavors.py): keys of Nova's metadata alphabet,
    values text or numbers of at most 255 characters."""
    return {
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "number"}]},
    }


def _flavor_action() -> JsonSchema:
    tenant = derived("command_api.flavors", "_TENANT")
    return one_of_versions(*(envelope(action, tenant) for action in ("addTenantAccess", "removeTenantAccess")))


def _aggregate_action() -> JsonSchema:
    module = "command_api.host_aggregates"
    host = derived(module, "_HOST_ACTION")
    return one_of_versions(
        envelope("add_host", host),
        envelope("remove_host", host),
        envelope("set_metadata", derived(module, "_METADATA")),
    )


def _keypair_create() -> JsonSchema:
    module = "command_api.keypairs"
    return one_of_versions(
        *(envelope("keypair", derived(module, name)) for name in ("_KeypairSchemaV292", "_KeypairSchema"))
    )


def _quota_set(root: str, resources: str, with_force: bool) -> Callable[[], JsonSchema]:
    """The quota keys an update may carry at the newest microversion (query_api/quotas.py decides)."""

    def body() -> JsonSchema:
        keys = getattr(importlib.import_module("query_api.quotas"), resources)(web.MAX_VERSION)
        limits = importlib.import_module("command_api.quotas")._limits_schema(keys, with_force=with_force)
        return envelope(root, schema_of(limits))

    return body


def _server_group_create() -> JsonSchema:
    module = "command_api.server_groups"
    names = ("_GroupSchemaV264", "_GroupSchemaV215", "_GroupSchema")
    return one_of_versions(*(envelope("server_group", derived(module, name)) for name in names))


def _service_update() -> JsonSchema:
    """From 2.53 a status change by uuid; before it an action path with the host and binary in the body."""
    module = "command_api.services"
    return one_of_versions(derived(module, "_UPDATE"), derived(module, "_LEGACY_V211"))


_DATE_TIME: JsonSchema = {"type": "string", "format": "date-time"}
_SERVER_FILTER_TYPES: dict[str, JsonSchema] = {
    **{name: {"type": "integer", "minimum": 0} for name in ("limit", "launch_index", "power_state", "progress")},
    **{
        name: {"type": "boolean"}
        for name in ("all_tenants", "deleted", "soft_deleted", "locked", "config_drive", "auto_disk_config")
    },
    **dict.fromkeys(("changes-since", "changes-before", "launched_at", "terminated_at", "created_at"), _DATE_TIME),
    "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
}


def _server_list() -> tuple[Query, ...]:
    """Every filter the listing knows (query_api/servers.py), typed; the rest are text."""
    servers = importlib.import_module("query_api.servers")
    sort_keys = {"type": "string", "enum": sorted(servers._SORT_KEYS | servers._IGNORED_SORT_KEYS | {"locked"})}
    types = _SERVER_FILTER_TYPES | {"sort_key": sort_keys}
    return tuple(Query(name, types.get(name, {"type": "string"})) for name in sorted(servers._KNOWN))


def _instance_actions() -> tuple[Query, ...]:
    names = importlib.import_module("query_api.servers")._ACTION_PARAMS_SINCE
    types = {"limit": {"type": "integer", "minimum": 0}, "changes-since": _DATE_TIME, "changes-before": _DATE_TIME}
    return tuple(Query(name, types.get(name, {"type": "string"}), "2.58+") for name in names)


def _flavor_list() -> tuple[Query, ...]:
    flavors = importlib.import_module("query_api.flavors")
    return (
        *PAGING,
        Query("is_public", {"type": "string", "enum": ["true", "false", "none"]}, "Admins: public, private or all."),
        q_integer("minRam", "Flavors with at least this much RAM (MiB)."),
        q_integer("minDisk", "Flavors with at least this much disk (GiB)."),
        Query("sort_key", {"type": "string", "enum": sorted(flavors.SORT_KEYS)}),
        Query("sort_dir", {"type": "string", "enum": list(flavors.SORT_DIRS)}),
    )


_WITH_SERVERS = q_boolean("with_servers", "2.53+: each hypervisor's servers too.")
_HYPERVISOR_LIST = (
    *PAGING,
    q_string("hypervisor_hostname_pattern", "2.53+: hypervisors whose hostname contains this.", pattern=_HOST),
    _WITH_SERVERS,
)
_USAGE_WINDOW = (
    q_string("start", "Start of the period, e.g. 2012-10-08T20:10:44.587336."),
    q_string("end", "End of the period, same format."),
    *PAGING,
)
_USER = (q_string("user_id", "2.10+: another user's (admins)."),)
_ADMIN = (400, 403)
_WRITE = (400, 403, 404, 409)

COMPUTE: dict[str, dict[str, Op]] = {
    "/": readable("List API versions", public=True, errors=()),
    P: readable("Show the v2.1 version and its microversion range", public=True, errors=()),
    "/openapi.json": readable("This document", public=True, errors=()),
    # servers
    f"{P}/servers": {
        **readable("List servers", query=_server_list),
        "post": Op("Create a server", 202, body=_server_create, errors=(400, 403, 409)),
    },
    f"{P}/servers/detail": readable("List servers with details", query=_server_list),
    f"{P}/servers/{{server_id}}": {
        **readable("Show a server"),
        "put": Op("Rename or describe a server", body=_server_update, errors=(400, 403, 404, 409)),
        "delete": Op("Delete a server", 204, errors=(404, 409)),
    },
    f"{P}/servers/{{server_id}}/action": {
        "post": Op(
            "Act on a server: reboot, os-stop, os-start, pause, unpause, suspend, resume, lock, unlock, "
            "os-resetState (admins); 200 with the text for os-getConsoleOutput; rebuild (202 with the server), "
            "shelve, shelveOffload, unshelve, rescue (200 with adminPass), unrescue, createImage (202: a Location "
            "header before 2.45, the image_id from it), changePassword (409 or 501: no driver here can set one), "
            "restore and forceDelete (soft delete, reclaim_instance_interval)",
            (200, 202),
            body=_server_action,
            errors=(*_WRITE, 501),
        ),
    },
    f"{P}/servers/{{server_id}}/metadata": {
        **readable("List a server's metadata"),
        "put": Op("Replace a server's metadata", body=lambda: derived(_SCHEMAS, "_METADATA_BODY"), errors=_WRITE),
        "post": Op("Add or change metadata items", body=lambda: derived(_SCHEMAS, "_METADATA_BODY"), errors=_WRITE),
    },
    f"{P}/servers/{{server_id}}/metadata/{{key}}": {
        **readable("Show one metadata item"),
        "put": Op("Set the item the path names", body=lambda: derived(_SCHEMAS, "_METADATA_ITEM_BODY"), errors=_WRITE),
        "delete": Op("Delete a metadata item", 204, errors=_WRITE),
    },
    f"{P}/servers/{{server_id}}/tags": {
        **readable("List a server's tags (2.26+)"),
        "put": Op("Replace a server's tags (2.26+)", body=lambda: derived(_SCHEMAS, "_TAGS_BODY"), errors=_WRITE),
        "delete": Op("Remove every tag (2.26+)", 204, errors=_WRITE),
    },
    f"{P}/servers/{{server_id}}/tags/{{tag}}": {
        **readable("Whether a server has a tag (2.26+)", ok=204),
        "put": Op("Add a tag (2.26+); no body", (201, 204), errors=_WRITE),
        "delete": Op("Remove a tag (2.26+)", 204, errors=_WRITE),
    },
    f"{P}/servers/{{server_id}}/scheduling": readable("Show the audit of a server's placement decisions (admin)"),
    f"{P}/servers/{{server_id}}/os-instance-actions": readable("List a server's actions", query=_instance_actions),
    f"{P}/servers/{{server_id}}/os-instance-actions/{{request_id}}": readable("Show an action and its events"),
    f"{P}/servers/{{server_id}}/migrations": readable("List a server's live migrations in progress (2.23+, admin)"),
    f"{P}/os-migrations": readable(
        "List migrations (admin)",
        query=(
            *(q_string(name) for name in ("host", "status", "instance_uuid", "migration_type", "source_compute")),
            q_string("user_id"),
            q_string("project_id"),
            q_integer("limit"),
        ),
        errors=_ADMIN,
    ),
    # flavors
    f"{P}/flavors": {
        **readable("List flavors", query=_flavor_list),
        "post": Op("Create a flavor", body=lambda: envelope("flavor", derived(_SCHEMAS, "_FLAVOR")), errors=(403, 409)),
    },
    f"{P}/flavors/detail": readable("List flavors with details", query=_flavor_list),
    f"{P}/flavors/{{flavor_id}}": {
        **readable("Show a flavor"),
        "put": Op(
            "Update a flavor's description (2.55+)",
            body=lambda: envelope("flavor", derived("command_api.flavors", "_DESCRIPTION")),
        ),
        "delete": Op("Delete a flavor", 202),
    },
    f"{P}/flavors/{{flavor_id}}/action": {
        "post": Op(
            "Grant or revoke a project's access to a private flavor", body=_flavor_action, errors=(403, 404, 409)
        ),
    },
    f"{P}/flavors/{{flavor_id}}/os-extra_specs": {
        **readable("List a flavor's extra specs"),
        "post": Op("Set extra specs", body=lambda: envelope("extra_specs", _extra_specs())),
    },
    f"{P}/flavors/{{flavor_id}}/os-extra_specs/{{key}}": {
        **readable("Show one extra spec"),
        "put": Op(
            "Set the extra spec the path names", body=lambda: {**_extra_specs(), "minProperties": 1, "maxProperties": 1}
        ),
        "delete": Op("Unset an extra spec"),
    },
    f"{P}/flavors/{{flavor_id}}/os-flavor-access": readable("List the projects with access to a private flavor"),
    # keypairs
    f"{P}/os-keypairs": {
        **readable("List the caller's (or a user's) keypairs", query=(*_USER, *PAGING)),
        "post": Op("Import or generate a keypair", (200, 201), body=_keypair_create, errors=(400, 403, 409)),
    },
    f"{P}/os-keypairs/{{name}}": {
        **readable("Show a keypair", query=_USER),
        "delete": Op("Delete a keypair", (202, 204), query=_USER),
    },
    # quotas and limits
    f"{P}/os-quota-sets/{{project_id}}": {
        **readable("Show a project's quota", query=_USER),
        "put": Op(
            "Update a project's quota",
            body=_quota_set("quota_set", "project_resources", with_force=True),
            query=_USER,
            errors=_ADMIN,
        ),
        "delete": Op("Reset a project's quota to the defaults", 202, query=_USER, errors=_ADMIN),
    },
    f"{P}/os-quota-sets/{{project_id}}/detail": readable("Show a project's quota with usage", query=_USER),
    f"{P}/os-quota-sets/{{project_id}}/defaults": readable("Show the default quota"),
    f"{P}/os-quota-class-sets/{{name}}": {
        **readable("Show a quota class", errors=_ADMIN),
        "put": Op(
            "Update a quota class",
            body=_quota_set("quota_class_set", "class_settable", with_force=False),
            errors=_ADMIN,
        ),
    },
    f"{P}/limits": readable(
        "Show the caller's limits and usage", query=(q_string("tenant_id", "Admins: another project's."),)
    ),
    # hypervisors
    f"{P}/os-hypervisors": readable("List hypervisors", query=_HYPERVISOR_LIST, errors=_ADMIN),
    f"{P}/os-hypervisors/detail": readable("List hypervisors with details", query=_HYPERVISOR_LIST, errors=_ADMIN),
    f"{P}/os-hypervisors/statistics": readable("Hypervisor statistics (before 2.88)", errors=(403, 404)),
    f"{P}/os-hypervisors/{{hypervisor_id}}": readable("Show a hypervisor", query=(_WITH_SERVERS,)),
    f"{P}/os-hypervisors/{{hypervisor_id}}/uptime": readable("A hypervisor's uptime (before 2.88)"),
    f"{P}/os-hypervisors/{{hypervisor_id}}/search": readable("Hypervisors whose hostname matches (before 2.53)"),
    f"{P}/os-hypervisors/{{hypervisor_id}}/servers": readable("Hypervisors with their servers (before 2.53)"),
    # host aggregates
    f"{P}/os-aggregates": {
        **readable("List host aggregates", errors=_ADMIN),
        "post": Op(
            "Create a host aggregate",
            body=lambda: envelope("aggregate", derived("command_api.host_aggregates", "_CREATE")),
            errors=(400, 403, 409),
        ),
    },
    f"{P}/os-aggregates/{{aggregate_id}}": {
        **readable("Show a host aggregate"),
        "put": Op(
            "Rename or re-zone a host aggregate",
            body=lambda: envelope("aggregate", derived("command_api.host_aggregates", "_UPDATE")),
            errors=(400, 403, 404, 409),
        ),
        "delete": Op("Delete an empty host aggregate"),
    },
    f"{P}/os-aggregates/{{aggregate_id}}/action": {
        "post": Op("Add or remove a host, or set metadata", body=_aggregate_action, errors=(400, 403, 404, 409)),
    },
    # services and availability zones
    f"{P}/os-services": readable("List compute services", query=(q_string("host"), q_string("binary")), errors=_ADMIN),
    f"{P}/os-services/{{service_id}}": {
        "put": Op("Enable, disable or force down a service", body=_service_update),
        "delete": Op("Delete a compute service", 204),
    },
    f"{P}/os-availability-zone": readable("List availability zones", errors=()),
    f"{P}/os-availability-zone/detail": readable("List availability zones with their hosts", errors=(403,)),
    # server groups
    f"{P}/os-server-groups": {
        **readable(
            "List server groups",
            query=(q_boolean("all_projects", "Admins: every project's."), q_integer("limit"), q_integer("offset")),
        ),
        "post": Op("Create a server group", body=_server_group_create, errors=(400, 403, 409)),
    },
    f"{P}/os-server-groups/{{group_id}}": {
        **readable("Show a server group"),
        "delete": Op("Delete a server group", 204, errors=(404,)),
    },
    # usage
    f"{P}/os-simple-tenant-usage": readable(
        "Usage of every project over a period",
        query=(*_USAGE_WINDOW, Query("detailed", {"type": "string", "enum": ["0", "1"]})),
        errors=_ADMIN,
    ),
    f"{P}/os-simple-tenant-usage/{{project_id}}": readable("Usage of one project over a period", query=_USAGE_WINDOW),
}
