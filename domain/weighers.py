"""Nova's weighers: each turns a host into a raw number; the numbers are
normalised to [0, 1] over the hosts being weighed (all equal: all 0), then
multiplied by the weigher's multiplier and summed. The highest total wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from domain.placement import DISK_GB, MEMORY_MB, VCPU
from domain.request_spec import RequestSpec

if TYPE_CHECKING:
    from domain.scheduling import HostCandidate

GroupRaw = Callable[[Sequence["HostCandidate"], RequestSpec], list[float] | None]  # None: the same for every host


def _soft_affinity(hosts: Sequence[HostCandidate], spec: RequestSpec) -> list[float] | None:
    group = spec.group
    if group is None or group.policy != "soft-affinity":
        return None
    return [group.members_per_host.get(host.name, 0) for host in hosts]


def _soft_anti_affinity(hosts: Sequence[HostCandidate], spec: RequestSpec) -> list[float] | None:
    group = spec.group
    if group is None or group.policy != "soft-anti-affinity":
        return None
    return [-group.members_per_host.get(host.name, 0) for host in hosts]


# Nova's weigher classes, in the order their weights are summed, with the multiplier option and its default.
WEIGHERS: dict[str, tuple[str, float]] = {
    "RAMWeigher": ("ram_weight_multiplier", 1.0),
    "CPUWeigher": ("cpu_weight_multiplier", 1.0),
    "DiskWeigher": ("disk_weight_multiplier", 1.0),
    "IoOpsWeigher": ("io_ops_weight_multiplier", -1.0),
    "NumInstancesWeigher": ("num_instances_weight_multiplier", 0.0),
    "ServerGroupSoftAffinityWeigher": ("soft_affinity_weight_multiplier", 1.0),
    "ServerGroupSoftAntiAffinityWeigher": ("soft_anti_affinity_weight_multiplier", 1.0),
    "BuildFailureWeigher": ("build_failure_weight_multiplier", 1000000.0),
}
# The raw value of the weighers that look at the host alone: HostCandidate.weigher_raw keeps them per host state.
HOST_RAW: dict[str, Callable[[HostCandidate], float]] = {
    "RAMWeigher": lambda h: h.free(MEMORY_MB),
    "CPUWeigher": lambda h: h.free(VCPU),
    "DiskWeigher": lambda h: h.free(DISK_GB),
    "IoOpsWeigher": lambda h: h.io_ops,
    "NumInstancesWeigher": lambda h: h.instances,
    "BuildFailureWeigher": lambda h: -h.failed_builds,
}
# The weighers that depend on the request: a whole column per decision.
GROUP_RAW: dict[str, GroupRaw] = {
    "ServerGroupSoftAffinityWeigher": _soft_affinity,
    "ServerGroupSoftAntiAffinityWeigher": _soft_anti_affinity,
}
DEFAULT_MULTIPLIERS = dict(WEIGHERS.values())


def weigh(
    hosts: Sequence[HostCandidate], spec: RequestSpec, multipliers: Mapping[str, float]
) -> tuple[list[float], dict[str, list[float]]]:
    """The total weight of each host, and each weigher's normalised contribution (multiplier applied)."""
    totals = [0.0] * len(hosts)
    parts: dict[str, list[float]] = {}
    host_columns: dict[str, tuple[float, ...]] | None = None
    for name, (option, _) in WEIGHERS.items():
        multiplier = multipliers.get(option, 0.0)
        if not multiplier:
            continue
        if name in GROUP_RAW:
            values: Sequence[float] | None = GROUP_RAW[name](hosts, spec)
            if values is None:
                continue
        else:
            if host_columns is None:  # one pass over the hosts' kept values, turned into columns
                rows = [host.weigher_raw for host in hosts] or [(0.0,) * len(HOST_RAW)]
                host_columns = dict(zip(HOST_RAW, zip(*rows, strict=True), strict=True))
            values = host_columns[name]
        low, high = min(values, default=0.0), max(values, default=0.0)
        if low == high:
            continue  # Nova's normalise: every host 0
        scale = multiplier / (high - low)
        contribution = [(value - low) * scale for value in values]
        parts[name] = contribution
        totals = [t + c for t, c in zip(totals, contribution, strict=True)]
    return totals, parts
