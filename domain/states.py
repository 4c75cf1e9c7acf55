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
    REBOOTING = "rebooting"
    REBOOTING_HARD = "rebooting_hard"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    PAUSING = "pausing"
    UNPAUSING = "unpausing"
    SUSPENDING = "suspending"
    RESUMING = "resuming"
    REBUILDING = "rebuilding"
    SHELVING = "shelving"
    SHELVING_OFFLOADING = "shelving_offloading"
    UNSHELVING = "unshelving"
    RESCUING = "rescuing"
    UNRESCUING = "unrescuing"
    IMAGE_SNAPSHOT = "image_snapshot"
    SOFT_DELETING = "soft-deleting"
    RESTORING = "restoring"
    # The moves (domain.migration).
    RESIZE_PREP = "resize_prep"
    RESIZE_MIGRATING = "resize_migrating"
    RESIZE_MIGRATED = "resize_migrated"
    RESIZE_FINISH = "resize_finish"
    RESIZE_REVERTING = "resize_reverting"
    RESIZE_CONFIRMING = "resize_confirming"
    MIGRATING = "migrating"


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


# Where Nova shows an in-flight task instead of the vm_state's word (its _STATE_MAP).
_STATUS_BY_TASK_STATE: dict[tuple[str, str | None], str] = {
    (VmState.ACTIVE, TaskState.REBOOTING): "REBOOT",
    (VmState.ACTIVE, TaskState.REBOOTING_HARD): "HARD_REBOOT",
    (VmState.ACTIVE, TaskState.REBUILDING): "REBUILD",
    (VmState.STOPPED, TaskState.REBUILDING): "REBUILD",
    (VmState.ERROR, TaskState.REBUILDING): "REBUILD",
    # The moves (domain.migration), as Nova's _STATE_MAP shows them.
    **{
        (vm_state, task_state): "RESIZE"
        for vm_state in (VmState.ACTIVE, VmState.STOPPED)
        for task_state in ("resize_prep", "resize_migrating", "resize_migrated", "resize_finish")
    },
    (VmState.ACTIVE, "migrating"): "MIGRATING",
    (VmState.PAUSED, "migrating"): "MIGRATING",
    (VmState.RESIZED, "resize_reverting"): "REVERT_RESIZE",
}


def server_status(vm_state: str, task_state: str | None) -> str:
    """The API's single `status` word: the vm_state's, refined by some task_states as Nova does.

    Only an active server shows its reboot; a stopped server being hard
    rebooted stays SHUTOFF until it runs, and pausing or powering off shows
    the state it leaves until it got there.
    """
    refined = _STATUS_BY_TASK_STATE.get((vm_state, task_state))
    return refined or _STATUS_BY_VM_STATE.get(VmState(vm_state), "UNKNOWN")


ANY_VM_STATE = frozenset(VmState) - {VmState.DELETED}
NO_TASK: frozenset[TaskState | None] = frozenset({None})


@dataclass(frozen=True)
class Transition:
    """Where an action may start: the vm_states and task_states it accepts."""

    vm_states: frozenset[VmState]
    task_states: frozenset[TaskState | None]


# A hard reboot may overtake these tasks (Nova's ALLOW_REBOOT): it is the way out of a stuck one.
HARD_REBOOT_OVERTAKES: frozenset[TaskState | None] = NO_TASK | {
    TaskState.REBOOTING,
    TaskState.REBOOTING_HARD,
    TaskState.PAUSING,
    TaskState.UNPAUSING,
    TaskState.SUSPENDING,
    TaskState.RESUMING,
}

TRANSITIONS: dict[str, Transition] = {
    "schedule": Transition(frozenset({VmState.BUILDING}), frozenset({TaskState.SCHEDULING})),
    "spawn": Transition(frozenset({VmState.BUILDING}), frozenset({TaskState.SPAWNING})),
    "delete": Transition(ANY_VM_STATE, frozenset(TaskState) | NO_TASK),
    "complete_delete": Transition(ANY_VM_STATE, frozenset({TaskState.DELETING})),
    # The actions a server's host carries out (Nova's vm_states.ALLOW_* and compute/api.py checks).
    "reboot": Transition(frozenset({VmState.ACTIVE}), NO_TASK),
    "reboot_hard": Transition(
        frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED, VmState.ERROR}),
        HARD_REBOOT_OVERTAKES,
    ),
    "stop": Transition(frozenset({VmState.ACTIVE, VmState.ERROR}), NO_TASK),
    "start": Transition(frozenset({VmState.STOPPED}), NO_TASK),
    "pause": Transition(frozenset({VmState.ACTIVE}), NO_TASK),
    "unpause": Transition(frozenset({VmState.PAUSED}), NO_TASK),
    "suspend": Transition(frozenset({VmState.ACTIVE}), NO_TASK),
    "resume": Transition(frozenset({VmState.SUSPENDED}), NO_TASK),
    # The lifecycle actions (chronova/lifecycle.py): Nova's check_instance_state of each.
    "rebuild": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}), NO_TASK),
    "shelve": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED}), NO_TASK),
    "shelveOffload": Transition(frozenset({VmState.SHELVED}), NO_TASK),
    "unshelve": Transition(frozenset({VmState.SHELVED, VmState.SHELVED_OFFLOADED}), NO_TASK),
    "rescue": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}), NO_TASK),
    "unrescue": Transition(frozenset({VmState.RESCUED}), NO_TASK),
    "createImage": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED}), NO_TASK),
    "changePassword": Transition(frozenset({VmState.ACTIVE}), NO_TASK),
    "restore": Transition(frozenset({VmState.SOFT_DELETED}), NO_TASK),
    # A server that never ran, is soft deleted already or is being deleted is deleted outright instead.
    "soft_delete": Transition(
        ANY_VM_STATE - {VmState.SOFT_DELETED, VmState.BUILDING},
        frozenset(TaskState) - {TaskState.DELETING, TaskState.SOFT_DELETING} | NO_TASK,
    ),
    "forceDelete": Transition(ANY_VM_STATE, NO_TASK),
    # The moves (domain.migration): Nova's check_instance_state of each.
    "resize": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED}), NO_TASK),
    "migrate": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED}), NO_TASK),
    "confirmResize": Transition(frozenset({VmState.RESIZED}), NO_TASK),
    "revertResize": Transition(frozenset({VmState.RESIZED}), NO_TASK),
    "os-migrateLive": Transition(frozenset({VmState.ACTIVE, VmState.PAUSED}), NO_TASK),
    "evacuate": Transition(frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}), NO_TASK),
}


def check_transition(
    action: str, server_id: str, vm_state: VmState, task_state: TaskState | None, shown_as: str | None = None
) -> None:
    """Raise InvalidState with Nova's wording unless `action` may start here.

    `shown_as` is the name the refusal gives the action when it differs from
    its TRANSITIONS key (a hard reboot is refused as 'reboot', as in Nova).
    """
    transition = TRANSITIONS[action]
    name = shown_as or action
    if vm_state not in transition.vm_states:
        raise InvalidState(f"Cannot '{name}' instance {server_id} while it is in vm_state {vm_state}")
    if task_state not in transition.task_states:
        raise InvalidState(f"Cannot '{name}' instance {server_id} while it is in task_state {task_state}")
