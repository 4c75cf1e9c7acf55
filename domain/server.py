"""The Server aggregate: one virtual machine's life as a sequence of facts.

Each public method checks the state machine first and only then triggers its
event; the decorated private methods only mutate, because they also run when
the aggregate is rebuilt from stored events.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain import migration as moves
from domain.errors import InvalidReference, InvalidState, WrongHost
from domain.host_actions import HostAction, host_action
from domain.power_sync import vm_state_after_sync
from domain.states import PowerState, TaskState, VmState, check_transition

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
MAX_TAGS = 50
# Metadata and tags change only on a server that has settled somewhere (Nova's check_instance_state).
EDITABLE_VM_STATES = frozenset({VmState.ACTIVE, VmState.PAUSED, VmState.SUSPENDED, VmState.STOPPED})
# What a rebuild request may change on the server (chronova.lifecycle.rebuild), applied as it is recorded.
REBUILD_CHANGES = frozenset(
    {
        "image_id",
        "image_properties",
        "name",
        "metadata",
        "description",
        "access_ip_v4",
        "access_ip_v6",
        "user_data",
        "key_name",
        "hostname",
    }
)


def default_hostname(name: str) -> str:
    """Nova's hostname for a display name: a lower-case DNS label of at most 63 characters ("" if none is left)."""
    label = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    label = re.sub(r"[^\w.-]+", "", re.sub(r"[ _.]", "-", label))
    return label.lower().strip(".-")


class Server(Aggregate):
    """A server as Nova sees it: who owns it, what it runs, where, in which state."""

    @event("Created")
    def __init__(
        self,
        *,
        project_id: str,
        user_id: str,
        request_id: str,
        name: str,
        flavor: dict[str, Any],
        image_id: str,
        metadata: dict[str, str],
        user_data: str | None,
        description: str | None,
        availability_zone: str | None,
        key_name: str | None,
    ) -> None:
        self.project_id = project_id
        self.user_id = user_id
        self.name = name
        self.flavor = flavor
        self.image_id = image_id
        self.metadata = metadata
        self.user_data = user_data
        self.description = description
        self.availability_zone = availability_zone
        self.key_name = key_name
        self.vm_state = VmState.BUILDING
        self.task_state: TaskState | None = TaskState.SCHEDULING
        self.power_state = PowerState.NOSTATE
        self.host: str | None = None
        self.fault: dict[str, Any] | None = None
        # What BootOptionsRecorded (saved with this event by the API) may refine.
        self.hostname = default_hostname(name) or f"Server-{self.id}"
        self.tags: list[str] = []
        self.reservation_id: str | None = None
        self.launch_index = 0
        self.scheduler_hints: dict[str, Any] = {}
        self.access_ip_v4: str | None = None
        self.access_ip_v6: str | None = None
        self.requested_host: str | None = None
        self.requested_node: str | None = None
        self.config_drive = False
        self.trusted_image_certificates: list[str] | None = None
        self.image_properties: dict[str, str] = {}
        # Nova's lock: who took it ("owner" or "admin") and why.
        self.locked_by: str | None = None
        self.locked_reason: str | None = None
        # The host action in flight and the request that asked for it: only its report may end it.
        self.pending_action: HostAction | None = None
        self.pending_request_id: str | None = None
        # The server's latest move (domain.migration): Nova's migration record and the saga's pending step.
        self.migration: dict[str, Any] | None = None
        # Where a failed build may be retried, and the hosts it already failed on (Nova's retry.hosts).
        self.alternates: list[str] = []
        self.failed_hosts: list[str] = []
        self.pending_args: dict[str, Any] = {}  # what the action in flight was asked with (a snapshot's image)

    # --- what the create request asked for besides the Created fields -----------
    def record_boot_options(
        self,
        *,
        request_id: str,
        user_id: str,
        hostname: str,
        tags: list[str],
        reservation_id: str,
        launch_index: int,
        scheduler_hints: dict[str, Any],
        requested_host: str | None,
        requested_node: str | None,
        access_ip_v4: str | None,
        access_ip_v6: str | None,
        config_drive: bool,
        trusted_image_certificates: list[str] | None,
        image_properties: dict[str, str],
    ) -> None:
        """Saved together with Created: consumers of Created alone (the scheduler) keep working."""
        check_transition("schedule", str(self.id), self.vm_state, self.task_state)
        self._boot_options_recorded(
            request_id=request_id,
            user_id=user_id,
            hostname=hostname,
            tags=list(dict.fromkeys(tags)),
            reservation_id=reservation_id,
            launch_index=launch_index,
            scheduler_hints=scheduler_hints,
            requested_host=requested_host,
            requested_node=requested_node,
            access_ip_v4=access_ip_v4,
            access_ip_v6=access_ip_v6,
            config_drive=config_drive,
            trusted_image_certificates=trusted_image_certificates,
            image_properties=image_properties,
        )

    @event("BootOptionsRecorded")
    def _boot_options_recorded(
        self,
        request_id: str,
        user_id: str,
        hostname: str,
        tags: list[str],
        reservation_id: str,
        launch_index: int,
        scheduler_hints: dict[str, Any],
        requested_host: str | None,
        requested_node: str | None,
        access_ip_v4: str | None,
        access_ip_v6: str | None,
        config_drive: bool,
        trusted_image_certificates: list[str] | None,
        image_properties: dict[str, str],
    ) -> None:
        self.hostname = hostname
        self.tags = list(tags)
        self.reservation_id = reservation_id
        self.launch_index = launch_index
        self.scheduler_hints = dict(scheduler_hints)
        self.requested_host = requested_host
        self.requested_node = requested_node
        self.access_ip_v4 = access_ip_v4
        self.access_ip_v6 = access_ip_v6
        self.config_drive = config_drive
        self.trusted_image_certificates = trusted_image_certificates
        self.image_properties = dict(image_properties)

    # --- what its owner may change --------------------------------------------
    def update(
        self,
        *,
        name: str,
        description: str | None,
        hostname: str,
        access_ip_v4: str | None,
        access_ip_v6: str | None,
        request_id: str,
        user_id: str,
    ) -> None:
        """PUT /servers/{id}; the event carries every editable field, changed or not."""
        self._updated(
            name=name,
            description=description,
            hostname=hostname,
            access_ip_v4=access_ip_v4,
            access_ip_v6=access_ip_v6,
            request_id=request_id,
            user_id=user_id,
        )

    @event("Updated")
    def _updated(
        self,
        name: str,
        description: str | None,
        hostname: str,
        access_ip_v4: str | None,
        access_ip_v6: str | None,
        request_id: str,
        user_id: str,
    ) -> None:
        self.name = name
        self.description = description
        self.hostname = hostname
        self.access_ip_v4 = access_ip_v4
        self.access_ip_v6 = access_ip_v6

    def check_editable(self, action: str) -> None:
        """Refuse (409) a metadata or tag change while the server is not settled."""
        if self.vm_state not in EDITABLE_VM_STATES:
            raise InvalidState(f"Cannot '{action}' instance {self.id} while it is in vm_state {self.vm_state}")

    def check_metadata_editable(self, action: str, is_admin: bool) -> None:
        """Nova's rules for metadata: a member may not change a locked server's, and nobody while a task runs."""
        self.require_unlocked(is_admin)
        self.check_editable(action)
        if self.task_state is not None:
            raise InvalidState(f"Cannot '{action}' instance {self.id} while it is in task_state {self.task_state}")

    def replace_metadata(self, metadata: dict[str, str], *, action: str, request_id: str, user_id: str) -> None:
        """`action` names the API call in the refusal, as Nova does ('update metadata', 'delete metadata')."""
        self.check_editable(action)
        self._metadata_replaced(metadata=dict(metadata), request_id=request_id, user_id=user_id)

    @event("MetadataReplaced")
    def _metadata_replaced(self, metadata: dict[str, str], request_id: str, user_id: str) -> None:
        self.metadata = dict(metadata)

    def replace_tags(self, tags: list[str], *, action: str, request_id: str, user_id: str) -> None:
        """At most MAX_TAGS distinct tags; `action` as in replace_metadata ('update tags'...)."""
        self.check_editable(action)
        distinct = list(dict.fromkeys(tags))
        if len(distinct) > MAX_TAGS:
            raise InvalidReference(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
        self._tags_replaced(tags=distinct, request_id=request_id, user_id=user_id)

    @event("TagsReplaced")
    def _tags_replaced(self, tags: list[str], request_id: str, user_id: str) -> None:
        self.tags = list(tags)

    # --- scheduling -------------------------------------------------------
    def schedule(self, host: str, alternates: list[str] | None = None, audit: dict[str, Any] | None = None) -> None:
        """Record the scheduler's choice; the event carries what the agent needs to spawn, the
        alternates a failed build is retried on, and the decision's audit (domain.scheduling)."""
        check_transition("schedule", str(self.id), self.vm_state, self.task_state)
        self._scheduled(
            host=host,
            name=self.name,
            flavor=self.flavor,
            image_id=self.image_id,
            user_data=self.user_data,
            alternates=list(alternates or []),
            audit=audit or {},
            attempt=len(self.failed_hosts) + 1,
        )

    @event("Scheduled")
    def _scheduled(
        self,
        host: str,
        name: str,
        flavor: dict[str, Any],
        image_id: str,
        user_data: str | None,
        alternates: list[str] | None = None,
        audit: dict[str, Any] | None = None,
        attempt: int = 1,
    ) -> None:
        self.host = host
        self.task_state = TaskState.SPAWNING
        self.alternates = list(alternates or [])

    def fail_scheduling(self, details: str, audit: dict[str, Any] | None = None) -> None:
        check_transition("schedule", str(self.id), self.vm_state, self.task_state)
        self._scheduling_failed(message=NO_VALID_HOST, details=details, audit=audit or {})

    @event("SchedulingFailed")
    def _scheduling_failed(self, message: str, details: str, audit: dict[str, Any] | None = None) -> None:
        self._enter_error(500, message, details)

    # --- spawning (reported by the host's agent) -------------------------------
    def record_spawned(self, host: str, power_state: int) -> None:
        self._require_host(host)
        check_transition("spawn", str(self.id), self.vm_state, self.task_state)
        self._spawned(host=host, power_state=power_state)

    @event("Spawned")
    def _spawned(self, host: str, power_state: int) -> None:
        self.vm_state = VmState.ACTIVE
        self.task_state = None
        self.power_state = PowerState(power_state)

    def record_spawn_failed(self, host: str, reason: str, retries_exhausted: bool = False) -> None:
        """The build ends in ERROR; after rescheduling, the fault says the retries ran out, as Nova's does."""
        self._require_host(host)
        check_transition("spawn", str(self.id), self.vm_state, self.task_state)
        message = f"Build of instance {self.id} aborted"
        if retries_exhausted:
            message = (
                "Exceeded maximum number of retries. Exhausted all hosts available "
                f"for retrying build failures for instance {self.id}."
            )
        self._spawn_failed(host=host, message=message, details=reason)

    def reschedule(self, host: str, reason: str) -> None:
        """A build failed on `host` and is to be tried on an alternate: back to scheduling, without that host."""
        self._require_host(host)
        check_transition("spawn", str(self.id), self.vm_state, self.task_state)
        self._rescheduled(failed_host=host, reason=reason)

    @event("Rescheduled")
    def _rescheduled(self, failed_host: str, reason: str) -> None:
        self.failed_hosts = [*self.failed_hosts, failed_host]
        self.alternates = [name for name in self.alternates if name != failed_host]
        self.host = None
        self.task_state = TaskState.SCHEDULING

    @event("SpawnFailed")
    def _spawn_failed(self, host: str, message: str, details: str) -> None:
        self._enter_error(500, message, details)

    # --- locks and resets: the API decides, no host is involved -------------------
    def require_unlocked(self, is_admin: bool) -> None:
        """A locked server refuses a member's actions (409); an admin acts on it anyway, as in Nova."""
        if self.locked_by is not None and not is_admin:
            raise InvalidState(f"Instance {self.id} is locked")

    def lock(self, *, by_owner: bool, reason: str | None, request_id: str, user_id: str) -> bool:
        """Whether a lock was recorded: its owner locking a locked server again records nothing, as in Nova.

        An admin locking again without a reason keeps the reason already given.
        """
        if self.locked_by is not None and by_owner:
            return False
        locked_by = "owner" if by_owner else "admin"
        self._locked(locked_by=locked_by, reason=reason or self.locked_reason, request_id=request_id, user_id=user_id)
        return True

    @event("Locked")
    def _locked(self, locked_by: str, reason: str | None, request_id: str, user_id: str) -> None:
        self.locked_by = locked_by
        self.locked_reason = reason

    def unlock_needs_override(self, by_owner: bool) -> bool:
        """Nova's is_expected_locked_by, negated: the owner undoing an admin's lock, or the reverse."""
        return self.locked_by is not None and self.locked_by != ("owner" if by_owner else "admin")

    def unlock(self, *, request_id: str, user_id: str) -> None:
        """Recorded even when the server is not locked: Nova records an unlock action either way."""
        self._unlocked(request_id=request_id, user_id=user_id)

    @event("Unlocked")
    def _unlocked(self, request_id: str, user_id: str) -> None:
        self.locked_by = None
        self.locked_reason = None

    def reset_state(self, vm_state: VmState, *, request_id: str, user_id: str) -> None:
        """os-resetState: the vm_state an admin says, and no task; a late report on the dropped task is refused."""
        self._state_reset(vm_state=str(vm_state), request_id=request_id, user_id=user_id)

    @event("StateReset")
    def _state_reset(self, vm_state: str, request_id: str, user_id: str) -> None:
        self.vm_state = VmState(vm_state)
        self.task_state = None
        self.pending_action = None
        self.pending_request_id = None

    # --- actions the host carries out (reboot, stop, start, pause...) ----------------
    def request_action(
        self,
        action: HostAction,
        *,
        is_admin: bool,
        request_id: str,
        user_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Nova's checks in its order (lock, then state), then the host it must run on; the agent does the rest.

        `details` is what the agent needs beyond the action's own arguments
        (a snapshot's image id; a rebuild's new image, name and `changes`,
        which the server takes on as the request is recorded, as Nova's API does).
        """
        self.require_unlocked(is_admin)
        check_transition(action.transition, str(self.id), self.vm_state, self.task_state, shown_as=action.name)
        if self.host is None:
            raise InvalidState(f"Instance {self.id} is not ready")
        self._action_requested(
            action=action.name,
            args={**action.args, **(details or {})},
            task_state=str(action.task_state),
            host=self.host,
            request_id=request_id,
            user_id=user_id,
        )

    @event("ActionRequested")
    def _action_requested(
        self, action: str, args: dict[str, Any], task_state: str, host: str, request_id: str, user_id: str
    ) -> None:
        self.task_state = TaskState(task_state)
        self.pending_action = host_action(action, args)
        self.pending_request_id = request_id
        self.pending_args = dict(args)
        for name, value in args.get("changes", {}).items():
            if name in REBUILD_CHANGES:
                setattr(self, name, value)

    def record_action_completed(self, host: str, request_id: str, action: str, power_state: int) -> None:
        pending = self._pending(host, request_id, action)
        self._action_completed(
            action=pending.name,
            host=host,
            request_id=request_id,
            vm_state=str(pending.end_state(self.vm_state)),
            power_state=power_state,
        )

    @event("ActionCompleted")
    def _action_completed(self, action: str, host: str, request_id: str, vm_state: str, power_state: int) -> None:
        self.vm_state = VmState(vm_state)
        self.task_state = None
        self.power_state = PowerState(power_state)
        self.pending_action = None
        self.pending_request_id = None
        if self.vm_state == VmState.SHELVED_OFFLOADED:
            self.host = None  # its domain and its claim are gone; unshelving schedules it again

    def record_action_failed(self, host: str, request_id: str, action: str, reason: str, power_state: int) -> None:
        """The task ends and the server keeps its vm_state, with a fault; as in Nova, a reboot that
        leaves the guest not running puts the server in ERROR."""
        pending = self._pending(host, request_id, action)
        rebooted_down = pending.name == "reboot" and power_state != PowerState.RUNNING
        self._action_failed(
            action=pending.name,
            host=host,
            request_id=request_id,
            vm_state=str(VmState.ERROR if rebooted_down else self.vm_state),
            power_state=power_state,
            message=reason.strip().splitlines()[0][:255] if reason.strip() else f"{pending.name} failed",
            details=reason,
        )

    @event("ActionFailed")
    def _action_failed(
        self, action: str, host: str, request_id: str, vm_state: str, power_state: int, message: str, details: str
    ) -> None:
        self.vm_state = VmState(vm_state)
        self.task_state = None
        self.power_state = PowerState(power_state)
        self.fault = {"code": 500, "message": message, "details": details}
        self.pending_action = None
        self.pending_request_id = None

    def _pending(self, host: str, request_id: str, action: str) -> HostAction:
        """The action in flight that a report names; anything else (late, repeated, overtaken) is refused."""
        self._require_host(host)
        pending = self.pending_action
        if (
            pending is None
            or pending.name != action
            or self.pending_request_id != request_id
            or self.task_state != pending.task_state
        ):
            raise InvalidState(f"Instance {self.id} has no {action} of request {request_id} in progress")
        return pending

    # --- what the host's periodic power-state sync sees (domain.power_sync) -------------
    def sync_power_state(self, host: str, power_state: int, observed_at: datetime) -> bool:
        """Whether the sync recorded anything. Like Nova it leaves a server alone while a task is in flight,
        and it ignores an observation older than the server's last change (that change may be what it missed).
        """
        self._require_host(host)
        if self.vm_state == VmState.DELETED:
            raise InvalidState(f"Instance {self.id} is deleted")
        if self.task_state is not None or self.modified_on >= observed_at:
            return False
        vm_state = vm_state_after_sync(self.vm_state, PowerState(power_state))
        if vm_state == self.vm_state and power_state == self.power_state:
            return False
        self._power_state_synced(host=host, power_state=power_state, vm_state=str(vm_state))
        return True

    @event("PowerStateSynced")
    def _power_state_synced(self, host: str, power_state: int, vm_state: str) -> None:
        self.vm_state = VmState(vm_state)
        self.power_state = PowerState(power_state)

    # --- moves: resize, migrate, live migration, evacuation (domain.migration) ----------------
    def request_move(
        self,
        kind: str,
        *,
        migration_id: str,
        new_flavor: dict[str, Any] | None,
        requested_host: str | None,
        is_admin: bool,
        request_id: str,
        user_id: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Nova's checks (lock, then state), then the move waits for the scheduler to choose its destination.

        `options` are kept on the migration record: allow_same_host, an evacuation's target_state.
        """
        if kind != moves.EVACUATION:
            self.require_unlocked(is_admin)
        check_transition(moves.TRANSITION[kind], str(self.id), self.vm_state, self.task_state)
        if self.host is None and kind != moves.UNSHELVE:  # an offloaded server has no host to leave
            raise InvalidState(f"Instance {self.id} is not ready")
        migration = {
            "id": migration_id,
            "kind": kind,
            "status": moves.REQUESTED_STATUS[kind],
            "source": self.host,
            "dest": None,
            "old_flavor": self.flavor,
            "new_flavor": new_flavor or self.flavor,
            "requested_host": requested_host,
            "allow_same_host": False,
            "power_state": int(self.power_state),
            "project_id": self.project_id,
            "user_id": user_id,
            "request_id": request_id,
            "step": None,
            "step_host": None,
            **(options or {}),
        }
        self.trigger_event(
            self.MoveRequested,
            **self._move_fields(migration, {"task_state": str(moves.REQUESTED_TASK[kind])}, user_id=user_id),
            action=moves.ACTION[kind],
            started=moves.CONDUCTOR_EVENT[kind],
        )

    def move_awaiting_destination(self) -> str | None:
        """The id of the move the scheduler has to place, if there is one."""
        m = self.migration
        return m["id"] if m is not None and m["dest"] is None and m["status"] in moves.AWAITING_DESTINATION else None

    def schedule_move(self, migration_id: str, dest: str, dest_uri: str | None) -> None:
        """The scheduler's choice, with the claim on `dest` saved alongside; the first host step follows."""
        self._require_awaiting(migration_id)
        m = self.migration
        assert m is not None
        migration = {**m, "dest": dest, "dest_uri": dest_uri, "status": moves.SCHEDULED_STATUS[m["kind"]]}
        host, step, task_state = moves.first_step(migration)
        migration |= {"step": step, "step_host": host}
        self.trigger_event(
            self.MoveScheduled,
            **self._move_fields(migration, {"task_state": str(task_state)}),
            finished=moves.CONDUCTOR_EVENT[m["kind"]],
            started=moves.STEP_EVENT[step],
        )

    def fail_move_scheduling(self, migration_id: str, details: str) -> None:
        """No valid host: the server stays as it was, with a fault, and the migration is in error (as Nova)."""
        self._require_awaiting(migration_id)
        m = self.migration
        assert m is not None
        fault = {"code": 500, "message": NO_VALID_HOST, "details": details}
        self.trigger_event(
            self.MoveSchedulingFailed,
            **self._move_fields({**m, "status": "error"}, {"task_state": None, "fault": fault}),
            finished=moves.CONDUCTOR_EVENT[m["kind"]],
            error=[NO_VALID_HOST, details],
        )

    def record_move_step(self, host: str, migration_id: str, step: str, power_state: int) -> moves.Advance:
        """A host's step succeeded: the saga advances (the conductor adjusts the claims it implies)."""
        m = self._pending_move(host, migration_id, step)
        advance = moves.after_step(m, step, power_state)
        migration = {**m, "status": advance.status, "step": advance.step, "step_host": advance.step_host}
        changes = {k: str(v) if isinstance(v, (moves.TaskState, VmState)) else v for k, v in advance.changes.items()}
        recorder = {
            "ResizeMigrated": self.ResizeMigrated,
            "ResizeFinished": self.ResizeFinished,
            "ResizeConfirmed": self.ResizeConfirmed,
            "ResizeRevertedOnDestination": self.ResizeRevertedOnDestination,
            "ResizeReverted": self.ResizeReverted,
            "LiveMigrated": self.LiveMigrated,
            "Evacuated": self.Evacuated,
            "Unshelved": self.Unshelved,
        }[advance.event]
        started = moves.STEP_EVENT[advance.step] if advance.step else None
        self.trigger_event(
            recorder, **self._move_fields(migration, changes), finished=advance.finished, started=started
        )
        return advance

    def record_move_step_failed(self, host: str, migration_id: str, step: str, reason: str, power_state: int) -> None:
        """Before the guest arrives the server stays on its source (a live migration keeps its vm_state);
        otherwise, and for every cold step, it goes to ERROR with a fault, as in Nova."""
        m = self._pending_move(host, migration_id, step)
        message = reason.strip().splitlines()[0][:255] if reason.strip() else f"{step} failed"
        changes: dict[str, Any] = {"task_state": None, "power_state": power_state}
        changes["fault"] = {"code": 500, "message": message, "details": reason}
        if step in moves.BEFORE_ARRIVAL:
            changes |= {"host": m["source"], "flavor": m["old_flavor"]}
        # A failed unshelve leaves the server offloaded, as Nova's does.
        if m["kind"] not in (moves.LIVE_MIGRATION, moves.UNSHELVE):
            changes["vm_state"] = str(VmState.ERROR)
        self.trigger_event(
            self.MoveFailed,
            **self._move_fields({**m, "status": "error", "step": None, "step_host": None}, changes),
            finished=moves.STEP_EVENT[step],
            error=[message, reason],
        )

    def request_resize_end(self, confirm: bool, *, is_admin: bool, request_id: str, user_id: str) -> None:
        """confirmResize (the source forgets the old guest) or revertResize (the destination forgets the new)."""
        name = "confirmResize" if confirm else "revertResize"
        self.require_unlocked(is_admin)
        check_transition(name, str(self.id), self.vm_state, self.task_state)
        m = self.migration
        if m is None or m["status"] != "finished":
            raise InvalidReference("Instance has not been resized.")
        step = moves.CONFIRM_RESIZE if confirm else moves.REVERT_RESIZE
        host = m["source"] if confirm else m["dest"]
        migration = {**m, "status": "confirming" if confirm else "reverting", "step": step, "step_host": host}
        migration["request_id"] = request_id
        changes = {} if confirm else {"task_state": str(TaskState.RESIZE_REVERTING)}
        recorder = self.ResizeConfirmRequested if confirm else self.ResizeRevertRequested
        fields = self._move_fields(migration, changes, user_id=user_id)
        self.trigger_event(recorder, **fields, action=name, started=moves.STEP_EVENT[step])

    def _require_awaiting(self, migration_id: str) -> None:
        if self.move_awaiting_destination() != migration_id:
            raise InvalidState(f"Instance {self.id} has no migration {migration_id} waiting for a host")

    def request_evacuated_domain_removal(self, host: str) -> bool:
        """Nova's _destroy_evacuated_instances: a host back from the dead still runs the domain of a server
        evacuated off it; that copy is destroyed (by the host, as the event says) and the evacuation's record
        becomes 'completed', so it is asked once. Whether it was asked: only the evacuation's source, only
        after the server was rebuilt elsewhere."""
        m = self.migration
        if m is None or m["kind"] != moves.EVACUATION or m["status"] != "done" or m["source"] != host:
            return False
        if self.host == host or self.vm_state == VmState.DELETED:
            return False
        self.trigger_event(
            self.EvacuatedDomainRemovalRequested,
            migration={**m, "status": "completed"},
            changes={},
            host=host,
            step=None,
            args={},
            request_id=m["request_id"],
            user_id=None,
        )
        return True

    def _pending_move(self, host: str, migration_id: str, step: str) -> dict[str, Any]:
        """The move step a report names; a late, repeated or foreign report is refused."""
        m = self.migration
        if m is None or m["id"] != migration_id or m["step"] != step:
            raise InvalidState(f"Instance {self.id} has no {step} of migration {migration_id} in progress")
        if m["step_host"] != host:
            raise WrongHost(f"Instance {self.id}: {step} of migration {migration_id} is not for host {host}")
        return m

    def _move_fields(
        self, migration: dict[str, Any], changes: dict[str, Any], user_id: str | None = None
    ) -> dict[str, Any]:
        """What every move event carries: the record, the server's changes and the step its agent must do."""
        step = migration["step"]
        return {
            "migration": migration,
            "changes": changes,
            "host": migration["step_host"],
            "step": step,
            "args": self._step_args(migration, step) if step else {},
            "request_id": migration["request_id"],
            "user_id": user_id,
        }

    def _step_args(self, migration: dict[str, Any], step: str) -> dict[str, Any]:
        """What the agent needs for `step`: the guest's name and size, and where it goes."""
        flavor = migration["old_flavor"] if step == moves.FINISH_REVERT_RESIZE else migration["new_flavor"]
        return {
            "migration_id": migration["id"],
            "name": self.name,
            "vcpus": flavor["vcpus"],
            "memory_mb": flavor["ram"],
            "running": moves.expected_power(migration),
            "dest": migration["dest"],
            "dest_uri": migration.get("dest_uri"),
            "same_host": migration["source"] == migration["dest"],
        }

    class MoveEvent(Aggregate.Event):
        """What every step of a move records: the migration record, the server's changes, the step its agent
        must do (`host`, `step`, `args`), and for the instance-action record the action it starts and the
        events it finishes, starts or fails. Each step is its own named subclass, so the history reads as a saga."""

        migration: dict[str, Any]
        changes: dict[str, Any]
        host: str | None
        step: str | None
        args: dict[str, Any]
        request_id: str
        user_id: str | None
        action: str | None = None
        finished: str | None = None
        started: str | None = None
        error: list[str] | None = None

        def apply(self, aggregate: Server) -> None:
            aggregate._moved(self.migration, self.changes)

    class MoveRequested(MoveEvent):
        pass

    class MoveScheduled(MoveEvent):
        pass

    class MoveSchedulingFailed(MoveEvent):
        pass

    class ResizeMigrated(MoveEvent):
        pass

    class ResizeFinished(MoveEvent):
        pass

    class ResizeConfirmRequested(MoveEvent):
        pass

    class ResizeConfirmed(MoveEvent):
        pass

    class ResizeRevertRequested(MoveEvent):
        pass

    class ResizeRevertedOnDestination(MoveEvent):
        pass

    class ResizeReverted(MoveEvent):
        pass

    class LiveMigrated(MoveEvent):
        pass

    class Evacuated(MoveEvent):
        pass

    class Unshelved(MoveEvent):
        pass

    class MoveFailed(MoveEvent):
        pass

    class EvacuatedDomainRemovalRequested(MoveEvent):
        pass

    def _moved(self, migration: dict[str, Any], changes: dict[str, Any]) -> None:
        self.migration = dict(migration)
        for name, value in changes.items():
            if name == "vm_state":
                self.vm_state = VmState(value)
            elif name == "task_state":
                self.task_state = TaskState(value) if value is not None else None
            elif name == "power_state":
                self.power_state = PowerState(value)
            else:  # host, flavor, fault
                setattr(self, name, value)

    # --- deletion -----------------------------------------------------------
    @property
    def needs_host_cleanup(self) -> bool:
        """Whether a hypervisor may hold a domain or an allocation for this server."""
        return self.host is not None

    def request_delete(self, request_id: str, user_id: str) -> None:
        """Start deleting: the host's agent tears the domain down, then reports."""
        check_transition("delete", str(self.id), self.vm_state, self.task_state)
        if self.task_state == TaskState.DELETING:
            return
        self._deletion_started(host=self.host, request_id=request_id, user_id=user_id)

    @event("DeletionStarted")
    def _deletion_started(self, host: str | None, request_id: str, user_id: str) -> None:
        self.task_state = TaskState.DELETING

    def record_deleted(self, host: str | None) -> None:
        """The domain is gone (or there never was one): the server is deleted."""
        if host is not None:
            self._require_host(host)
        check_transition("complete_delete", str(self.id), self.vm_state, self.task_state)
        self._deleted(host=self.host)

    @event("Deleted")
    def _deleted(self, host: str | None) -> None:
        self.vm_state = VmState.DELETED
        self.task_state = None
        self.power_state = PowerState.NOSTATE

    # --- helpers ------------------------------------------------------------
    def _require_host(self, host: str) -> None:
        if self.host != host:
            raise WrongHost(f"Instance {self.id} is not on host {host}")

    def _enter_error(self, code: int, message: str, details: str) -> None:
        self.vm_state = VmState.ERROR
        self.task_state = None
        self.fault = {"code": code, "message": message, "details": details}
