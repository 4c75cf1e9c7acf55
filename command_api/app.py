"""The command app: POST/DELETE requests become use cases on the event store.

Each responder validates the whole request first (schemas), then calls one
use case on the Cloud; a refused request therefore writes nothing.
"""

from __future__ import annotations

import secrets
from uuid import UUID

import falcon

from chronova import web
from chronova.cloud import Cloud
from chronova.config import Settings
from command_api.schemas import create_flavor_command, create_server_command
from domain.errors import NotFound
from domain.flavor import Flavor
from projections.views import ViewStore
from query_api.render import flavor_detail


class ServersResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        command = create_server_command(web.read_json_body(req), req.context.api_version)
        server = self._cloud.create_server(command, req.context.caller)
        server_id = str(server.id)
        resp.status = falcon.HTTP_202
        resp.location = web.self_href(req, "servers", server_id)
        resp.media = {
            "server": {
                "id": server_id,
                "links": web.links(req, "servers", server_id),
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": "default"}],
                # Returned once and never recorded: a secret has no place in an event
                # that is kept forever and published to every consumer.
                "adminPass": command.admin_password or secrets.token_urlsafe(9),
            }
        }


class ServerResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        try:
            uuid = UUID(server_id)
        except ValueError:
            raise NotFound(f"Instance {server_id} could not be found.") from None
        self._cloud.delete_server(uuid, req.context.caller)
        resp.status = falcon.HTTP_204


class FlavorsResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.context.caller.is_admin:
            raise falcon.HTTPForbidden(
                description="Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
            )
        command = create_flavor_command(web.read_json_body(req), req.context.api_version)
        flavor = self._cloud.create_flavor(command)
        resp.media = {"flavor": flavor_detail(req, _flavor_fields(flavor), req.context.api_version)}


def _flavor_fields(flavor: Flavor) -> dict[str, object]:
    """The aggregate in the shape of a flavors view row, so both sides render alike."""
    names = ("flavorid", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "rxtx_factor", "is_public", "description")
    return {name: getattr(flavor, name) for name in names} | {"extra_specs": dict(flavor.extra_specs)}


def create_app(cloud: Cloud, views: ViewStore, settings: Settings) -> falcon.App:
    """`views` serve the checks a command needs beyond one aggregate (quota usage)."""
    app = web.create_nova_app(settings)
    app.add_route(f"{web.API_PREFIX}/servers", ServersResource(cloud))
    app.add_route(f"{web.API_PREFIX}/servers/{{server_id}}", ServerResource(cloud))
    app.add_route(f"{web.API_PREFIX}/flavors", FlavorsResource(cloud))
    return app
