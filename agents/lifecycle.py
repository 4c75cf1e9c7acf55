"""What the lifecycle actions (domain.host_actions) do to a server's domain.

Each returns the domain's power state afterwards and may run again after a
redelivery without harm: a shelved domain already off stays off, an
offloaded one already gone stays gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.libvirt_driver import LibvirtHypervisor
from domain.states import PowerState

Run = Callable[[LibvirtHypervisor, str, dict[str, Any]], PowerState]


def _shelve(hypervisor: LibvirtHypervisor, server_id: str, args: dict[str, Any]) -> PowerState:
    """Nova's shelve: a clean shutdown; with shelved_offload_time 0, the offload follows at once."""
    power_state = hypervisor.power_off(server_id)
    return _offload(hypervisor, server_id, args) if args.get("offload") else power_state


def _offload(hypervisor: LibvirtHypervisor, server_id: str, args: dict[str, Any]) -> PowerState:
    """The domain leaves the host; the conductor releases its claim when the report arrives."""
    hypervisor.destroy(server_id)
    return PowerState.NOSTATE


def _rebuild(hypervisor: LibvirtHypervisor, server_id: str, args: dict[str, Any]) -> PowerState:
    return hypervisor.rebuild(server_id, str(args["name"]), str(args["changes"]["image_id"]))


ACTIONS: dict[str, Run] = {
    "rebuild": _rebuild,
    "shelve": _shelve,
    "shelveOffload": _offload,
    "unshelve": lambda hypervisor, server_id, args: hypervisor.power_on(server_id),
    "rescue": lambda hypervisor, server_id, args: hypervisor.rescue(server_id, str(args["image_id"])),
    "unrescue": lambda hypervisor, server_id, args: hypervisor.unrescue(server_id),
    # Nova's libvirt driver has no soft delete or restore of its own: it powers the guest off and on.
    "delete": lambda hypervisor, server_id, args: hypervisor.power_off(server_id),
    "restore": lambda hypervisor, server_id, args: hypervisor.power_on(server_id),
}
