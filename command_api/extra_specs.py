"""Flavor extra specs as Nova checks them from microversion 2.86.

A key Nova knows must have a value of its kind; a key in a namespace Nova
knows (`hw:`, `resources:`...) but not itself is refused; a key in any other
namespace, or none, is the operator's business. The namespaces described here
are the ones Chronova's scheduler and agents read or a client commonly sets;
keys of namespaces not described (quota:, vmware:...) pass as unknown ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import falcon

from chronova import web
from domain.request_spec import CUSTOM_NAME, RESOURCE_KEY, STANDARD_RESOURCE_CLASSES

_GROUP = r"([a-zA-Z0-9_-]{1,64})?"  # a granular request group suffix: resources1:, trait_gpu:
_CPU_MASK = r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"


@dataclass(frozen=True)
class Rule:
    """What a value must be: an integer in [low, high], a boolean word, one of `choices`, or `pattern`."""

    kind: str  # "int", "bool", "enum", "pattern" or "any"
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str = ""

    def check(self, value: str) -> None:
        if self.kind == "int":
            self._check_int(value)
        elif self.kind == "bool" and value.lower() not in web.TRUE_WORDS | web.FALSE_WORDS:
            raise _refused(f"'{value}' is not a valid boolean-like value.")
        elif self.kind == "enum" and value not in self.choices:
            raise _refused(f"'{value}' is not one of: {', '.join(self.choices)}.")
        elif self.kind == "pattern" and not re.fullmatch(self.pattern, value):
            raise _refused(f"'{value}' is not of the format '{self.pattern}'.")

    def _check_int(self, value: str) -> None:
        try:
            number = int(value)
        except ValueError:
            raise _refused(f"'{value}' is not a valid integer value.") from None
        if self.high is not None and number > self.high:
            raise _refused(f"'{value}' is greater than the max value of '{self.high}'.")
        if self.low is not None and number < self.low:
            raise _refused(f"'{value}' is less than the min value of '{self.low}'.")


INT, BOOL, ANY = Rule("int"), Rule("bool"), Rule("any")
AT_LEAST_0, AT_LEAST_1 = Rule("int", low=0), Rule("int", low=1)


def _one_of(*choices: str) -> Rule:
    return Rule("enum", choices=choices)


def _like(pattern: str) -> Rule:
    return Rule("pattern", pattern=pattern)


# Key patterns (full matches) and their values, as Nova's validators define them.
KNOWN: dict[str, Rule] = {
    "hw:cpu_realtime": BOOL,
    "hw:cpu_realtime_mask": _like(r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"),
    "hw:hide_hypervisor_id": BOOL,
    "hw:cpu_policy": _one_of("dedicated", "shared", "mixed"),
    "hw:cpu_thread_policy": _one_of("prefer", "isolate", "require"),
    "hw:emulator_threads_policy": _one_of("isolate", "share"),
    "hw:cpu_dedicated_mask": _like(_CPU_MASK),
    "hw:mem_page_size": _like(r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"),
    "hw:locked_memory": BOOL,
    "hw:numa_nodes": AT_LEAST_1,
    r"hw:numa_cpus\.\d+": _like(_CPU_MASK),
    r"hw:numa_mem\.\d+": AT_LEAST_1,
    "hw:pci_numa_affinity_policy": _one_of("required", "preferred", "legacy", "socket"),
    "hw:cpu_sockets": AT_LEAST_1,
    "hw:cpu_cores": AT_LEAST_1,
    "hw:cpu_threads": AT_LEAST_1,
    "hw:cpu_max_sockets": AT_LEAST_1,
    "hw:cpu_max_cores": AT_LEAST_1,
    "hw:cpu_max_threads": AT_LEAST_1,
    "hw:boot_menu": BOOL,
    "hw:vif_multiqueue_enabled": BOOL,
    "hw:mem_encryption": BOOL,
    "hw:mem_encryption_model": _one_of("amd-sev", "amd-sev-es", "amd-sev-snp"),
    "hw:pmem": _like("([a-zA-Z0-9_]+(,)?)+"),
    "hw:pmu": BOOL,
    "hw:serial_port_count": AT_LEAST_0,
    "hw:tpm_model": _one_of("tpm-tis", "tpm-crb"),
    "hw:tpm_version": _one_of("1.2", "2.0"),
    "hw:tpm_secret_security": _one_of("user", "host", "deployment"),
    "hw:watchdog_action": _one_of("none", "pause", "poweroff", "reset", "disabled"),
    "hw:viommu_model": _one_of("intel", "smmuv3", "virtio", "auto"),
    "hw:virtio_packed_ring": BOOL,
    "hw:sound_model": _one_of("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio"),
    "hw:usb_model": _one_of("none", "nec-xhci", "qemu-xhci"),
    "hw:redirected_usb_ports": Rule("int", low=0, high=15),
    "hw:ephemeral_encryption": BOOL,
    "hw:ephemeral_encryption_format": _one_of("plain", "luks", "luksv2"),
    "hw_rng:allowed": BOOL,
    "hw_rng:rate_bytes": AT_LEAST_0,
    "hw_rng:rate_period": AT_LEAST_0,
    "hw_video:ram_max_mb": AT_LEAST_0,
    "os:secure_boot": _one_of("disabled", "required"),
    # Resource classes and traits: standard names are upper-case words, custom ones CUSTOM_*.
    rf"resources{_GROUP}:[A-Z][A-Z0-9_]*": AT_LEAST_0,
    rf"trait{_GROUP}:[A-Z][A-Z0-9_]*": _one_of("required", "forbidden"),
    "aggregate_instance_extra_specs:.+": ANY,
    "capabilities:(id|uuid|service_id|host|vcpus|memory_mb|local_gb|vcpus_used|memory_mb_used|local_gb_used"
    "|hypervisor_type|hypervisor_version|hypervisor_hostname|free_ram_mb|free_disk_gb|current_workload"
    "|running_vms|disk_available_least|host_ip|mapped|cpu_allocation_ratio|ram_allocation_ratio"
    "|disk_allocation_ratio|total_usable_ram_mb|total_usable_disk_gb|disk_mb_used|free_disk_mb|vcpus_total"
    "|num_instances|num_io_ops|failed_builds|aggregates|cell_uuid|updated)": ANY,
    r"capabilities:(cpu_info|metrics|stats|numa_topology|supported_hv_specs|pci_device_pools|nodename"
    r"|pci_stats|supported_instances|limits|instances)(:\w+)*": ANY,
    "hide_hypervisor_id": BOOL,
    "group_policy": _one_of("isolate", "none"),
}
KNOWN_NAMESPACES = (
    "hw",
    "hw_rng",
    "hw_video",
    "os",
    f"resources{_GROUP}",
    f"trait{_GROUP}",
    "aggregate_instance_extra_specs",
    "capabilities",
)


def check(name: str, value: str) -> None:
    """Refuses a value of the wrong kind for a known key, or an unknown key in a known namespace."""
    resource = RESOURCE_KEY.fullmatch(name)
    if resource and resource.group(1) not in STANDARD_RESOURCE_CLASSES and not CUSTOM_NAME.fullmatch(resource.group(1)):
        raise _refused(f"extra spec '{name}' does not appear to be a valid extra spec.")  # as Nova: no such class
    for pattern, rule in KNOWN.items():
        if re.fullmatch(pattern, name):
            rule.check(value)
            return
    namespace, colon, _ = name.partition(":")
    if colon and any(re.fullmatch(known, namespace) for known in KNOWN_NAMESPACES):
        raise _refused(f"extra spec '{name}' does not appear to be a valid extra spec.")


def _refused(reason: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(description=f"Validation failed; {reason}")
