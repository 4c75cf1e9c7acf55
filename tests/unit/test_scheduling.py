"""The pure decision: filters drop hosts, the RAM weigher orders the rest."""

from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories
from domain.scheduling import HostCandidate, choose_hosts

REQUEST = {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}


def host(name: str, memory_mb: int = 4096, used_mb: int = 0, up: bool = True, enabled: bool = True) -> HostCandidate:
    return HostCandidate(
        name=name,
        inventories=default_inventories(4, memory_mb, 100),
        used={MEMORY_MB: used_mb},
        up=up,
        enabled=enabled,
    )


def test_most_free_ram_first():
    decision = choose_hosts([host("a", used_mb=2048), host("b"), host("c", used_mb=1024)], REQUEST)
    assert decision.ranked == ("b", "c", "a")


def test_down_disabled_and_full_hosts_are_filtered_with_reasons():
    decision = choose_hosts(
        [host("down", up=False), host("off", enabled=False), host("full", memory_mb=1024, used_mb=512)], REQUEST
    )
    assert decision.ranked == ()
    assert decision.rejected["ComputeFilter"] == 2 and decision.rejected["ResourceFilter"] == 1
    assert "ComputeFilter removed 2" in decision.explain()


def test_excluded_hosts_are_not_retried():
    assert choose_hosts([host("a"), host("b")], REQUEST, exclude=frozenset({"a"})).ranked == ("b",)
