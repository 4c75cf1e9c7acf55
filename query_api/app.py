"""The query app: GET requests answered from the read models.

Reads never load aggregates. The one tie to the event store is read-your-writes
(ARCHITECTURE.md invariant 7): a row or listing may reflect a change the caller
just made, so the app waits (bounded) for the view to reach the store's current
position before it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from chronova import openapi, web
from chronova.cloud import Cloud
from chronova.config import Settings
from projections.views import ViewStore
from query_api import (
    flavors,
    host_aggregates,
    hypervisors,
    keypairs,
    migrations,
    quotas,
    scheduling,
    server_groups,
    servers,
    services,
    usage,
)

READ_YOUR_WRITES_TIMEOUT = 3.0


class _Readable:
    """HEAD answers as GET does (Falcon sends no body for HEAD); monitors probe with it."""

    def on_head(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        self.on_get(req, resp, **params)  # type: ignore[attr-defined]


class ReadYourWrites:
    """Waits (bounded) for a view to hold everything stored so far before a read answers."""

    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def caught_up(self, view: str) -> None:
        """Waits (bounded) until `view` holds everything stored so far: a listing right
        after a create then shows what the same client just made."""
        position = self._cloud.recorder.max_notification_id() or 0
        self._views.wait_for(view, position, timeout=READ_YOUR_WRITES_TIMEOUT)

    def find(self, view: str, lookup: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        """The row once `view` holds everything stored so far: the caller sees a create, and an update
        (a rename, new metadata) it made just before, not only the row's existence."""
        self.caught_up(view)
        return lookup()


# --- versions ---------------------------------------------------------------------------


def _version_entry(req: falcon.Request) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": web.version_text(web.MAX_VERSION),
        "min_version": web.version_text(web.MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{req.prefix}{web.API_PREFIX}/"}],
    }


class VersionsResource(_Readable):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"versions": [_version_entry(req)]}


class VersionResource(_Readable):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        entry = _version_entry(req)
        entry["links"].append({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
        entry["media-types"] = [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
        ]
        resp.media = {"version": entry}


def create_app(cloud: Cloud, views: ViewStore, settings: Settings) -> falcon.App:
    app = web.create_nova_app(settings)
    read_your_writes = ReadYourWrites(cloud, views)
    prefix = web.API_PREFIX
    app.add_route("/", VersionsResource())
    app.add_route(prefix, VersionResource())
    app.add_route("/openapi.json", openapi.DocumentResource())
    servers.add_routes(app, views, read_your_writes)
    flavors.add_routes(app, views, read_your_writes)
    hypervisors.add_routes(app, views)
    usage.add_routes(app, views)
    keypairs.add_routes(app, views, read_your_writes)
    for area in (services, host_aggregates, server_groups):
        area.add_routes(app, views, read_your_writes)
    quotas.add_routes(app, views, read_your_writes)
    scheduling.add_routes(app, views)
    migrations.add_routes(app, views)
    return app
