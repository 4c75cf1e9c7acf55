"""The Server aggregate: one virtual machine's life as a sequence of facts.

Each public method checks the state machine first and only then triggers its
event; the decorated private methods only mutate, because they also run when
the aggregate is rebuilt from stored events.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import WrongHost
from domain.states import PowerState, TaskState, VmState, check_transition

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


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
