"""The scheduler's decision as a pure function: filter hosts, weigh the rest.

The scheduler process feeds it an in-memory view of every host; the claim on
the chosen Host aggregate is what makes the choice stick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from domain.placement import MEMORY_MB, Inventory, Resources, fits


@dataclass(frozen=True)
class HostCandidate:
    """What the scheduler knows of one host at decision time."""

    name: str
    inventories: Mapping[str, Inventory]
    used: Mapping[str, int]
    up: bool
    enabled: bool
    forced_down: bool = False

    def free(self, resource_class: str) -> int:
        inventory = self.inventories.get(resource_class)
        if inventory is None:
            return 0
        return inventory.capacity - self.used.get(resource_class, 0)


@dataclass(frozen=True)
class Decision:
    """Hosts in order of preference (best first) and why the others were dropped."""

    ranked: tuple[str, ...]
    rejected: Mapping[str, int]

    def explain(self) -> str:
        reasons = ", ".join(f"{name} removed {count}" for name, count in self.rejected.items() if count)
        return f"Filters: {reasons}" if reasons else "No hosts are registered"


def choose_hosts(
    candidates: Iterable[HostCandidate], request: Resources, exclude: frozenset[str] = frozenset()
) -> Decision:
    """ComputeFilter (up, enabled, not forced down), then capacity;
    weigh by free RAM (Nova's RAMWeigher, multiplier 1.0)."""
    rejected = {"ComputeFilter": 0, "ResourceFilter": 0, "RetryFilter": 0}
    passing: list[HostCandidate] = []
    for host in candidates:
        if host.name in exclude:
            rejected["RetryFilter"] += 1
        elif not (host.up and host.enabled) or host.forced_down:
            rejected["ComputeFilter"] += 1
        elif not fits(host.inventories, host.used, request):
            rejected["ResourceFilter"] += 1
        else:
            passing.append(host)
    passing.sort(key=lambda h: (-h.free(MEMORY_MB), h.name))
    return Decision(ranked=tuple(h.name for h in passing), rejected=rejected)
