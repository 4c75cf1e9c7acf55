"""The scheduler's and the agents' placement options, read from the environment
under Nova's option names (upper-cased, prefixed CHRONOVA_).

Scheduler (chronova/scheduler.py, and the conductor for reschedules):
    CHRONOVA_ENABLED_FILTERS            comma-separated host filters, in order (domain.scheduling.DEFAULT_FILTERS)
    CHRONOVA_RAM_WEIGHT_MULTIPLIER ... CHRONOVA_BUILD_FAILURE_WEIGHT_MULTIPLIER
                                        one per weigher (domain.weighers.WEIGHERS), Nova's defaults
    CHRONOVA_HOST_SUBSET_SIZE           1: the best host; N: one of the best N at random
    CHRONOVA_MAX_ATTEMPTS               3: the chosen host and two alternates per build
    CHRONOVA_MAX_PLACEMENT_RESULTS      1000 (as Nova): candidates weighed per decision
    CHRONOVA_ENABLE_ISOLATED_AGGREGATE_FILTERING, CHRONOVA_LIMIT_TENANTS_TO_PLACEMENT_AGGREGATE,
    CHRONOVA_PLACEMENT_AGGREGATE_REQUIRED_FOR_TENANTS   the request filters, off by default

Agent (per host inventory, sent with each heartbeat):
    CHRONOVA_CPU_ALLOCATION_RATIO (4.0), CHRONOVA_RAM_ALLOCATION_RATIO (1.0), CHRONOVA_DISK_ALLOCATION_RATIO (1.0),
    CHRONOVA_RESERVED_HOST_MEMORY_MB (512), CHRONOVA_RESERVED_HOST_DISK_MB (0), CHRONOVA_RESERVED_HOST_CPUS (0),
    CHRONOVA_HOST_TRAITS                comma-separated traits the host offers (COMPUTE_*, HW_CPU_*, CUSTOM_*)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.errors import DomainError
from domain.request_spec import check_trait
from domain.scheduling import SchedulerPolicy
from domain.weighers import DEFAULT_MULTIPLIERS

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class SchedulerConfigError(ValueError):
    """An option that cannot work; the CLI prints it on one line."""


@dataclass(frozen=True)
class HostPlacementOptions:
    """Nova's nova-compute options that shape a host's inventory."""

    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    reserved_host_cpus: int = 0
    traits: tuple[str, ...] = ()


def _number(env: Mapping[str, str], key: str, default: float, kind: type) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SchedulerConfigError(f"{key}: expected a number, got {raw!r}") from None
    return value


def _flag(env: Mapping[str, str], key: str) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS or raw == "":
        return False
    raise SchedulerConfigError(f"{key}: expected true or false, got {raw!r}")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def scheduler_policy_from_env(env: Mapping[str, str]) -> SchedulerPolicy:
    defaults = SchedulerPolicy()
    multipliers = {
        option: _number(env, f"CHRONOVA_{option.upper()}", default, float)
        for option, default in DEFAULT_MULTIPLIERS.items()
    }
    filters = env.get("CHRONOVA_ENABLED_FILTERS")
    try:
        return SchedulerPolicy(
            enabled_filters=_names(filters) if filters is not None else defaults.enabled_filters,
            multipliers=multipliers,
            host_subset_size=int(_number(env, "CHRONOVA_HOST_SUBSET_SIZE", defaults.host_subset_size, int)),
            max_attempts=int(_number(env, "CHRONOVA_MAX_ATTEMPTS", defaults.max_attempts, int)),
            max_candidates=int(_number(env, "CHRONOVA_MAX_PLACEMENT_RESULTS", defaults.max_candidates, int)),
            enable_isolated_aggregate_filtering=_flag(env, "CHRONOVA_ENABLE_ISOLATED_AGGREGATE_FILTERING"),
            limit_tenants_to_placement_aggregate=_flag(env, "CHRONOVA_LIMIT_TENANTS_TO_PLACEMENT_AGGREGATE"),
            placement_aggregate_required_for_tenants=_flag(env, "CHRONOVA_PLACEMENT_AGGREGATE_REQUIRED_FOR_TENANTS"),
        )
    except ValueError as e:
        raise SchedulerConfigError(str(e)) from None


def host_placement_from_env(env: Mapping[str, str]) -> HostPlacementOptions:
    d = HostPlacementOptions()
    options = HostPlacementOptions(
        cpu_allocation_ratio=_number(env, "CHRONOVA_CPU_ALLOCATION_RATIO", d.cpu_allocation_ratio, float),
        ram_allocation_ratio=_number(env, "CHRONOVA_RAM_ALLOCATION_RATIO", d.ram_allocation_ratio, float),
        disk_allocation_ratio=_number(env, "CHRONOVA_DISK_ALLOCATION_RATIO", d.disk_allocation_ratio, float),
        reserved_host_memory_mb=int(_number(env, "CHRONOVA_RESERVED_HOST_MEMORY_MB", d.reserved_host_memory_mb, int)),
        reserved_host_disk_mb=int(_number(env, "CHRONOVA_RESERVED_HOST_DISK_MB", d.reserved_host_disk_mb, int)),
        reserved_host_cpus=int(_number(env, "CHRONOVA_RESERVED_HOST_CPUS", d.reserved_host_cpus, int)),
        traits=_names(env.get("CHRONOVA_HOST_TRAITS", "")),
    )
    ratios = (options.cpu_allocation_ratio, options.ram_allocation_ratio, options.disk_allocation_ratio)
    if any(ratio <= 0 for ratio in ratios):
        raise SchedulerConfigError("allocation ratios must be greater than 0")
    if min(options.reserved_host_memory_mb, options.reserved_host_disk_mb, options.reserved_host_cpus) < 0:
        raise SchedulerConfigError("reserved host resources cannot be negative")
    for trait in options.traits:
        try:
            check_trait(trait)
        except DomainError as e:
            raise SchedulerConfigError(f"CHRONOVA_HOST_TRAITS: {e}") from None
    return options
