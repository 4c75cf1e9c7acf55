"""os-hypervisors through HTTP: the shapes of 2.1, 2.28, 2.33, 2.53 and 2.88,
integer ids turning into uuids, paging, hostname search, hosted servers,
statistics until 2.88, and Nova's policy names for everyone else."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from tests.unit.conftest import DEMO

CatchUp = Callable[[], None]
Place = Callable[[str, str], str]
SUMMARY_KEYS = {"id", "hypervisor_hostname", "state", "status"}
DETAIL_KEYS_2_88 = SUMMARY_KEYS | {"hypervisor_type", "hypervisor_version", "host_ip", "service", "uptime"}
CAPACITY_KEYS = {
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "free_ram_mb",
    "free_disk_gb", "current_workload", "running_vms", "disk_available_least", "cpu_info",
}  # fmt: skip
DETAIL_KEYS_2_1 = DETAIL_KEYS_2_88 - {"uptime"} | CAPACITY_KEYS


def version(v: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **more}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


def register(cloud: Cloud, name: str, vcpus: int = 8) -> Host:
    host = Host(
        name=name,
        inventories=inventories_to_dict(default_inventories(vcpus, 16384, 100)),
        hypervisor={"type": "QEMU", "version": 8002000, "host_ip": "192.0.2.10", "cpu_info": {"arch": "x86_64"}},
    )
    host.report_alive()
    cloud.save(host)
    return host


@pytest.fixture
def place_server(cloud: Cloud, boot: Callable[..., dict[str, Any]]) -> Callable[[str, str], str]:
    """Boots a server and records the scheduler's choice of `host` for it."""

    def place(host: str, name: str) -> str:
        server_id = boot(name, headers=DEMO)["id"]
        server = cloud.server(uuid.UUID(server_id))
        server.schedule(host)
        cloud.save(server)
        return server_id

    return place


@pytest.fixture
def hosts(cloud: Cloud, catch_up: CatchUp) -> dict[str, Host]:
    registered = {name: register(cloud, name) for name in ("compute1", "compute2", "other-node")}
    catch_up()
    return registered


def numbers(client: TestClient, path: str = "/v2.1/os-hypervisors", **query: str) -> list[Any]:
    result = client.simulate_get(path, params=query)
    assert result.status_code == 200, result.text
    return [hypervisor["id"] for hypervisor in result.json["hypervisors"]]


# --- list and detail ---------------------------------------------------------------------


def test_list_before_2_53_has_integer_ids_in_registration_order(client: TestClient, hosts: dict[str, Host]) -> None:
    body = client.simulate_get("/v2.1/os-hypervisors").json

    assert [set(h) for h in body["hypervisors"]] == [SUMMARY_KEYS] * 3
    assert [h["hypervisor_hostname"] for h in body["hypervisors"]] == ["compute1", "compute2", "other-node"]
    ids = [h["id"] for h in body["hypervisors"]]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids)
    assert body["hypervisors"][0] | {"id": 0} == {
        "id": 0, "hypervisor_hostname": "compute1", "state": "up", "status": "enabled",
    }  # fmt: skip
    assert "hypervisors_links" not in body


def test_list_from_2_53_has_uuids(client: TestClient, hosts: dict[str, Host]) -> None:
    latest = client.simulate_get("/v2.1/os-hypervisors", headers=version("2.88")).json["hypervisors"]
    assert [h["id"] for h in latest] == [str(hosts[name].id) for name in ("compute1", "compute2", "other-node")]


@pytest.mark.parametrize(
    ("microversion", "keys", "cpu_info"),
    [
        ("2.1", DETAIL_KEYS_2_1, '{"arch": "x86_64"}'),
        ("2.28", DETAIL_KEYS_2_1, {"arch": "x86_64"}),
        ("2.33", DETAIL_KEYS_2_1, {"arch": "x86_64"}),
        ("2.53", DETAIL_KEYS_2_1, {"arch": "x86_64"}),
        ("2.88", DETAIL_KEYS_2_88, None),
    ],
)
def test_detail_keys_per_microversion(
    client: TestClient, hosts: dict[str, Host], microversion: str, keys: set[str], cpu_info: Any
) -> None:
    (first, *_) = client.simulate_get("/v2.1/os-hypervisors/detail", headers=version(microversion)).json["hypervisors"]

    assert set(first) == keys
    assert first.get("cpu_info") == cpu_info
    uuids = microversion in ("2.53", "2.88")
    assert isinstance(first["id"], str) is uuids and isinstance(first["service"]["id"], str) is uuids
    assert first["service"]["host"] == "compute1" and first["service"]["disabled_reason"] is None


def test_paging_from_2_33(client: TestClient, hosts: dict[str, Host]) -> None:
    old_ids = numbers(client)
    page = client.simulate_get("/v2.1/os-hypervisors", params={"limit": "2"}, headers=version("2.33")).json

    assert [h["id"] for h in page["hypervisors"]] == old_ids[:2]
    assert page["hypervisors_links"][0]["href"].endswith(f"/v2.1/os-hypervisors?limit=2&marker={old_ids[1]}")
    rest = client.simulate_get("/v2.1/os-hypervisors", params={"marker": str(old_ids[1])}, headers=version("2.33"))
    assert [h["id"] for h in rest.json["hypervisors"]] == old_ids[2:]
    uuid_marker = str(hosts["compute1"].id)
    detail = client.simulate_get("/v2.1/os-hypervisors/detail", params={"marker": uuid_marker}, headers=version("2.88"))
    assert [h["hypervisor_hostname"] for h in detail.json["hypervisors"]] == ["compute2", "other-node"]
    assert error(client.simulate_get("/v2.1/os-hypervisors", params={"marker": "x"}, headers=version("2.33"))) == (
        400, "badRequest", "marker [x] not found",
    )  # fmt: skip
    # Before 2.33 paging parameters are ignored.
    assert len(numbers(client, limit="1")) == 3


def test_hostname_pattern_and_hosted_servers_from_2_53(
    client: TestClient, hosts: dict[str, Host], catch_up: CatchUp, place_server: Place
) -> None:
    server_id = place_server("compute2", "vm-on-2")
    catch_up()

    def listing(microversion: str, **query: str) -> Any:
        return client.simulate_get("/v2.1/os-hypervisors", params=query, headers=version(microversion))

    found = listing("2.53", hypervisor_hostname_pattern="compute", with_servers="true").json["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == ["compute1", "compute2"]
    assert "servers" not in found[0]  # before 2.75 a host without servers has no key
    assert found[1]["servers"] == [{"name": "vm-on-2", "uuid": server_id}]
    at_2_75 = listing("2.75", hypervisor_hostname_pattern="compute", with_servers="1").json["hypervisors"]
    assert at_2_75[0]["servers"] == []
    assert "servers" not in listing("2.88").json["hypervisors"][1]
    assert error(listing("2.53", hypervisor_hostname_pattern="nothing")) == (
        404, "itemNotFound", "No hypervisor matching 'nothing' could be found.",
    )  # fmt: skip
    assert error(listing("2.53", hypervisor_hostname_pattern="compute", limit="1")) == (
        400, "badRequest",
        "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"with_servers": "maybe"},
            "Invalid input for query parameters with_servers. Value: maybe. 'maybe' is not one",
        ),
        ({"hypervisor_hostname_pattern": "a b"}, "Invalid input for query parameters hypervisor_hostname_pattern."),
        ({"colour": "blue"}, "Additional properties are not allowed ('colour' was unexpected)"),
        ({"limit": ["1", "2"]}, "Invalid input for query parameters limit. Value: ['1', '2']. ['1', '2'] is too long"),
    ],
)
def test_bad_list_parameters_from_2_53(
    client: TestClient, cloud: Cloud, hosts: dict[str, Host], query: dict[str, Any], message: str
) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_get("/v2.1/os-hypervisors/detail", params=query, headers=version("2.53"))

    status, name, text = error(result)
    assert (status, name) == (400, "badRequest") and text.startswith(message)
    assert cloud.recorder.max_notification_id() == before


# --- show ----------------------------------------------------------------------------------


def test_show_by_integer_id_before_2_53_and_uuid_after(client: TestClient, hosts: dict[str, Host]) -> None:
    number = numbers(client)[1]
    host_uuid = str(hosts["compute2"].id)

    old = client.simulate_get(f"/v2.1/os-hypervisors/{number}", headers=version("2.28"))
    new = client.simulate_get(f"/v2.1/os-hypervisors/{host_uuid}", headers=version("2.88"))

    assert (old.json["hypervisor"]["id"], old.json["hypervisor"]["hypervisor_hostname"]) == (number, "compute2")
    assert set(old.json["hypervisor"]) == DETAIL_KEYS_2_1
    assert (new.json["hypervisor"]["id"], set(new.json["hypervisor"])) == (host_uuid, DETAIL_KEYS_2_88)


@pytest.mark.parametrize(
    ("hypervisor_id", "microversion", "expected"),
    [
        ("abc", "2.52", (404, "itemNotFound", "Hypervisor with ID 'abc' could not be found.")),
        ("999999", "2.52", (404, "itemNotFound", "Hypervisor with ID '999999' could not be found.")),
        ("abc", "2.53", (400, "badRequest", "Invalid uuid abc")),
        (
            "6e0b0c4e-7a4e-4d43-9f00-7fd6b6c2d001",
            "2.53",
            (404, "itemNotFound", "Hypervisor with ID '6e0b0c4e-7a4e-4d43-9f00-7fd6b6c2d001' could not be found."),
        ),
    ],
)
def test_show_of_unknown_or_malformed_ids(
    client: TestClient, hosts: dict[str, Host], hypervisor_id: str, microversion: str, expected: Any
) -> None:
    result = client.simulate_get(f"/v2.1/os-hypervisors/{hypervisor_id}", headers=version(microversion))
    assert error(result) == expected


def test_show_with_servers_from_2_53(
    client: TestClient, hosts: dict[str, Host], catch_up: CatchUp, place_server: Place
) -> None:
    server_id = place_server("compute1", "vm1")
    catch_up()
    path = f"/v2.1/os-hypervisors/{hosts['compute1'].id}"

    shown = client.simulate_get(path, params={"with_servers": "True"}, headers=version("2.53")).json["hypervisor"]
    plain = client.simulate_get(path, headers=version("2.53")).json["hypervisor"]

    assert shown["servers"] == [{"name": "vm1", "uuid": server_id}]
    assert "servers" not in plain
    assert (shown["running_vms"], shown["vcpus_used"]) == (0, 0)  # scheduled, no claim recorded here


# --- routes that came and went --------------------------------------------------------------


def test_statistics_until_2_88(client: TestClient, cloud: Cloud, hosts: dict[str, Host], catch_up: CatchUp) -> None:
    hosts["other-node"].disable("maintenance")
    cloud.save(hosts["other-node"])
    catch_up()

    stats = client.simulate_get("/v2.1/os-hypervisors/statistics", headers=version("2.87")).json

    assert stats == {
        "hypervisor_statistics": {
            "count": 2, "vcpus": 16, "vcpus_used": 0, "memory_mb": 32768, "memory_mb_used": 1024,
            "local_gb": 200, "local_gb_used": 0, "free_ram_mb": 32768 - 1024, "free_disk_gb": 200,
            "running_vms": 0, "current_workload": 0, "disk_available_least": 200,
        }
    }  # fmt: skip
    gone = client.simulate_get("/v2.1/os-hypervisors/statistics", headers=version("2.88"))
    assert error(gone) == (404, "itemNotFound", "The resource could not be found.")


def test_a_disabled_service_shows_in_status_and_reason(
    client: TestClient, cloud: Cloud, hosts: dict[str, Host], catch_up: CatchUp
) -> None:
    hosts["compute1"].disable("maintenance")
    cloud.save(hosts["compute1"])
    catch_up()

    first = client.simulate_get("/v2.1/os-hypervisors/detail", headers=version("2.88")).json["hypervisors"][0]

    assert (first["status"], first["service"]["disabled_reason"]) == ("disabled", "maintenance")


def test_search_and_servers_routes_before_2_53(
    client: TestClient, hosts: dict[str, Host], catch_up: CatchUp, place_server: Place
) -> None:
    server_id = place_server("compute2", "vm2")
    catch_up()

    search = client.simulate_get("/v2.1/os-hypervisors/compute/search").json["hypervisors"]
    servers = client.simulate_get("/v2.1/os-hypervisors/compute/servers").json["hypervisors"]

    assert [set(h) for h in search] == [SUMMARY_KEYS] * 2
    assert "servers" not in servers[0]
    assert servers[1]["servers"] == [{"name": "vm2", "uuid": server_id}]
    assert [h["hypervisor_hostname"] for h in client.simulate_get("/v2.1/os-hypervisors/OTHER_/search").json[
        "hypervisors"
    ]] == ["other-node"]  # fmt: skip
    assert error(client.simulate_get("/v2.1/os-hypervisors/zzz/search")) == (
        404, "itemNotFound", "No hypervisor matching 'zzz' could be found.",
    )  # fmt: skip
    assert client.simulate_get("/v2.1/os-hypervisors/compute/search", headers=version("2.53")).status_code == 404


def test_uptime_until_2_88(client: TestClient, hosts: dict[str, Host]) -> None:
    number = numbers(client)[0]

    uptime = client.simulate_get(f"/v2.1/os-hypervisors/{number}/uptime").json

    assert uptime == {
        "hypervisor": {
            "id": number,
            "hypervisor_hostname": "compute1",
            "state": "up",
            "status": "enabled",
            "uptime": None,
        }
    }
    gone = client.simulate_get(f"/v2.1/os-hypervisors/{hosts['compute1'].id}/uptime", headers=version("2.88"))
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("path", "microversion", "rule"),
    [
        ("/v2.1/os-hypervisors", "2.88", "list"),
        ("/v2.1/os-hypervisors/detail", "2.88", "list-detail"),
        ("/v2.1/os-hypervisors/statistics", "2.87", "statistics"),
        ("/v2.1/os-hypervisors/{id}", "2.88", "show"),
        ("/v2.1/os-hypervisors/{number}/uptime", "2.1", "uptime"),
        ("/v2.1/os-hypervisors/compute/search", "2.1", "search"),
        ("/v2.1/os-hypervisors/compute/servers", "2.1", "servers"),
    ],
)
def test_every_route_is_for_admins(
    client: TestClient, hosts: dict[str, Host], path: str, microversion: str, rule: str
) -> None:
    path = path.format(id=hosts["compute1"].id, number=numbers(client)[0])

    result = client.simulate_get(path, headers=version(microversion, **DEMO))

    assert error(result) == (
        403,
        "forbidden",
        f"Policy doesn't allow os_compute_api:os-hypervisors:{rule} to be performed.",
    )
    assert client.simulate_head(path, headers=version(microversion)).status_code == 200
