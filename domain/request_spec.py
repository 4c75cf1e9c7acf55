"""What one server asks of a host: Nova's RequestSpec, built from the flavor,
its extra specs, the image's properties, the zone and the server group.

Resource classes and traits follow placement's naming: a standard name or
`CUSTOM_` plus upper-case letters, digits and underscores. A request that
names anything else, or asks for what no host could ever hold (a negative
amount, one trait both required and forbidden), is refused here, so the API
answers 400 and the scheduler never sees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidReference
from domain.placement import DISK_GB, MEMORY_MB, VCPU, flavor_resources

# os-resource-classes' standard classes that a compute host may offer.
STANDARD_RESOURCE_CLASSES = frozenset(
    {
        VCPU,
        MEMORY_MB,
        DISK_GB,
        "PCPU",
        "MEM_ENCRYPTION_CONTEXT",
        "PGPU",
        "VGPU",
        "VGPU_DISPLAY_HEAD",
        "SRIOV_NET_VF",
        "NUMA_SOCKET",
        "NUMA_CORE",
        "NUMA_THREAD",
        "NUMA_MEMORY_MB",
        "IPV4_ADDRESS",
        "FPGA",
        "PMEM_NAMESPACE_SMALL",
        "PMEM_NAMESPACE_MEDIUM",
        "PMEM_NAMESPACE_LARGE",
    }
)
CUSTOM_NAME = re.compile(r"CUSTOM_[A-Z0-9_]+")
TRAIT_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,254}")
# `resources:VCPU`, and granular groups (`resources1:`, `resources_gpu:`) merged into the one request:
# a Chronova host is one resource provider, so every group lands on it.
RESOURCE_KEY = re.compile(r"resources(?:[a-zA-Z0-9_-]{1,64})?:(.*)")
TRAIT_KEY = re.compile(r"trait(?:[a-zA-Z0-9_-]{1,64})?:(.*)")
REQUIRED, FORBIDDEN = "required", "forbidden"
GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def check_resource_class(name: str) -> None:
    if name not in STANDARD_RESOURCE_CLASSES and not CUSTOM_NAME.fullmatch(name):
        raise InvalidReference(
            f"Invalid resource class {name!r}: expected a standard class (VCPU, MEMORY_MB, DISK_GB...) or CUSTOM_*."
        )


def check_trait(name: str) -> None:
    if not TRAIT_NAME.fullmatch(name):
        raise InvalidReference(f"Invalid trait {name!r}: expected upper-case letters, digits and underscores.")


@dataclass(frozen=True)
class ServerGroupPlacement:
    """The server's group as the scheduler sees it: its policy and where its other members are."""

    policy: str
    members_per_host: Mapping[str, int] = field(default_factory=dict)
    max_server_per_host: int = 1


@dataclass(frozen=True)
class RequestSpec:
    resources: Mapping[str, int]
    required_traits: frozenset[str] = frozenset()
    forbidden_traits: frozenset[str] = frozenset()
    extra_specs: Mapping[str, str] = field(default_factory=dict)
    image_properties: Mapping[str, str] = field(default_factory=dict)
    availability_zone: str | None = None
    project_id: str = ""
    group: ServerGroupPlacement | None = None
    # Whether some aggregate is reserved for this project (the tenant-to-aggregate request filter).
    tenant_has_aggregates: bool = False

    def describe(self) -> dict[str, Any]:
        """The request as the scheduling audit records it."""
        return {
            "resources": dict(self.resources),
            "required_traits": sorted(self.required_traits),
            "forbidden_traits": sorted(self.forbidden_traits),
            "availability_zone": self.availability_zone,
            "group_policy": self.group.policy if self.group else None,
        }


def request_spec(
    flavor: Mapping[str, Any],
    image_properties: Mapping[str, str] | None = None,
    availability_zone: str | None = None,
    project_id: str = "",
) -> RequestSpec:
    """Nova's resources_from_request_spec: the flavor's amounts, overridden by `resources:*` extra specs
    (0 drops a class), plus `trait:*` from the extra specs and the image. Raises InvalidReference."""
    image_properties = dict(image_properties or {})
    extra_specs = {str(k): str(v) for k, v in (flavor.get("extra_specs") or {}).items()}
    resources = flavor_resources(flavor["vcpus"], flavor["ram"], flavor["disk"], flavor["ephemeral"], flavor["swap"])
    overrides: dict[str, int] = {}
    required: set[str] = set()
    forbidden: set[str] = set()
    for key, value in extra_specs.items():
        if match := RESOURCE_KEY.fullmatch(key):
            name = match.group(1)
            check_resource_class(name)
            overrides[name] = overrides.get(name, 0) + _amount(key, value)
        elif match := TRAIT_KEY.fullmatch(key):
            _add_trait(match.group(1), value, key, required, forbidden)
    for key, value in image_properties.items():
        if match := TRAIT_KEY.fullmatch(key):
            _add_trait(match.group(1), value, key, required, forbidden)
    resources.update(overrides)
    if clash := required & forbidden:
        raise InvalidReference(f"Traits both required and forbidden: {', '.join(sorted(clash))}.")
    return RequestSpec(
        resources={rc: amount for rc, amount in resources.items() if amount},
        required_traits=frozenset(required),
        forbidden_traits=frozenset(forbidden),
        extra_specs=extra_specs,
        image_properties=image_properties,
        availability_zone=availability_zone,
        project_id=project_id,
    )


def _amount(key: str, value: str) -> int:
    try:
        amount = int(value)
    except ValueError:
        raise InvalidReference(f"Invalid amount {value!r} for {key}: expected a whole number.") from None
    if amount < 0:
        raise InvalidReference(f"Invalid amount {value!r} for {key}: it cannot be negative.")
    return amount


def _add_trait(name: str, value: str, key: str, required: set[str], forbidden: set[str]) -> None:
    check_trait(name)
    if value == REQUIRED:
        required.add(name)
    elif value == FORBIDDEN:
        forbidden.add(name)
    else:
        raise InvalidReference(f"Invalid value {value!r} for {key}: expected 'required' or 'forbidden'.")
