"""GET /os-services (admin) and GET /os-availability-zone (+/detail).

Every registered host runs one nova-compute service; its row in the
hypervisors view holds the service's state, and the host aggregates give
its zone. Availability zones are listed from those services, as Nova does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import falcon

from chronova import web
from domain.aggregate import DEFAULT_ZONE
from domain.host import COMPUTE_BINARY
from projections.views import ViewStore
from query_api import params
from query_api.host_aggregates import zones_by_host
from query_api.render import usage_time

if TYPE_CHECKING:
    from query_api.app import ReadYourWrites

Version = tuple[int, int]


def refuse_unknown_params(req: falcon.Request, known: Iterable[str]) -> None:
    """From the microversion where Nova's query schema forbids additional properties."""
    unexpected = sorted(set(req.params) - set(known))
    if unexpected:
        quoted = ", ".join(repr(name) for name in unexpected)
        verb = "was" if len(unexpected) == 1 else "were"
        raise falcon.HTTPBadRequest(description=f"Additional properties are not allowed ({quoted} {verb} unexpected)")


def compute_services(views: ViewStore) -> list[dict[str, Any]]:
    """Every nova-compute service (a hypervisors row) with its zone, oldest first."""
    zones = zones_by_host(views)
    rows = views.query("SELECT * FROM hypervisors ORDER BY service_number")
    return [row | {"zone": zones.get(row["hostname"], DEFAULT_ZONE)} for row in rows]


def service_body(service: Mapping[str, Any], version: Version) -> dict[str, Any]:
    """One service; its id is an integer before 2.53, a uuid from it."""
    body: dict[str, Any] = {
        "id": service["service_id"] if version >= (2, 53) else service["service_number"],
        "binary": COMPUTE_BINARY,
        "host": service["hostname"],
        "zone": service["zone"],
        "status": service["status"],
        "state": service["state"],
        "updated_at": usage_time(service["service_updated_at"]),
        "disabled_reason": service["disabled_reason"],
    }
    if version >= (2, 11):
        body["forced_down"] = bool(service["forced_down"])
    return body


class ServicesResource:
    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-services:list")
        version = req.context.api_version
        if version >= (2, 75):
            refuse_unknown_params(req, ("host", "binary"))
        services = compute_services(self._views)
        host, binary = params.last_value(req, "host"), params.last_value(req, "binary")
        if host:
            services = [service for service in services if service["hostname"] == host]
        if binary and binary != COMPUTE_BINARY:
            services = []
        resp.media = {"services": [service_body(service, version) for service in services]}

    on_head = on_get


# --- availability zones -----------------------------------------------------------------


def _zones(services: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Zones with an enabled service are available; zones with only disabled ones are not."""
    available = {service["zone"] for service in services if service["status"] == "enabled"}
    unavailable = {service["zone"] for service in services} - available
    return sorted(available), sorted(unavailable)


class AvailabilityZonesResource:
    """Any user may list the zones (to pick one for a server), without their hosts."""

    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        available, unavailable = _zones(compute_services(self._views))
        info = [{"zoneName": zone, "zoneState": {"available": True}, "hosts": None} for zone in available]
        info += [{"zoneName": zone, "zoneState": {"available": False}, "hosts": None} for zone in unavailable]
        resp.media = {"availabilityZoneInfo": info}

    on_head = on_get


class AvailabilityZonesDetailResource:
    """Admins see each available zone's hosts with the state of their enabled services."""

    def __init__(self, views: ViewStore) -> None:
        self._views = views

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        web.require_admin(req, "os_compute_api:os-availability-zone:detail")
        services = compute_services(self._views)
        available, unavailable = _zones(services)
        hosts: dict[str, dict[str, Any]] = defaultdict(dict)
        for service in services:
            if service["status"] == "enabled":
                hosts[service["zone"]][service["hostname"]] = {
                    COMPUTE_BINARY: {
                        "available": service["state"] == "up",
                        "active": True,
                        "updated_at": usage_time(service["service_updated_at"]),
                    }
                }
        info = [{"zoneName": zone, "zoneState": {"available": True}, "hosts": hosts[zone]} for zone in available]
        info += [{"zoneName": zone, "zoneState": {"available": False}, "hosts": None} for zone in unavailable]
        resp.media = {"availabilityZoneInfo": info}

    on_head = on_get


def add_routes(app: falcon.App, views: ViewStore, _: ReadYourWrites) -> None:
    """The same signature as the aggregates' and server groups', so create_app registers all three in one loop."""
    prefix = web.API_PREFIX
    app.add_route(f"{prefix}/os-services", ServicesResource(views))
    app.add_route(f"{prefix}/os-availability-zone", AvailabilityZonesResource(views))
    app.add_route(f"{prefix}/os-availability-zone/detail", AvailabilityZonesDetailResource(views))
