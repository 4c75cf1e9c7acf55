"""What a host's agent does for each step of a move saga (domain.migration), on libvirt.

Every step is idempotent: a step delivered again (the agent died before its
report went out) finds the domain where the step leads and reports the same.
"""

from __future__ import annotations

from typing import Any

import libvirt

from agents.libvirt_driver import LibvirtHypervisor
from domain import migration as moves
from domain.states import PowerState

# The server events whose `step` names the step a host must do next.
MOVE_EVENTS = frozenset(
    f"Server.{name}"
    for name in (
        "MoveScheduled",
        "ResizeMigrated",
        "ResizeConfirmRequested",
        "ResizeRevertRequested",
        "ResizeRevertedOnDestination",
    )
)


def run_step(
    hypervisors: dict[str, LibvirtHypervisor], hypervisor: LibvirtHypervisor, server_id: str, step: str, args: Any
) -> PowerState:
    """Do `step` for the server on `hypervisor`; the domain's power state afterwards."""
    if step == moves.RESIZE_INSTANCE:
        return hypervisor.power_off(server_id)
    if step in (moves.FINISH_RESIZE, moves.FINISH_REVERT_RESIZE, moves.REBUILD, moves.UNSHELVE_INSTANCE):
        return hypervisor.place(
            server_id, str(args["name"]), int(args["vcpus"]), int(args["memory_mb"]), bool(args["running"])
        )
    if step in (moves.CONFIRM_RESIZE, moves.REVERT_RESIZE):
        if not args["same_host"]:
            hypervisor.forget(server_id)
        return hypervisor.power_state(server_id)
    if step == moves.LIVE_MIGRATE:
        dest_host = str(args["dest"])
        local = hypervisors.get(dest_host)
        if local is not None:
            return hypervisor.live_migrate(server_id, dest_host, local.connection)
        dest = libvirt.open(str(args["dest_uri"]))
        try:
            return hypervisor.live_migrate(server_id, dest_host, dest)
        finally:
            dest.close()
    raise KeyError(step)
