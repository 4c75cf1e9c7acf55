"""The capacity index decides as the full scan does (`choose_hosts` over every
host), for random clouds, requests (traits, zones, groups, extra specs),
policies and retries, while hosts change and claims land; and the scheduler,
deciding with it, still says which filter emptied the list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chronova.capacity_index import CapacityIndex
from chronova.cloud import Cloud
from chronova.host_index import HostIndex
from chronova.scheduler import Scheduler, claim_best_host
from domain.host import Host
from domain.placement import DISK_GB, MEMORY_MB, VCPU, Inventory, default_inventories, inventories_to_dict
from domain.request_spec import RequestSpec, ServerGroupPlacement
from domain.scheduling import HostCandidate, SchedulerPolicy, choose_hosts
from domain.weighers import DEFAULT_MULTIPLIERS

GPU = "CUSTOM_GPU"
NAMES = [f"h{i:02d}" for i in range(16)]
TINY = RequestSpec(resources={VCPU: 1, MEMORY_MB: 512, DISK_GB: 1})
TRAITS = ["HW_CPU_X86_AVX2", "CUSTOM_SSD", "COMPUTE_STATUS_DISABLED"]
ZONES = ["nova", "az1", "az2"]

# --- random clouds ------------------------------------------------------------------------------
# RAM comes in 256 MB steps so that many hosts tie on free RAM and the name has to break the tie.


@st.composite
def inventory(draw: st.DrawFn, unit: int, most: int) -> Inventory:
    rare = st.integers(0, 7).map(lambda n: n == 0)  # the unusual settings, now and then
    total = draw(st.integers(0, most) if draw(rare) else st.integers(most // 4, most)) * unit
    return Inventory(
        total=total,
        reserved=draw(st.integers(0, total // unit)) * unit if draw(rare) else 0,
        allocation_ratio=draw(st.sampled_from([1.0, 1.0, 0.5, 1.5, 4.0, 16.0])),
        min_unit=2 if draw(rare) else 1,
        max_unit=draw(st.integers(0, total)) if draw(rare) else None,
        step_size=2 if draw(rare) else 1,
    )


CLASSES = {VCPU: (1, 16), MEMORY_MB: (256, 32), DISK_GB: (1, 60), GPU: (1, 4)}


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, Inventory]:
    present = {rc for rc in (VCPU, MEMORY_MB, DISK_GB) if draw(st.integers(0, 19))}
    if draw(st.integers(0, 3)) == 0:
        present.add(GPU)
    return {rc: draw(inventory(*CLASSES[rc])) for rc in sorted(present)}


@st.composite
def candidates(draw: st.DrawFn, name: str) -> HostCandidate:
    invs = draw(inventories())
    used = {}
    for rc, inv in invs.items():
        unit = CLASSES[rc][0]
        most = max(inv.capacity, 0) // unit + 2  # over-committed now and then
        used[rc] = min(draw(st.integers(0, most)), draw(st.integers(0, most))) * unit
    return HostCandidate(
        name=name,
        inventories=invs,
        used=used,
        up=draw(st.integers(0, 7)) > 0,
        enabled=draw(st.integers(0, 7)) > 0,
        forced_down=draw(st.integers(0, 15)) == 0,
        traits=draw(st.frozensets(st.sampled_from(TRAITS))),
        availability_zone=draw(st.sampled_from(ZONES)),
        aggregate_metadata={"ssd": draw(st.frozensets(st.sampled_from(["true", "false"]), max_size=2))},
        aggregate_required_traits=draw(st.frozensets(st.sampled_from(TRAITS), max_size=1)),
        hypervisor={"type": draw(st.sampled_from(["QEMU", "ironic"])), "cpu_arch": "x86_64"},
        instances=draw(st.integers(0, 9)),
        io_ops=draw(st.integers(0, 3)),
        failed_builds=draw(st.integers(0, 2)) // 2,
    )


@st.composite
def clouds(draw: st.DrawFn) -> list[HostCandidate]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=len(NAMES)))
    return [draw(candidates(name)) for name in names]


@st.composite
def requests(draw: st.DrawFn) -> RequestSpec:
    resources = {
        VCPU: draw(st.integers(0, 4)),
        MEMORY_MB: draw(st.integers(0, 8)) * 256,
        DISK_GB: draw(st.integers(0, 20)),
    }
    if draw(st.integers(0, 7)) == 0:
        resources[GPU] = draw(st.integers(1, 2))
    sometimes = st.integers(0, 3).map(lambda n: n == 0)
    group = None
    if draw(sometimes):
        group = ServerGroupPlacement(
            policy=draw(st.sampled_from(["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"])),
            members_per_host=draw(st.dictionaries(st.sampled_from(NAMES), st.integers(1, 2), max_size=4)),
            max_server_per_host=draw(st.integers(1, 2)),
        )
    extra_specs = {}
    if draw(sometimes):
        extra_specs["aggregate_instance_extra_specs:ssd"] = draw(st.sampled_from(["true", "<in> fal"]))
    if draw(sometimes):
        extra_specs["capabilities:hypervisor_type"] = draw(st.sampled_from(["s== QEMU", "ironic"]))
    return RequestSpec(
        resources=resources,
        required_traits=draw(st.frozensets(st.sampled_from(TRAITS), max_size=2)) if draw(sometimes) else frozenset(),
        forbidden_traits=draw(st.frozensets(st.sampled_from(TRAITS), max_size=1)) if draw(sometimes) else frozenset(),
        extra_specs=extra_specs,
        image_properties={"hw_architecture": draw(st.sampled_from(["x86_64", "aarch64"]))} if draw(sometimes) else {},
        availability_zone=draw(st.sampled_from(ZONES)) if draw(sometimes) else None,
        project_id="p1",
        group=group,
    )


@st.composite
def policies(draw: st.DrawFn) -> SchedulerPolicy:
    """Nova's defaults now and then; otherwise every filter, random multipliers and few candidates."""
    if draw(st.booleans()):
        return SchedulerPolicy()
    return SchedulerPolicy(
        enabled_filters=(
            "ComputeFilter",
            "AvailabilityZoneFilter",
            "AggregateInstanceExtraSpecsFilter",
            "ComputeCapabilitiesFilter",
            "ImagePropertiesFilter",
            "ServerGroupAntiAffinityFilter",
            "ServerGroupAffinityFilter",
        ),
        multipliers={option: draw(st.sampled_from([0.0, 1.0, -1.0, 2.5])) for option in DEFAULT_MULTIPLIERS},
        max_attempts=draw(st.integers(1, 4)),
        max_candidates=draw(st.integers(1, 6)),
        enable_isolated_aggregate_filtering=draw(st.booleans()),
    )


retries = st.frozensets(st.sampled_from([*NAMES, "gone"]), max_size=5)


def assert_same(
    index: CapacityIndex,
    hosts: list[HostCandidate],
    request: RequestSpec,
    exclude: frozenset[str],
    policy: SchedulerPolicy | None = None,
) -> None:
    expected = choose_hosts(hosts, request, policy, exclude)
    got = index.choose(request, policy, exclude)
    assert got.ranked == expected.ranked
    assert got.audit["weighed"] == expected.audit["weighed"]
    if not expected.ranked:
        assert got.rejected == expected.rejected
        assert got.explain() == expected.explain()


# --- the index against the full scan ---------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(clouds(), requests(), retries, policies())
def test_the_index_chooses_what_the_full_scan_chooses(
    hosts: list[HostCandidate], request: RequestSpec, exclude: frozenset[str], policy: SchedulerPolicy
) -> None:
    assert_same(CapacityIndex(hosts), hosts, request, exclude, policy)


@settings(max_examples=150, deadline=None)
@given(st.data(), clouds(), requests(), retries)
def test_the_index_follows_hosts_that_change_and_go(
    data: st.DataObject, hosts: list[HostCandidate], request: RequestSpec, exclude: frozenset[str]
) -> None:
    index = CapacityIndex(hosts)
    model = {h.name: h for h in hosts}
    for _ in range(data.draw(st.integers(1, 12))):
        name = data.draw(st.sampled_from(NAMES))
        if data.draw(st.integers(0, 3)) == 0:
            index.discard(name)  # a deleted service, or a host forgotten after a lost race
            model.pop(name, None)
        else:
            host = data.draw(candidates(name))
            index.put(host)
            model[name] = host
        assert len(index) == len(model)
        assert_same(index, list(model.values()), request, exclude)


@settings(max_examples=150, deadline=None)
@given(clouds(), st.lists(requests(), min_size=1, max_size=20))
def test_claims_put_back_after_each_decision_keep_the_index_exact(
    hosts: list[HostCandidate], wanted: list[RequestSpec]
) -> None:
    """What the scheduler does: decide, claim on the first host, put it back, decide again."""
    index = CapacityIndex(hosts)
    model = {h.name: h for h in hosts}
    for request in wanted:
        assert_same(index, list(model.values()), request, frozenset())
        decision = index.choose(request)
        if decision.ranked:
            chosen = model[decision.ranked[0]]
            asked = request.resources
            used = {rc: chosen.used.get(rc, 0) + asked.get(rc, 0) for rc in {*chosen.used, *asked}}
            model[chosen.name] = replace(chosen, used=used)
            index.put(model[chosen.name])


def test_at_most_two_alternates_are_kept_best_first() -> None:
    hosts = [host_candidate(f"h{i}", used_mb=256 * i) for i in range(6)]
    decision = CapacityIndex(hosts).choose(TINY)
    assert decision.ranked == ("h0", "h1", "h2")


def test_a_request_without_ram_reaches_hosts_overcommitted_on_ram() -> None:
    """Free RAM below zero (the inventory shrank under its allocations) still fits a request of none."""
    hosts = [host_candidate("shrunk", used_mb=4096), host_candidate("fine", used_mb=3584)]
    assert CapacityIndex(hosts).choose(RequestSpec(resources={VCPU: 1})).ranked == ("fine", "shrunk")


def test_an_empty_list_says_which_filter_emptied_it() -> None:
    hosts = [
        host_candidate("down", up=False),
        host_candidate("off", enabled=False),
        host_candidate("full", used_mb=3584),
        host_candidate("tried"),
        host_candidate("elsewhere", zone="az2"),
    ]
    spec = RequestSpec(resources=TINY.resources, availability_zone="nova")
    decision = CapacityIndex(hosts).choose(spec, exclude=frozenset({"tried", "off", "unknown"}))
    assert decision.ranked == ()
    assert decision.rejected == {
        "RetryFilter": 2,
        "ComputeFilter": 1,
        "ResourceFilter": 1,
        "AvailabilityZoneFilter": 1,
        "ComputeCapabilitiesFilter": 0,
        "ImagePropertiesFilter": 0,
        "ServerGroupAntiAffinityFilter": 0,
        "ServerGroupAffinityFilter": 0,
    }
    assert decision.explain() == (
        "Filter AvailabilityZoneFilter returned 0 hosts. Filters: RetryFilter removed 2, ComputeFilter removed 1, "
        "ResourceFilter removed 1, AvailabilityZoneFilter removed 1"
    )
    assert {f["name"]: f["hosts"] for f in decision.audit["filters"] if f["removed"]} == {
        "RetryFilter": ["off", "tried"],
        "ComputeFilter": ["down"],
        "ResourceFilter": ["full"],
        "AvailabilityZoneFilter": ["elsewhere"],
    }


def test_the_audit_shows_the_weights_of_the_top_hosts() -> None:
    hosts = [host_candidate(f"h{i}", used_mb=256 * i) for i in range(8)]
    decision = CapacityIndex(hosts).choose(TINY)
    assert [entry["host"] for entry in decision.audit["weighed"]] == ["h0", "h1", "h2", "h3", "h4"]
    assert decision.audit["weighed"][0]["weights"] == {"RAMWeigher": 1.0}
    assert decision.audit["weighed"][0]["weight"] > decision.audit["weighed"][1]["weight"]
    assert decision.audit["chosen"] == "h0" and decision.audit["alternates"] == ["h1", "h2"]


def host_candidate(
    name: str, used_mb: int = 0, up: bool = True, enabled: bool = True, zone: str = "nova"
) -> HostCandidate:
    return HostCandidate(
        name=name,
        inventories=default_inventories(4, 4096, 100),
        used={MEMORY_MB: used_mb},
        up=up,
        enabled=enabled,
        availability_zone=zone,
    )


# --- fed by the Host events, used by the scheduler ---------------------------------------------


def register(cloud: Cloud, name: str, memory_mb: int = 4096, up: bool = True) -> Host:
    host = Host(name=name, inventories=inventories_to_dict(default_inventories(4, memory_mb, 100)), hypervisor={})
    if up:
        host.report_alive()
    cloud.save(host)
    return host


def caught_up(cloud: Cloud) -> HostIndex:
    index = HostIndex(cloud)
    index.catch_up(cloud.recorder.max_notification_id() or 0)
    return index


def test_the_index_is_fed_by_the_host_events_of_the_log(cloud: Cloud) -> None:
    for name, memory_mb in (("small", 2048), ("big", 8192), ("gone", 16384), ("off", 16384)):
        register(cloud, name, memory_mb)
    for name, change in (("gone", Host.delete_service), ("off", lambda h: h.disable("maintenance"))):
        host = cloud.host(name)
        change(host)
        cloud.save(host)
    index = caught_up(cloud)
    assert index.capacity.choose(TINY).ranked == ("big", "small")

    host, _ = claim_best_host(index, str(uuid.uuid4()), RequestSpec(resources={**TINY.resources, MEMORY_MB: 6400}))
    assert host is not None and host.name == "big"
    # The claim is in the index before it is saved: the next decision already sees it.
    assert index.capacity.choose(TINY).ranked == ("small", "big")
    cloud.save(host)
    other = caught_up(cloud)
    assert other.capacity.choose(TINY).ranked == choose_hosts(other.candidates(), TINY).ranked == ("small", "big")

    index.forget(host.id)  # as after a lost race: not used until reloaded from the store
    assert index.capacity.choose(TINY).ranked == ("small",)
    index.reload_stale()
    assert index.capacity.choose(TINY).ranked == ("small", "big")


def test_no_valid_host_fault_names_the_filters(cloud: Cloud, boot: Callable[..., dict[str, Any]]) -> None:
    register(cloud, "down", up=False)
    register(cloud, "small", memory_mb=768)  # 256 MB left after the 512 MB Nova reserves
    register(cloud, "off")
    off = cloud.host("off")
    off.disable(None)
    cloud.save(off)
    server_id = uuid.UUID(boot()["id"])
    scheduler = Scheduler(cloud)
    scheduler.index.catch_up(cloud.recorder.max_notification_id() or 0)

    assert scheduler.schedule(server_id) is None

    fault = cloud.server(server_id).fault
    assert fault["message"].startswith("No valid host was found")
    assert fault["details"] == (
        "Filter ResourceFilter returned 0 hosts. Filters: ComputeFilter removed 2, ResourceFilter removed 1"
    )


def test_the_scheduler_fills_the_host_with_most_free_ram_first(
    cloud: Cloud, boot: Callable[..., dict[str, Any]]
) -> None:
    register(cloud, "a", memory_mb=1536)  # two 512 MB slots
    register(cloud, "b", memory_mb=1024)  # one
    server_ids = [uuid.UUID(boot(f"vm{i}")["id"]) for i in range(4)]
    scheduler = Scheduler(cloud)
    scheduler.index.catch_up(cloud.recorder.max_notification_id() or 0)

    placed = [scheduler.schedule(server_id) for server_id in server_ids]

    # After the first claim "a" and "b" tie on RAM, and "b" has more free VCPU and disk (CPU and disk weighers).
    assert placed == ["a", "b", "a", None]
    assert cloud.server(server_ids[3]).fault["details"] == (
        "Filter ResourceFilter returned 0 hosts. Filters: ResourceFilter removed 2"
    )
