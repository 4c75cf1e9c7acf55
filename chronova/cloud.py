"""The event store as an eventsourcing application, with the command use cases.

Every use case loads aggregates, calls one domain method each, and saves them
together: one transaction, optimistic concurrency on every aggregate version.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from chronova import flavors, servers
from chronova.aggregate_snapshots import HostSnapshots
from domain.commands import CreateFlavor, CreateServer, RequestContext
from domain.errors import NotFound
from domain.flavor import Flavor, flavor_aggregate_id
from domain.host import Host, host_id
from domain.image import Image
from domain.server import Server

T = TypeVar("T")


class Doorbell:
    """Wakes this process's log followers when this process saved events.

    The PostgreSQL recorder also NOTIFYs other processes; SQLite has no such
    thing, and the embedded deployment is one process, so this is enough.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[threading.Event] = []

    def listener(self) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._listeners.append(event)
        return event

    def ring(self) -> None:
        with self._lock:
            for event in self._listeners:
                event.set()


class Cloud(HostSnapshots, Application[UUID]):
    """All of Chronova's aggregates in one store with one notification log (hosts snapshotted)."""

    name = "Chronova"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.doorbell = Doorbell()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        self.doorbell.ring()
        return recordings

    # --- loading ----------------------------------------------------------------
    def server(self, server_id: UUID) -> Server:
        return self.load(server_id, Server)

    def host(self, name: str) -> Host:
        return self.load(host_id(name), Host)

    def flavor(self, flavorid: str) -> Flavor:
        return self.load(flavor_aggregate_id(flavorid), Flavor)

    def image(self, image_id: UUID) -> Image:
        return self.load(image_id, Image)

    def load(self, aggregate_id: UUID, kind: type[T], not_found: str | None = None) -> T:
        """The aggregate of that kind, or NotFound with the message the API should show."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind):
            raise NotFound(not_found or f"{kind.__name__} {aggregate_id} could not be found.")
        return aggregate

    # --- servers ----------------------------------------------------------------
    def visible_server(self, server_id: UUID, ctx: RequestContext) -> Server:
        return servers.visible_server(self, server_id, ctx)

    def create_server(self, cmd: CreateServer, ctx: RequestContext) -> Server:
        """One server (the first, when `cmd.max_count` asks for several)."""
        return servers.create_servers(self, cmd, ctx).servers[0]

    def delete_server(self, server_id: UUID, ctx: RequestContext) -> None:
        servers.delete_server(self, server_id, ctx)

    # --- flavors and images -------------------------------------------------------
    def create_flavor(self, cmd: CreateFlavor) -> Flavor:
        return flavors.create_flavor(self, cmd)

    def register_image(self, image_id: UUID, **fields: Any) -> Image:
        image = Image(id=image_id, **fields)
        self.save(image)
        return image
