"""The query app through HTTP: Nova's shapes per microversion, visibility per
project, paging, and reading one's own writes before the projections ran."""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from falcon.testing import TestClient

import query_api.app
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.follower import LogFollower
from domain.commands import CreateFlavor
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from projections.runner import projector
from projections.views import ViewStore
from tests.unit.conftest import DEMO, LATEST, OTHER

Boot = Callable[..., dict[str, Any]]
NOVA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ADMIN_ONLY = {
    "OS-EXT-SRV-ATTR:host",
    "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "OS-EXT-SRV-ATTR:instance_name",
    "host_status",
}
DETAIL_KEYS_2_1 = {
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created", "updated",
    "addresses", "accessIPv4", "accessIPv6", "links", "key_name", "config_drive", "progress", "OS-DCF:diskConfig",
    "OS-EXT-AZ:availability_zone", "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state", "OS-EXT-STS:power_state",
    "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at", "os-extended-volumes:volumes_attached", "security_groups",
}  # fmt: skip
SHOW_KEYS_2_100 = DETAIL_KEYS_2_1 | {
    "locked", "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason",
    "pinned_availability_zone", "scheduler_hints", "OS-EXT-SRV-ATTR:hostname",
}  # fmt: skip


def version(v: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **more}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


def register_host(cloud: Cloud, name: str = "compute1") -> Host:
    host = Host(
        name=name,
        inventories=inventories_to_dict(default_inventories(8, 16384, 100)),
        hypervisor={"type": "QEMU", "version": 8002000, "host_ip": "192.0.2.10", "cpu_info": {"arch": "x86_64"}},
    )
    host.report_alive()
    cloud.save(host)
    return host


def place(cloud: Cloud, server_id: str, host: str = "compute1") -> None:
    server = cloud.server(uuid.UUID(server_id))
    server.schedule(host)
    cloud.save(server)


# --- versions -------------------------------------------------------------------------------


def test_version_documents(client: TestClient) -> None:
    root = client.simulate_get("/")
    v21 = client.simulate_get("/v2.1")
    v21_slash = client.simulate_get("/v2.1/")

    assert root.status_code == v21.status_code == v21_slash.status_code == 200
    assert root.json == {
        "versions": [
            {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.100",
                "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": "http://falconframework.org/v2.1/"}],
            }
        ]
    }
    assert v21.json == v21_slash.json
    document = v21.json["version"]
    assert (document["id"], document["status"], document["version"], document["min_version"]) == (
        "v2.1", "CURRENT", "2.100", "2.1",
    )  # fmt: skip
    assert document["media-types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
    ]
    assert {"rel": "self", "href": "http://falconframework.org/v2.1/"} in document["links"]


# --- GET /servers/{id} ------------------------------------------------------------------------


def test_server_show_at_2_100_for_its_project(
    client: TestClient, catch_up: Callable[[], None], boot: Boot, image_id: str
) -> None:
    server_id = boot(headers=DEMO, metadata={"role": "db"}, description="primary")["id"]
    catch_up()

    result = client.simulate_get(f"/v2.1/servers/{server_id}", headers={**LATEST, **DEMO})

    assert result.status_code == 200
    body = result.json["server"]
    assert set(body) == SHOW_KEYS_2_100
    assert (body["id"], body["name"], body["status"]) == (server_id, "vm1", "BUILD")
    assert (body["tenant_id"], body["user_id"], body["metadata"]) == ("demo", "alice", {"role": "db"})
    assert (body["OS-EXT-STS:vm_state"], body["OS-EXT-STS:task_state"], body["OS-EXT-STS:power_state"]) == (
        "building", "scheduling", 0,
    )  # fmt: skip
    assert body["image"] == {
        "id": image_id,
        "links": [{"rel": "bookmark", "href": f"http://falconframework.org/images/{image_id}"}],
        "properties": {},
    }
    assert body["flavor"] == {
        "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "original_name": "m1.tiny", "extra_specs": {},
    }  # fmt: skip
    assert NOVA_TIME.match(body["created"]) and NOVA_TIME.match(body["updated"])
    assert (body["hostId"], body["OS-EXT-AZ:availability_zone"], body["description"]) == ("", "", "primary")
    assert (body["locked"], body["tags"], body["server_groups"], body["scheduler_hints"]) == (False, [], [], {})
    assert "fault" not in body


@pytest.mark.parametrize(
    ("microversion", "present", "absent"),
    [
        ("2.1", set(), {"locked", "description", "tags", "OS-EXT-SRV-ATTR:hostname"}),
        ("2.9", {"locked"}, {"description"}),
        ("2.19", {"description"}, {"tags"}),
        ("2.26", {"tags"}, {"trusted_image_certificates"}),
        ("2.63", {"trusted_image_certificates"}, {"server_groups"}),
        ("2.73", {"server_groups", "locked_reason"}, {"pinned_availability_zone"}),
        ("2.96", {"pinned_availability_zone"}, {"scheduler_hints"}),
    ],
)
def test_server_show_keys_follow_the_microversion(
    client: TestClient, catch_up: Callable[[], None], boot: Boot, microversion: str, present: set[str],
    absent: set[str],
) -> None:  # fmt: skip
    server_id = boot(headers=DEMO)["id"]
    catch_up()

    body = client.simulate_get(f"/v2.1/servers/{server_id}", headers=version(microversion, **DEMO)).json["server"]

    assert DETAIL_KEYS_2_1 <= set(body)
    assert present <= set(body)
    assert not absent & set(body)
    assert not ADMIN_ONLY & set(body)


def test_flavor_is_a_link_before_2_47(client: TestClient, catch_up: Callable[[], None], boot: Boot) -> None:
    server_id = boot()["id"]
    catch_up()

    body = client.simulate_get(f"/v2.1/servers/{server_id}", headers=version("2.46")).json["server"]

    assert body["flavor"] == {"id": "1", "links": [{"rel": "bookmark", "href": "http://falconframework.org/flavors/1"}]}


def test_admins_see_where_a_server_runs(
    client: TestClient, cloud: Cloud, catch_up: Callable[[], None], boot: Boot
) -> None:
    register_host(cloud)
    server_id = boot(headers=DEMO)["id"]
    place(cloud, server_id)
    catch_up()

    as_admin = client.simulate_get(f"/v2.1/servers/{server_id}", headers=LATEST).json["server"]
    as_owner = client.simulate_get(f"/v2.1/servers/{server_id}", headers={**LATEST, **DEMO}).json["server"]

    assert ADMIN_ONLY <= set(as_admin)
    assert (as_admin["OS-EXT-SRV-ATTR:host"], as_admin["OS-EXT-SRV-ATTR:hypervisor_hostname"]) == ("compute1",) * 2
    assert as_admin["OS-EXT-SRV-ATTR:instance_name"] == f"instance-{server_id}"
    assert as_admin["host_status"] == "UP"
    assert not ADMIN_ONLY & set(as_owner)
    assert as_owner["hostId"] == as_admin["hostId"] == hashlib.sha224(b"democompute1").hexdigest()
    assert as_owner["OS-EXT-STS:task_state"] == "spawning"


def test_an_error_server_shows_its_fault_with_details_for_admins_only(
    client: TestClient, cloud: Cloud, catch_up: Callable[[], None], boot: Boot
) -> None:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.fail_scheduling("no host has 512 MB free")
    cloud.save(server)
    catch_up()

    as_owner = client.simulate_get(f"/v2.1/servers/{server_id}", headers=DEMO).json["server"]
    as_admin = client.simulate_get(f"/v2.1/servers/{server_id}").json["server"]

    assert as_owner["status"] == "ERROR"
    assert set(as_owner["fault"]) == {"code", "created", "message"}
    assert as_owner["fault"]["code"] == 500
    assert as_owner["fault"]["message"].startswith("No valid host was found")
    assert NOVA_TIME.match(as_owner["fault"]["created"])
    assert as_admin["fault"]["details"] == "no host has 512 MB free"


def test_other_projects_deleted_and_unknown_servers_are_404(
    client: TestClient, catch_up: Callable[[], None], boot: Boot
) -> None:
    mine = boot(headers=DEMO)["id"]
    gone = boot(headers=DEMO)["id"]
    assert client.simulate_delete(f"/v2.1/servers/{gone}", headers=DEMO).status_code == 204
    unknown = str(uuid.uuid4())
    catch_up()

    for server_id, headers in [(mine, OTHER), (gone, DEMO), (unknown, DEMO), ("not-a-uuid", DEMO)]:
        result = client.simulate_get(f"/v2.1/servers/{server_id}", headers=headers)
        assert error(result) == (404, "itemNotFound", f"Instance {server_id} could not be found.")
        assert result.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert client.simulate_get(f"/v2.1/servers/{mine}", headers=DEMO).status_code == 200


# --- read your writes ----------------------------------------------------------------------------


def test_get_waits_for_the_projection_to_reach_the_write(
    client: TestClient, catch_up: Callable[[], None], boot: Boot
) -> None:
    server_id = boot()["id"]  # nothing has projected it yet
    late_projector = threading.Timer(0.3, catch_up)
    started = time.monotonic()
    late_projector.start()

    result = client.simulate_get(f"/v2.1/servers/{server_id}")

    late_projector.join()
    assert result.status_code == 200
    assert result.json["server"]["id"] == server_id
    assert time.monotonic() - started >= 0.25


def test_the_wait_is_bounded(client: TestClient, boot: Boot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query_api.app, "READ_YOUR_WRITES_TIMEOUT", 0.2)
    server_id = boot()["id"]  # and no projector will ever run
    started = time.monotonic()

    result = client.simulate_get(f"/v2.1/servers/{server_id}")

    assert error(result)[:2] == (404, "itemNotFound")
    assert 0.2 <= time.monotonic() - started < 15  # bounded, with room for a loaded machine


@pytest.fixture
def live_projections(cloud: Cloud, views: ViewStore, settings: Settings) -> Iterator[None]:
    """The projections running in a thread, as in the embedded deployment."""
    stop = threading.Event()
    follower = LogFollower(cloud, settings)
    thread = threading.Thread(target=projector(cloud, views).run, args=(follower, stop), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)
    follower.close()


@pytest.mark.usefixtures("live_projections")
def test_a_server_is_readable_the_moment_post_returns(client: TestClient, boot: Boot) -> None:
    for name in ("a", "b", "c"):
        server_id = boot(name=name, headers=DEMO)["id"]

        result = client.simulate_get(f"/v2.1/servers/{server_id}", headers=DEMO)

        assert result.status_code == 200, result.text
        assert result.json["server"]["name"] == name


# --- GET /servers and /servers/detail --------------------------------------------------------------


def test_listing_shows_own_servers_newest_first(client: TestClient, catch_up: Callable[[], None], boot: Boot) -> None:
    ids = [boot(name=f"vm{i}", headers=DEMO)["id"] for i in range(3)]
    boot(name="theirs", headers=OTHER)
    catch_up()

    brief = client.simulate_get("/v2.1/servers", headers=DEMO).json
    detail = client.simulate_get("/v2.1/servers/detail", params={"deleted": "False"}, headers=DEMO).json

    assert [s["id"] for s in brief["servers"]] == ids[::-1]
    assert set(brief["servers"][0]) == {"id", "name", "links"}
    assert "servers_links" not in brief
    assert [s["name"] for s in detail["servers"]] == ["vm2", "vm1", "vm0"]
    assert set(detail["servers"][0]) == DETAIL_KEYS_2_1


def test_all_tenants_is_for_admins(client: TestClient, catch_up: Callable[[], None], boot: Boot) -> None:
    boot(name="mine", headers=DEMO)
    boot(name="theirs", headers=OTHER)
    catch_up()

    everyone = client.simulate_get("/v2.1/servers/detail", params={"all_tenants": "1"}).json["servers"]
    one_project = client.simulate_get("/v2.1/servers", params={"all_tenants": "True", "project_id": "other"}).json
    admin_own = client.simulate_get("/v2.1/servers").json["servers"]
    refused = client.simulate_get("/v2.1/servers/detail", params={"all_tenants": "1"}, headers=DEMO)

    assert {s["name"] for s in everyone} == {"mine", "theirs"}
    assert [s["name"] for s in one_project["servers"]] == ["theirs"]
    assert admin_own == []
    assert error(refused) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed.",
    )


def test_pages_follow_the_next_link(client: TestClient, catch_up: Callable[[], None], boot: Boot) -> None:
    ids = [boot(name=f"vm{i}", headers=DEMO)["id"] for i in range(5)][::-1]
    catch_up()

    first = client.simulate_get("/v2.1/demo/servers/detail", params={"limit": "2"}, headers=DEMO).json
    next_href = first["servers_links"][0]["href"]
    assert first["servers_links"][0]["rel"] == "next"
    assert next_href == f"http://falconframework.org/v2.1/demo/servers/detail?limit=2&marker={ids[1]}"
    second = client.simulate_get("/v2.1/demo/servers/detail", query_string=next_href.split("?")[1], headers=DEMO).json
    third = client.simulate_get("/v2.1/servers", params={"limit": "2", "marker": ids[3]}, headers=DEMO).json

    assert [s["id"] for s in first["servers"]] == ids[:2]
    assert [s["id"] for s in second["servers"]] == ids[2:4]
    assert [s["id"] for s in third["servers"]] == ids[4:]
    assert "servers_links" not in third


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"marker": "f00"}, "marker [f00] not found"),
        ({"limit": "abc"}, "limit param must be an integer"),
        ({"limit": "-1"}, "limit param must be positive"),
        ({"name": "("}, "Invalid regular expression in the name filter"),
        ({"all_tenants": "perhaps"}, "Invalid value 'perhaps' for the all_tenants parameter"),
    ],
)
def test_bad_listing_parameters_are_400(client: TestClient, query: dict[str, str], message: str) -> None:
    result = client.simulate_get("/v2.1/servers/detail", params=query)

    status, name, text = error(result)
    assert (status, name) == (400, "badRequest")
    assert text.startswith(message)


def test_another_projects_server_is_no_marker(client: TestClient, catch_up: Callable[[], None], boot: Boot) -> None:
    theirs = boot(headers=OTHER)["id"]
    catch_up()

    result = client.simulate_get("/v2.1/servers", params={"marker": theirs}, headers=DEMO)

    assert error(result) == (400, "badRequest", f"marker [{theirs}] not found")


def test_filters_by_name_status_and_host(
    client: TestClient, cloud: Cloud, catch_up: Callable[[], None], boot: Boot
) -> None:
    register_host(cloud)
    _, web2, db = (boot(name=name, headers=DEMO)["id"] for name in ("web-1", "web-2", "db"))
    place(cloud, web2)
    failed = cloud.server(uuid.UUID(db))
    failed.fail_scheduling("none fit")
    cloud.save(failed)
    catch_up()

    def names(headers: dict[str, str] = DEMO, **query: str) -> list[str]:
        result = client.simulate_get("/v2.1/servers/detail", params=query, headers=headers)
        assert result.status_code == 200, result.text
        return [server["name"] for server in result.json["servers"]]

    assert names(name="^web") == ["web-2", "web-1"]
    assert names(name="b-1$") == ["web-1"]
    assert names(status="error") == ["db"]
    assert names(status="BUILD", limit="1") == ["web-2"]
    assert names(status="NOSUCHSTATUS") == []
    assert names(host="compute1") == ["db", "web-2", "web-1"]  # host is an admin filter: ignored here
    assert names(headers={}, host="compute1", all_tenants="1") == ["web-2"]


def test_deleted_servers_are_listed_only_for_admins_who_ask(
    client: TestClient, catch_up: Callable[[], None], boot: Boot
) -> None:
    gone = boot(name="gone", headers=DEMO)["id"]
    boot(name="kept", headers=DEMO)
    client.simulate_delete(f"/v2.1/servers/{gone}", headers=DEMO)
    catch_up()

    def names(headers: dict[str, str], **query: str) -> list[str]:
        return [s["name"] for s in client.simulate_get("/v2.1/servers", params=query, headers=headers).json["servers"]]

    assert names(DEMO) == ["kept"]
    assert names(DEMO, deleted="True") == ["kept"]
    assert names({}, deleted="True", all_tenants="1") == ["gone"]


# --- flavors ------------------------------------------------------------------------------------


@pytest.fixture
def flavors(cloud: Cloud, catch_up: Callable[[], None]) -> None:
    for flavorid, name, ram in [("1", "m1.tiny", 512), ("2", "m1.small", 2048), ("3", "m1.medium", 4096)]:
        cloud.create_flavor(CreateFlavor(name=name, vcpus=1, ram=ram, disk=ram // 512, flavorid=flavorid))
    cloud.create_flavor(CreateFlavor(name="secret", vcpus=1, ram=64, disk=1, flavorid="9", is_public=False))
    catch_up()


@pytest.mark.usefixtures("flavors")
def test_flavor_listings(client: TestClient) -> None:
    brief = client.simulate_get("/v2.1/flavors", headers=DEMO).json["flavors"]
    detail = client.simulate_get("/v2.1/flavors/detail", headers=version("2.61", **DEMO)).json["flavors"]

    assert [f["id"] for f in brief] == ["1", "2", "3"]
    assert brief[0] == {
        "id": "1",
        "name": "m1.tiny",
        "links": [
            {"rel": "self", "href": "http://falconframework.org/v2.1/flavors/1"},
            {"rel": "bookmark", "href": "http://falconframework.org/flavors/1"},
        ],
    }
    assert detail[1] == brief[1] | {
        "description": None, "ram": 2048, "disk": 4, "vcpus": 1, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False, "os-flavor-access:is_public": True, "rxtx_factor": 1.0, "extra_specs": {},
    }  # fmt: skip


@pytest.mark.usefixtures("flavors")
def test_private_flavors_are_for_admins_who_ask(client: TestClient) -> None:
    def ids(headers: dict[str, str], **query: str) -> list[str]:
        return [
            f["id"] for f in client.simulate_get("/v2.1/flavors/detail", params=query, headers=headers).json["flavors"]
        ]

    assert ids(DEMO, is_public="None") == ["1", "2", "3"]
    assert ids({}) == ["1", "2", "3"]
    assert ids({}, is_public="None") == ["1", "2", "3", "9"]
    assert ids({}, is_public="false") == ["9"]
    assert error(client.simulate_get("/v2.1/flavors/9", headers=DEMO)) == (
        404, "itemNotFound", "Flavor 9 could not be found.",
    )  # fmt: skip
    assert client.simulate_get("/v2.1/flavors/9").json["flavor"]["os-flavor-access:is_public"] is False


@pytest.mark.usefixtures("flavors")
def test_flavor_filters_and_pages(client: TestClient) -> None:
    def ids(**query: str) -> Any:
        return client.simulate_get("/v2.1/flavors", params=query).json

    assert [f["id"] for f in ids(minRam="1000")["flavors"]] == ["2", "3"]
    assert [f["id"] for f in ids(minDisk="8")["flavors"]] == ["3"]
    page = ids(limit="2")
    assert [f["id"] for f in page["flavors"]] == ["1", "2"]
    assert page["flavors_links"][0]["href"].endswith("/v2.1/flavors?limit=2&marker=2")
    assert [f["id"] for f in ids(marker="2")["flavors"]] == ["3"]
    assert error(client.simulate_get("/v2.1/flavors", params={"marker": "nope"}))[2] == "marker [nope] not found"
    assert error(client.simulate_get("/v2.1/flavors", params={"minRam": "lots"}))[2] == "Invalid minRam filter [lots]"


def test_a_flavor_just_created_is_readable(client: TestClient, catch_up: Callable[[], None]) -> None:
    flavor = {"name": "fresh", "ram": 256, "vcpus": 1, "disk": 1, "id": "fresh"}
    assert client.simulate_post("/v2.1/flavors", json={"flavor": flavor}).status_code == 200
    threading.Timer(0.2, catch_up).start()

    result = client.simulate_get("/v2.1/flavors/fresh", headers=version("2.75"))

    assert result.status_code == 200
    assert result.json["flavor"]["swap"] == 0


# --- hypervisors ------------------------------------------------------------------------------------


@pytest.fixture
def hypervisor(cloud: Cloud, catch_up: Callable[[], None]) -> Host:
    host = register_host(cloud)
    host.claim(str(uuid.uuid4()), {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 10})
    cloud.save(host)
    catch_up()
    return host


def test_hypervisor_detail_at_2_88(client: TestClient, hypervisor: Host) -> None:
    result = client.simulate_get("/v2.1/admin/os-hypervisors/detail", headers=version("2.88"))

    assert result.status_code == 200
    ((body,),) = result.json.values()
    assert body == {
        "id": str(hypervisor.id),
        "hypervisor_hostname": "compute1",
        "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000,
        "host_ip": "192.0.2.10",
        "state": "up",
        "status": "enabled",
        "service": {"host": "compute1", "id": body["service"]["id"], "disabled_reason": None},
        "uptime": None,
    }
    uuid.UUID(body["service"]["id"])


def test_hypervisor_detail_before_2_88_counts_capacity(client: TestClient, hypervisor: Host) -> None:
    body = client.simulate_get("/v2.1/os-hypervisors/detail", headers=version("2.87")).json["hypervisors"][0]
    legacy = client.simulate_get("/v2.1/os-hypervisors/detail").json["hypervisors"][0]

    assert (body["vcpus"], body["vcpus_used"], body["running_vms"]) == (8, 2, 1)
    assert (body["memory_mb"], body["memory_mb_used"], body["free_ram_mb"]) == (16384, 512 + 1024, 16384 - 1536)
    assert (body["local_gb"], body["local_gb_used"], body["free_disk_gb"]) == (100, 10, 90)
    assert body["cpu_info"] == {"arch": "x86_64"}
    assert "uptime" not in body
    assert legacy["cpu_info"] == '{"arch": "x86_64"}'


def test_hypervisors_are_for_admins(client: TestClient, hypervisor: Host) -> None:
    result = client.simulate_get("/v2.1/os-hypervisors/detail", headers=version("2.88", **DEMO))

    assert error(result) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-hypervisors:list-detail to be performed.",
    )


def test_head_answers_like_get_without_a_body(client: TestClient, catch_up: Callable[[], None], boot: Boot) -> None:
    server_id = boot()["id"]
    catch_up()

    version_head = client.simulate_head("/v2.1")
    server_head = client.simulate_head(f"/v2.1/servers/{server_id}")
    missing_head = client.simulate_head(f"/v2.1/servers/{uuid.uuid4()}")

    assert (version_head.status_code, version_head.content) == (200, b"")
    assert (server_head.status_code, server_head.content) == (200, b"")
    assert missing_head.status_code == 404


@pytest.mark.parametrize("pattern", ["(a|aa)*b", "(a+)+", "(?:x*)*", "a" * 256])
def test_name_filters_that_could_backtrack_for_ever_are_refused(client: TestClient, pattern: str) -> None:
    result = client.simulate_get("/v2.1/servers/detail", params={"name": pattern})
    assert result.status_code == 400 and "badRequest" in result.json


def test_integer_filters_beyond_novas_bound_are_bad_requests(client: TestClient) -> None:
    result = client.simulate_get("/v2.1/flavors/detail", params={"minRam": "99999999999999999999"})
    assert result.status_code == 400 and "badRequest" in result.json
