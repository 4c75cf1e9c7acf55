"""GET /os-aggregates (admin), and the availability zone of each host.

A host's availability zone is the `availability_zone` metadata of the
aggregates it is in; a host in none is in Nova's default zone "nova".
The aggregate renderer is shared with the command app, so a write's answer
and a later read look alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import falcon

from chronova import web
from projections.views import ViewStore
from query_api.render import usage_time

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

Version = tuple[int, int]
MAX_NUMBER = 2**63 - 1  # beyond a BIGINT no aggregate is numbered
_POLICY = "os_compute_api:os-aggregates:{}"


def aggregate_number(raw: str) -> int:
    """Nova's aggregate ids are integers, in every microversion."""
    try:
        return int(raw)
    except ValueError:
        raise falcon.HTTPBadRequest(description="Invalid input received: id must be an integer") from None


def aggregate_body(aggregate: Mapping[str, Any], version: Version, *, created: bool = False) -> dict[str, Any]:
    """One aggregate; the answer to a create has neither hosts nor metadata, as Nova's."""
    body: dict[str, Any] = {
        "availability_zone": aggregate["availability_zone"],
        "created_at": usage_time(aggregate["created_at"]),
        "deleted": False,
        "deleted_at": None,
        "id": aggregate["number"],
        "name": aggregate["name"],
        "updated_at": usage_time(aggregate["updated_at"]),
    }
    if not created:
        body["hosts"] = list(aggregate["hosts"])
        body["metadata"] = dict(aggregate["metadata"])
    if version >= (2, 41):
        body["uuid"] = aggregate["id"]
    return body


def aggregates(views: ViewStore, number: int | None = None) -> list[dict[str, Any]]:
    """Aggregates (all, or the one numbered) with their hosts and metadata, by number."""
    where = "" if number is None else " WHERE number = %(number)s"
    rows = views.query(f"SELECT * FROM host_aggregates{where} ORDER BY number", {"number": number})
    hosts: dict[str, list[str]] = defaultdict(list)
    metadata: dict[str, dict[str, str]] = defaultdict(dict)
    for member in views.query("SELECT aggregate_id, host FROM host_aggregate_hosts ORDER BY position"):
        hosts[member["aggregate_id"]].append(member["host"])
    for item in views.query("SELECT aggregate_id, meta_key, meta_value FROM host_aggregate_metadata"):
        metadata[item["aggregate_id"]][item["meta_key"]] = item["meta_value"]
    return [row | {"hosts": hosts[row["id"]], "metadata": metadata[row["id"]]} for row in rows]


def zones_by_host(views: ViewStore) -> dict[str, str]:
    """Each host in a zone, with its zone; Nova joins several with commas (its rules prevent that)."""
    zones: dict[str, set[str]] = defaultdict(set)
    rows = views.query(
        """SELECT m.host, a.availability_zone FROM host_aggregate_hosts m
           JOIN host_aggregates a ON a.id = m.aggregate_id WHERE a.availability_zone IS NOT NULL"""
    )
    for row in rows:
        zones[row["host"]].add(row["availability_zone"])
    return {host: ",".join(sorted(names)) for host, names in zones.items()}


class AggregatesResource:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, _POLICY.format("index"))
        version = req.context.api_version
        resp.media = {"aggregates": [aggregate_body(row, version) for row in aggregates(self._views)]}

    on_head = on_get


class AggregateResource:
    def __init__(self, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
        self._views = views
        self._read_your_writes = read_your_writes

    def on_get(self, req: falcon.Request, resp: falcon.Response, aggregate_id: str) -> None:
        web.require_admin(req, _POLICY.format("show"))
        number = aggregate_number(aggregate_id)
        found = None
        if 0 < number <= MAX_NUMBER:
            found = self._read_your_writes.find(
                "host_aggregates", lambda: next(iter(aggregates(self._views, number)), None)
            )
        if found is None:
            raise falcon.HTTPNotFound(description=f"Aggregate {number} could not be found.")
        resp.media = {"aggregate": aggregate_body(found, req.context.api_version)}

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore, read_your_writes: ReadYourWrites) -> None:
    prefix = web.API_PREFIX
    app.add_route(f"{prefix}/os-aggregates", AggregatesResource(views))
    app.add_route(f"{prefix}/os-aggregates/{{aggregate_id}}", AggregateResource(views, read_your_writes))
