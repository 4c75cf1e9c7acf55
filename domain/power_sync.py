"""Nova's power-state sync (compute manager `_sync_instance_power_state`): what a server's
vm_state becomes when its host observes its domain in a power state it should not be in.

Nova answers a domain shut off (or crashed, or suspended by the guest) under an
active server, and one shut off under a paused server, with its stop API: the
server ends stopped. Every other discrepancy only records the observed power
state: a paused guest may be an operator's instrumentation, a domain not found
may be a hypervisor restarting (Nova logs "unexpectedly not found" and leaves
the vm_state), and a running domain under a stopped server is left to the
operator (Nova force-stops it; Chronova records it as running and logs).
"""

from __future__ import annotations

from domain.states import PowerState, VmState

_STOPPED_BY = {
    VmState.ACTIVE: frozenset({PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.SUSPENDED}),
    VmState.PAUSED: frozenset({PowerState.SHUTDOWN, PowerState.CRASHED}),
}


def vm_state_after_sync(vm_state: VmState, power_state: PowerState) -> VmState:
    """The vm_state a settled server (no task in flight) takes when its domain is seen in `power_state`."""
    return VmState.STOPPED if power_state in _STOPPED_BY.get(vm_state, frozenset()) else vm_state
