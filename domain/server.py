"""The Server aggregate: one virtual machine's life as a sequence of facts.

Each public method checks the state machine first and only then triggers its
event; the decorated private methods only mutate, because they also run when
the aggregate is rebuilt from stored events.
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidReference, InvalidState, WrongHost
from domain.host_actions import HostAction, host_action
from domain.states import PowerState, TaskState, VmState, check_transition

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
MAX_TAGS = 50
# Metadata and tags change only on a server that has settled somewhere (Nova's check_instance_state).
EDITABLE_VM_STATES = frozenset({VmState.ACTIVE, VmState.PAUSED, VmState.SUSPENDED, VmState.STOPPED})


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
    def schedule(self, host: str) -> None:
        """Record the scheduler's choice; the event carries what the agent needs to spawn."""
        check_transition("schedule", str(self.id), self.vm_state, self.task_state)
        self._scheduled(
            host=host,
            name=self.name,
            flavor=self.flavor,
            image_id=self.image_id,
            user_data=self.user_data,
        )

    @event("Scheduled")
    def _scheduled(
        self,
        host: str,
        name: str,
        flavor: dict[str, Any],
        image_id: str,
        user_data: str | None,
    ) -> None:
        self.host = host
        self.task_state = TaskState.SPAWNING

    def fail_scheduling(self, details: str) -> None:
        check_transition("schedule", str(self.id), self.vm_state, self.task_state)
        self._scheduling_failed(message=NO_VALID_HOST, details=details)

    @event("SchedulingFailed")
    def _scheduling_failed(self, message: str, details: str) -> None:
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

    def record_spawn_failed(self, host: str, reason: str) -> None:
        self._require_host(host)
        check_transition("spawn", str(self.id), self.vm_state, self.task_state)
        self._spawn_failed(host=host, message=f"Build of instance {self.id} aborted", details=reason)

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
    def request_action(self, action: HostAction, *, is_admin: bool, request_id: str, user_id: str) -> None:
        """Nova's checks in its order (lock, then state), then the host it must run on; the agent does the rest."""
        self.require_unlocked(is_admin)
        check_transition(action.transition, str(self.id), self.vm_state, self.task_state, shown_as=action.name)
        if self.host is None:
            raise InvalidState(f"Instance {self.id} is not ready")
        self._action_requested(
            action=action.name,
            args=action.args,
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

    def record_action_completed(self, host: str, request_id: str, action: str, power_state: int) -> None:
        pending = self._pending(host, request_id, action)
        self._action_completed(
            action=pending.name,
            host=host,
            request_id=request_id,
            vm_state=str(pending.ends_in),
            power_state=power_state,
        )

    @event("ActionCompleted")
    def _action_completed(self, action: str, host: str, request_id: str, vm_state: str, power_state: int) -> None:
        self.vm_state = VmState(vm_state)
        self.task_state = None
        self.power_state = PowerState(power_state)
        self.pending_action = None
        self.pending_request_id = None

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
