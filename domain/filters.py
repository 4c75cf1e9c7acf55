"""Nova's host filters and request filters, as tests of one host against one request.

Each filter looks at the request once and returns the test to run per host,
or None when the request asks nothing of it (no zone, no group, no extra
specs of its scope): most requests then cost a host only the placement check.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from domain.placement import DISK_GB, MEMORY_MB, VCPU
from domain.request_spec import REQUIRED, RequestSpec

if TYPE_CHECKING:
    from domain.scheduling import HostCandidate, SchedulerPolicy

HostTest = Callable[["HostCandidate"], bool]
FilterFactory = Callable[[RequestSpec, "SchedulerPolicy"], HostTest | None]
TENANT_KEY = "filter_tenant_id"


def compute(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest:
    """ComputeFilter: the service is up, enabled and not forced down."""
    return lambda host: host.up and host.enabled and not host.forced_down


def placement(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest:
    """What placement answers: every resource fits, the required traits are there and the forbidden ones not."""
    amounts = [(rc, amount) for rc, amount in spec.resources.items() if amount]
    required, forbidden = spec.required_traits, spec.forbidden_traits
    if not (required or forbidden):
        return lambda host: host.fits_amounts(amounts)
    return lambda host: required <= host.traits and not (forbidden & host.traits) and host.fits_amounts(amounts)


def isolated_aggregates(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest:
    """Nova's isolate_aggregates request filter: a host in an aggregate that requires traits
    (`trait:X=required` in its metadata) takes only requests that require all of them."""
    required = spec.required_traits
    return lambda host: host.aggregate_required_traits <= required


def tenant_aggregates(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    """Nova's map_tenant_aggregate request filter: a project named by some aggregate's `filter_tenant_id*`
    goes only to those aggregates' hosts; any other project goes anywhere, unless aggregates are required."""
    if not spec.tenant_has_aggregates and not policy.placement_aggregate_required_for_tenants:
        return None
    project = spec.project_id
    return lambda host: project in host.tenants


def availability_zone(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    zone = spec.availability_zone
    if zone is None:
        return None
    return lambda host: host.availability_zone == zone


def aggregate_instance_extra_specs(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    """Each unscoped or `aggregate_instance_extra_specs:` extra spec needs an aggregate of the host whose
    metadata value for the key matches it."""
    wanted = {}
    for key, value in spec.extra_specs.items():
        scope, colon, rest = key.partition(":")
        if not colon:
            wanted[key] = value
        elif scope == "aggregate_instance_extra_specs":
            wanted[rest] = value
    if not wanted:
        return None

    def test(host: HostCandidate) -> bool:
        for key, requirement in wanted.items():
            values = host.aggregate_metadata.get(key)
            if not values or not any(matches(value, requirement) for value in values):
                return False
        return True

    return test


def compute_capabilities(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    """Each unscoped or `capabilities:` extra spec must match the host's capability of that name
    (a nested one as `capabilities:cpu_info:arch`); a host without it fails."""
    wanted = []
    for key, value in spec.extra_specs.items():
        scope = key.split(":")
        if len(scope) > 1:
            if scope[0] != "capabilities":
                continue
            scope = scope[1:]
        wanted.append((scope, value))
    if not wanted:
        return None

    def test(host: HostCandidate) -> bool:
        capabilities = host_capabilities(host)
        for path, requirement in wanted:
            value: Any = capabilities
            for part in path:
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is None or not matches(str(value), requirement):
                return False
        return True

    return test


def image_properties(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    """The image's architecture, hypervisor type and vm mode must be what the host runs; a host
    that does not say what it runs passes no image that asks."""
    props = spec.image_properties
    arch = props.get("hw_architecture") or props.get("architecture")
    hv_type = props.get("img_hv_type") or props.get("hypervisor_type")
    vm_mode = props.get("hw_vm_mode") or props.get("vm_mode")
    if not (arch or hv_type or vm_mode):
        return None

    def test(host: HostCandidate) -> bool:
        info = host.hypervisor
        if arch and _canonical(str(info.get("cpu_arch", ""))) != _canonical(arch):
            return False
        if hv_type and _hv_type(str(info.get("type", ""))) != _hv_type(hv_type):
            return False
        return not vm_mode or vm_mode.lower() == "hvm"

    return test


def server_group_affinity(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    """With the affinity policy, once a member is placed, the others go to its host."""
    group = spec.group
    if group is None or group.policy != "affinity" or not group.members_per_host:
        return None
    hosts = group.members_per_host
    return lambda host: host.name in hosts


def server_group_anti_affinity(spec: RequestSpec, policy: SchedulerPolicy) -> HostTest | None:
    """With anti-affinity, a host holds at most `max_server_per_host` members (1 unless the rules say)."""
    group = spec.group
    if group is None or group.policy != "anti-affinity" or not group.members_per_host:
        return None
    hosts, most = group.members_per_host, group.max_server_per_host
    return lambda host: hosts.get(host.name, 0) < most


# Nova's class names, in the order the audit shows them: the checks placement and the
# request filters make come first, then the host filters in their configured order.
PLACEMENT_FILTERS: dict[str, FilterFactory] = {
    "ComputeFilter": compute,
    "ResourceFilter": placement,
}
REQUEST_FILTERS: dict[str, FilterFactory] = {
    "IsolatedAggregateFilter": isolated_aggregates,
    "TenantAggregateFilter": tenant_aggregates,
}
HOST_FILTERS: dict[str, FilterFactory] = {
    "AvailabilityZoneFilter": availability_zone,
    "AggregateInstanceExtraSpecsFilter": aggregate_instance_extra_specs,
    "ComputeCapabilitiesFilter": compute_capabilities,
    "ImagePropertiesFilter": image_properties,
    "ServerGroupAntiAffinityFilter": server_group_anti_affinity,
    "ServerGroupAffinityFilter": server_group_affinity,
}


def host_capabilities(host: HostCandidate) -> dict[str, Any]:
    """The HostState attributes ComputeCapabilitiesFilter can compare, from what the index knows."""
    totals = {rc: inv.total for rc, inv in host.inventories.items()}
    used = host.used
    info = host.hypervisor
    return {
        "hypervisor_type": info.get("type"),
        "hypervisor_version": info.get("version"),
        "cpu_info": {"arch": info.get("cpu_arch")},
        "host": host.name,
        "hypervisor_hostname": host.name,
        "vcpus": totals.get(VCPU, 0),
        "memory_mb": totals.get(MEMORY_MB, 0),
        "local_gb": totals.get(DISK_GB, 0),
        "vcpus_used": used.get(VCPU, 0),
        "memory_mb_used": used.get(MEMORY_MB, 0),
        "local_gb_used": used.get(DISK_GB, 0),
        "free_ram_mb": host.free(MEMORY_MB),
        "free_disk_gb": host.free(DISK_GB),
        "num_instances": host.instances,
        "num_io_ops": host.io_ops,
        "failed_builds": host.failed_builds,
    }


# --- Nova's extra spec operators ("<in> avx", ">= 4", "s== x86_64", "<or> a <or> b") -----------------

_NUMBER_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge,  # Nova's "=" on numbers means "at least"
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
}
_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}


def matches(value: str, requirement: str) -> bool:
    """Nova's extra_specs_ops.match: a requirement with no operator must equal the value."""
    words = requirement.split()
    if not words:
        return value == requirement
    op, args = words[0], words[1:]
    if op == "<or>":
        return value in [w for w in words if w != "<or>"]
    if op == "<in>":
        return bool(args) and args[0] in value
    if op == "<all-in>":
        return all(arg in value.split() for arg in args)
    if op in _STRING_OPS and len(args) == 1:
        return _STRING_OPS[op](value, args[0])
    if op in _NUMBER_OPS and len(args) == 1:
        try:
            return _NUMBER_OPS[op](float(value), float(args[0]))
        except ValueError:
            return False
    return value == requirement


def _canonical(arch: str) -> str:
    arch = arch.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "i386": "i686", "arm64": "aarch64"}.get(arch, arch)


def _hv_type(name: str) -> str:
    """Nova treats kvm and qemu images alike: both run on a libvirt QEMU host."""
    name = name.lower()
    return "qemu" if name == "kvm" else name


def required_by_aggregate(metadata: Mapping[str, str]) -> set[str]:
    """The traits an aggregate's `trait:X=required` metadata keys name."""
    return {key[len("trait:") :] for key, value in metadata.items() if key.startswith("trait:") and value == REQUIRED}
