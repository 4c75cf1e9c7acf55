"""Quotas: how much of each resource a project may hold, and the refusal when
a request would take it over.

A QuotaSet aggregate holds the limits an admin set explicitly, either for one
project (os-quota-sets) or for a quota class (os-quota-class-sets; the class
named "default" replaces the built-in defaults for every project). A limit
not set falls back to the default class, then to Nova's built-in default.
-1 means unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidReference, QuotaExceeded

QUOTA_SET_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/quota-set")
UNLIMITED = -1
PROJECT = "project"
CLASS = "class"
DEFAULT_CLASS = "default"

# Nova's built-in defaults (nova.conf [quota]); the network ones are retired and always unlimited.
BUILTIN_DEFAULTS: dict[str, int] = {
    "cores": 20,
    "fixed_ips": UNLIMITED,
    "floating_ips": UNLIMITED,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "injected_files": 5,
    "instances": 10,
    "key_pairs": 100,
    "metadata_items": 128,
    "ram": 51200,
    "security_group_rules": UNLIMITED,
    "security_groups": UNLIMITED,
    "server_group_members": 10,
    "server_groups": 10,
}
RESOURCES = tuple(BUILTIN_DEFAULTS)
NETWORK_RESOURCES = frozenset({"fixed_ips", "floating_ips", "security_group_rules", "security_groups"})
INJECTED_FILE_RESOURCES = frozenset({"injected_file_content_bytes", "injected_file_path_bytes", "injected_files"})
SERVER_GROUP_RESOURCES = frozenset({"server_group_members", "server_groups"})


def quota_set_id(scope: str, owner: str) -> UUID:
    return uuid5(QUOTA_SET_NAMESPACE, f"{scope}/{owner}")


def effective_limits(explicit: Mapping[str, int], defaults: Mapping[str, int]) -> dict[str, int]:
    """Every resource's limit: the explicit one where set, else the default."""
    return {
        resource: explicit.get(resource, defaults.get(resource, BUILTIN_DEFAULTS[resource])) for resource in RESOURCES
    }


class QuotaSet(Aggregate):
    """The limits set explicitly for one project or one quota class."""

    @event("Created")
    def __init__(self, *, scope: str, owner: str) -> None:
        self.scope = scope
        self.owner = owner
        self.limits: dict[str, int] = {}

    @staticmethod
    def create_id(scope: str, owner: str) -> UUID:
        return quota_set_id(scope, owner)

    def change(self, changes: Mapping[str, int], request_id: str) -> None:
        """The event carries the whole resulting set, so a view needs no earlier event to show it."""
        if not all(resource in BUILTIN_DEFAULTS and value >= UNLIMITED for resource, value in changes.items()):
            raise ValueError(f"not a set of quota limits: {dict(changes)}")
        self._changed(limits={**self.limits, **changes}, request_id=request_id)

    @event("LimitsChanged")
    def _changed(self, limits: dict[str, int], request_id: str) -> None:
        self.limits = dict(limits)

    def reset(self, request_id: str) -> None:
        """Back to the defaults; nothing to record when nothing was set."""
        if self.limits:
            self._reset(request_id=request_id)

    @event("LimitsReset")
    def _reset(self, request_id: str) -> None:
        self.limits = {}


QUOTA_LEDGER_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/quota-ledger")
COUNTED_PER_SERVER = ("instances", "cores", "ram")


def quota_ledger_id(project_id: str) -> UUID:
    return uuid5(QUOTA_LEDGER_NAMESPACE, project_id)


class QuotaLedger(Aggregate):
    """One project's admissions of new servers, in turn.

    Usage is counted from the quota view, which trails the store. Each admission is
    an event at the ledger's next version, stored in the transaction that creates
    the servers, so two creates that counted the same usage cannot both be stored:
    the second meets the first's version and counts again. The view records the
    last version it has counted, so a check adds the admissions after that version
    to what the view shows. Nothing is kept in memory: an admission is made from
    the ledger's stored events alone (ServersAdmitted.next), never by replaying them.
    """

    @event("Created")
    def __init__(self, *, project_id: str) -> None:
        self.project_id = project_id

    @staticmethod
    def create_id(project_id: str) -> UUID:
        return quota_ledger_id(project_id)

    def admit(self, request_id: str, counts: Mapping[str, int]) -> None:
        self._admitted(project_id=self.project_id, request_id=request_id, **_per_server_counts(counts))

    @event("ServersAdmitted")
    def _admitted(self, project_id: str, request_id: str, instances: int, cores: int, ram: int) -> None:
        pass


def _per_server_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {resource: int(counts[resource]) for resource in COUNTED_PER_SERVER}


def next_admission(
    ledger_id: UUID, version: int, project_id: str, request_id: str, counts: Mapping[str, int]
) -> QuotaLedger.ServersAdmitted:
    """The admission at the ledger's next version after `version`, made without loading the ledger: its
    events hold nothing a later one needs."""
    return QuotaLedger.ServersAdmitted(  # type: ignore[call-arg]
        originator_id=ledger_id,
        originator_version=version + 1,
        timestamp=QuotaLedger.ServersAdmitted.create_timestamp(),
        project_id=project_id,
        request_id=request_id,
        **_per_server_counts(counts),
    )


def pending_usage(admissions: list[object]) -> dict[str, int]:
    """What the given ledger events admitted (the view has not counted them yet)."""
    pending = dict.fromkeys(COUNTED_PER_SERVER, 0)
    for admission in admissions:
        if isinstance(admission, QuotaLedger.ServersAdmitted):
            for resource in COUNTED_PER_SERVER:
                pending[resource] += getattr(admission, resource)
    return pending


class LimitBelowUsage(InvalidReference):
    """A new limit lower than what the project already uses (Nova: 400)."""


def exceeds(limit: int, in_use: int, requested: int) -> bool:
    return limit != UNLIMITED and in_use + requested > limit


def check_new_limits(changes: Mapping[str, int], in_use: Mapping[str, int]) -> None:
    """Unless an admin forces it, no limit may drop below current usage."""
    for resource, limit in changes.items():
        if exceeds(limit, in_use[resource], 0):
            raise LimitBelowUsage(
                f"Quota limit {limit} for {resource} must be greater than or equal to "
                f"already used and reserved {in_use[resource]}."
            )


def overs(limits: Mapping[str, int], in_use: Mapping[str, int], requested: Mapping[str, int]) -> list[str]:
    """The resources `requested` more would take over their limits, sorted as Nova names them."""
    return sorted(
        resource for resource, amount in requested.items() if exceeds(limits[resource], in_use[resource], amount)
    )


def affordable(limits: Mapping[str, int], in_use: Mapping[str, int], per_unit: Mapping[str, int]) -> int | None:
    """How many more units (each taking `per_unit`) fit under every limit; None when nothing limits them."""
    room = [
        (limits[resource] - in_use[resource]) // amount
        for resource, amount in per_unit.items()
        if amount > 0 and limits[resource] != UNLIMITED
    ]
    return max(min(room), 0) if room else None


def over_quota(
    over: list[str], limits: Mapping[str, int], in_use: Mapping[str, int], requested: Mapping[str, object]
) -> QuotaExceeded:
    """Nova's refusal naming each resource over: what was asked, what is used, what is allowed."""
    names = ", ".join(over)
    asked = ", ".join(str(requested[r]) for r in over)
    used = ", ".join(str(in_use[r]) for r in over)
    allowed = ", ".join(str(limits[r]) for r in over)
    return QuotaExceeded(f"Quota exceeded for {names}: Requested {asked}, but already used {used} of {allowed} {names}")


def refuse_if_over(limits: Mapping[str, int], in_use: Mapping[str, int], requested: Mapping[str, int]) -> None:
    over = overs(limits, in_use, requested)
    if over:
        raise over_quota(over, limits, in_use, requested)
