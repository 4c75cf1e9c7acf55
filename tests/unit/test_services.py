"""os-services and os-availability-zone through HTTP: one nova-compute service
per registered host, Nova's shapes per microversion, the operator's switches
(disable, force down, delete) and what the scheduler makes of them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from chronova.host_index import HostIndex
from domain.host import Host, compute_service_id, host_id
from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories, inventories_to_dict
from domain.scheduling import choose_hosts
from tests.unit.conftest import DEMO, LATEST

CatchUp = Callable[[], None]
USAGE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
TINY = {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1}
NO_UPDATES = "No updates were requested. Fields 'status' or 'forced_down' should be specified."
ENABLED_WITH_REASON = "Specifying 'disabled_reason' with status 'enabled' is invalid."


def version(v: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **more}


def error(result: Any) -> tuple[int, str]:
    ((_name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, detail["message"]


def register(cloud: Cloud, name: str, up: bool = True) -> Host:
    host = Host(name=name, inventories=inventories_to_dict(default_inventories(8, 16384, 100)), hypervisor={})
    if up:
        host.report_alive()
    cloud.save(host)
    return host


@pytest.fixture
def hosts(cloud: Cloud, catch_up: CatchUp) -> list[Host]:
    registered = [register(cloud, "compute1"), register(cloud, "compute2", up=False)]
    catch_up()
    return registered


def services(client: TestClient, v: str = "2.69", **params: str) -> list[dict[str, Any]]:
    result = client.simulate_get("/v2.1/os-services", headers=version(v), params=params)
    assert result.status_code == 200, result.text
    return result.json["services"]


def service_uuid(name: str) -> str:
    return str(compute_service_id(host_id(name)))


def put(client: TestClient, path: str, body: Any, v: str = "2.69", headers: dict[str, str] | None = None) -> Any:
    return client.simulate_put(f"/v2.1/os-services/{path}", json=body, headers={**version(v), **(headers or {})})


# --- listing ---------------------------------------------------------------------------------


def test_every_host_runs_one_compute_service(client: TestClient, hosts: list[Host]) -> None:
    first, second = services(client)

    assert first == {
        "id": service_uuid("compute1"),
        "binary": "nova-compute",
        "host": "compute1",
        "zone": "nova",
        "status": "enabled",
        "state": "up",
        "updated_at": first["updated_at"],
        "disabled_reason": None,
        "forced_down": False,
    }
    assert USAGE_TIME.match(first["updated_at"])
    assert (second["host"], second["state"]) == ("compute2", "down")


def test_ids_are_integers_before_2_53_and_forced_down_appears_in_2_11(client: TestClient, hosts: list[Host]) -> None:
    legacy = services(client, "2.1")
    v211 = services(client, "2.11")

    assert [type(s["id"]) for s in legacy] == [int, int] and legacy[0]["id"] < legacy[1]["id"]
    assert [s["id"] for s in v211] == [s["id"] for s in legacy]  # stable
    assert "forced_down" not in legacy[0] and v211[0]["forced_down"] is False


def test_filters_by_host_and_binary(client: TestClient, hosts: list[Host]) -> None:
    assert [s["host"] for s in services(client, host="compute2")] == ["compute2"]
    assert [s["host"] for s in services(client, binary="nova-compute")] == ["compute1", "compute2"]
    assert services(client, binary="nova-scheduler") == []
    assert services(client, "2.74", foo="1") != []  # unknown parameters are ignored before 2.75
    result = client.simulate_get("/v2.1/os-services", headers=version("2.75"), params={"foo": "1"})
    assert error(result) == (400, "Additional properties are not allowed ('foo' was unexpected)")


def test_services_are_for_admins(client: TestClient, hosts: list[Host]) -> None:
    listing = client.simulate_get("/v2.1/os-services", headers=version("2.69", **DEMO))
    update = put(client, service_uuid("compute1"), {"status": "disabled"}, headers=DEMO)
    delete = client.simulate_delete(f"/v2.1/os-services/{service_uuid('compute2')}", headers={**LATEST, **DEMO})

    assert error(listing) == (403, "Policy doesn't allow os_compute_api:os-services:list to be performed.")
    assert error(update) == (403, "Policy doesn't allow os_compute_api:os-services:update to be performed.")
    assert error(delete) == (403, "Policy doesn't allow os_compute_api:os-services:delete to be performed.")


# --- PUT from 2.53 ---------------------------------------------------------------------------


def test_disable_with_a_reason_then_enable(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, hosts: list[Host]
) -> None:
    sid = service_uuid("compute1")

    disabled = put(client, sid, {"status": "disabled", "disabled_reason": "maintenance"})
    catch_up()
    listed = services(client)[0]

    assert disabled.status_code == 200
    assert disabled.json["service"] | {"updated_at": None} == {
        "id": sid,
        "binary": "nova-compute",
        "host": "compute1",
        "zone": "nova",
        "status": "disabled",
        "state": "up",
        "updated_at": None,
        "disabled_reason": "maintenance",
        "forced_down": False,
    }
    assert listed == disabled.json["service"]
    assert cloud.host("compute1").disabled_reason == "maintenance"

    enabled = put(client, sid, {"status": "enabled"}).json["service"]
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)


def test_forced_down_is_down_whatever_the_heartbeats_say(
    client: TestClient, catch_up: CatchUp, hosts: list[Host]
) -> None:
    forced = put(client, service_uuid("compute1"), {"forced_down": True}).json["service"]
    catch_up()
    hypervisor = client.simulate_get("/v2.1/os-hypervisors/detail", headers=LATEST).json["hypervisors"][0]

    assert (forced["state"], forced["forced_down"]) == ("down", True)
    assert (services(client)[0]["state"], hypervisor["state"]) == ("down", "down")

    put(client, service_uuid("compute1"), {"forced_down": "false"})
    catch_up()
    assert services(client)[0]["state"] == "up"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("not-a-uuid", {"status": "disabled"}, 400, "Invalid uuid not-a-uuid"),
        (str(uuid.UUID(int=7)), {"status": "disabled"}, 404, f"Service {uuid.UUID(int=7)} could not be found."),
        (None, {"status": "enabled", "disabled_reason": "x"}, 400, ENABLED_WITH_REASON),
        (None, {"disabled_reason": "x"}, 400, NO_UPDATES),
        (None, {}, 400, NO_UPDATES),
        (None, {"status": "off"}, 400, None),
        (None, {"forced_down": "maybe"}, 400, None),
        (None, {"status": "disabled", "host": "compute1"}, 400, None),
        (None, {"status": "disabled", "disabled_reason": ""}, 400, None),
        (None, ["status"], 400, None),
    ],
)  # fmt: skip
def test_bad_updates_change_nothing(
    client: TestClient, cloud: Cloud, hosts: list[Host], path: str | None, body: Any, status: int, message: str | None
) -> None:
    before = cloud.recorder.max_notification_id()

    result = put(client, path or service_uuid("compute1"), body)

    assert result.status_code == status, result.text
    if message is not None:
        assert error(result) == (status, message)
    assert cloud.recorder.max_notification_id() == before


# --- PUT before 2.53: actions named in the path ----------------------------------------------------


def test_legacy_actions(client: TestClient, cloud: Cloud, hosts: list[Host]) -> None:
    target = {"host": "compute1", "binary": "nova-compute"}

    disabled = put(client, "disable-log-reason", target | {"disabled_reason": "fan"}, "2.1")
    assert disabled.json == {"service": target | {"status": "disabled", "disabled_reason": "fan"}}
    assert (cloud.host("compute1").enabled, cloud.host("compute1").disabled_reason) == (False, "fan")

    assert put(client, "enable", target, "2.1").json == {"service": target | {"status": "enabled"}}
    assert put(client, "disable", target, "2.1").json == {"service": target | {"status": "disabled"}}
    assert cloud.host("compute1").disabled_reason is None

    forced = put(client, "force-down", target | {"forced_down": True}, "2.11")
    assert forced.json == {"service": target | {"forced_down": True}}
    assert cloud.host("compute1").forced_down


@pytest.mark.parametrize(
    ("action", "body", "v", "status", "message"),
    [
        ("force-down", {"forced_down": True}, "2.10", 400, None),  # not in the 2.10 schema
        ("force-down", {}, "2.10", 404, "Unknown action"),
        ("force-down", {}, "2.11", 400, "Missing forced_down field"),
        ("reboot", {}, "2.1", 404, "Unknown action"),
        ("disable-log-reason", {}, "2.1", 400, "Missing disabled reason field"),
        ("disable", {"binary": "nova-scheduler"}, "2.1", 400,
         "Updating a nova-scheduler service is not supported. Only nova-compute services can be updated."),
        ("disable", {"host": "ghost"}, "2.1", 404, "Host 'ghost' is not mapped to any cell"),
        ("disable", {"host": "bad host"}, "2.1", 400, None),
        ("disable", {"host": None}, "2.52", 400, None),
    ],
)  # fmt: skip
def test_bad_legacy_actions_change_nothing(
    client: TestClient, cloud: Cloud, hosts: list[Host], action: str, body: dict[str, Any], v: str, status: int,
    message: str | None,
) -> None:  # fmt: skip
    before = cloud.recorder.max_notification_id()

    result = put(client, action, {"host": "compute1", "binary": "nova-compute"} | body, v)

    assert result.status_code == status, result.text
    if message is not None:
        assert error(result) == (status, message)
    assert cloud.recorder.max_notification_id() == before


# --- DELETE ---------------------------------------------------------------------------------


def test_delete_removes_the_service_and_its_aggregate_memberships(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, hosts: list[Host]
) -> None:
    created = client.simulate_post(
        "/v2.1/os-aggregates", json={"aggregate": {"name": "rack1", "availability_zone": "az1"}}
    )
    number = created.json["aggregate"]["id"]
    client.simulate_post(f"/v2.1/os-aggregates/{number}/action", json={"add_host": {"host": "compute2"}})

    result = client.simulate_delete(f"/v2.1/os-services/{service_uuid('compute2')}", headers=LATEST)
    catch_up()

    assert result.status_code == 204 and result.text == ""
    assert [s["host"] for s in services(client)] == ["compute1"]
    assert client.simulate_get(f"/v2.1/os-aggregates/{number}").json["aggregate"]["hosts"] == []
    again = client.simulate_delete(f"/v2.1/os-services/{service_uuid('compute2')}", headers=LATEST)
    assert error(again) == (404, f"Service {service_uuid('compute2')} not found.")


def test_delete_by_integer_id_before_2_53(client: TestClient, catch_up: CatchUp, hosts: list[Host]) -> None:
    number = services(client, "2.52")[1]["id"]

    assert client.simulate_delete(f"/v2.1/os-services/{number}", headers=version("2.52")).status_code == 204
    catch_up()
    assert [s["host"] for s in services(client)] == ["compute1"]


@pytest.mark.parametrize(
    ("path", "v", "status", "message"),
    [
        ("abc", "2.52", 400, "Invalid input received: id must be an integer"),
        ("999999", "2.52", 404, "Service 999999 not found."),
        (str(10**30), "2.52", 404, f"Service {10**30} not found."),
        ("42", "2.53", 400, "Invalid uuid 42"),
        (str(uuid.UUID(int=3)), "2.53", 404, f"Service {uuid.UUID(int=3)} not found."),
    ],
)
def test_bad_deletes_change_nothing(
    client: TestClient, cloud: Cloud, hosts: list[Host], path: str, v: str, status: int, message: str
) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_delete(f"/v2.1/os-services/{path}", headers=version(v))

    assert error(result) == (status, message)
    assert cloud.recorder.max_notification_id() == before


def test_a_service_hosting_servers_is_not_deleted(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, hosts: list[Host], boot: Callable[..., dict[str, Any]]
) -> None:
    server = cloud.server(uuid.UUID(boot()["id"]))
    host = cloud.host("compute1")
    host.claim(str(server.id), TINY)
    server.schedule("compute1")
    cloud.save(host, server)
    catch_up()
    before = cloud.recorder.max_notification_id()

    result = client.simulate_delete(f"/v2.1/os-services/{service_uuid('compute1')}", headers=LATEST)

    assert error(result) == (
        409,
        "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.",
    )
    assert cloud.recorder.max_notification_id() == before


def test_a_running_agent_brings_a_deleted_host_back(cloud: Cloud, hosts: list[Host]) -> None:
    host = cloud.host("compute1")
    host.delete_service()
    cloud.save(host)

    host = cloud.host("compute1")
    host.report_inventory(inventories_to_dict(default_inventories(8, 16384, 100)), {})
    host.report_alive()

    assert [type(e).__name__ for e in host.collect_events()] == ["Reregistered", "ServiceUp"]
    assert host.schedulable and host.enabled and not host.deleted


# --- the scheduler --------------------------------------------------------------------------


def test_compute_filter_drops_disabled_forced_down_and_deleted_hosts(
    client: TestClient, cloud: Cloud, catch_up: CatchUp
) -> None:
    for name in ("disabled", "forced", "deleted", "fine"):
        register(cloud, name)
    catch_up()
    put(client, service_uuid("disabled"), {"status": "disabled", "disabled_reason": "disk"})
    put(client, service_uuid("forced"), {"forced_down": True})
    client.simulate_delete(f"/v2.1/os-services/{service_uuid('deleted')}", headers=LATEST)
    index = HostIndex(cloud)
    index.catch_up(cloud.recorder.max_notification_id() or 0)

    decision = choose_hosts(index.candidates(), TINY)

    assert decision.ranked == ("fine",)
    assert decision.rejected["ComputeFilter"] == 2  # a deleted service is no candidate at all


# --- availability zones ------------------------------------------------------------------------


def test_zones_come_from_aggregates_and_default_to_nova(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, hosts: list[Host]
) -> None:
    register(cloud, "compute3")
    number = client.simulate_post(
        "/v2.1/os-aggregates", json={"aggregate": {"name": "rack", "availability_zone": "az1"}}
    ).json["aggregate"]["id"]
    client.simulate_post(f"/v2.1/os-aggregates/{number}/action", json={"add_host": {"host": "compute2"}})
    host = cloud.host("compute3")
    host.disable("broken")
    cloud.save(host)
    number = client.simulate_post(
        "/v2.1/os-aggregates", json={"aggregate": {"name": "lab", "availability_zone": "lab"}}
    ).json["aggregate"]["id"]
    client.simulate_post(f"/v2.1/os-aggregates/{number}/action", json={"add_host": {"host": "compute3"}})
    catch_up()

    listing = client.simulate_get("/v2.1/os-availability-zone", headers=DEMO)
    detail = client.simulate_get("/v2.1/os-availability-zone/detail")

    assert listing.json == {
        "availabilityZoneInfo": [
            {"zoneName": "az1", "zoneState": {"available": True}, "hosts": None},
            {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None},
            {"zoneName": "lab", "zoneState": {"available": False}, "hosts": None},
        ]
    }
    zones = {zone["zoneName"]: zone for zone in detail.json["availabilityZoneInfo"]}
    compute1 = zones["nova"]["hosts"]["compute1"]["nova-compute"]
    assert compute1 | {"updated_at": None} == {"available": True, "active": True, "updated_at": None}
    assert USAGE_TIME.match(compute1["updated_at"])
    assert zones["az1"]["hosts"]["compute2"]["nova-compute"]["available"] is False
    assert zones["lab"] == {"zoneName": "lab", "zoneState": {"available": False}, "hosts": None}
    assert [s["zone"] for s in services(client)] == ["nova", "az1", "lab"]


def test_zone_detail_is_for_admins(client: TestClient, hosts: list[Host]) -> None:
    result = client.simulate_get("/v2.1/os-availability-zone/detail", headers=DEMO)

    assert error(result) == (403, "Policy doesn't allow os_compute_api:os-availability-zone:detail to be performed.")
