"""The scheduler's decision as a pure function: filter hosts, weigh the rest,
and say why.

Hosts that pass every filter are taken in free-RAM order (most first, then
by name) up to `max_candidates`, as placement hands Nova's scheduler at most
`max_placement_results` candidates; those are weighed, and the best is the
choice, the next ones its alternates for a reschedule. The capacity index
(chronova/capacity_index.py) reaches the same answer without visiting every
host; the claim on the chosen Host aggregate is what makes the choice stick.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from domain.aggregate import DEFAULT_ZONE
from domain.filters import HOST_FILTERS, PLACEMENT_FILTERS, REQUEST_FILTERS, HostTest
from domain.placement import MEMORY_MB, Inventory
from domain.request_spec import RequestSpec
from domain.weighers import DEFAULT_MULTIPLIERS, HOST_RAW, weigh

RETRY_FILTER = "RetryFilter"
# Nova's [filter_scheduler] enabled_filters, with the zone checked by a filter rather than by placement.
DEFAULT_FILTERS = (
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)
AUDITED_HOSTS = 5  # weighed hosts the audit lists
AUDITED_NAMES = 10  # names of removed hosts the audit lists per filter


@dataclass(frozen=True)
class HostCandidate:
    """What the scheduler knows of one host at decision time."""

    name: str
    inventories: Mapping[str, Inventory]
    used: Mapping[str, int]
    up: bool
    enabled: bool
    forced_down: bool = False
    traits: frozenset[str] = frozenset()
    availability_zone: str = DEFAULT_ZONE
    aggregate_metadata: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key: values over its aggregates
    aggregate_required_traits: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()  # projects its aggregates' filter_tenant_id* keys name
    hypervisor: Mapping[str, Any] = field(default_factory=dict)
    instances: int = 0
    io_ops: int = 0  # servers being built here
    failed_builds: int = 0  # since the last build here that succeeded

    def free(self, resource_class: str) -> int:
        limit = self._limits.get(resource_class)
        return -self.used.get(resource_class, 0) if limit is None else limit[0]

    def fits(self, resources: Mapping[str, int]) -> bool:
        """placement.fits, with each class's free capacity and unit limits worked out once."""
        return self.fits_amounts([(rc, amount) for rc, amount in resources.items() if amount])

    def fits_amounts(self, amounts: Sequence[tuple[str, int]]) -> bool:
        """`fits` for a request's non-zero amounts, listed once per decision rather than once per host."""
        limits = self._limits
        for rc, amount in amounts:
            limit = limits.get(rc)
            if limit is None:
                return False
            free, min_unit, max_unit, step = limit
            if amount > free or amount < min_unit or amount > max_unit or amount % step:
                return False
        return True

    @cached_property
    def weigher_raw(self) -> tuple[float, ...]:
        """The raw values of the weighers that depend on the host alone (domain.weighers.HOST_RAW), worked
        out once per state of the host: the index keeps it between decisions until the host changes."""
        return tuple(raw(self) for raw in HOST_RAW.values())

    @cached_property
    def _limits(self) -> dict[str, tuple[int, int, int, int]]:
        """Per class: free capacity, min_unit, max_unit, step_size. Computed once: filters and
        weighers ask for them many times per decision."""
        return {
            rc: (
                inv.capacity - self.used.get(rc, 0),
                inv.min_unit,
                inv.total if inv.max_unit is None else inv.max_unit,
                inv.step_size,
            )
            for rc, inv in self.inventories.items()
        }

    @property
    def schedulable(self) -> bool:
        return self.up and self.enabled and not self.forced_down


def ram_order(host: HostCandidate) -> tuple[int, str]:
    """Placement's candidate order here: most free RAM first, then by name."""
    return (-host.free(MEMORY_MB), host.name)


@dataclass(frozen=True)
class SchedulerPolicy:
    """Nova's [filter_scheduler] and [scheduler] options that shape a decision."""

    enabled_filters: tuple[str, ...] = DEFAULT_FILTERS
    multipliers: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MULTIPLIERS))
    host_subset_size: int = 1
    max_attempts: int = 3
    max_candidates: int = 1000  # Nova's [scheduler] max_placement_results
    enable_isolated_aggregate_filtering: bool = False
    limit_tenants_to_placement_aggregate: bool = False
    placement_aggregate_required_for_tenants: bool = False

    def __post_init__(self) -> None:
        unknown = [name for name in self.enabled_filters if name not in HOST_FILTERS and name != "ComputeFilter"]
        if unknown:
            raise ValueError(f"unknown scheduler filters: {', '.join(unknown)}; known: {', '.join(HOST_FILTERS)}")
        unknown = [name for name in self.multipliers if name not in DEFAULT_MULTIPLIERS]
        if unknown:
            raise ValueError(f"unknown weight multipliers: {', '.join(unknown)}")
        if self.host_subset_size < 1 or self.max_attempts < 1 or self.max_candidates < 1:
            raise ValueError("host_subset_size, max_attempts and max_candidates must be at least 1")


class FilterChain:
    """The tests one request needs, in order; the first a host fails is the filter that removed it."""

    def __init__(self, spec: RequestSpec, policy: SchedulerPolicy) -> None:
        factories = dict(PLACEMENT_FILTERS)
        if policy.enable_isolated_aggregate_filtering:
            factories["IsolatedAggregateFilter"] = REQUEST_FILTERS["IsolatedAggregateFilter"]
        if policy.limit_tenants_to_placement_aggregate:
            factories["TenantAggregateFilter"] = REQUEST_FILTERS["TenantAggregateFilter"]
        factories.update({name: HOST_FILTERS[name] for name in policy.enabled_filters if name in HOST_FILTERS})
        self.names = [RETRY_FILTER, *factories]
        self.tests: list[tuple[str, HostTest]] = [
            (name, test) for name, factory in factories.items() if (test := factory(spec, policy)) is not None
        ]

    def first_failing(self, host: HostCandidate) -> str | None:
        for name, test in self.tests:
            if not test(host):
                return name
        return None


@dataclass
class FilterCounts:
    """Hosts each filter removed, with the first few names, as the audit shows them."""

    considered: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)

    def remove(self, filter_name: str, host: str) -> None:
        self.removed[filter_name] = self.removed.get(filter_name, 0) + 1
        listed = self.names.setdefault(filter_name, [])
        if len(listed) < AUDITED_NAMES:
            listed.append(host)


@dataclass(frozen=True)
class Decision:
    """Hosts in order of preference (the choice, then its alternates), why the others were
    dropped, and the audit recorded with the decision."""

    ranked: tuple[str, ...]
    rejected: Mapping[str, int]
    audit: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def explain(self) -> str:
        """What a "No valid host" fault says: the filter that emptied the list, then every filter's count."""
        removed = [(name, count) for name, count in self.rejected.items() if count]
        if not removed:
            return "No hosts are registered"
        counts = ", ".join(f"{name} removed {count}" for name, count in removed)
        return f"Filter {removed[-1][0]} returned 0 hosts. Filters: {counts}"


def choose_hosts(
    candidates: Iterable[HostCandidate],
    spec: RequestSpec | Mapping[str, int],
    policy: SchedulerPolicy | None = None,
    exclude: frozenset[str] = frozenset(),
    rng: random.Random | None = None,
) -> Decision:
    """Every host through the filters (RetryFilter first: hosts already tried), then `rank`.
    A bare mapping of resources is a request for those resources and nothing else."""
    if not isinstance(spec, RequestSpec):
        spec = RequestSpec(resources=spec)
    policy = policy or SchedulerPolicy()
    chain = FilterChain(spec, policy)
    counts = FilterCounts()
    passing = []
    for host in candidates:
        counts.considered += 1
        failed = RETRY_FILTER if host.name in exclude else chain.first_failing(host)
        if failed is None:
            passing.append(host)
        else:
            counts.remove(failed, host.name)
    passing.sort(key=ram_order)
    return rank(passing[: policy.max_candidates], spec, policy, chain, counts, rng)


def rank(
    passing: Sequence[HostCandidate],
    spec: RequestSpec,
    policy: SchedulerPolicy,
    chain: FilterChain,
    counts: FilterCounts,
    rng: random.Random | None = None,
    not_considered: int = 0,
) -> Decision:
    """Weigh the hosts that passed (given in RAM order); pick one of the best `host_subset_size`
    and keep the next best as alternates, `max_attempts` hosts in all."""
    totals, parts = weigh(passing, spec, policy.multipliers)
    # Only the first few of the order are used: the subset picked from, the alternates, the audit. nlargest
    # keeps equal weights in RAM order, as a stable sort would.
    wanted = max(policy.host_subset_size, policy.max_attempts, AUDITED_HOSTS)
    order = heapq.nlargest(wanted, range(len(passing)), key=totals.__getitem__)
    if policy.host_subset_size > 1 and order:
        subset = min(policy.host_subset_size, len(order))
        picked = (rng or random).randrange(subset)
        order.insert(0, order.pop(picked))
    ranked = tuple(passing[i].name for i in order[: policy.max_attempts])
    rejected = {name: counts.removed.get(name, 0) for name in chain.names}
    audit = {
        "request": spec.describe(),
        "hosts_considered": counts.considered,
        "hosts_not_considered": not_considered,
        "filters": [
            {"name": name, "removed": rejected[name], "hosts": counts.names.get(name, [])} for name in chain.names
        ],
        "candidates": len(passing),
        "weighed": [
            {
                "host": passing[i].name,
                "weight": round(totals[i], 6),
                "weights": {weigher: round(values[i], 6) for weigher, values in parts.items()},
            }
            for i in order[:AUDITED_HOSTS]
        ],
        "chosen": ranked[0] if ranked else None,
        "alternates": list(ranked[1:]),
    }
    return Decision(ranked=ranked, rejected=rejected, audit=audit)
