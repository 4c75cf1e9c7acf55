"""Compute service use cases (os-services): one nova-compute service per host.

The service's state lives on the Host aggregate, so disabling a host and a
scheduler's claim on it are ordered by the same optimistic concurrency: a
claim decided on the enabled host and saved after the disable conflicts and
is decided again. The Host is busy (claims, heartbeats), so each use case is
retried on a fresh load when it loses that race.

Clients name a service by its uuid (2.53+), its integer id (older), or its
host; ids are resolved through the hypervisors view, which also serves the
"no servers on it" check of a delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from chronova import host_aggregates
from chronova.cloud import Cloud
from domain.errors import InvalidState, NotFound
from domain.host import HOSTING_INSTANCES, Host, host_id
from projections.views import ViewStore

ATTEMPTS = 10
READ_YOUR_WRITES_TIMEOUT = 3.0
T = TypeVar("T")


@dataclass(frozen=True)
class ServiceChange:
    """What an operator asks of a service; None leaves that part as it is."""

    status: str | None = None  # "enabled" or "disabled"
    disabled_reason: str | None = None
    forced_down: bool | None = None


def find_row(cloud: Cloud, views: ViewStore, column: str, value: Any) -> dict[str, Any] | None:
    """The service's hypervisors row by `service_id` or `service_number`; waits for the view once."""
    sql = f"SELECT * FROM hypervisors WHERE {column} = %(value)s"
    rows = views.query(sql, {"value": value})
    if not rows:
        position = cloud.recorder.max_notification_id() or 0
        views.wait_for("hypervisors", position, timeout=READ_YOUR_WRITES_TIMEOUT)
        rows = views.query(sql, {"value": value})
    return rows[0] if rows else None


def _service_host(cloud: Cloud, host_name: str, not_found: str) -> Host:
    host = cloud.load(host_id(host_name), Host, not_found)
    if host.deleted:
        raise NotFound(not_found)
    return host


def _retrying(attempt: Callable[[], T]) -> T:
    for remaining in reversed(range(ATTEMPTS)):
        try:
            return attempt()
        except IntegrityError:
            if not remaining:
                raise
    raise AssertionError("unreachable")


def update_service(cloud: Cloud, host_name: str, change: ServiceChange, not_found: str) -> Host:
    """Enable, disable (with a reason) and force down, in one event batch on the Host."""

    def attempt() -> Host:
        host = _service_host(cloud, host_name, not_found)
        if change.status == "disabled":
            host.disable(change.disabled_reason)
        elif change.status == "enabled":
            host.enable()
        if change.forced_down is not None:
            host.force_down(change.forced_down)
        cloud.save(host)
        return host

    return _retrying(attempt)


def delete_service(cloud: Cloud, views: ViewStore, host_name: str, not_found: str) -> None:
    """Refused (409) while servers are on the host; the host leaves every aggregate in the same transaction."""

    def attempt() -> None:
        host = _service_host(cloud, host_name, not_found)
        if _servers_on(views, host_name):
            raise InvalidState(HOSTING_INSTANCES)
        host.delete_service()
        cloud.save(host, *host_aggregates.without_host(cloud, host_name))

    _retrying(attempt)


def _servers_on(views: ViewStore, host_name: str) -> int:
    """Servers that are not deleted and name the host, placed or failed there alike (Nova counts both)."""
    rows = views.query(
        "SELECT COUNT(*) AS n FROM servers WHERE host = %(host)s AND vm_state <> 'deleted'", {"host": host_name}
    )
    return int(rows[0]["n"])
