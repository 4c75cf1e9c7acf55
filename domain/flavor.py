"""The Flavor aggregate: a named size that servers are created from.

Nova's flavor ids are strings chosen by the operator ("1", "m1.tiny", a
uuid); the aggregate id is derived from that string, and a second aggregate
reserves the name, so two flavors can share neither (the store refuses the
second version 1 of either). Deleting a flavor releases its name and id; taking
them again appends to the same two aggregates, under the same concurrency check.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, InvalidState, NotFound
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
        self.projects: list[str] = []
        self.deleted = False

    @staticmethod
    def create_id(flavorid: str) -> UUID:
        return flavor_aggregate_id(flavorid)

    @property
    def not_found(self) -> str:
        return f"Flavor {self.flavorid} could not be found."

    def usable_by(self, project_id: str, is_admin: bool) -> bool:
        """A private flavor serves admins and the projects on its access list."""
        return not self.deleted and (is_admin or self.is_public or project_id in self.projects)

    # --- life -------------------------------------------------------------------
    def delete(self) -> None:
        """Servers keep their snapshot; the flavor id and name become free again."""
        self._check_exists()
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True
        self.extra_specs = {}
        self.projects = []

    def recreate(
        self,
        *,
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
        """A deleted flavor's id taken again (Nova allows it): a new flavor under the old id."""
        if not self.deleted:
            raise AlreadyExists(f"Flavor with ID {self.flavorid} already exists.")
        self._recreated(
            flavorid=self.flavorid,
            name=name,
            vcpus=vcpus,
            ram=ram,
            disk=disk,
            ephemeral=ephemeral,
            swap=swap,
            rxtx_factor=rxtx_factor,
            is_public=is_public,
            description=description,
        )

    @event("Recreated")
    def _recreated(
        self,
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
        self.flavorid = flavorid  # unchanged; carried so readers need no history to key the new flavor
        self.name = name
        self.vcpus = vcpus
        self.ram = ram
        self.disk = disk
        self.ephemeral = ephemeral
        self.swap = swap
        self.rxtx_factor = rxtx_factor
        self.is_public = is_public
        self.description = description
        self.deleted = False

    def update_description(self, description: str | None) -> None:
        self._check_exists()
        self._description_updated(description=description)

    @event("DescriptionUpdated")
    def _description_updated(self, description: str | None) -> None:
        self.description = description

    # --- extra specs ------------------------------------------------------------
    def set_extra_specs(self, specs: dict[str, str]) -> None:
        """Adds or replaces keys; the event carries the whole resulting set, so a
        reader never needs the history to know a flavor's extra specs."""
        self._check_exists()
        merged = self.extra_specs | specs
        if merged != self.extra_specs:
            self._extra_specs_changed(extra_specs=merged)

    def unset_extra_spec(self, key: str) -> None:
        self._check_exists()
        if key not in self.extra_specs:
            raise NotFound(f"Flavor {self.flavorid} has no extra specs with key {key}.")
        self._extra_specs_changed(extra_specs={k: v for k, v in self.extra_specs.items() if k != key})

    @event("ExtraSpecsChanged")
    def _extra_specs_changed(self, extra_specs: dict[str, str]) -> None:
        self.extra_specs = dict(extra_specs)

    # --- access list ------------------------------------------------------------
    def grant_access(self, project_id: str, *, public_refused: bool) -> None:
        """`public_refused`: from 2.7 Nova refuses to list projects on a public flavor."""
        self._check_exists()
        if self.is_public and public_refused:
            raise InvalidState("Can not add access to a public flavor.")
        if project_id in self.projects:
            raise AlreadyExists(
                f"Flavor access already exists for flavor {self.flavorid} and project {project_id} combination."
            )
        self._access_granted(project_id=project_id)

    @event("AccessGranted")
    def _access_granted(self, project_id: str) -> None:
        self.projects = [*self.projects, project_id]

    def revoke_access(self, project_id: str) -> None:
        self._check_exists()
        if project_id not in self.projects:
            raise NotFound(f"Flavor access not found for {self.flavorid} / {project_id} combination.")
        self._access_revoked(project_id=project_id)

    @event("AccessRevoked")
    def _access_revoked(self, project_id: str) -> None:
        self.projects = [project for project in self.projects if project != project_id]

    def _check_exists(self) -> None:
        if self.deleted:
            raise NotFound(self.not_found)

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
        self.flavorid: str | None = flavorid

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(FLAVOR_NAME_NAMESPACE, name)

    def release(self) -> None:
        """The flavor holding the name was deleted."""
        if self.flavorid is not None:
            self._released()

    @event("Released")
    def _released(self) -> None:
        self.flavorid = None

    def reserve(self, flavorid: str) -> None:
        """A released name taken by a new flavor; a held one conflicts."""
        if self.flavorid is not None:
            raise AlreadyExists(f"Flavor with name {self.name} already exists.")
        self._reserved_again(flavorid=flavorid)

    @event("ReservedAgain")
    def _reserved_again(self, flavorid: str) -> None:
        self.flavorid = flavorid
