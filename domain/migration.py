"""The move sagas (resize, cold migration, live migration, evacuation) as a table of steps.

A move is one migration record on the server (Nova's os-migrations row) and a
sequence of steps: the scheduler picks the destination, then hosts' agents
each do one step and report it. Each step's report advances the record; the
Server aggregate records every advance as one event, so the saga resumes
from its last event after any process dies, and a repeated report (of a step
no longer pending) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.states import PowerState, TaskState, VmState

RESIZE, MIGRATION, LIVE_MIGRATION, EVACUATION = "resize", "migration", "live-migration", "evacuation"
# Unshelving an offloaded server (chronova/lifecycle.py): scheduled like a move, from no source.
UNSHELVE = "unshelve"
# Nova's instance action per kind, its conductor's event, and the task_state the request sets.
ACTION = {
    RESIZE: "resize",
    MIGRATION: "migrate",
    LIVE_MIGRATION: "live-migration",
    EVACUATION: "evacuate",
    UNSHELVE: "unshelve",
}
# Each kind's entry in domain.states.TRANSITIONS, also the name Nova's 409 gives the action.
TRANSITION = {
    RESIZE: "resize",
    MIGRATION: "migrate",
    LIVE_MIGRATION: "os-migrateLive",
    EVACUATION: "evacuate",
    UNSHELVE: "unshelve",
}
CONDUCTOR_EVENT = {
    RESIZE: "conductor_migrate_server",
    MIGRATION: "conductor_migrate_server",
    LIVE_MIGRATION: "conductor_live_migrate_instance",
    EVACUATION: "conductor_rebuild_server",
    UNSHELVE: "schedule_instances",  # Nova's conductor reports an unshelve's scheduling under this name
}
REQUESTED_TASK = {
    RESIZE: TaskState.RESIZE_PREP,
    MIGRATION: TaskState.RESIZE_PREP,
    LIVE_MIGRATION: TaskState.MIGRATING,
    EVACUATION: TaskState.REBUILDING,
    UNSHELVE: TaskState.UNSHELVING,
}
REQUESTED_STATUS = {
    RESIZE: "pre-migrating",
    MIGRATION: "pre-migrating",
    LIVE_MIGRATION: "accepted",
    EVACUATION: "accepted",
    UNSHELVE: "accepted",
}
SCHEDULED_STATUS = {
    RESIZE: "migrating",
    MIGRATION: "migrating",
    LIVE_MIGRATION: "running",
    EVACUATION: "pre-migrating",
    UNSHELVE: "scheduled",
}
# Statuses of a move whose destination is still being chosen.
AWAITING_DESTINATION = frozenset(REQUESTED_STATUS.values())
IN_PROGRESS_LIVE = frozenset({"accepted", "queued", "preparing", "running"})

# The agent steps, with Nova's instance action event for each.
RESIZE_INSTANCE = "resize_instance"  # source: power the guest off, hand its disk over
FINISH_RESIZE = "finish_resize"  # destination: define the domain with the new flavor
CONFIRM_RESIZE = "confirm_resize"  # source: forget the old domain
REVERT_RESIZE = "revert_resize"  # destination: forget the new domain
FINISH_REVERT_RESIZE = "finish_revert_resize"  # source: the old domain again
LIVE_MIGRATE = "live_migrate"  # source: the running domain goes to the destination's hypervisor
REBUILD = "rebuild"  # destination of an evacuation: the domain anew
UNSHELVE_INSTANCE = "unshelve_instance"  # destination of an unshelve: the offloaded server's domain again
STEP_EVENT = {
    RESIZE_INSTANCE: "compute_resize_instance",
    FINISH_RESIZE: "compute_finish_resize",
    CONFIRM_RESIZE: "compute_confirm_resize",
    REVERT_RESIZE: "compute_revert_resize",
    FINISH_REVERT_RESIZE: "compute_finish_revert_resize",
    LIVE_MIGRATE: "compute_live_migration",
    REBUILD: "compute_rebuild_instance",
    UNSHELVE_INSTANCE: "compute_unshelve_instance",
}
MOVE_STEPS = tuple(STEP_EVENT)
# A failure in one of these leaves the server where it was: its claim on the destination goes back.
BEFORE_ARRIVAL = frozenset({RESIZE_INSTANCE, FINISH_RESIZE, LIVE_MIGRATE, REBUILD, UNSHELVE_INSTANCE})


@dataclass(frozen=True)
class Advance:
    """What one event of a move records: the server's changes, the record's, and the next agent step."""

    event: str
    changes: dict[str, Any]
    status: str
    step: str | None = None
    step_host: str | None = None
    finished: str | None = None  # the instance action event this ends


def settled_state(power_state: int) -> VmState:
    """Where a server lands after a move: stopped if its guest was off, as Nova's finish steps decide."""
    return VmState.ACTIVE if power_state == PowerState.RUNNING else VmState.STOPPED


def first_step(migration: dict[str, Any]) -> tuple[str, str, TaskState]:
    """The first agent step once the destination is chosen: (host, step, task_state)."""
    kind = migration["kind"]
    if kind == LIVE_MIGRATION:
        return migration["source"], LIVE_MIGRATE, TaskState.MIGRATING
    if kind == EVACUATION:
        return migration["dest"], REBUILD, TaskState.REBUILDING
    if kind == UNSHELVE:
        return migration["dest"], UNSHELVE_INSTANCE, TaskState.SPAWNING
    return migration["source"], RESIZE_INSTANCE, TaskState.RESIZE_MIGRATING


def after_step(migration: dict[str, Any], step: str, power_state: int) -> Advance:
    """The saga's next move once `step` succeeded on its host."""
    finished = STEP_EVENT[step]
    source, dest = migration["source"], migration["dest"]
    if step == RESIZE_INSTANCE:
        return Advance(
            "ResizeMigrated",
            {"task_state": TaskState.RESIZE_MIGRATED, "power_state": power_state},
            "post-migrating",
            FINISH_RESIZE,
            dest,
            finished,
        )
    if step == FINISH_RESIZE:
        changes = {"vm_state": VmState.RESIZED, "task_state": None, "power_state": power_state, "host": dest}
        return Advance("ResizeFinished", {**changes, "flavor": migration["new_flavor"]}, "finished", finished=finished)
    if step == CONFIRM_RESIZE:
        changes = {"vm_state": settled_state(migration["power_state"]), "task_state": None}
        return Advance("ResizeConfirmed", changes, "confirmed", finished=finished)
    if step == REVERT_RESIZE:
        changes = {"host": source, "flavor": migration["old_flavor"]}
        return Advance("ResizeRevertedOnDestination", changes, "reverting", FINISH_REVERT_RESIZE, source, finished)
    if step == FINISH_REVERT_RESIZE:
        changes = {"vm_state": settled_state(power_state), "task_state": None, "power_state": power_state}
        return Advance("ResizeReverted", changes, "reverted", finished=finished)
    if step == LIVE_MIGRATE:
        changes = {"task_state": None, "power_state": power_state, "host": dest}
        return Advance("LiveMigrated", changes, "completed", finished=finished)
    if step == UNSHELVE_INSTANCE:
        changes = {"vm_state": VmState.ACTIVE, "task_state": None, "power_state": power_state, "host": dest}
        return Advance("Unshelved", changes, "completed", finished=finished)
    vm_state = VmState.STOPPED if migration.get("target_state") == "stopped" else settled_state(power_state)
    changes = {"vm_state": vm_state, "task_state": None, "power_state": power_state, "host": dest}
    return Advance("Evacuated", changes, "done", finished=finished)


def expected_power(migration: dict[str, Any]) -> bool:
    """Whether the guest runs once it arrives: as it ran before, unless an evacuation lands it stopped (2.95)."""
    return migration["power_state"] in (PowerState.RUNNING, PowerState.PAUSED) and (
        migration.get("target_state") != "stopped"
    )
