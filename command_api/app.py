"""The command app: POST/DELETE requests become use cases on the event store.

Each responder validates the whole request first (schemas), then calls one
use case on the Cloud; a refused request therefore writes nothing.
"""

from __future__ import annotations

import falcon

from chronova import web
from chronova.cloud import Cloud
from chronova.config import Settings
from command_api import flavors, host_aggregates, keypairs, quotas, server_actions, server_groups, servers, services
from projections.views import ViewStore


def create_app(cloud: Cloud, views: ViewStore, settings: Settings) -> falcon.App:
    """`views` serve the checks a command needs beyond one aggregate (quota usage)."""
    app = web.create_nova_app(settings)
    servers.add_routes(app, cloud, views, settings.reclaim_instance_interval)
    server_actions.add_routes(app, cloud, views, settings)
    keypairs.add_routes(app, cloud, views)
    quotas.add_routes(app, cloud, views)
    flavors.add_routes(app, cloud)
    for area in (services, host_aggregates, server_groups):
        area.add_routes(app, cloud, views)
    return app
