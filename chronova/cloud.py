"""The event store as an eventsourcing application, with the command use cases.

Every use case loads aggregates, calls one domain method each, and saves them
together: one transaction, optimistic concurrency on every aggregate version.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.commands import CreateFlavor, CreateServer, RequestContext
from domain.errors import AlreadyExists, InvalidReference, NotFound
from domain.flavor import Flavor, FlavorNameReservation, flavor_aggregate_id
from domain.host import Host, host_id
from domain.image import Image
from domain.server import Server
from domain.states import VmState

_DELETE_ATTEMPTS = 5
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


class Cloud(Application[UUID]):
    """All of Chronova's aggregates in one store with one notification log."""

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

    def visible_server(self, server_id: UUID, ctx: RequestContext) -> Server:
        """Another project's server, or a deleted one, is simply not there (404)."""
        try:
            server = self.server(server_id)
        except NotFound:
            raise NotFound(f"Instance {server_id} could not be found.") from None
        if server.vm_state == VmState.DELETED or not (ctx.is_admin or server.project_id == ctx.project_id):
            raise NotFound(f"Instance {server_id} could not be found.")
        return server

    # --- servers ----------------------------------------------------------------
    def create_server(self, cmd: CreateServer, ctx: RequestContext) -> Server:
        flavor = self._usable_flavor(cmd.flavor_ref, ctx)
        image = self._usable_image(cmd.image_ref, ctx)
        server = Server(
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            request_id=ctx.request_id,
            name=cmd.name,
            flavor=flavor.snapshot_for_server(),
            image_id=str(image.id),
            metadata=dict(cmd.metadata),
            user_data=cmd.user_data,
            description=cmd.description,
            availability_zone=cmd.availability_zone,
            key_name=cmd.key_name,
        )
        self.save(server)
        return server

    def delete_server(self, server_id: UUID, ctx: RequestContext) -> None:
        """A server that never reached a host is deleted at once; otherwise its agent finishes.

        A delete racing the scheduler or the conductor is judged again on the
        newer state: clients expect a delete to succeed, never a 409.
        """
        for attempt in range(_DELETE_ATTEMPTS):
            server = self.visible_server(server_id, ctx)
            server.request_delete(request_id=ctx.request_id, user_id=ctx.user_id)
            if not server.needs_host_cleanup:
                server.record_deleted(host=None)
            try:
                self.save(server)
                return
            except IntegrityError:
                if attempt == _DELETE_ATTEMPTS - 1:
                    raise

    def _usable_flavor(self, flavor_ref: str, ctx: RequestContext) -> Flavor:
        flavorid = flavor_ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            flavor = self.flavor(flavorid)
        except NotFound:
            raise InvalidReference(f"Flavor {flavorid} could not be found.") from None
        if not (flavor.is_public or ctx.is_admin):
            raise InvalidReference(f"Flavor {flavorid} could not be found.")
        return flavor

    def _usable_image(self, image_ref: str, ctx: RequestContext) -> Image:
        ref = image_ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            image = self.image(UUID(ref))
        except (ValueError, NotFound):
            raise InvalidReference(f"Image {ref} could not be found.") from None
        if not image.usable_by(ctx.project_id) or image.status != "active":
            raise InvalidReference(f"Image {ref} could not be found.")
        return image

    # --- flavors and images -------------------------------------------------------
    def create_flavor(self, cmd: CreateFlavor) -> Flavor:
        flavorid = cmd.flavorid or str(uuid4())
        flavor = Flavor(
            flavorid=flavorid,
            name=cmd.name,
            vcpus=cmd.vcpus,
            ram=cmd.ram,
            disk=cmd.disk,
            ephemeral=cmd.ephemeral,
            swap=cmd.swap,
            rxtx_factor=cmd.rxtx_factor,
            is_public=cmd.is_public,
            description=cmd.description,
        )
        reservation = FlavorNameReservation(name=cmd.name, flavorid=flavorid)
        try:
            self.save(flavor, reservation)
            return flavor
        except IntegrityError:
            if self._exists(flavor.id):
                raise AlreadyExists(f"Flavor with ID {flavorid} already exists.") from None
            raise AlreadyExists(f"Flavor with name {cmd.name} already exists.") from None

    def register_image(self, image_id: UUID, **fields: Any) -> Image:
        image = Image(id=image_id, **fields)
        self.save(image)
        return image

    def _exists(self, aggregate_id: UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True
