"""Nova's server state model: vm_state, task_state, power_state and the table of
which action may start from which state.

Later actions extend TRANSITIONS; the aggregate consults it before raising any
event, so an illegal request or a contradicting agent report is refused before
anything is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from domain.errors import InvalidState


class VmState(StrEnum):
    ACTIVE = "active"
    BUILDING = "building"
    STOPPED = "stopped"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    RESIZED = "resized"
    RESCUED = "rescued"
    SOFT_DELETED = "soft-delete"
    DELETED = "deleted"
    ERROR = "error"
    SHELVED = "shelved"
    SHELVED_OFFLOADED = "shelved_offloaded"


class TaskState(StrEnum):
    SCHEDULING = "scheduling"
    SPAWNING = "spawning"
    DELETING = "deleting"


class PowerState(IntEnum):
    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


_STATUS_BY_VM_STATE = {
    VmState.ACTIVE: "ACTIVE",
    VmState.BUILDING: "BUILD",
    VmState.STOPPED: "SHUTOFF",
    VmState.PAUSED: "PAUSED",
    VmState.SUSPENDED: "SUSPENDED",
    VmState.RESIZED: "VERIFY_RESIZE",
    VmState.RESCUED: "RESCUE",
    VmState.SOFT_DELETED: "SOFT_DELETED",
    VmState.DELETED: "DELETED",
    VmState.ERROR: "ERROR",
    VmState.SHELVED: "SHELVED",
    VmState.SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}


def server_status(vm_state: str, task_state: str | None) -> str:
    """The API's single `status` word, as Nova derives it from vm_state.

    Nova refines it by task_state for in-flight actions (REBOOT, RESIZE...);
    none of those actions exists yet, so the task_state changes nothing today.
    """
    return _STATUS_BY_VM_STATE.get(VmState(vm_state), "UNKNOWN")


ANY_VM_STATE = frozenset(VmState) - {VmState.DELETED}
NO_TASK: frozenset[TaskState | None] = frozenset({None})


@dataclass(frozen=True)
class Transition:
    """Where an action may start: the vm_states and task_states it accepts."""

    vm_states: frozenset[VmState]
    task_states: frozenset[TaskState | None]


TRANSITIONS: dict[str, Transition] = {
    "schedule": Transition(frozenset({VmState.BUILDING}), frozenset({TaskState.SCHEDULING})),
    "spawn": Transition(frozenset({VmState.BUILDING}), frozenset({TaskState.SPAWNING})),
    "delete": Transition(ANY_VM_STATE, frozenset(TaskState) | NO_TASK),
    "complete_delete": Transition(ANY_VM_STATE, frozenset({TaskState.DELETING})),
}


def check_transition(action: str, server_id: str, vm_state: VmState, task_state: TaskState | None) -> None:
    """Raise InvalidState with Nova's wording unless `action` may start here."""
    transition = TRANSITIONS[action]
    if vm_state not in transition.vm_states:
        raise InvalidState(f"Cannot '{action}' instance {server_id} while it is in vm_state {vm_state}")
    if task_state not in transition.task_states:
        raise InvalidState(f"Cannot '{action}' instance {server_id} while it is in task_state {task_state}")
