"""The billing fold: server events in, usage segments out. Pure (no I/O, no clock): time is passed in.

The consumer and the replay of the event store run this same code, so their totals can only differ if
the stream and the store do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from chronova.messages import EventMessage, MalformedMessage


class Category(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    SHELVED = "shelved"


@dataclass(frozen=True)
class Billing:
    """How a vm_state is billed: its category (None: not billed) and whether it holds host resources."""

    category: Category | None
    holds_resources: bool


# The one table: every vm_state a server event can carry (domain.states.VmState), and how it is billed.
# Why each row is what it is: chronova/billing/__init__.py.
BILLING_BY_VM_STATE: dict[str, Billing] = {
    "building": Billing(None, False),
    "active": Billing(Category.RUNNING, True),
    "paused": Billing(Category.RUNNING, True),
    "rescued": Billing(Category.RUNNING, True),
    "resized": Billing(Category.RUNNING, True),
    "stopped": Billing(Category.STOPPED, True),
    "suspended": Billing(Category.STOPPED, True),
    "soft-delete": Billing(Category.STOPPED, True),
    "shelved": Billing(Category.SHELVED, True),
    "shelved_offloaded": Billing(Category.SHELVED, False),
    "error": Billing(None, False),
    "deleted": Billing(None, False),
}

# Events that set the vm_state without carrying it as a field.
_IMPLIED_VM_STATE = {
    "Server.Spawned": "active",
    "Server.SpawnFailed": "error",
    "Server.SchedulingFailed": "error",
    "Server.Deleted": "deleted",
}


@dataclass(frozen=True)
class Flavor:
    """What a server is billed for: Nova's usage counts root plus ephemeral disk as local_gb."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "vcpus": self.vcpus, "ram_mb": self.ram_mb, "disk_gb": self.disk_gb}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Flavor:
        return cls(data["id"], data["name"], data["vcpus"], data["ram_mb"], data["disk_gb"])


@dataclass(frozen=True)
class Change:
    """What one server event means for billing."""

    server_id: str
    version: int
    at: datetime
    event_type: str
    vm_state: str | None = None
    flavor: Flavor | None = None
    # Only on Server.Created: whose server it is.
    project_id: str | None = None
    user_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Segment:
    """A stretch of a server's life in one billing category on one flavor; `ended_at` None while it lasts."""

    server_id: str
    opened_version: int
    project_id: str
    flavor: Flavor
    category: Category
    holds_resources: bool
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class ServerState:
    """What the fold remembers of a server between events."""

    server_id: str
    project_id: str
    user_id: str
    name: str
    flavor: Flavor
    vm_state: str
    version: int
    since: datetime  # when the current segment began
    since_version: int  # the event that began it: its segment's key
    launched_at: datetime | None = None
    terminated_at: datetime | None = None

    def open_segment(self) -> Segment | None:
        billing = BILLING_BY_VM_STATE[self.vm_state]
        if billing.category is None:
            return None
        return Segment(
            self.server_id,
            self.since_version,
            self.project_id,
            self.flavor,
            billing.category,
            billing.holds_resources,
            self.since,
            None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id,
            "project_id": self.project_id,
            "user_id": self.user_id,
            "name": self.name,
            "flavor": self.flavor.to_json(),
            "vm_state": self.vm_state,
            "version": self.version,
            "since": self.since.isoformat(),
            "since_version": self.since_version,
            "launched_at": self.launched_at.isoformat() if self.launched_at else None,
            "terminated_at": self.terminated_at.isoformat() if self.terminated_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerState:
        def moment(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            server_id=data["server_id"],
            project_id=data["project_id"],
            user_id=data["user_id"],
            name=data["name"],
            flavor=Flavor.from_json(data["flavor"]),
            vm_state=data["vm_state"],
            version=data["version"],
            since=datetime.fromisoformat(data["since"]),
            since_version=data["since_version"],
            launched_at=moment(data["launched_at"]),
            terminated_at=moment(data["terminated_at"]),
        )


@dataclass(frozen=True)
class Step:
    state: ServerState | None
    closed: Segment | None = None


# --- events to changes ---------------------------------------------------------------------------


def _text(data: dict[str, Any], key: str, event_type: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedMessage(f"{event_type}: '{key}' missing or not a string")
    return value


def _flavor(raw: Any, event_type: str) -> Flavor:
    if not isinstance(raw, dict):
        raise MalformedMessage(f"{event_type}: flavor is not an object")
    sizes = {}
    for key in ("vcpus", "ram", "disk"):
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MalformedMessage(f"{event_type}: flavor '{key}' missing or not a non-negative integer")
        sizes[key] = value
    ephemeral = raw.get("ephemeral", 0)
    if not isinstance(ephemeral, int) or isinstance(ephemeral, bool) or ephemeral < 0:
        raise MalformedMessage(f"{event_type}: flavor 'ephemeral' is not a non-negative integer")
    ids = {key: raw.get(key) for key in ("id", "name")}
    if not all(isinstance(value, str) for value in ids.values()):
        raise MalformedMessage(f"{event_type}: flavor 'id' or 'name' missing or not a string")
    return Flavor(ids["id"], ids["name"], sizes["vcpus"], sizes["ram"], sizes["disk"] + ephemeral)


def _vm_state(value: Any, event_type: str) -> str:
    if value not in BILLING_BY_VM_STATE:
        raise MalformedMessage(f"{event_type}: unknown vm_state {value!r}")
    return value


def change_of(message: EventMessage) -> Change:
    """The billing meaning of a server event, read from its fields; MalformedMessage when they make no sense.

    A vm_state or flavor comes from the event's own fields (`vm_state`, `flavor`) or from a move's
    `changes`, so actions added later bill correctly as long as their events say where they leave the server.
    """
    event_type, data = message.event_type, message.data
    if message.aggregate_type != "Server":
        raise MalformedMessage(f"not a server event: {event_type}")
    at = datetime.fromisoformat(message.timestamp)
    if at.tzinfo is None:
        raise MalformedMessage(f"{event_type}: timestamp without a time zone")
    changes = data.get("changes")
    if changes is not None and not isinstance(changes, dict):
        raise MalformedMessage(f"{event_type}: 'changes' is not an object")
    changes = changes or {}
    vm_state = _IMPLIED_VM_STATE.get(event_type, data.get("vm_state", changes.get("vm_state")))
    raw_flavor = data.get("flavor", changes.get("flavor"))
    change = Change(
        server_id=message.aggregate_id,
        version=message.version,
        at=at,
        event_type=event_type,
        vm_state=_vm_state(vm_state, event_type) if vm_state is not None else None,
        flavor=_flavor(raw_flavor, event_type) if raw_flavor is not None else None,
    )
    if event_type == "Server.Created":
        if change.flavor is None:
            raise MalformedMessage(f"{event_type}: no flavor")
        owner = {key: _text(data, key, event_type) for key in ("project_id", "user_id", "name")}
        return replace(change, vm_state="building", **owner)
    if event_type == "Server.Updated" and isinstance(data.get("name"), str):
        return replace(change, name=data["name"])
    return change


# --- the fold ------------------------------------------------------------------------------------


def apply(state: ServerState | None, change: Change) -> Step:
    """The server after `change`, and the segment it closed (if any).

    Idempotent: a change at or below the version already folded is ignored, so redelivered events
    (the relay publishes at least once) count once. A server whose creation was never seen is ignored.
    """
    if state is None:
        if change.event_type != "Server.Created" or change.flavor is None:
            return Step(None)
        return Step(
            ServerState(
                server_id=change.server_id,
                project_id=change.project_id or "",
                user_id=change.user_id or "",
                name=change.name or "",
                flavor=change.flavor,
                vm_state="building",
                version=change.version,
                since=change.at,
                since_version=change.version,
            )
        )
    if change.version <= state.version:
        return Step(state)
    vm_state = change.vm_state or state.vm_state
    flavor = change.flavor or state.flavor
    after = replace(
        state,
        vm_state=vm_state,
        flavor=flavor,
        version=change.version,
        name=change.name or state.name,
        launched_at=state.launched_at or (change.at if vm_state == "active" else None),
        terminated_at=change.at if vm_state == "deleted" else state.terminated_at,
    )
    if BILLING_BY_VM_STATE[vm_state] == BILLING_BY_VM_STATE[state.vm_state] and flavor == state.flavor:
        return Step(after)
    after = replace(after, since=change.at, since_version=change.version)
    opened = state.open_segment()
    closed = replace(opened, ended_at=change.at) if opened is not None and change.at > state.since else None
    return Step(after, closed)


def fold(
    changes: Iterable[Change], states: dict[str, ServerState] | None = None
) -> tuple[dict[str, ServerState], list[Segment]]:
    """Every change in order, from `states` (or nothing): the servers after, and the segments closed."""
    states = dict(states or {})
    closed: list[Segment] = []
    for change in changes:
        step = apply(states.get(change.server_id), change)
        if step.state is not None:
            states[change.server_id] = step.state
        if step.closed is not None:
            closed.append(step.closed)
    return states, closed
