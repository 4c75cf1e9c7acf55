"""The Host aggregate: a compute node's inventory and the capacity claimed on it.

Claims are events on this aggregate, so two schedulers racing for the last
slot both try to append the same next version: the store accepts one, the
other reloads and sees the slot gone (ARCHITECTURE.md invariant 6).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InsufficientCapacity, InvalidState
from domain.placement import (
    Inventory,
    Resources,
    fits,
    inventories_from_dict,
)

HOST_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/host")
SERVICE_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/compute-service")
COMPUTE_BINARY = "nova-compute"
HOSTING_INSTANCES = "Unable to delete compute service that is hosting instances. Migrate or delete the instances first."


def host_id(name: str) -> UUID:
    """Hosts are found by name, so their aggregate id is derived from it."""
    return uuid5(HOST_NAMESPACE, name)


def compute_service_id(host_uuid: UUID) -> UUID:
    """The nova-compute service on a host has its own stable uuid (os-services from 2.53), derived from the host's."""
    return uuid5(SERVICE_NAMESPACE, str(host_uuid))


class Host(Aggregate):
    """A compute node: what it offers, who holds what on it, whether it is usable."""

    @event("Registered")
    def __init__(self, *, name: str, inventories: dict[str, dict[str, Any]], hypervisor: dict[str, Any]):
        self.name = name
        self.inventories: dict[str, Inventory] = inventories_from_dict(inventories)
        self.hypervisor = hypervisor
        self.allocations: dict[str, dict[str, int]] = {}
        # Kept as claims come and go, so the scheduler reads it per host per decision for free.
        self.usage: dict[str, int] = {}
        self.up = False
        self.enabled = True
        self.disabled_reason: str | None = None
        self.forced_down = False
        self.deleted = False
        self.traits: list[str] = []

    @staticmethod
    def create_id(name: str) -> UUID:
        return host_id(name)

    # --- what the agent reports ------------------------------------------------
    def report_inventory(self, inventories: dict[str, dict[str, Any]], hypervisor: dict[str, Any]) -> None:
        """Record a changed inventory; an unchanged heartbeat records nothing.

        A running agent whose service was deleted registers its host again, as
        a running nova-compute re-creates its compute node (Nova's advice:
        stop the agent before deleting its service).
        """
        if self.deleted:
            self._reregistered(name=self.name, inventories=inventories, hypervisor=hypervisor)
        elif inventories_from_dict(inventories) != self.inventories or hypervisor != self.hypervisor:
            self._inventory_updated(inventories=inventories, hypervisor=hypervisor)

    @event("InventoryUpdated")
    def _inventory_updated(self, inventories: dict[str, dict[str, Any]], hypervisor: dict[str, Any]) -> None:
        self.inventories = inventories_from_dict(inventories)
        self.hypervisor = hypervisor

    def report_traits(self, traits: list[str]) -> None:
        """The host's traits as its agent is configured (CPU flags, CUSTOM_*); unchanged, nothing is recorded."""
        if sorted(set(traits)) != self.traits:
            self._traits_updated(traits=sorted(set(traits)))

    @event("TraitsUpdated")
    def _traits_updated(self, traits: list[str]) -> None:
        self.traits = list(traits)

    def report_alive(self) -> None:
        if not self.up:
            self._service_up()

    @event("Reregistered")
    def _reregistered(self, name: str, inventories: dict[str, dict[str, Any]], hypervisor: dict[str, Any]) -> None:
        self.inventories = inventories_from_dict(inventories)
        self.hypervisor = hypervisor
        self.up = False
        self.enabled = True
        self.disabled_reason = None
        self.forced_down = False
        self.deleted = False

    @event("ServiceUp")
    def _service_up(self) -> None:
        self.up = True

    def report_silent(self) -> None:
        """The agent's heartbeats stopped: no new server goes here until they resume."""
        if self.up:
            self._service_down()

    @event("ServiceDown")
    def _service_down(self) -> None:
        self.up = False

    # --- what an operator decides (os-services) -----------------------------------
    def disable(self, reason: str | None) -> None:
        """No new server goes here; the reason is for other operators. Unchanged, nothing is recorded."""
        if self.enabled or reason != self.disabled_reason:
            self._service_disabled(reason=reason)

    @event("ServiceDisabled")
    def _service_disabled(self, reason: str | None) -> None:
        self.enabled = False
        self.disabled_reason = reason

    def enable(self) -> None:
        if not self.enabled:
            self._service_enabled()

    @event("ServiceEnabled")
    def _service_enabled(self) -> None:
        self.enabled = True
        self.disabled_reason = None

    def force_down(self, forced_down: bool) -> None:
        """An operator's word that the host is down (fenced), whatever its heartbeats say."""
        if forced_down and not self.forced_down:
            self._service_forced_down()
        elif not forced_down and self.forced_down:
            self._service_force_down_cleared()

    @event("ServiceForcedDown")
    def _service_forced_down(self) -> None:
        self.forced_down = True

    @event("ServiceForceDownCleared")
    def _service_force_down_cleared(self) -> None:
        self.forced_down = False

    def delete_service(self) -> None:
        """Refused while servers hold allocations here: their resources would be orphaned."""
        if self.allocations:
            raise InvalidState(HOSTING_INSTANCES)
        self._service_deleted()

    @event("ServiceDeleted")
    def _service_deleted(self) -> None:
        self.deleted = True
        self.up = False

    @property
    def service_state(self) -> str:
        """Nova's service state: a forced-down service is down whatever its heartbeats say."""
        return "up" if self.up and not self.forced_down else "down"

    # --- claims -----------------------------------------------------------------
    @property
    def schedulable(self) -> bool:
        return self.up and self.enabled and not self.forced_down and not self.deleted

    def can_fit(self, resources: Resources) -> bool:
        return fits(self.inventories, self.usage, resources)

    def claim(self, server_id: str, resources: Resources) -> None:
        """Allocate `resources` to a server; refuse rather than over-commit."""
        if server_id in self.allocations:
            return
        if not self.can_fit(resources):
            raise InsufficientCapacity(f"Host {self.name} cannot fit {dict(resources)}")
        self._allocation_claimed(server_id=server_id, resources=dict(resources))

    @event("AllocationClaimed")
    def _allocation_claimed(self, server_id: str, resources: dict[str, int]) -> None:
        self.allocations[server_id] = resources
        for rc, amount in resources.items():
            self.usage[rc] = self.usage.get(rc, 0) + amount

    def release(self, server_id: str) -> None:
        """Give a server's allocation back, once: a second release records nothing."""
        resources = self.allocations.get(server_id)
        if resources is not None:
            self._allocation_released(server_id=server_id, resources=resources)

    @event("AllocationReleased")
    def _allocation_released(self, server_id: str, resources: dict[str, int]) -> None:
        for rc, amount in self.allocations.pop(server_id).items():
            self.usage[rc] -= amount

    def move_allocation(self, consumer: str, to_consumer: str) -> None:
        """Hand an allocation to another consumer (a server's to its migration during a move, and back), as
        placement does; usage is unchanged. Nothing to move (moved already) records nothing."""
        resources = self.allocations.get(consumer)
        if resources is not None and to_consumer not in self.allocations:
            self._allocation_moved(consumer=consumer, to_consumer=to_consumer, resources=resources)

    @event("AllocationMoved")
    def _allocation_moved(self, consumer: str, to_consumer: str, resources: dict[str, int]) -> None:
        self.allocations[to_consumer] = self.allocations.pop(consumer)
