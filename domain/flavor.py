"""The Flavor aggregate: a named size that servers are created from.

Nova's flavor ids are strings chosen by the operator ("1", "m1.tiny", a
uuid); the aggregate id is derived from that string, and a second aggregate
reserves the name, so two flavors can share neither (the store refuses the
second version 1 of either).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.placement import flavor_resources

FLAVOR_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/flavor")
FLAVOR_NAME_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/flavor-name")


def flavor_aggregate_id(flavorid: str) -> UUID:
    return uuid5(FLAVOR_NAMESPACE, flavorid)


class Flavor(Aggregate):
    @event("Created")
    def __init__(
        self,
        *,
        flavorid: str,
        name: str,
        vcpus: int,
        ram: int,
        disk: int,
        ephemeral: int,
        swap: int,
        rxtx_factor: float,
        is_public: bool,
        description: str | None,
    ) -> None:
        self.flavorid = flavorid
        self.name = name
        self.vcpus = vcpus
        self.ram = ram
        self.disk = disk
        self.ephemeral = ephemeral
        self.swap = swap
        self.rxtx_factor = rxtx_factor
        self.is_public = is_public
        self.description = description
        self.extra_specs: dict[str, str] = {}

    @staticmethod
    def create_id(flavorid: str) -> UUID:
        return flavor_aggregate_id(flavorid)

    def snapshot_for_server(self) -> dict[str, Any]:
        """What a server keeps of its flavor, so later flavor edits never resize it."""
        return {
            "id": self.flavorid,
            "name": self.name,
            "vcpus": self.vcpus,
            "ram": self.ram,
            "disk": self.disk,
            "ephemeral": self.ephemeral,
            "swap": self.swap,
            "extra_specs": dict(self.extra_specs),
        }

    @property
    def resources(self) -> dict[str, int]:
        return flavor_resources(self.vcpus, self.ram, self.disk, self.ephemeral, self.swap)


class FlavorNameReservation(Aggregate):
    """Exists once per flavor name; saving a second one for a name conflicts."""

    @event("Reserved")
    def __init__(self, *, name: str, flavorid: str) -> None:
        self.name = name
        self.flavorid = flavorid

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(FLAVOR_NAME_NAMESPACE, name)
