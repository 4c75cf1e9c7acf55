"""GET /servers/{id}/scheduling (admin only): every placement decision of a
server, oldest first, with its audit (projections/scheduling.py). Where a
server went and why is operator knowledge, as Nova keeps hosts from members."""

from __future__ import annotations

import json

import falcon

from chronova import web
from projections.views import ViewStore

POLICY = "os_compute_api:servers:scheduling"


class SchedulingResource:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        web.require_admin(req, POLICY)
        if not self._views.query("SELECT id FROM servers WHERE id = %(id)s", {"id": server_id}):
            raise falcon.HTTPNotFound(description=f"Instance {server_id} could not be found.")
        rows = self._views.query(
            "SELECT version, outcome, host, details, audit, created_at FROM scheduling_decisions"
            " WHERE server_id = %(id)s ORDER BY version",
            {"id": server_id},
        )
        resp.media = {"scheduling": [{**row, "audit": json.loads(row["audit"])} for row in rows]}

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore) -> None:
    app.add_route(f"{web.API_PREFIX}/servers/{{server_id}}/scheduling", SchedulingResource(views))
