"""The server actions a server's host carries out (reboot, stop, start, pause...).

Each is asked for through the API, waits in a task_state while the host's
agent works, and ends in a vm_state when the agent reports success. The
names are Nova's: the instance action a request records and the event its
compute step records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.states import TaskState, VmState


@dataclass(frozen=True)
class HostAction:
    name: str  # Nova's instance action ("reboot", "stop"...), also what the agent is asked to do
    transition: str  # its entry in domain.states.TRANSITIONS
    task_state: TaskState
    ends_in: VmState
    step: str  # Nova's instance action event for the host's part
    # The vm_states the action leaves as they were (a snapshot of a paused server, a rebuild of a stopped one).
    keeps: frozenset[VmState] = frozenset()

    @property
    def args(self) -> dict[str, Any]:
        """What the agent needs besides the name: a reboot's kind, whether a shelve offloads at once."""
        if self.name == "reboot":
            return {"type": "HARD" if self is HARD_REBOOT else "SOFT"}
        if self.name == "shelve":
            return {"offload": self is SHELVE_AND_OFFLOAD}
        return {}

    def end_state(self, before: VmState) -> VmState:
        """The vm_state once the host reports success, for a server that was in `before`."""
        return before if before in self.keeps else self.ends_in


REBOOT = HostAction("reboot", "reboot", TaskState.REBOOTING, VmState.ACTIVE, "compute_reboot_instance")
HARD_REBOOT = HostAction("reboot", "reboot_hard", TaskState.REBOOTING_HARD, VmState.ACTIVE, "compute_reboot_instance")
STOP = HostAction("stop", "stop", TaskState.POWERING_OFF, VmState.STOPPED, "compute_stop_instance")
START = HostAction("start", "start", TaskState.POWERING_ON, VmState.ACTIVE, "compute_start_instance")
PAUSE = HostAction("pause", "pause", TaskState.PAUSING, VmState.PAUSED, "compute_pause_instance")
UNPAUSE = HostAction("unpause", "unpause", TaskState.UNPAUSING, VmState.ACTIVE, "compute_unpause_instance")
SUSPEND = HostAction("suspend", "suspend", TaskState.SUSPENDING, VmState.SUSPENDED, "compute_suspend_instance")
RESUME = HostAction("resume", "resume", TaskState.RESUMING, VmState.ACTIVE, "compute_resume_instance")

# The lifecycle actions (chronova/lifecycle.py asks for them, agents/lifecycle.py carries them out).
REBUILD = HostAction(
    "rebuild", "rebuild", TaskState.REBUILDING, VmState.ACTIVE, "compute_rebuild_instance", frozenset({VmState.STOPPED})
)
SHELVE = HostAction("shelve", "shelve", TaskState.SHELVING, VmState.SHELVED, "compute_shelve_instance")
SHELVE_AND_OFFLOAD = HostAction(
    "shelve", "shelve", TaskState.SHELVING, VmState.SHELVED_OFFLOADED, "compute_shelve_instance"
)
SHELVE_OFFLOAD = HostAction(
    "shelveOffload",
    "shelveOffload",
    TaskState.SHELVING_OFFLOADING,
    VmState.SHELVED_OFFLOADED,
    "compute_shelve_offload_instance",
)
# Unshelving a server still on its host starts it again, as Nova's conductor does.
UNSHELVE = HostAction("unshelve", "unshelve", TaskState.UNSHELVING, VmState.ACTIVE, "compute_start_instance")
RESCUE = HostAction("rescue", "rescue", TaskState.RESCUING, VmState.RESCUED, "compute_rescue_instance")
UNRESCUE = HostAction("unrescue", "unrescue", TaskState.UNRESCUING, VmState.ACTIVE, "compute_unrescue_instance")
SNAPSHOT = HostAction(
    "createImage",
    "createImage",
    TaskState.IMAGE_SNAPSHOT,
    VmState.ACTIVE,
    "compute_snapshot_instance",
    frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED}),
)
# Nova records a soft delete as a "delete" action; its host powers the guest off and keeps it.
SOFT_DELETE = HostAction(
    "delete", "soft_delete", TaskState.SOFT_DELETING, VmState.SOFT_DELETED, "compute_soft_delete_instance"
)
RESTORE = HostAction("restore", "restore", TaskState.RESTORING, VmState.ACTIVE, "compute_restore_instance")

_BY_NAME = {
    action.name: action
    for action in (
        REBOOT, STOP, START, PAUSE, UNPAUSE, SUSPEND, RESUME,
        REBUILD, SHELVE, SHELVE_OFFLOAD, UNSHELVE, RESCUE, UNRESCUE, SNAPSHOT, SOFT_DELETE, RESTORE,
    )
}  # fmt: skip
HOST_ACTION_NAMES = tuple(_BY_NAME)


def host_action(name: str, args: dict[str, Any]) -> HostAction:
    """The action an ActionRequested event names (KeyError for a name no host action has)."""
    if name == "reboot" and args.get("type") == "HARD":
        return HARD_REBOOT
    if name == "shelve" and args.get("offload"):
        return SHELVE_AND_OFFLOAD
    return _BY_NAME[name]
