"""Chronova's bodies held against Nova's own formats (tests/unit/nova_shapes.py, learned
from upstream nova's response schemas and API samples) at the microversions the
clients use: the same keys at every level, the same JSON types, the same value
formats. State is built through the HTTP apps and the domain, as elsewhere.

Deliberate differences (values Nova's formats allow, not Nova's usual ones): Chronova
has no networks, so `addresses` is {} (as for Nova's `networks: "none"` servers) while
`security_groups` still names the default group, as Nova's samples do; agents report
no uptime (null) and no root device (null); instance names use Nova's
`instance-%(uuid)s` template form, the libvirt domains' names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from falcon.testing import TestClient

from chronova.cloud import Cloud
from domain.host import Host
from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories, inventories_to_dict
from tests.unit import nova_shapes as nova
from tests.unit.conftest import DEMO
from tests.unit.nova_shapes import ListOf, OneOf, Pattern, Version, mismatches

Boot = Callable[..., dict[str, Any]]
CatchUp = Callable[[], None]
# Who asks: the default headers of `client` make an admin; DEMO is a member of the servers' project.
CALLERS = [pytest.param(None, id="admin"), pytest.param(DEMO, id="member")]


def headers(v: str, who: dict[str, str] | None = None) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **(who or {})}


def at(v: str) -> Version:
    major, minor = v.split(".")
    return int(major), int(minor)


def get(client: TestClient, path: str, v: str, who: dict[str, str] | None = None, **query: str) -> Any:
    result = client.simulate_get(f"/v2.1/{path}", params=query, headers=headers(v, who))
    assert result.status_code == 200, result.text
    return result.json


def send(client: TestClient, method: str, path: str, body: Any, v: str, status: int = 200, who: Any = None) -> Any:
    result = client.simulate_request(method, f"/v2.1/{path}", json=body, headers=headers(v, who))
    assert result.status_code == status, result.text
    return result.json


def register(cloud: Cloud, name: str) -> Host:
    info = {"type": "QEMU", "version": 8002000, "host_ip": "192.0.2.10", "cpu_info": {"arch": "x86_64"}}
    host = Host(name=name, inventories=inventories_to_dict(default_inventories(8, 16384, 100)), hypervisor=info)
    host.report_alive()
    cloud.save(host)
    return host


def place(cloud: Cloud, server_id: str, host_name: str, spawned: bool = True) -> None:
    """What the scheduler, then the host's agent, record for a server."""
    server = cloud.server(uuid.UUID(server_id))
    server.schedule(host_name)
    host = cloud.host(host_name)
    host.claim(server_id, {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1})
    cloud.save(server, host)
    if spawned:
        server.record_spawned(host_name, 1)
        cloud.save(server)


@dataclass(frozen=True)
class World:
    active: str  # DEMO's server, ACTIVE on compute1
    failed: str  # DEMO's server that found no host: ERROR with a fault
    building: str  # DEMO's server not scheduled yet: BUILD


@pytest.fixture
def world(cloud: Cloud, boot: Boot, catch_up: CatchUp) -> World:
    for name in ("compute1", "compute2"):
        register(cloud, name)
    active = boot("active", headers=DEMO, metadata={"role": "db"})["id"]
    place(cloud, active, "compute1")
    failed = boot("failed", headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(failed))
    server.fail_scheduling("no host had room")
    cloud.save(server)
    building = boot("building", headers=DEMO)["id"]
    catch_up()
    return World(active=active, failed=failed, building=building)


def everyone(who: dict[str, str] | None) -> dict[str, str]:
    """Listing parameters that show an admin DEMO's servers too."""
    return {"all_tenants": "1"} if who is None else {}


def statuses(world: World) -> dict[str, str]:
    return {world.active: "ACTIVE", world.failed: "ERROR", world.building: "BUILD"}


# --- the checker itself ---------------------------------------------------------------------------------


def test_the_checker_reports_every_departure() -> None:
    shape = {"id": nova.UUID, "at": nova.TIME_Z, "n": int, "tags": ListOf(str), "v": OneOf(4, 6), "gone": None}
    good = {"id": str(uuid.uuid4()), "at": "2013-09-03T04:01:32Z", "n": 1, "tags": ["a"], "v": 4, "gone": None}
    bad = {"id": "7", "at": "2013-09-03T04:01:32.000000", "n": True, "tags": [1], "v": 5, "extra": 1}

    assert mismatches(good, shape) == []
    assert mismatches(bad, shape) == [
        "$: missing key 'gone'",
        "$: unexpected key 'extra'",
        "$.at: '2013-09-03T04:01:32.000000' is not a UTC time in whole seconds with a Z",
        "$.id: '7' is not a uuid",
        "$.n: True is not a JSON int",
        "$.tags[0]: 1 is not a JSON str",
        "$.v: 5 fits none of 2 allowed shapes",
    ]
    assert mismatches([1, 2], [int]) == ["$: [1, 2] is not a list of 1 items"]
    assert mismatches("x", Pattern("y", "y")) == ["$: 'x' is not y"]


# --- servers ---------------------------------------------------------------------------------------------

SERVER_VERSIONS = ["2.1", "2.3", "2.9", "2.16", "2.19", "2.26", "2.47", "2.63", "2.71", "2.73", "2.90", "2.96", "2.98"]
SERVER_VERSIONS += ["2.100"]


@pytest.mark.parametrize("v", ["2.1", "2.100"])
def test_server_create_answer(client: TestClient, image_id: str, flavor_id: str, v: str) -> None:
    server = {"name": "new", "imageRef": image_id, "flavorRef": flavor_id}
    if at(v) >= (2, 37):
        server["networks"] = "none"
    result = client.simulate_post("/v2.1/servers", json={"server": server}, headers=headers(v, DEMO))

    assert result.status_code == 202, result.text
    assert mismatches(result.json, nova.SERVER_CREATED) == []
    created = result.json["server"]
    assert result.headers["location"] == created["links"][0]["href"]
    assert created["links"][0]["href"].endswith(f"/v2.1/servers/{created['id']}")
    assert created["links"][1]["href"].endswith(f"/servers/{created['id']}")
    assert created["security_groups"] == [{"name": "default"}]
    reserved = client.simulate_post(
        "/v2.1/servers", json={"server": server | {"return_reservation_id": True}}, headers=headers(v, DEMO)
    )
    assert reserved.status_code == 202, reserved.text
    assert mismatches(reserved.json, nova.SERVERS_RESERVED) == []


def test_server_create_answer_names_the_groups_asked_for(client: TestClient, image_id: str, flavor_id: str) -> None:
    """Nova's create view echoes the request's security_groups (views/servers.py create)."""
    server = {
        "name": "new", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none",
        "security_groups": [{"name": "web"}, {"name": "ssh"}],
    }  # fmt: skip
    result = client.simulate_post("/v2.1/servers", json={"server": server}, headers=headers("2.100", DEMO))

    assert result.status_code == 202, result.text
    assert result.json["server"]["security_groups"] == [{"name": "web"}, {"name": "ssh"}]


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("v", SERVER_VERSIONS)
def test_server_show_and_detail(client: TestClient, world: World, v: str, who: dict[str, str] | None) -> None:
    admin = who is None
    for server_id, status in statuses(world).items():
        shown = get(client, f"servers/{server_id}", v, who)
        expected = nova.server(at(v), admin=admin, single=True, status=status, with_fault=True)
        assert mismatches(shown, {"server": expected}) == [], server_id

    listed = get(client, "servers/detail", v, who, **everyone(who))["servers"]
    assert sorted(s["id"] for s in listed) == sorted(statuses(world))
    for item in listed:
        expected = nova.server(at(v), admin=admin, single=False, status=statuses(world)[item["id"]], with_fault=True)
        assert mismatches(item, expected) == [], item["id"]


@pytest.mark.parametrize("v", ["2.1", "2.47", "2.100"])
def test_server_values_in_novas_forms(client: TestClient, world: World, image_id: str, v: str) -> None:
    active = get(client, f"servers/{world.active}", v)["server"]
    failed = get(client, f"servers/{world.failed}", v, DEMO)["server"]

    assert active["addresses"] == {}  # deliberate: Chronova has no networks
    assert (active["OS-EXT-STS:vm_state"], active["OS-EXT-STS:power_state"], active["progress"]) == ("active", 1, 0)
    assert active["OS-SRV-USG:launched_at"] is not None and active["hostId"] != ""
    assert active["image"]["links"][0]["href"].endswith(f"/images/{image_id}")
    if at(v) < (2, 47):
        assert active["flavor"]["links"][0]["href"].endswith("/flavors/1")
    else:
        assert active["flavor"]["original_name"] == "m1.tiny"
    assert (failed["fault"]["code"], "details" in failed["fault"]) == (500, False)  # a member sees no internals
    assert "progress" not in failed


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("v", ["2.1", "2.100"])
def test_server_summary_listing_and_pages(client: TestClient, world: World, v: str, who: Any) -> None:
    listed = get(client, "servers", v, who, **everyone(who))
    paged = get(client, "servers", v, who, limit="1", **everyone(who))
    paged_detail = get(client, "servers/detail", v, who, limit="1", **everyone(who))

    assert mismatches(listed, {"servers": ListOf(nova.SERVER_SUMMARY)}) == []
    assert mismatches(paged, {"servers": [nova.SERVER_SUMMARY], "servers_links": nova.NEXT_LINKS}) == []
    (first,) = paged_detail["servers"]
    expected = nova.server(at(v), admin=who is None, single=False, status=statuses(world)[first["id"]])
    assert mismatches(paged_detail, {"servers": [expected], "servers_links": nova.NEXT_LINKS}) == []


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("v", ["2.1", "2.9", "2.19", "2.26", "2.47", "2.63", "2.71", "2.73", "2.75", "2.96", "2.100"])
def test_server_update_answer(client: TestClient, world: World, v: str, who: Any) -> None:
    body = send(client, "PUT", f"servers/{world.active}", {"server": {"name": "renamed"}}, v, who=who)

    assert mismatches(body, {"server": nova.server_update(at(v), admin=who is None, status="ACTIVE")}) == []
    assert body["server"]["name"] == "renamed"


def test_deleted_servers_keep_their_fault(client: TestClient, cloud: Cloud, world: World, catch_up: CatchUp) -> None:
    server = cloud.server(uuid.UUID(world.failed))
    server.request_delete("req-1", "alice")
    server.record_deleted(None)
    cloud.save(server)
    catch_up()

    listed = get(client, "servers/detail", "2.100", deleted="true", all_tenants="1")["servers"]

    (gone,) = listed
    assert mismatches(gone, nova.server((2, 100), admin=True, single=False, status="DELETED", with_fault=True)) == []


def test_links_carry_the_project_only_when_the_url_did(client: TestClient, world: World) -> None:
    """Nova's links name the project only for /v2.1/{project_id}/... requests (common.py _get_project_id)."""
    plain = get(client, f"servers/{world.active}", "2.100", DEMO)["server"]
    scoped = get(client, f"demo/servers/{world.active}", "2.100", DEMO)["server"]

    assert [link["href"].split("/", 3)[3] for link in plain["links"]] == [
        f"v2.1/servers/{world.active}",
        f"servers/{world.active}",
    ]
    assert [link["href"].split("/", 3)[3] for link in scoped["links"]] == [
        f"v2.1/demo/servers/{world.active}",
        f"demo/servers/{world.active}",
    ]


def test_availability_zone_is_the_hosts_once_placed(
    client: TestClient, cloud: Cloud, world: World, boot: Boot, catch_up: CatchUp
) -> None:
    """Nova (availability_zones.get_instance_availability_zone): the zone asked for, or "", until the
    server has a host; then the host's zone, the default "nova" when its host is in no zone."""
    zoned = send(client, "POST", "os-aggregates", {"aggregate": {"name": "rack2", "availability_zone": "z2"}}, "2.81")
    send(client, "POST", f"os-aggregates/{zoned['aggregate']['id']}/action", {"add_host": {"host": "compute2"}}, "2.81")
    in_zone = boot("in-zone", headers=DEMO)["id"]
    place(cloud, in_zone, "compute2", spawned=False)
    send(client, "POST", "os-aggregates", {"aggregate": {"name": "rack1", "availability_zone": "az1"}}, "2.81")
    asked = boot("asked", headers=DEMO, availability_zone="az1")["id"]
    catch_up()

    def zone(server_id: str) -> str:
        return get(client, f"servers/{server_id}", "2.100", DEMO)["server"]["OS-EXT-AZ:availability_zone"]

    assert [zone(world.building), zone(asked), zone(world.active), zone(in_zone)] == ["", "az1", "nova", "z2"]


# --- flavors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", ["2.1", "2.55", "2.61", "2.75", "2.100"])
def test_flavors(client: TestClient, flavor_id: str, catch_up: CatchUp, v: str) -> None:
    new = {"name": "small", "ram": 256, "vcpus": 1, "disk": 0, "swap": 512} | (
        {"description": None} if at(v) >= (2, 55) else {}
    )
    created = send(client, "POST", "flavors", {"flavor": new}, v)
    catch_up()
    listed = get(client, "flavors", v)
    detail = get(client, "flavors/detail", v)
    shown = get(client, f"flavors/{flavor_id}", v)
    paged = get(client, "flavors/detail", v, limit="1")

    assert mismatches(created, {"flavor": nova.flavor(at(v))}) == []
    assert mismatches(listed, {"flavors": ListOf(nova.flavor_summary(at(v)))}) == []
    assert mismatches(detail, {"flavors": ListOf(nova.flavor(at(v)))}) == []
    assert mismatches(shown, {"flavor": nova.flavor(at(v))}) == []
    assert mismatches(paged, {"flavors": [nova.flavor(at(v))], "flavors_links": nova.NEXT_LINKS}) == []
    assert (shown["flavor"]["swap"], created["flavor"]["swap"]) == ("" if at(v) < (2, 75) else 0, 512)
    if at(v) >= (2, 55):
        updated = send(client, "PUT", f"flavors/{flavor_id}", {"flavor": {"description": "tiny"}}, v)
        assert mismatches(updated, {"flavor": nova.flavor(at(v))}) == []


# --- keypairs --------------------------------------------------------------------------------------------


def ssh_public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.mark.parametrize("v", ["2.1", "2.2", "2.10", "2.35", "2.92"])
def test_keypairs(client: TestClient, catch_up: CatchUp, v: str) -> None:
    created_status = 200 if v == "2.1" else 201
    keypair = {"name": "imported", "public_key": ssh_public_key()}
    imported = send(client, "POST", "os-keypairs", {"keypair": keypair}, v, created_status, DEMO)
    assert mismatches(imported, {"keypair": nova.keypair_created(at(v), generated=False)}) == []
    if at(v) < (2, 92):  # from 2.92 Nova no longer generates keys
        made = send(client, "POST", "os-keypairs", {"keypair": {"name": "made"}}, v, created_status, DEMO)
        assert mismatches(made, {"keypair": nova.keypair_created(at(v), generated=True)}) == []
    catch_up()

    listed = get(client, "os-keypairs", v, DEMO)
    shown = get(client, "os-keypairs/imported", v, DEMO)

    assert mismatches(listed, {"keypairs": ListOf(nova.keypair_listed(at(v)))}) == []
    assert mismatches(shown, {"keypair": nova.keypair_shown(at(v))}) == []
    if at(v) >= (2, 35):
        paged = get(client, "os-keypairs", v, DEMO, limit="1")
        assert mismatches(paged, {"keypairs": [nova.keypair_listed(at(v))], "keypairs_links": nova.NEXT_LINKS}) == []


def test_x509_keypairs(client: TestClient) -> None:
    made = send(client, "POST", "os-keypairs", {"keypair": {"name": "cert", "type": "x509"}}, "2.10", 201, DEMO)

    assert mismatches(made, {"keypair": nova.keypair_created((2, 10), generated=True, kind="x509")}) == []
    assert made["keypair"]["type"] == "x509" and made["keypair"]["public_key"].startswith("-----BEGIN CERTIFICATE")


# --- os-hypervisors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", ["2.1", "2.28", "2.33", "2.53", "2.88"])
def test_hypervisors(client: TestClient, world: World, v: str) -> None:
    version = at(v)
    listed = get(client, "os-hypervisors", v)
    detail = get(client, "os-hypervisors/detail", v)
    first = listed["hypervisors"][0]["id"]
    shown = get(client, f"os-hypervisors/{first}", v)

    assert mismatches(listed, {"hypervisors": ListOf(nova.hypervisor(version))}) == []
    assert mismatches(detail, {"hypervisors": ListOf(nova.hypervisor_detail(version))}) == []
    assert mismatches(shown, {"hypervisor": nova.hypervisor_detail(version)}) == []
    if version >= (2, 33):
        paged = get(client, "os-hypervisors/detail", v, limit="1")
        assert (
            mismatches(paged, {"hypervisors": [nova.hypervisor_detail(version)], "hypervisors_links": nova.NEXT_LINKS})
            == []
        )
    if version >= (2, 53):
        hosted = get(client, "os-hypervisors", v, with_servers="true")["hypervisors"]
        with_one = nova.hypervisor(version) | {"servers": nova.HYPERVISOR_SERVERS}
        # Before 2.75 a hypervisor without servers has no `servers` key; from 2.75 an empty list.
        without = with_one if version >= (2, 75) else nova.hypervisor(version)
        assert [mismatches(h, with_one if h["hypervisor_hostname"] == "compute1" else without) for h in hosted] == [
            [],
            [],
        ]
        one = get(client, f"os-hypervisors/{first}", v, with_servers="true")
        assert (
            mismatches(one, {"hypervisor": nova.hypervisor_detail(version) | {"servers": nova.HYPERVISOR_SERVERS}})
            == []
        )
    if version < (2, 88):
        uptime = get(client, f"os-hypervisors/{first}/uptime", v)
        assert mismatches(uptime, {"hypervisor": nova.hypervisor(version) | {"uptime": nova.nullable(str)}}) == []
        assert mismatches(get(client, "os-hypervisors/statistics", v), nova.HYPERVISOR_STATISTICS) == []
    if version < (2, 53):
        found = get(client, "os-hypervisors/compute/search", v)
        assert mismatches(found, {"hypervisors": ListOf(nova.hypervisor(version))}) == []
        hosted = get(client, "os-hypervisors/compute1/servers", v)
        assert (
            mismatches(hosted, {"hypervisors": [nova.hypervisor(version) | {"servers": nova.HYPERVISOR_SERVERS}]}) == []
        )


# --- os-services -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", ["2.1", "2.11", "2.53", "2.69"])
def test_services(client: TestClient, world: World, v: str) -> None:
    listed = get(client, "os-services", v)

    assert mismatches(listed, {"services": ListOf(nova.service(at(v)))}) == []
    host = {"host": "compute2", "binary": "nova-compute"}
    if at(v) >= (2, 53):
        service_id = next(s["id"] for s in listed["services"] if s["host"] == "compute2")
        body = send(client, "PUT", f"os-services/{service_id}", {"status": "disabled", "disabled_reason": "x"}, v)
        assert mismatches(body, {"service": nova.service(at(v))}) == []
        return
    assert mismatches(send(client, "PUT", "os-services/disable", host, v), nova.SERVICE_STATUS_CHANGED) == []
    with_reason = send(client, "PUT", "os-services/disable-log-reason", host | {"disabled_reason": "x"}, v)
    assert mismatches(with_reason, nova.SERVICE_DISABLED_WITH_REASON) == []
    assert mismatches(send(client, "PUT", "os-services/enable", host, v), nova.SERVICE_STATUS_CHANGED) == []
    if at(v) >= (2, 11):
        down = send(client, "PUT", "os-services/force-down", host | {"forced_down": True}, v)
        assert mismatches(down, nova.SERVICE_FORCED_DOWN) == []


# --- limits and quotas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("v", ["2.1", "2.36", "2.39", "2.57", "2.100"])
def test_limits(client: TestClient, world: World, v: str, who: Any) -> None:
    body = get(client, "limits", v, who)

    assert mismatches(body, nova.limits(at(v))) == []
    if who is not None:
        used = body["limits"]["absolute"]
        assert (used["totalInstancesUsed"], used["totalCoresUsed"], used["totalRAMUsed"]) == (3, 3, 1536)


@pytest.mark.parametrize("v", ["2.1", "2.36", "2.56", "2.57", "2.100"])
def test_quota_sets(client: TestClient, world: World, v: str) -> None:
    version = at(v)
    shown = get(client, "os-quota-sets/demo", v)
    for_user = get(client, "os-quota-sets/demo", v, user_id="alice")
    detail = get(client, "os-quota-sets/demo/detail", v)
    defaults = get(client, "os-quota-sets/demo/defaults", v)
    updated = send(client, "PUT", "os-quota-sets/demo", {"quota_set": {"instances": 20}}, v)

    assert mismatches(shown, {"quota_set": nova.quota_set(version)}) == []
    assert mismatches(for_user, {"quota_set": nova.quota_set(version)}) == []
    assert mismatches(detail, {"quota_set": nova.quota_set_detail(version)}) == []
    assert mismatches(defaults, {"quota_set": nova.quota_set(version)}) == []
    assert mismatches(updated, {"quota_set": nova.quota_set(version, with_id=False)}) == []
    assert shown["quota_set"]["id"] == "demo" and detail["quota_set"]["instances"]["in_use"] == 3


@pytest.mark.parametrize("v", ["2.1", "2.50", "2.57"])
def test_quota_class_sets(client: TestClient, v: str) -> None:
    shown = get(client, "os-quota-class-sets/default", v)
    updated = send(client, "PUT", "os-quota-class-sets/default", {"quota_class_set": {"instances": 12}}, v)

    assert mismatches(shown, {"quota_class_set": nova.quota_class_set(at(v))}) == []
    assert mismatches(updated, {"quota_class_set": nova.quota_class_set(at(v), with_id=False)}) == []


# --- os-instance-actions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("v", ["2.1", "2.21", "2.51", "2.58", "2.62", "2.66", "2.84", "2.100"])
def test_instance_actions(client: TestClient, world: World, v: str, who: Any) -> None:
    version = at(v)
    listed = get(client, f"servers/{world.active}/os-instance-actions", v, who)
    (create,) = listed["instanceActions"]
    shown = get(client, f"servers/{world.active}/os-instance-actions/{create['request_id']}", v, who)

    assert mismatches(listed, {"instanceActions": ListOf(nova.instance_action(version))}) == []
    assert mismatches(shown, {"instanceAction": nova.instance_action_shown(version, admin=who is None)}) == []
    if "events" in shown["instanceAction"]:
        assert len(shown["instanceAction"]["events"]) == 2  # scheduled by the conductor, built on the host
    if version >= (2, 58):
        paged = get(client, f"servers/{world.active}/os-instance-actions", v, who, limit="1")
        assert mismatches(paged, {"instanceActions": [nova.instance_action(version)], "links": nova.NEXT_LINKS}) == []


# --- os-aggregates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", ["2.1", "2.41", "2.81"])
def test_aggregates(client: TestClient, cloud: Cloud, catch_up: CatchUp, v: str) -> None:
    register(cloud, "compute9")
    created = send(client, "POST", "os-aggregates", {"aggregate": {"name": "rack", "availability_zone": "z"}}, v)
    number = created["aggregate"]["id"]
    path = f"os-aggregates/{number}"
    added = send(client, "POST", f"{path}/action", {"add_host": {"host": "compute9"}}, v)
    with_metadata = send(client, "POST", f"{path}/action", {"set_metadata": {"metadata": {"ssd": "true"}}}, v)
    renamed = send(client, "PUT", path, {"aggregate": {"name": "rack-a"}}, v)
    catch_up()
    shown = get(client, path, v)
    listed = get(client, "os-aggregates", v)
    removed = send(client, "POST", f"{path}/action", {"remove_host": {"host": "compute9"}}, v)

    assert mismatches(created, {"aggregate": nova.aggregate(at(v), created=True)}) == []
    for body in (added, with_metadata, renamed, shown, removed):
        assert mismatches(body, {"aggregate": nova.aggregate(at(v))}) == []
    assert mismatches(listed, {"aggregates": ListOf(nova.aggregate(at(v)))}) == []
    assert shown["aggregate"]["metadata"] == {"availability_zone": "z", "ssd": "true"}


# --- os-server-groups ------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", ["2.1", "2.13", "2.15", "2.64"])
def test_server_groups(client: TestClient, catch_up: CatchUp, v: str) -> None:
    asked = {"policy": "anti-affinity", "rules": {"max_server_per_host": 2}} if at(v) >= (2, 64) else {
        "policies": ["soft-affinity" if at(v) >= (2, 15) else "affinity"]
    }  # fmt: skip
    created = send(client, "POST", "os-server-groups", {"server_group": {"name": "web"} | asked}, v, who=DEMO)
    group_id = created["server_group"]["id"]
    catch_up()
    shown = get(client, f"os-server-groups/{group_id}", v, DEMO)
    listed = get(client, "os-server-groups", v, DEMO)
    everyone = get(client, "os-server-groups", v, all_projects="true")

    for body in (created, shown):
        assert mismatches(body, {"server_group": nova.server_group(at(v))}) == []
    for body in (listed, everyone):
        assert mismatches(body, {"server_groups": ListOf(nova.server_group(at(v)))}) == []
    assert shown["server_group"]["members"] == []


def test_server_group_members_are_server_uuids(
    client: TestClient, catch_up: CatchUp, image_id: str, flavor_id: str
) -> None:
    group = send(
        client, "POST", "os-server-groups", {"server_group": {"name": "db", "policy": "affinity"}}, "2.64", who=DEMO
    )
    server = {"name": "member", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}
    body = {"server": server, "os:scheduler_hints": {"group": group["server_group"]["id"]}}
    member = send(client, "POST", "servers", body, "2.100", 202, DEMO)["server"]["id"]
    catch_up()

    shown = get(client, f"os-server-groups/{group['server_group']['id']}", "2.64", DEMO)
    server_view = get(client, f"servers/{member}", "2.100", DEMO)["server"]

    assert mismatches(shown, {"server_group": nova.server_group((2, 64))}) == []
    assert shown["server_group"]["members"] == [member]
    assert (server_view["server_groups"], server_view["scheduler_hints"]) == (
        [group["server_group"]["id"]],
        {"group": group["server_group"]["id"]},
    )


# --- os-availability-zone --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
def test_availability_zones(client: TestClient, world: World, who: Any) -> None:
    assert mismatches(get(client, "os-availability-zone", "2.1", who), nova.AVAILABILITY_ZONES) == []


def test_availability_zones_in_detail(client: TestClient, world: World) -> None:
    detail = get(client, "os-availability-zone/detail", "2.1")

    assert mismatches(detail, nova.AVAILABILITY_ZONES_DETAIL) == []
    (nova_zone,) = detail["availabilityZoneInfo"]
    assert sorted(nova_zone["hosts"]) == ["compute1", "compute2"]


# --- os-simple-tenant-usage ------------------------------------------------------------------------------

WINDOW = {"start": "2000-01-01T00:00:00", "end": "2100-01-01T00:00:00"}


@pytest.mark.parametrize("v", ["2.1", "2.40"])
def test_simple_tenant_usage(client: TestClient, world: World, v: str) -> None:
    summed = get(client, "os-simple-tenant-usage", v, **WINDOW)
    detailed = get(client, "os-simple-tenant-usage", v, detailed="1", **WINDOW)
    one = get(client, "os-simple-tenant-usage/demo", v, **WINDOW)
    nobody = get(client, "os-simple-tenant-usage/nobody", v, **WINDOW)

    with_servers = nova.TENANT_USAGE | {"server_usages": ListOf(nova.SERVER_USAGE)}
    assert mismatches(summed, {"tenant_usages": ListOf(nova.TENANT_USAGE)}) == []
    assert mismatches(detailed, {"tenant_usages": ListOf(with_servers)}) == []
    assert mismatches(one, {"tenant_usage": with_servers}) == []
    assert nobody == {"tenant_usage": {}}  # schemas/simple_tenant_usage.py show_response: {} for no usage
    if at(v) >= (2, 40):
        paged = get(client, "os-simple-tenant-usage/demo", v, limit="1", **WINDOW)
        paged_all = get(client, "os-simple-tenant-usage", v, limit="1", **WINDOW)
        assert mismatches(paged, {"tenant_usage": with_servers, "tenant_usage_links": nova.NEXT_LINKS}) == []
        assert (
            mismatches(paged_all, {"tenant_usages": [nova.TENANT_USAGE], "tenant_usages_links": nova.NEXT_LINKS}) == []
        )
