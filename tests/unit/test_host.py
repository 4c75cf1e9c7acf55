"""Claims on a Host never exceed (total - reserved) * ratio, and release once."""

import pytest

from domain.errors import InsufficientCapacity
from domain.host import Host, host_id
from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories, inventories_to_dict


def new_host(vcpus: int = 2, memory_mb: int = 2560, disk_gb: int = 10) -> Host:
    return Host(
        name="h1", inventories=inventories_to_dict(default_inventories(vcpus, memory_mb, disk_gb)), hypervisor={}
    )


def tiny() -> dict[str, int]:
    return {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}


def test_host_ids_are_stable_per_name():
    assert host_id("h1") == host_id("h1") != host_id("h2")
    assert new_host().id == host_id("h1")


def test_memory_capacity_excludes_reserved_host_memory():
    host = new_host(memory_mb=2560)  # 2048 usable after Nova's 512 MB reservation
    for n in range(4):
        host.claim(f"s{n}", tiny())
    with pytest.raises(InsufficientCapacity):
        host.claim("s5", tiny())
    assert host.usage[MEMORY_MB] == 2048


def test_cpu_is_overcommitted_four_times_but_no_more():
    host = new_host(vcpus=1, memory_mb=100_000, disk_gb=100)
    for n in range(4):
        host.claim(f"s{n}", {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1})
    with pytest.raises(InsufficientCapacity):
        host.claim("s4", {VCPU: 1, MEMORY_MB: 1, DISK_GB: 1})


def test_a_request_larger_than_the_host_never_fits():
    host = new_host(vcpus=2)
    with pytest.raises(InsufficientCapacity):
        host.claim("big", {VCPU: 3, MEMORY_MB: 1, DISK_GB: 1})  # max_unit is the host's total


def test_claiming_twice_for_one_server_records_one_claim():
    host = new_host()
    host.claim("s1", tiny())
    host.claim("s1", tiny())
    assert [type(e).__name__ for e in host.collect_events()] == ["Registered", "AllocationClaimed"]


def test_release_happens_exactly_once():
    host = new_host()
    host.claim("s1", tiny())
    host.collect_events()
    host.release("s1")
    host.release("s1")
    (released,) = host.collect_events()
    assert released.resources == tiny() and set(host.usage.values()) == {0}


def test_usage_is_always_the_sum_of_the_allocations():
    host = new_host(vcpus=64, memory_mb=100_000, disk_gb=1000)
    for n in range(30):
        host.claim(f"s{n}", {VCPU: 1 + n % 3, MEMORY_MB: 64 * (n % 5 + 1), DISK_GB: n % 4})
        if n % 4 == 0:
            host.release(f"s{n // 2}")
    for rc in (VCPU, MEMORY_MB, DISK_GB):
        assert host.usage[rc] == sum(r[rc] for r in host.allocations.values())
    rebuilt = None
    for event in host.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt.usage == host.usage


def test_an_unchanged_heartbeat_records_nothing():
    host = new_host()
    host.collect_events()
    host.report_inventory(inventories_to_dict(default_inventories(2, 2560, 10)), {})
    host.report_alive()
    host.report_alive()
    assert [type(e).__name__ for e in host.collect_events()] == ["ServiceUp"]
    assert host.schedulable
