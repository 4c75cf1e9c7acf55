"""The Host aggregate: a compute node's inventory and the capacity claimed on it.

Claims are events on this aggregate, so two schedulers racing for the last
slot both try to append the same next version: the store accepts one, the
other reloads and sees the slot gone (ARCHITECTURE.md invariant 6).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InsufficientCapacity
from domain.placement import (
    Inventory,
    Resources,
    fits,
    inventories_from_dict,
)

HOST_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/host")


def host_id(name: str) -> UUID:
    """Hosts are found by name, so their aggregate id is derived from it."""
    return uuid5(HOST_NAMESPACE, name)


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

    @staticmethod
    def create_id(name: str) -> UUID:
        return host_id(name)

    # --- what the agent reports ------------------------------------------------
    def report_inventory(self, inventories: dict[str, dict[str, Any]], hypervisor: dict[str, Any]) -> None:
        """Record a changed inventory; an unchanged heartbeat records nothing."""
        if inventories_from_dict(inventories) != self.inventories or hypervisor != self.hypervisor:
            self._inventory_updated(inventories=inventories, hypervisor=hypervisor)

    @event("InventoryUpdated")
    def _inventory_updated(self, inventories: dict[str, dict[str, Any]], hypervisor: dict[str, Any]) -> None:
        self.inventories = inventories_from_dict(inventories)
        self.hypervisor = hypervisor

    def report_alive(self) -> None:
        if not self.up:
            self._service_up()

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

    # --- claims -----------------------------------------------------------------
    @property
    def schedulable(self) -> bool:
        return self.up and self.enabled

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
