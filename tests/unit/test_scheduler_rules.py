"""Nova's scheduling rules end to end on a real embedded store: the request a
flavor and image make, the filters (zones, traits, aggregates, groups), the
weighers and their multipliers, the audit recorded with each decision, and
the reschedule of a failed build on an alternate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova import host_aggregates
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import ConfigError, Settings
from chronova.host_index import HostIndex
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.messages import MalformedMessage
from chronova.reports import Heartbeat, decode_report, encode_report
from chronova.reschedule import build_failed
from chronova.scheduler import Scheduler
from domain.errors import InvalidReference
from domain.host import Host
from domain.placement import DISK_GB, MEMORY_MB, VCPU, Inventory, default_inventories, inventories_to_dict
from domain.request_spec import RequestSpec, ServerGroupPlacement, request_spec
from domain.scheduling import HostCandidate, SchedulerPolicy, choose_hosts
from domain.states import TaskState, VmState
from tests.unit.conftest import DEMO, LATEST

FLAVOR = {"vcpus": 2, "ram": 2048, "disk": 20, "ephemeral": 5, "swap": 1500, "extra_specs": {}}


# --- the request ------------------------------------------------------------------------------


def test_a_flavor_asks_for_root_ephemeral_and_swap_disk_and_its_extra_specs() -> None:
    spec = request_spec(
        {
            **FLAVOR,
            "extra_specs": {
                "resources:VCPU": "0",
                "resources:CUSTOM_GPU": "1",
                "resources1:CUSTOM_GPU": "1",
                "trait:HW_CPU_X86_AVX2": "required",
                "trait:CUSTOM_SLOW": "forbidden",
                "hw:cpu_policy": "shared",
            },
        },
        {"trait:CUSTOM_SSD": "required"},
        "az1",
        "p1",
    )
    assert spec.resources == {MEMORY_MB: 2048, DISK_GB: 20 + 5 + 2, "CUSTOM_GPU": 2}
    assert spec.required_traits == {"HW_CPU_X86_AVX2", "CUSTOM_SSD"}
    assert spec.forbidden_traits == {"CUSTOM_SLOW"}
    assert (spec.availability_zone, spec.project_id) == ("az1", "p1")


@pytest.mark.parametrize(
    ("extra_specs", "image", "message"),
    [
        ({"resources:GPUS": "1"}, {}, "Invalid resource class 'GPUS'"),
        ({"resources:CUSTOM_GPU": "-1"}, {}, "cannot be negative"),
        ({"resources:CUSTOM_GPU": "two"}, {}, "expected a whole number"),
        ({"trait:avx": "required"}, {}, "Invalid trait 'avx'"),
        ({"trait:CUSTOM_A": "preferred"}, {}, "expected 'required' or 'forbidden'"),
        ({"trait:CUSTOM_A": "forbidden"}, {"trait:CUSTOM_A": "required"}, "both required and forbidden: CUSTOM_A"),
    ],
)
def test_a_request_no_host_could_satisfy_is_refused(
    extra_specs: dict[str, str], image: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidReference, match=message):
        request_spec({**FLAVOR, "extra_specs": extra_specs}, image)


# --- filters and weighers, as pure functions ---------------------------------------------------


def candidate(name: str, **fields: Any) -> HostCandidate:
    defaults: dict[str, Any] = {"inventories": default_inventories(8, 8192, 200), "used": {}, "up": True}
    return HostCandidate(name=name, enabled=True, **{**defaults, **fields})


TINY = {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}


def ranked(hosts: list[HostCandidate], policy: SchedulerPolicy | None = None, **spec: Any) -> tuple[str, ...]:
    return choose_hosts(hosts, RequestSpec(resources=TINY, **spec), policy).ranked


def test_traits_zones_and_images_filter_hosts() -> None:
    hosts = [
        candidate("avx", traits=frozenset({"HW_CPU_X86_AVX2"})),
        candidate("plain"),
        candidate("arm", hypervisor={"type": "QEMU", "cpu_arch": "aarch64"}, availability_zone="az1"),
    ]
    assert ranked(hosts, required_traits=frozenset({"HW_CPU_X86_AVX2"})) == ("avx",)
    assert set(ranked(hosts, forbidden_traits=frozenset({"HW_CPU_X86_AVX2"}))) == {"plain", "arm"}
    assert ranked(hosts, availability_zone="az1") == ("arm",)
    assert ranked(hosts, image_properties={"hw_architecture": "aarch64"}) == ("arm",)
    assert ranked(hosts, image_properties={"img_hv_type": "kvm"}) == ("arm",)  # the others report no type


def test_aggregate_extra_specs_capabilities_and_operators() -> None:
    hosts = [
        candidate("ssd", aggregate_metadata={"ssd": frozenset({"true"})}),
        candidate("hdd", aggregate_metadata={"ssd": frozenset({"false"})}),
        candidate("none", hypervisor={"type": "QEMU", "version": 8002000}),
    ]
    every_filter = SchedulerPolicy(enabled_filters=("AggregateInstanceExtraSpecsFilter",))
    assert ranked(hosts, every_filter, extra_specs={"aggregate_instance_extra_specs:ssd": "true"}) == ("ssd",)
    assert ranked(hosts, every_filter, extra_specs={"aggregate_instance_extra_specs:ssd": "<or> true <or> false"})
    assert ranked(hosts, extra_specs={"capabilities:hypervisor_version": ">= 8000000"}) == ("none",)
    assert set(ranked(hosts, extra_specs={"capabilities:free_ram_mb": ">= 7680"})) == {"ssd", "hdd", "none"}
    assert ranked(hosts, extra_specs={"capabilities:free_ram_mb": ">= 7681"}) == ()


def test_isolated_and_tenant_aggregates_are_request_filters_off_by_default() -> None:
    hosts = [
        candidate(
            "gpu",
            traits=frozenset({"CUSTOM_GPU"}),
            aggregate_required_traits=frozenset({"CUSTOM_GPU"}),
            tenants=frozenset({"p1"}),
        ),
        candidate("general"),
    ]
    isolating = SchedulerPolicy(enable_isolated_aggregate_filtering=True)
    assert set(ranked(hosts)) == {"gpu", "general"}
    assert ranked(hosts, isolating) == ("general",)
    assert set(ranked(hosts, isolating, required_traits=frozenset({"CUSTOM_GPU"}))) == {"gpu"}
    tenants = SchedulerPolicy(limit_tenants_to_placement_aggregate=True)
    assert ranked(hosts, tenants, project_id="p1", tenant_has_aggregates=True) == ("gpu",)
    assert set(ranked(hosts, tenants, project_id="p2")) == {"gpu", "general"}


def test_hard_and_soft_group_policies() -> None:
    hosts = [candidate("a"), candidate("b"), candidate("c")]
    placed = {"a": 1, "b": 2}
    assert ranked(hosts, group=ServerGroupPlacement("affinity", placed)) == ("a", "b")
    assert ranked(hosts, group=ServerGroupPlacement("anti-affinity", placed)) == ("c",)
    assert ranked(hosts, group=ServerGroupPlacement("anti-affinity", placed, max_server_per_host=2)) == ("a", "c")
    assert ranked(hosts, group=ServerGroupPlacement("soft-affinity", placed))[0] == "b"
    assert ranked(hosts, group=ServerGroupPlacement("soft-anti-affinity", placed))[0] == "c"


def test_weighers_are_normalised_and_multiplied() -> None:
    hosts = [
        candidate("more-ram", used={VCPU: 6}),
        candidate("more-cpu", used={MEMORY_MB: 1024}),
        candidate("failing", failed_builds=1),
        candidate("busy", io_ops=3),
    ]
    decision = choose_hosts(hosts, RequestSpec(resources=TINY))
    weights = {entry["host"]: entry["weights"] for entry in decision.audit["weighed"]}
    # Each weigher's values scaled to [0, 1] over the hosts, times its multiplier; disk is the same everywhere.
    assert weights["busy"] == {"RAMWeigher": 1.0, "CPUWeigher": 1.0, "IoOpsWeigher": -1.0, "BuildFailureWeigher": 1e6}
    assert weights["failing"] == {"RAMWeigher": 1.0, "CPUWeigher": 1.0, "IoOpsWeigher": 0.0, "BuildFailureWeigher": 0}
    assert weights["more-ram"] == {
        "RAMWeigher": 1.0,
        "CPUWeigher": 0.0,
        "IoOpsWeigher": 0.0,
        "BuildFailureWeigher": 1e6,
    }
    assert "failing" not in decision.ranked  # the others weigh 1,000,000 more for their clean record
    assert decision.audit["weighed"][-1]["host"] == "failing"

    ram_only = SchedulerPolicy(multipliers={"ram_weight_multiplier": 1.0, "cpu_weight_multiplier": 0.0})
    hosts = [candidate("more-ram", used={VCPU: 6}), candidate("more-cpu", used={MEMORY_MB: 1024})]
    assert choose_hosts(hosts, RequestSpec(resources=TINY), ram_only).ranked == ("more-ram", "more-cpu")
    cpu_first = SchedulerPolicy(multipliers={"ram_weight_multiplier": 1.0, "cpu_weight_multiplier": 2.0})
    assert choose_hosts(hosts, RequestSpec(resources=TINY), cpu_first).ranked == ("more-cpu", "more-ram")


def test_unit_limits_and_allocation_ratios_bound_each_class() -> None:
    inventories = {
        VCPU: Inventory(total=4, allocation_ratio=4.0),  # 16 VCPU
        MEMORY_MB: Inventory(total=4096, reserved=512, step_size=256, max_unit=2048),
        DISK_GB: Inventory(total=10, min_unit=2),
    }
    host = candidate("h", inventories=inventories, used={VCPU: 15})
    assert host.fits({VCPU: 1, MEMORY_MB: 2048, DISK_GB: 2})
    assert not host.fits({VCPU: 2})
    assert not host.fits({MEMORY_MB: 2304})  # above max_unit
    assert not host.fits({MEMORY_MB: 300})  # not a multiple of step_size
    assert not host.fits({DISK_GB: 1})  # below min_unit
    assert not host.fits({"CUSTOM_GPU": 1})


def test_the_options_come_from_the_environment_under_novas_names() -> None:
    settings = Settings.from_env(
        {
            "CHRONOVA_ENABLED_FILTERS": "ComputeFilter,AggregateInstanceExtraSpecsFilter",
            "CHRONOVA_RAM_WEIGHT_MULTIPLIER": "-1",
            "CHRONOVA_HOST_SUBSET_SIZE": "2",
            "CHRONOVA_MAX_ATTEMPTS": "5",
            "CHRONOVA_ENABLE_ISOLATED_AGGREGATE_FILTERING": "true",
            "CHRONOVA_CPU_ALLOCATION_RATIO": "16",
            "CHRONOVA_RESERVED_HOST_MEMORY_MB": "2048",
            "CHRONOVA_HOST_TRAITS": "CUSTOM_SSD, HW_CPU_X86_AVX2",
        }
    )
    policy = settings.scheduler
    assert policy.enabled_filters == ("ComputeFilter", "AggregateInstanceExtraSpecsFilter")
    assert policy.multipliers["ram_weight_multiplier"] == -1.0
    assert policy.multipliers["build_failure_weight_multiplier"] == 1000000.0
    assert (policy.host_subset_size, policy.max_attempts, policy.enable_isolated_aggregate_filtering) == (2, 5, True)
    assert settings.host_placement.cpu_allocation_ratio == 16.0
    assert settings.host_placement.reserved_host_memory_mb == 2048
    assert settings.host_placement.traits == ("CUSTOM_SSD", "HW_CPU_X86_AVX2")
    for bad in (
        {"CHRONOVA_ENABLED_FILTERS": "NoSuchFilter"},
        {"CHRONOVA_RAM_WEIGHT_MULTIPLIER": "lots"},
        {"CHRONOVA_HOST_TRAITS": "lower"},
        {"CHRONOVA_RAM_ALLOCATION_RATIO": "0"},
        {"CHRONOVA_MAX_ATTEMPTS": "0"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


# --- the scheduler on a real store -------------------------------------------------------------


def register(cloud: Cloud, name: str, memory_mb: int = 4096, traits: tuple[str, ...] = ()) -> Host:
    host = Host(name=name, inventories=inventories_to_dict(default_inventories(4, memory_mb, 100)), hypervisor={})
    host.report_traits(list(traits))
    host.report_alive()
    cloud.save(host)
    return host


def scheduler(cloud: Cloud, policy: SchedulerPolicy | None = None) -> Scheduler:
    placing = Scheduler(cloud, policy)
    placing.index.catch_up(cloud.recorder.max_notification_id() or 0)
    return placing


def post(client: TestClient, image_id: str, flavor_id: str, name: str = "vm", **body: Any) -> Any:
    server = {"name": name, "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}
    for key in ("availability_zone",):
        if key in body:
            server[key] = body.pop(key)
    return client.simulate_post("/v2.1/servers", json={"server": server, **body}, headers=LATEST)


def test_zones_from_aggregates_and_traits_from_heartbeats_reach_the_scheduler(
    cloud: Cloud, client: TestClient, image_id: str, flavor_id: str
) -> None:
    register(cloud, "big", memory_mb=8192)
    register(cloud, "zoned")
    aggregate = host_aggregates.create(cloud, "rack1", "az1")
    host_aggregates.add_host(cloud, aggregate.number, "zoned")
    created = post(client, image_id, flavor_id, availability_zone="az1")
    assert created.status_code == 202, created.text

    placing = scheduler(cloud)
    server_id = uuid.UUID(created.json["server"]["id"])
    assert placing.schedule(server_id) == "zoned"

    server = cloud.server(server_id)
    scheduled = [e for e in cloud.repository.event_store.get(server_id) if type(e).__name__ == "Scheduled"][-1]
    assert scheduled.audit["chosen"] == "zoned" and scheduled.alternates == []
    removed = {f["name"]: f["hosts"] for f in scheduled.audit["filters"] if f["removed"]}
    assert removed == {"AvailabilityZoneFilter": ["big"]}
    assert scheduled.audit["request"]["availability_zone"] == "az1"
    assert server.host == "zoned"


def test_anti_affinity_spreads_a_group_and_says_which_filter_emptied_the_list(
    cloud: Cloud, client: TestClient, image_id: str, flavor_id: str
) -> None:
    for name in ("a", "b"):
        register(cloud, name)
    group = client.simulate_post(
        "/v2.1/os-server-groups", json={"server_group": {"name": "web", "policy": "anti-affinity"}}, headers=LATEST
    ).json["server_group"]["id"]
    placing = scheduler(cloud)
    placed = []
    for i in range(3):
        created = post(client, image_id, flavor_id, f"web{i}", **{"os:scheduler_hints": {"group": group}})
        placing.index.catch_up(cloud.recorder.max_notification_id() or 0)
        placed.append(placing.schedule(uuid.UUID(created.json["server"]["id"])))
        last = uuid.UUID(created.json["server"]["id"])

    assert sorted(placed[:2]) == ["a", "b"] and placed[2] is None
    fault = cloud.server(last).fault
    assert fault["message"].startswith("No valid host was found")
    assert fault["details"].startswith("Filter ServerGroupAntiAffinityFilter returned 0 hosts.")


def test_a_failed_build_is_retried_on_an_alternate_then_errors(
    cloud: Cloud, boot: Callable[..., dict[str, Any]]
) -> None:
    for name in ("a", "b", "c", "d"):
        register(cloud, name, memory_mb=4096 + 512 * ord(name))  # a has the least room, d the most
    server_id = uuid.UUID(boot()["id"])
    placing = scheduler(cloud)
    assert placing.schedule(server_id) == "d"
    assert cloud.server(server_id).alternates == ["c", "b"]  # max_attempts 3: the choice and two alternates

    def fail_on(host: str) -> None:
        server = cloud.server(server_id)
        cloud.save(*build_failed(server, host, "libvirt said no", cloud.host, max_attempts=3))

    fail_on("d")
    server = cloud.server(server_id)
    assert (server.host, server.vm_state, server.task_state) == ("c", VmState.BUILDING, TaskState.SPAWNING)
    assert str(server_id) not in cloud.host("d").allocations and str(server_id) in cloud.host("c").allocations

    fail_on("c")
    assert cloud.server(server_id).host == "b"
    fail_on("b")  # the third attempt: no more retries

    server = cloud.server(server_id)
    assert server.vm_state == VmState.ERROR and server.failed_hosts == ["d", "c"]
    assert server.fault["message"].startswith("Exceeded maximum number of retries.")
    assert server.fault["details"] == "libvirt said no"
    assert all(str(server_id) not in cloud.host(name).allocations for name in "abcd")

    # The build-failure weigher now steers the next server away from the hosts that failed.
    index = HostIndex(cloud)
    index.catch_up(cloud.recorder.max_notification_id() or 0)
    failures = {h.name: h.failed_builds for h in index.candidates()}
    assert failures == {"a": 0, "b": 1, "c": 1, "d": 1}
    assert index.capacity.choose(RequestSpec(resources=TINY)).ranked[0] == "a"


def test_a_retry_skips_an_alternate_that_went_down(cloud: Cloud, boot: Callable[..., dict[str, Any]]) -> None:
    for name, memory in (("a", 4096), ("b", 6144), ("c", 8192)):
        register(cloud, name, memory_mb=memory)
    server_id = uuid.UUID(boot()["id"])
    assert scheduler(cloud).schedule(server_id) == "c"
    down = cloud.host("b")
    down.report_silent()
    cloud.save(down)

    cloud.save(*build_failed(cloud.server(server_id), "c", "boom", cloud.host, max_attempts=3))

    assert cloud.server(server_id).host == "a"


# --- bad input at the API, and the audit through it ---------------------------------------------


def test_impossible_requests_are_refused_at_the_api(
    cloud: Cloud, client: TestClient, image_id: str, flavor_id: str
) -> None:
    specs = f"/v2.1/flavors/{flavor_id}/os-extra_specs"
    for key, value in (("resources:GPUS", "1"), ("resources:CUSTOM_GPU", "-1"), ("trait:avx", "required")):
        refused = client.simulate_post(specs, json={"extra_specs": {key: value}}, headers=LATEST)
        assert refused.status_code == 400, (key, refused.text)
    # A flavor written before these checks, or through another path, is still refused at create.
    flavor = cloud.flavor(flavor_id)
    flavor.set_extra_specs({"trait:CUSTOM_A": "required"})
    cloud.save(flavor)
    forbidding = uuid.uuid4()
    cloud.register_image(
        forbidding,
        name="no-a",
        owner="admin",
        disk_format="qcow2",
        container_format="bare",
        min_disk=0,
        min_ram=0,
        size=1,
        visibility="public",
        properties={"trait:CUSTOM_A": "forbidden"},
    )
    refused = post(client, str(forbidding), flavor_id)
    assert refused.status_code == 400 and "both required and forbidden: CUSTOM_A" in refused.text

    unknown_zone = post(client, image_id, "1", availability_zone="atlantis")
    assert unknown_zone.status_code == 400
    assert unknown_zone.json["badRequest"]["message"] == "The requested availability zone is not available"
    unknown_group = post(client, image_id, "1", **{"os:scheduler_hints": {"group": str(uuid.uuid4())}})
    assert unknown_group.status_code == 400


def test_the_audit_of_each_decision_is_an_admin_read(
    cloud: Cloud, client: TestClient, boot: Callable[..., dict[str, Any]], catch_up: Callable[[], None]
) -> None:
    register(cloud, "a")
    register(cloud, "down").report_silent()
    server_id = boot()["id"]
    scheduler(cloud).schedule(uuid.UUID(server_id))
    catch_up()

    shown = client.simulate_get(f"/v2.1/servers/{server_id}/scheduling", headers=LATEST)

    assert shown.status_code == 200, shown.text
    [decision] = shown.json["scheduling"]
    assert (decision["outcome"], decision["host"]) == ("scheduled", "a")
    assert decision["audit"]["chosen"] == "a" and decision["audit"]["weighed"][0]["host"] == "a"
    assert decision["audit"]["request"]["resources"] == {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}
    member = client.simulate_get(f"/v2.1/servers/{server_id}/scheduling", headers={**LATEST, **DEMO})
    assert member.status_code == 403
    missing = client.simulate_get(f"/v2.1/servers/{uuid.uuid4()}/scheduling", headers=LATEST)
    assert missing.status_code == 404


def test_an_agents_configured_traits_and_ratios_arrive_with_its_heartbeat(cloud: Cloud) -> None:
    conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), HostKeys(b"secret"))
    inventories = inventories_to_dict(
        default_inventories(4, 4096, 100, allocation_ratios={VCPU: 16.0}, reserved={MEMORY_MB: 1024})
    )
    conductor.apply_now(Heartbeat(host="gpu1", inventories=inventories, traits=["CUSTOM_GPU", "HW_CPU_X86_AVX2"]))
    conductor.apply_now(Heartbeat(host="plain", inventories=inventories))

    index = HostIndex(cloud)
    index.catch_up(cloud.recorder.max_notification_id() or 0)
    gpu1 = index.capacity.get("gpu1")
    assert gpu1 is not None and gpu1.traits == {"CUSTOM_GPU", "HW_CPU_X86_AVX2"}
    assert gpu1.free(VCPU) == 64 and gpu1.free(MEMORY_MB) == 3072
    wants_gpu = RequestSpec(resources=TINY, required_traits=frozenset({"CUSTOM_GPU"}))
    assert index.capacity.choose(wants_gpu).ranked == ("gpu1",)
    assert index.capacity.choose(
        replace(wants_gpu, required_traits=frozenset(), forbidden_traits=wants_gpu.required_traits)
    ).ranked == ("plain",)

    with pytest.raises(MalformedMessage, match="traits"):
        keys = HostKeys(b"secret")
        decode_report(encode_report(Heartbeat("h", inventories, traits=["lower"]), keys.key("h"), 1.0), keys, 1.0)
