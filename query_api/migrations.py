"""GET /os-migrations (admins) and GET /servers/{id}/migrations (in-progress live migrations, 2.23+),
from the migrations view (projections/migrations.py), with Nova's fields per microversion."""

from __future__ import annotations

from typing import Any

import falcon

from chronova import web
from domain.migration import IN_PROGRESS_LIVE, LIVE_MIGRATION
from projections.views import ViewStore
from query_api import params
from query_api.render import usage_time

Version = tuple[int, int]
_FILTERS = ("host", "status", "instance_uuid", "migration_type", "source_compute", "user_id", "project_id")


def _flavor_id(flavorid: str) -> Any:
    """Nova shows its flavors' integer ids; a flavor whose id is a number shows as that number."""
    return int(flavorid) if flavorid.isdigit() else flavorid


def _common(row: dict[str, Any], version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["id"],
        "created_at": usage_time(row["created_at"]),
        "updated_at": usage_time(row["updated_at"]),
        "status": row["status"],
        "source_compute": row["source_compute"],
        "source_node": row["source_compute"],
        "dest_compute": row["dest_compute"],
        "dest_node": row["dest_compute"],
        "dest_host": None,
    }
    if version >= (2, 59):
        body["uuid"] = row["uuid"]
    if version >= (2, 80):
        body |= {"user_id": row["user_id"], "project_id": row["project_id"]}
    return body


def _links(req: falcon.Request, row: dict[str, Any]) -> list[dict[str, str]]:
    path = f"servers/{row['server_id']}/migrations/{row['id']}"
    return [
        {"href": f"{req.prefix}{web.API_PREFIX}/{path}", "rel": "self"},
        {"href": f"{req.prefix}/{path}", "rel": "bookmark"},
    ]


def migration_body(req: falcon.Request, row: dict[str, Any], version: Version) -> dict[str, Any]:
    body = _common(row, version) | {
        "instance_uuid": row["server_id"],
        "old_instance_type_id": _flavor_id(row["old_flavor_id"]),
        "new_instance_type_id": _flavor_id(row["new_flavor_id"]),
    }
    if version >= (2, 23):
        body["migration_type"] = row["migration_type"]
        if row["migration_type"] == LIVE_MIGRATION and row["status"] in IN_PROGRESS_LIVE:
            body["links"] = _links(req, row)
    return body


class MigrationsResource:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-migrations:index")
        version = req.context.api_version
        where, values = [], {}
        for name in _FILTERS:
            value = params.last_value(req, name)
            if not value or (name in ("user_id", "project_id") and version < (2, 80)):
                continue
            if name == "host":
                where.append("(source_compute = %(host)s OR dest_compute = %(host)s)")
            else:
                where.append(f"{'server_id' if name == 'instance_uuid' else name} = %({name})s")
            values[name] = value
        sql = "SELECT * FROM migrations" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._views.query(sql + " ORDER BY created_at DESC, id DESC", values)
        limit = params.last_value(req, "limit")
        if version >= (2, 59) and limit and limit.isdigit():
            rows = rows[: int(limit)]
        resp.media = {"migrations": [migration_body(req, row, version) for row in rows]}

    on_head = on_get


class ServerMigrationsResource:
    """A server's live migrations in progress (Nova lists only those)."""

    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        web.require_admin(req, "os_compute_api:servers:migrations:index")
        version = req.context.api_version
        if version < (2, 23):
            raise falcon.HTTPNotFound()
        rows = self._views.query(
            "SELECT * FROM migrations WHERE server_id = %(id)s AND migration_type = %(kind)s ORDER BY created_at",
            {"id": server_id, "kind": LIVE_MIGRATION},
        )
        sizes = {
            f"{kind}_{what}_bytes": 0 for kind in ("disk", "memory") for what in ("processed", "remaining", "total")
        }
        resp.media = {
            "migrations": [
                _common(row, version) | {"server_uuid": row["server_id"], **sizes}
                for row in rows
                if row["status"] in IN_PROGRESS_LIVE
            ]
        }

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore) -> None:
    app.add_route(f"{web.API_PREFIX}/os-migrations", MigrationsResource(views))
    app.add_route(f"{web.API_PREFIX}/servers/{{server_id}}/migrations", ServerMigrationsResource(views))
