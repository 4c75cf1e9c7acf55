"""Flavor use cases: create (reusing a deleted flavor's id or name), delete,
describe, extra specs and the access list of private flavors.

All flavor writes are admin-only; the API checks that before any of these run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.commands import CreateFlavor
from domain.errors import AlreadyExists, NotFound
from domain.flavor import Flavor, FlavorNameReservation, flavor_aggregate_id

if TYPE_CHECKING:
    from chronova.cloud import Cloud


def create_flavor(cloud: Cloud, cmd: CreateFlavor) -> Flavor:
    flavorid = cmd.flavorid or str(uuid4())
    try:
        flavor = _fresh_flavor(cloud, flavorid, cmd)
        reservation = _name_for(cloud, cmd.name, flavorid)
        cloud.save(flavor, reservation)
    except IntegrityError:  # a concurrent create took the id or the name first
        held = _find(cloud, flavor_aggregate_id(flavorid))
        if isinstance(held, Flavor) and not held.deleted:
            raise AlreadyExists(f"Flavor with ID {flavorid} already exists.") from None
        raise AlreadyExists(f"Flavor with name {cmd.name} already exists.") from None
    return flavor


def delete_flavor(cloud: Cloud, flavorid: str) -> None:
    flavor = existing_flavor(cloud, flavorid)
    flavor.delete()
    reservation = _find(cloud, FlavorNameReservation.create_id(flavor.name))
    if isinstance(reservation, FlavorNameReservation) and reservation.flavorid == flavorid:
        reservation.release()
        cloud.save(flavor, reservation)
    else:
        cloud.save(flavor)


def update_description(cloud: Cloud, flavorid: str, description: str | None) -> Flavor:
    flavor = existing_flavor(cloud, flavorid)
    flavor.update_description(description)
    cloud.save(flavor)
    return flavor


def set_extra_specs(cloud: Cloud, flavorid: str, specs: dict[str, str]) -> None:
    flavor = existing_flavor(cloud, flavorid)
    flavor.set_extra_specs(specs)
    cloud.save(flavor)


def unset_extra_spec(cloud: Cloud, flavorid: str, key: str) -> None:
    flavor = existing_flavor(cloud, flavorid)
    flavor.unset_extra_spec(key)
    cloud.save(flavor)


def grant_access(cloud: Cloud, flavorid: str, project_id: str, *, public_refused: bool) -> Flavor:
    flavor = existing_flavor(cloud, flavorid)
    flavor.grant_access(project_id, public_refused=public_refused)
    cloud.save(flavor)
    return flavor


def revoke_access(cloud: Cloud, flavorid: str, project_id: str) -> Flavor:
    flavor = existing_flavor(cloud, flavorid)
    flavor.revoke_access(project_id)
    cloud.save(flavor)
    return flavor


def existing_flavor(cloud: Cloud, flavorid: str) -> Flavor:
    """The live flavor under that id; a deleted one is as absent as one never created."""
    not_found = f"Flavor {flavorid} could not be found."
    flavor = cloud.load(flavor_aggregate_id(flavorid), Flavor, not_found)
    if flavor.deleted:
        raise NotFound(not_found)
    return flavor


def _fresh_flavor(cloud: Cloud, flavorid: str, cmd: CreateFlavor) -> Flavor:
    fields = {
        "name": cmd.name,
        "vcpus": cmd.vcpus,
        "ram": cmd.ram,
        "disk": cmd.disk,
        "ephemeral": cmd.ephemeral,
        "swap": cmd.swap,
        "rxtx_factor": cmd.rxtx_factor,
        "is_public": cmd.is_public,
        "description": cmd.description,
    }
    previous = _find(cloud, flavor_aggregate_id(flavorid))
    if not isinstance(previous, Flavor):
        return Flavor(flavorid=flavorid, **fields)
    previous.recreate(**fields)
    return previous


def _name_for(cloud: Cloud, name: str, flavorid: str) -> FlavorNameReservation:
    previous = _find(cloud, FlavorNameReservation.create_id(name))
    if not isinstance(previous, FlavorNameReservation):
        return FlavorNameReservation(name=name, flavorid=flavorid)
    previous.reserve(flavorid)
    return previous


def _find(cloud: Cloud, aggregate_id: UUID) -> object | None:
    try:
        return cloud.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
