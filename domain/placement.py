"""Placement's capacity arithmetic: inventories per resource class and the rule
`used + amount <= (total - reserved) * allocation_ratio`.

Kept as plain values so that the Host aggregate, the scheduler's in-memory
view and the projections all count the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cached_property

VCPU = "VCPU"
MEMORY_MB = "MEMORY_MB"
DISK_GB = "DISK_GB"
STANDARD_CLASSES = (VCPU, MEMORY_MB, DISK_GB)

# Nova's defaults: initial_cpu_allocation_ratio, initial_ram_allocation_ratio,
# initial_disk_allocation_ratio and reserved_host_memory_mb.
DEFAULT_ALLOCATION_RATIOS = {VCPU: 4.0, MEMORY_MB: 1.0, DISK_GB: 1.0}
DEFAULT_RESERVED = {VCPU: 0, MEMORY_MB: 512, DISK_GB: 0}


@dataclass(frozen=True)
class Inventory:
    """One resource class on one provider."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1

    @cached_property
    def capacity(self) -> int:
        """Computed once: the scheduler asks every candidate's, every decision."""
        return math.floor((self.total - self.reserved) * self.allocation_ratio)

    def admits(self, used: int, amount: int) -> bool:
        """Whether `amount` more fits, honouring min/max unit and step size."""
        if amount == 0:
            return True
        max_unit = self.total if self.max_unit is None else self.max_unit
        if amount < self.min_unit or amount > max_unit or amount % self.step_size:
            return False
        return used + amount <= self.capacity

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Inventories = Mapping[str, Inventory]
Resources = Mapping[str, int]


def default_inventories(
    vcpus: int,
    memory_mb: int,
    disk_gb: int,
    allocation_ratios: Mapping[str, float] | None = None,
    reserved: Mapping[str, int] | None = None,
) -> dict[str, Inventory]:
    """A compute node's inventory; ratios and reservations not given are Nova's defaults."""
    totals = {VCPU: vcpus, MEMORY_MB: memory_mb, DISK_GB: disk_gb}
    ratios = {**DEFAULT_ALLOCATION_RATIOS, **(allocation_ratios or {})}
    held = {**DEFAULT_RESERVED, **(reserved or {})}
    return {
        rc: Inventory(total=total, reserved=min(held[rc], total), allocation_ratio=ratios[rc], max_unit=total)
        for rc, total in totals.items()
    }


def inventories_from_dict(raw: Mapping[str, Mapping[str, object]]) -> dict[str, Inventory]:
    return {rc: Inventory(**dict(fields)) for rc, fields in raw.items()}  # type: ignore[arg-type]


def inventories_to_dict(inventories: Inventories) -> dict[str, dict[str, object]]:
    return {rc: inv.to_dict() for rc, inv in inventories.items()}


def fits(inventories: Inventories, used: Resources, request: Resources) -> bool:
    """Whether every class of `request` fits; a class the host lacks never fits."""
    for rc, amount in request.items():
        if amount == 0:
            continue
        inventory = inventories.get(rc)
        if inventory is None or not inventory.admits(used.get(rc, 0), amount):
            return False
    return True


def flavor_resources(vcpus: int, ram: int, disk: int, ephemeral: int, swap: int) -> dict[str, int]:
    """Nova's request from a flavor: DISK_GB = root + ephemeral + ceil(swap MB / 1024)."""
    return {
        VCPU: vcpus,
        MEMORY_MB: ram,
        DISK_GB: disk + ephemeral + math.ceil(swap / 1024),
    }
