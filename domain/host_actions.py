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

    @property
    def args(self) -> dict[str, Any]:
        """What the agent needs besides the name: a reboot's kind."""
        if self.name == "reboot":
            return {"type": "HARD" if self is HARD_REBOOT else "SOFT"}
        return {}


REBOOT = HostAction("reboot", "reboot", TaskState.REBOOTING, VmState.ACTIVE, "compute_reboot_instance")
HARD_REBOOT = HostAction("reboot", "reboot_hard", TaskState.REBOOTING_HARD, VmState.ACTIVE, "compute_reboot_instance")
STOP = HostAction("stop", "stop", TaskState.POWERING_OFF, VmState.STOPPED, "compute_stop_instance")
START = HostAction("start", "start", TaskState.POWERING_ON, VmState.ACTIVE, "compute_start_instance")
PAUSE = HostAction("pause", "pause", TaskState.PAUSING, VmState.PAUSED, "compute_pause_instance")
UNPAUSE = HostAction("unpause", "unpause", TaskState.UNPAUSING, VmState.ACTIVE, "compute_unpause_instance")
SUSPEND = HostAction("suspend", "suspend", TaskState.SUSPENDING, VmState.SUSPENDED, "compute_suspend_instance")
RESUME = HostAction("resume", "resume", TaskState.RESUMING, VmState.ACTIVE, "compute_resume_instance")

_BY_NAME = {action.name: action for action in (REBOOT, STOP, START, PAUSE, UNPAUSE, SUSPEND, RESUME)}
HOST_ACTION_NAMES = tuple(_BY_NAME)


def host_action(name: str, args: dict[str, Any]) -> HostAction:
    """The action an ActionRequested event names (KeyError for a name no host action has)."""
    if name == "reboot" and args.get("type") == "HARD":
        return HARD_REBOOT
    return _BY_NAME[name]
