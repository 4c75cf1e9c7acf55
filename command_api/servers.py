"""The servers resource's writes: create, update, delete, metadata and tags.

Each responder validates the whole request (schemas) before one use case of
chronova/servers.py runs, so a refused request records nothing.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from uuid import UUID

import falcon

from chronova import lifecycle, quotas, servers, web
from chronova.cloud import Cloud
from command_api.schemas import (
    check_tag,
    create_server_command,
    metadata_body,
    metadata_item_body,
    tags_body,
    update_server_command,
)
from domain.errors import NotFound
from domain.server import Server
from projections.views import ViewStore
from query_api import render
from query_api.queries import ServerQueries


def _server_id(server_id: str) -> UUID:
    try:
        return UUID(server_id)
    except ValueError:
        raise NotFound(f"Instance {server_id} could not be found.") from None


class ServersResource:
    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = web.read_json_body(req)
        command, return_reservation_id = create_server_command(body, req.context.api_version)
        if command.forced_host or command.forced_node:
            web.require_admin(req, "os_compute_api:servers:create:forced_host")
        reservation = quotas.create_servers_within_quota(self._cloud, self._views, command, req.context.caller)
        resp.status = falcon.HTTP_202
        if return_reservation_id:
            resp.media = {"reservation_id": reservation.reservation_id}
            return
        server_id = str(reservation.servers[0].id)
        resp.location = web.self_href(req, "servers", server_id)
        resp.media = {
            "server": {
                "id": server_id,
                "links": web.links(req, "servers", server_id),
                "OS-DCF:diskConfig": "MANUAL",
                # Nova echoes the groups the request named, else the default group.
                "security_groups": body["server"].get("security_groups", [{"name": "default"}]),
                # Returned once and never recorded: a secret has no place in an event
                # that is kept forever and published to every consumer.
                "adminPass": command.admin_password or secrets.token_urlsafe(9),
            }
        }


class ServerResource:
    def __init__(self, cloud: Cloud, views: ViewStore, reclaim_interval: float = 0.0) -> None:
        self._cloud = cloud
        self._views = views
        self._reclaim_interval = reclaim_interval  # Nova's reclaim_instance_interval: above 0, deletes are soft

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = req.context.api_version
        command = update_server_command(web.read_json_body(req), version)
        server = servers.update_server(self._cloud, _server_id(server_id), command, req.context.caller)
        row = _row_after_write(self._views, server)
        resp.media = {"server": render.server_update_view(req, row, version, req.context.caller.is_admin)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        lifecycle.delete(self._cloud, _server_id(server_id), self._reclaim_interval, req.context.caller)
        resp.status = falcon.HTTP_204


def _row_after_write(views: ViewStore, server: Server) -> dict[str, Any]:
    """The server as a servers-view row, this write included, for a response the view may not show yet.

    The aggregate has every field but what only the view knows (launch and
    termination times, the host's state), taken from the view's row when there is one.
    """
    row = ServerQueries(views).get(str(server.id)) or {
        "launched_at": None,
        "terminated_at": None,
        "host_state": None,
        "host_service_status": None,
        "locked_by": None,
        "locked_reason": None,
        "created_at": server.created_on.isoformat(),
    }
    fault = server.fault and {**server.fault, "created": server.modified_on.isoformat()}
    return row | {
        "id": str(server.id),
        "project_id": server.project_id,
        "user_id": server.user_id,
        "name": server.name,
        "vm_state": str(server.vm_state),
        "task_state": None if server.task_state is None else str(server.task_state),
        "power_state": int(server.power_state),
        "host": server.host,
        "flavor": json.dumps(server.flavor),
        "image_id": server.image_id,
        "image_properties": json.dumps(server.image_properties),
        "metadata": json.dumps(server.metadata),
        "description": server.description,
        "availability_zone": server.availability_zone,
        "key_name": server.key_name,
        "user_data": server.user_data,
        "hostname": server.hostname,
        "tags": json.dumps(server.tags),
        "reservation_id": server.reservation_id,
        "launch_index": server.launch_index,
        "scheduler_hints": json.dumps(server.scheduler_hints),
        "access_ip_v4": server.access_ip_v4,
        "access_ip_v6": server.access_ip_v6,
        "config_drive": int(server.config_drive),
        "trusted_image_certificates": None
        if server.trusted_image_certificates is None
        else json.dumps(server.trusted_image_certificates),
        "fault": row.get("fault") or (json.dumps(fault) if fault else None),
        "updated_at": server.modified_on.isoformat(),
    }


class ServerMetadataResource:
    """PUT replaces every item, POST adds or replaces the given ones; both answer 200 with the result."""

    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        metadata = metadata_body(web.read_json_body(req))
        result = servers.replace_metadata(self._cloud, self._views, _server_id(server_id), metadata, req.context.caller)
        resp.media = {"metadata": result}

    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        metadata = metadata_body(web.read_json_body(req))
        result = servers.merge_metadata(self._cloud, self._views, _server_id(server_id), metadata, req.context.caller)
        resp.media = {"metadata": result}


class ServerMetadataItemResource:
    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str, key: str) -> None:
        meta = metadata_item_body(web.read_json_body(req), key)
        servers.merge_metadata(self._cloud, self._views, _server_id(server_id), meta, req.context.caller)
        resp.media = {"meta": meta}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str, key: str) -> None:
        servers.delete_metadata_item(self._cloud, self._views, _server_id(server_id), key, req.context.caller)
        resp.status = falcon.HTTP_204


def _require_tags_version(req: falcon.Request) -> None:
    """Server tags exist from 2.26; before it the URL is unknown, as in Nova."""
    if req.context.api_version < (2, 26):
        raise falcon.HTTPNotFound(description="The resource could not be found.")


class ServerTagsResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        _require_tags_version(req)
        tags = tags_body(web.read_json_body(req))
        resp.media = {"tags": servers.replace_tags(self._cloud, _server_id(server_id), tags, req.context.caller)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        _require_tags_version(req)
        servers.delete_tags(self._cloud, _server_id(server_id), req.context.caller)
        resp.status = falcon.HTTP_204


class ServerTagResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str, tag: str) -> None:
        """201 with the tag's URL when added, 204 when the server had it already."""
        _require_tags_version(req)
        if req.content_length and web.read_json_body(req) is not None:
            raise falcon.HTTPBadRequest(description="This request takes no body (or a JSON null).")
        check_tag(tag)
        if servers.add_tag(self._cloud, _server_id(server_id), tag, req.context.caller):
            resp.status = falcon.HTTP_201
            resp.location = web.collection_href(req, f"servers/{server_id}/tags/{tag}")
        else:
            resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str, tag: str) -> None:
        _require_tags_version(req)
        servers.delete_tag(self._cloud, _server_id(server_id), tag, req.context.caller)
        resp.status = falcon.HTTP_204


def add_routes(app: falcon.App, cloud: Cloud, views: ViewStore, reclaim_interval: float = 0.0) -> None:
    """The server routes the command app answers (the query app has the same paths for GET)."""
    prefix = f"{web.API_PREFIX}/servers"
    app.add_route(prefix, ServersResource(cloud, views))
    app.add_route(f"{prefix}/{{server_id}}", ServerResource(cloud, views, reclaim_interval))
    app.add_route(f"{prefix}/{{server_id}}/metadata", ServerMetadataResource(cloud, views))
    app.add_route(f"{prefix}/{{server_id}}/metadata/{{key}}", ServerMetadataItemResource(cloud, views))
    app.add_route(f"{prefix}/{{server_id}}/tags", ServerTagsResource(cloud))
    app.add_route(f"{prefix}/{{server_id}}/tags/{{tag}}", ServerTagResource(cloud))
