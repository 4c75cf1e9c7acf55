"""The servers resource beyond one plain boot, through the HTTP apps: several
servers per request, key pairs, zones, block devices, update, metadata, tags,
listing filters and sorting, and the server body per microversion."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova import host_aggregates
from chronova.cloud import Cloud
from domain.commands import CreateServer, RequestContext
from domain.errors import InvalidReference
from tests.unit.conftest import DEMO, LATEST, OTHER

Boot = Callable[..., dict[str, Any]]
CatchUp = Callable[[], None]


def version(v: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **(headers or {})}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


def activate(cloud: Cloud, server_id: str, host: str = "compute1") -> None:
    """What the scheduler and the conductor record for a boot that worked."""
    server = cloud.server(uuid.UUID(server_id))
    server.schedule(host)
    server.record_spawned(host, 1)
    cloud.save(server)


@pytest.fixture
def server_body(image_id: str, flavor_id: str) -> Callable[..., dict[str, Any]]:
    def body(**fields: Any) -> dict[str, Any]:
        return {"name": "vm", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none", **fields}

    return body


def post(client: TestClient, server: dict[str, Any], headers: dict[str, str] | None = None, **beside: Any) -> Any:
    return client.simulate_post("/v2.1/servers", json={"server": server, **beside}, headers=headers or LATEST)


def refused_without_trace(cloud: Cloud, request: Callable[[], Any]) -> tuple[int, str, str]:
    """Runs a request that must be refused, and checks it recorded nothing."""
    before = cloud.recorder.max_notification_id()
    result = request()
    assert cloud.recorder.max_notification_id() == before
    return error(result)


# --- POST /servers ------------------------------------------------------------------------------


def test_several_servers_in_one_request_share_a_reservation(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, server_body: Callable[..., dict[str, Any]]
) -> None:
    result = post(client, server_body(name="web", min_count=2, max_count="3"), {**LATEST, **DEMO})
    reserved = post(client, server_body(name="db", return_reservation_id=True), {**LATEST, **DEMO})
    catch_up()

    assert result.status_code == 202
    assert reserved.status_code == 202 and set(reserved.json) == {"reservation_id"}
    listed = client.simulate_get(
        "/v2.1/servers/detail", params={"all_tenants": "1", "sort_key": "display_name", "sort_dir": "asc"},
        headers=LATEST,
    ).json["servers"]  # fmt: skip
    web = [s for s in listed if s["name"].startswith("web")]
    assert [s["name"] for s in web] == ["web-1", "web-2", "web-3"]
    assert [s["OS-EXT-SRV-ATTR:hostname"] for s in web] == ["web-1", "web-2", "web-3"]
    assert [s["OS-EXT-SRV-ATTR:launch_index"] for s in web] == [0, 1, 2]
    assert len({s["OS-EXT-SRV-ATTR:reservation_id"] for s in web}) == 1
    assert result.json["server"]["id"] == next(s["id"] for s in web if s["name"] == "web-1")
    db_reservation = reserved.json["reservation_id"]
    assert db_reservation.startswith("r-") and len(db_reservation) == 10
    by_reservation = client.simulate_get(
        "/v2.1/servers", params={"reservation_id": db_reservation}, headers=version("2.100", DEMO)
    ).json["servers"]
    assert [s["name"] for s in by_reservation] == ["db"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_count": 2, "max_count": 1}, "min_count must be <= max_count"),
        ({"max_count": 2, "hostname": "one"}, "Unable to allocate a single hostname to multiple instances"),
        ({"user_data": base64.b64encode(b"x" * 50_000).decode()}, "Invalid input for field/attribute user_data."),
        ({"tags": ["a,b"]}, "Invalid input for field/attribute tags/0."),
        ({"tags": [f"t{i}" for i in range(51)]}, "Invalid input for field/attribute tags."),
        ({"hostname": "bad host"}, "Invalid input for field/attribute hostname."),
        ({"availability_zone": "a:b:c:d"}, "Invalid input received: Unable to parse availability_zone"),
        ({"accessIPv4": "300.1.1.1"}, "Invalid input for field/attribute accessIPv4."),
        (
            {"block_device_mapping_v2": [{"source_type": "volume", "uuid": str(uuid.uuid4()), "boot_index": 0}]},
            "Block Device Mapping is Invalid: volumes are not supported: this cloud has no block storage.",
        ),
        (
            {"block_device_mapping": [{"volume_id": str(uuid.uuid4())}]},
            "Block Device Mapping is Invalid: volumes are not supported",
        ),
        (
            {"imageRef": "", "block_device_mapping_v2": [{"source_type": "blank", "destination_type": "local"}]},
            "Block Device Mapping is Invalid: only one block device is supported",
        ),
        (
            {"block_device_mapping_v2": [{"source_type": "image", "uuid": str(uuid.uuid4()), "boot_index": 0}]},
            "Block Device Mapping is Invalid: the boot block device must be the image of imageRef.",
        ),
        ({"networks": [{"uuid": "not-a-uuid"}]}, "Bad networks format: network uuid is not in proper format"),
        ({"key_name": "nosuchkey"}, "Invalid key_name provided."),
    ],
)
def test_bad_create_requests_are_400_and_record_nothing(
    client: TestClient, cloud: Cloud, server_body: Callable[..., dict[str, Any]], change: dict[str, Any], message: str
) -> None:
    status, name, text = refused_without_trace(cloud, lambda: post(client, server_body(**change), {**LATEST, **DEMO}))

    assert (status, name) == (400, "badRequest")
    assert text.startswith(message), text


@pytest.mark.parametrize("microversion", ["2.1", "2.37", "2.90", "2.100"])
def test_unknown_keys_are_refused_at_every_microversion(
    client: TestClient, cloud: Cloud, server_body: Callable[..., dict[str, Any]], microversion: str
) -> None:
    body = server_body(color="red", networks=[])
    status, _, text = refused_without_trace(cloud, lambda: post(client, body, version(microversion)))

    assert status == 400
    assert text.endswith("Additional properties are not allowed ('color' was unexpected)")


@pytest.mark.parametrize(
    ("key", "value", "first"),
    [("tags", ["a"], "2.52"), ("hostname", "box", "2.90"), ("trusted_image_certificates", ["cert"], "2.63")],
)
def test_newer_keys_need_their_microversion(
    client: TestClient, cloud: Cloud, server_body: Callable[..., dict[str, Any]], key: str, value: Any, first: str
) -> None:
    major, minor = first.split(".")
    before = f"{major}.{int(minor) - 1}"

    status, _, text = refused_without_trace(cloud, lambda: post(client, server_body(**{key: value}), version(before)))

    assert status == 400 and f"'{key}' was unexpected" in text
    assert post(client, server_body(**{key: value}), version(first)).status_code == 202


def test_key_name_must_be_one_of_the_callers_keypairs(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, server_body: Callable[..., dict[str, Any]]
) -> None:
    created = client.simulate_post("/v2.1/os-keypairs", json={"keypair": {"name": "mine"}}, headers=DEMO)
    assert created.status_code == 200, created.text

    theirs = refused_without_trace(cloud, lambda: post(client, server_body(key_name="mine"), {**LATEST, **OTHER}))
    mine = post(client, server_body(key_name="mine"), {**LATEST, **DEMO})
    catch_up()

    assert theirs == (400, "badRequest", "Invalid key_name provided.")
    assert mine.status_code == 202
    shown = client.simulate_get(f"/v2.1/servers/{mine.json['server']['id']}", headers=DEMO).json["server"]
    assert shown["key_name"] == "mine"


def test_zone_host_and_node_are_for_admins(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, server_body: Callable[..., dict[str, Any]]
) -> None:
    forced = server_body(availability_zone="nova:compute1")
    member = refused_without_trace(cloud, lambda: post(client, forced, {**LATEST, **DEMO}))
    unknown_host = refused_without_trace(cloud, lambda: post(client, server_body(availability_zone="nova:nowhere")))
    host_aggregates.create(cloud, "rack1", "az1")  # a zone must exist to be asked for
    zone_only = post(client, server_body(availability_zone="az1"), {**LATEST, **DEMO})
    catch_up()

    assert member == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.",
    )
    assert unknown_host == (400, "badRequest", "Compute host nowhere could not be found.")
    shown = client.simulate_get(f"/v2.1/servers/{zone_only.json['server']['id']}", headers={**LATEST, **DEMO})
    assert shown.json["server"]["pinned_availability_zone"] == "az1"
    assert shown.json["server"]["OS-EXT-AZ:availability_zone"] == "az1"


def test_metadata_beyond_the_quota_is_403(client: TestClient, cloud: Cloud, server_body: Callable[..., Any]) -> None:
    metadata = {f"k{i}": "v" for i in range(129)}

    refused = refused_without_trace(cloud, lambda: post(client, server_body(metadata=metadata), {**LATEST, **DEMO}))

    assert refused == (403, "forbidden", "Maximum number of metadata items exceeds 128")


def test_scheduler_hints_are_kept_as_given_but_novas_own(
    client: TestClient, catch_up: CatchUp, server_body: Callable[..., dict[str, Any]]
) -> None:
    hints = {"build_near_host_ip": "192.0.2.1", "cidr": "/24", "query": {"a": 1}, "_nova_check_type": "x"}
    server_id = post(client, server_body(), {**LATEST, **DEMO}, **{"os:scheduler_hints": hints}).json["server"]["id"]
    catch_up()

    shown = client.simulate_get(f"/v2.1/servers/{server_id}", headers={**LATEST, **DEMO}).json["server"]

    assert shown["scheduler_hints"] == {"build_near_host_ip": "192.0.2.1", "cidr": "/24", "query": {"a": 1}}


@pytest.mark.parametrize("hints", [{"group": "not-a-uuid"}, {"same_host": ["x"]}, {"cidr": "24"}, ["group"]])
def test_bad_scheduler_hints_are_400(
    client: TestClient, cloud: Cloud, server_body: Callable[..., dict[str, Any]], hints: Any
) -> None:
    refused = refused_without_trace(
        cloud, lambda: post(client, server_body(), {**LATEST, **DEMO}, **{"os:scheduler_hints": hints})
    )

    assert refused[:2] == (400, "badRequest")


def test_boot_into_a_server_group(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, server_body: Callable[..., dict[str, Any]]
) -> None:
    group = client.simulate_post(
        "/v2.1/os-server-groups",
        json={"server_group": {"name": "g", "policies": ["anti-affinity"]}},
        headers={**version("2.1"), **DEMO},
    )
    assert group.status_code == 200, group.text
    group_id = group.json["server_group"]["id"]
    hints = {"group": group_id}

    unknown = refused_without_trace(
        cloud,
        lambda: post(client, server_body(), {**LATEST, **DEMO}, **{"os:scheduler_hints": {"group": str(uuid.uuid4())}}),
    )
    booted = post(client, server_body(), {**LATEST, **DEMO}, **{"os:scheduler_hints": hints})
    catch_up()

    assert unknown[:2] == (400, "badRequest")
    server = client.simulate_get(f"/v2.1/servers/{booted.json['server']['id']}", headers={**LATEST, **DEMO})
    assert server.json["server"]["server_groups"] == [group_id]
    assert server.json["server"]["scheduler_hints"] == hints
    members = client.simulate_get(f"/v2.1/os-server-groups/{group_id}", headers=DEMO).json["server_group"]["members"]
    assert members == [booted.json["server"]["id"]]


# --- the server body per microversion -----------------------------------------------------------


def test_admins_see_the_extended_attributes_from_2_3(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO, user_data="aGk=", hostname="box1")["id"]
    catch_up()

    def keys(v: str, headers: dict[str, str] | None = None) -> set[str]:
        return set(client.simulate_get(f"/v2.1/servers/{server_id}", headers=version(v, headers)).json["server"])

    extended = {
        "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:kernel_id", "OS-EXT-SRV-ATTR:launch_index",
        "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:root_device_name",
        "OS-EXT-SRV-ATTR:user_data",
    }  # fmt: skip
    assert not extended & keys("2.2")
    assert extended <= keys("2.3")
    assert not extended & keys("2.89", DEMO)
    assert extended & keys("2.90", DEMO) == {"OS-EXT-SRV-ATTR:hostname"}
    body = client.simulate_get(f"/v2.1/servers/{server_id}", headers=version("2.3")).json["server"]
    assert (body["OS-EXT-SRV-ATTR:user_data"], body["OS-EXT-SRV-ATTR:hostname"]) == ("aGk=", "box1")


def test_image_properties_tags_and_hints_follow_the_microversion(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, flavor_id: str
) -> None:
    image = uuid.uuid4()
    cloud.register_image(
        image, name="i", owner="admin", disk_format="qcow2", container_format="bare", min_disk=0, min_ram=0,
        size=1, visibility="public", properties={"hw_disk_bus": "virtio", "bad/key": "x"},
    )  # fmt: skip
    server = {"name": "p", "imageRef": str(image), "flavorRef": flavor_id, "networks": "none", "tags": ["x"]}
    server_id = post(client, server, {**LATEST, **DEMO}, **{"OS-SCH-HNT:scheduler_hints": {"same_host": []}}).json[
        "server"
    ]["id"]
    catch_up()

    def show(v: str) -> dict[str, Any]:
        return client.simulate_get(f"/v2.1/servers/{server_id}", headers=version(v, DEMO)).json["server"]

    assert "properties" not in show("2.97")["image"]
    assert show("2.98")["image"]["properties"] == {"hw_disk_bus": "virtio"}
    assert "tags" not in show("2.25") and show("2.26")["tags"] == ["x"]
    assert "scheduler_hints" not in show("2.99") and show("2.100")["scheduler_hints"] == {"same_host": []}
    listed = client.simulate_get("/v2.1/servers/detail", headers=version("2.100", DEMO)).json["servers"][0]
    assert "server_groups" not in listed and "server_groups" in show("2.71")


def test_an_error_server_has_no_progress_and_a_fault(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.fail_scheduling("nothing fits")
    cloud.save(server)
    catch_up()

    body = client.simulate_get(f"/v2.1/servers/{server_id}", headers=DEMO).json["server"]

    assert "progress" not in body
    assert body["fault"]["message"].startswith("No valid host was found")


# --- PUT /servers/{id} ---------------------------------------------------------------------------


def test_update_answers_the_server_and_records_an_event(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO, description="old")["id"]
    catch_up()
    change = {"name": "renamed", "description": None, "hostname": "new-host", "accessIPv4": "192.0.2.7"}

    result = client.simulate_put(f"/v2.1/servers/{server_id}", json={"server": change}, headers={**LATEST, **DEMO})
    catch_up()

    assert result.status_code == 200, result.text
    body = result.json["server"]
    assert (body["name"], body["description"], body["OS-EXT-SRV-ATTR:hostname"]) == ("renamed", None, "new-host")
    assert body["accessIPv4"] == "192.0.2.7" and "OS-EXT-STS:vm_state" in body  # the full server from 2.75
    shown = client.simulate_get(f"/v2.1/servers/{server_id}", headers={**LATEST, **DEMO}).json["server"]
    assert {key: shown[key] for key in ("name", "description", "OS-EXT-SRV-ATTR:hostname", "accessIPv4")} == {
        "name": "renamed", "description": None, "OS-EXT-SRV-ATTR:hostname": "new-host", "accessIPv4": "192.0.2.7",
    }  # fmt: skip
    (updated,) = [n for n in cloud.recorder.select_notifications(0, 100) if n.topic.endswith("Server.Updated")]
    event = cloud.mapper.to_domain_event(updated)
    assert (event.request_id, event.user_id) == (result.headers["x-openstack-request-id"], "alice")


def test_before_2_19_a_servers_description_is_its_name(
    client: TestClient, catch_up: CatchUp, server_body: Callable[..., dict[str, Any]]
) -> None:
    server_id = post(client, server_body(networks=[]), version("2.18", DEMO)).json["server"]["id"]
    catch_up()

    shown = client.simulate_get(f"/v2.1/servers/{server_id}", headers=version("2.19", DEMO)).json["server"]

    assert shown["description"] == "vm"


def test_update_before_2_75_answers_a_shorter_body(client: TestClient, catch_up: CatchUp, boot: Boot) -> None:
    server_id = boot(headers=DEMO)["id"]
    catch_up()

    body = client.simulate_put(
        f"/v2.1/servers/{server_id}", json={"server": {"name": "n"}}, headers=version("2.74", DEMO)
    ).json["server"]

    assert {"name", "status", "locked", "description", "tags", "locked_reason"} <= set(body)
    assert not {"OS-EXT-STS:vm_state", "key_name", "OS-EXT-AZ:availability_zone", "security_groups"} & set(body)


@pytest.mark.parametrize(
    ("change", "microversion", "message"),
    [
        ({"description": "d"}, "2.18", "Additional properties are not allowed ('description' was unexpected)"),
        ({"hostname": "h1"}, "2.89", "Additional properties are not allowed ('hostname' was unexpected)"),
        ({"hostname": "a.b"}, "2.93", "Invalid input for field/attribute hostname."),
        ({"name": ""}, "2.100", "Invalid input for field/attribute name."),
        ({"user_data": "aGk="}, "2.100", "Additional properties are not allowed ('user_data' was unexpected)"),
    ],
)
def test_bad_updates_are_400_and_record_nothing(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot, change: dict[str, Any], microversion: str,
    message: str,
) -> None:  # fmt: skip
    server_id = boot(headers=DEMO)["id"]
    catch_up()

    status, _, text = refused_without_trace(
        cloud,
        lambda: client.simulate_put(
            f"/v2.1/servers/{server_id}", json={"server": change}, headers=version(microversion, DEMO)
        ),
    )

    assert status == 400
    assert message in text


def test_fqdn_hostnames_from_2_94(client: TestClient, catch_up: CatchUp, boot: Boot) -> None:
    server_id = boot(headers=DEMO)["id"]
    catch_up()

    result = client.simulate_put(
        f"/v2.1/servers/{server_id}", json={"server": {"hostname": "a.example"}}, headers=version("2.94", DEMO)
    )

    assert result.status_code == 200 and result.json["server"]["OS-EXT-SRV-ATTR:hostname"] == "a.example"


def test_another_projects_server_cannot_be_updated(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO)["id"]
    catch_up()

    refused = refused_without_trace(
        cloud, lambda: client.simulate_put(f"/v2.1/servers/{server_id}", json={"server": {"name": "x"}}, headers=OTHER)
    )

    assert refused == (404, "itemNotFound", f"Instance {server_id} could not be found.")


# --- metadata ------------------------------------------------------------------------------------


def test_metadata_lifecycle(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot) -> None:
    server_id = boot(headers=DEMO, metadata={"a": "1"})["id"]
    activate(cloud, server_id)
    url = f"/v2.1/servers/{server_id}/metadata"

    merged = client.simulate_post(url, json={"metadata": {"b": "2"}}, headers=DEMO)
    item = client.simulate_put(f"{url}/c", json={"meta": {"c": "3"}}, headers=DEMO)
    catch_up()
    listed = client.simulate_get(url, headers=DEMO)
    one = client.simulate_get(f"{url}/b", headers=DEMO)
    deleted = client.simulate_delete(f"{url}/a", headers=DEMO)
    replaced = client.simulate_put(url, json={"metadata": {"z": "26"}}, headers=DEMO)
    catch_up()

    assert (merged.status_code, merged.json) == (200, {"metadata": {"a": "1", "b": "2"}})
    assert (item.status_code, item.json) == (200, {"meta": {"c": "3"}})
    assert listed.json == {"metadata": {"a": "1", "b": "2", "c": "3"}}
    assert one.json == {"meta": {"b": "2"}}
    assert deleted.status_code == 204
    assert (replaced.status_code, replaced.json) == (200, {"metadata": {"z": "26"}})
    assert client.simulate_get(url, headers=DEMO).json == {"metadata": {"z": "26"}}
    assert client.simulate_get(f"/v2.1/servers/{server_id}", headers=DEMO).json["server"]["metadata"] == {"z": "26"}


def test_metadata_refusals(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot) -> None:
    building = boot(headers=DEMO)["id"]
    server_id = boot(headers=DEMO, metadata={"a": "1"})["id"]
    activate(cloud, server_id)
    catch_up()
    url = f"/v2.1/servers/{server_id}/metadata"

    def refused(method: str, path: str, body: Any = None, headers: dict[str, str] = DEMO) -> tuple[int, str, str]:
        return refused_without_trace(cloud, lambda: client.simulate_request(method, path, json=body, headers=headers))

    assert refused("PUT", f"{url}/x", {"meta": {"y": "1"}}) == (400, "badRequest", "Request body and URI mismatch")
    assert refused("PUT", f"{url}/x", {"meta": {"x": "1", "y": "2"}})[:2] == (400, "badRequest")
    assert refused("POST", url, {"metadata": {"a/b": "1"}})[:2] == (400, "badRequest")
    assert refused("POST", url, {"metadata": {"k": "v" * 256}})[:2] == (400, "badRequest")
    assert refused("POST", url, {"meta": {}})[:2] == (400, "badRequest")
    assert refused("DELETE", f"{url}/nope") == (404, "itemNotFound", "Metadata item was not found")
    assert refused("POST", url, {"metadata": {"k": "v"}}, OTHER)[:2] == (404, "itemNotFound")
    assert refused("PUT", url, {"metadata": {f"k{i}": "v" for i in range(129)}}) == (
        403, "forbidden", "Maximum number of metadata items exceeds 128",
    )  # fmt: skip
    assert refused("POST", f"/v2.1/servers/{building}/metadata", {"metadata": {"k": "v"}}) == (
        409, "conflictingRequest",
        f"Cannot 'update metadata' instance {building} while it is in vm_state building",
    )  # fmt: skip
    assert error(client.simulate_get(f"{url}/nope", headers=DEMO)) == (
        404,
        "itemNotFound",
        "Metadata item was not found",
    )
    assert error(client.simulate_get(url, headers=OTHER))[:2] == (404, "itemNotFound")


# --- tags ------------------------------------------------------------------------------------------


def test_tags_lifecycle(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot) -> None:
    server_id = boot(headers=DEMO)["id"]
    activate(cloud, server_id)
    url = f"/v2.1/servers/{server_id}/tags"
    headers = version("2.26", DEMO)

    replaced = client.simulate_put(url, json={"tags": ["a", "b", "a"]}, headers=headers)
    added = client.simulate_put(f"{url}/c", headers=headers)
    again = client.simulate_put(f"{url}/c", headers=headers)
    removed = client.simulate_delete(f"{url}/a", headers=headers)
    catch_up()

    assert (replaced.status_code, replaced.json) == (200, {"tags": ["a", "b"]})
    assert added.status_code == 201
    assert added.headers["Location"] == f"http://falconframework.org/v2.1/servers/{server_id}/tags/c"
    assert again.status_code == 204
    assert removed.status_code == 204
    assert client.simulate_get(url, headers=headers).json == {"tags": ["b", "c"]}
    assert client.simulate_get(f"{url}/b", headers=headers).status_code == 204
    assert error(client.simulate_get(f"{url}/a", headers=headers)) == (
        404, "itemNotFound", f"Server {server_id} has no tag 'a'",
    )  # fmt: skip
    assert client.simulate_delete(url, headers=headers).status_code == 204
    catch_up()
    assert client.simulate_get(url, headers=headers).json == {"tags": []}


def test_tag_refusals(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot) -> None:
    building = boot(headers=DEMO)["id"]
    server_id = boot(headers=DEMO)["id"]
    activate(cloud, server_id)
    url = f"/v2.1/servers/{server_id}/tags"
    headers = version("2.26", DEMO)
    assert client.simulate_put(url, json={"tags": [f"t{i}" for i in range(50)]}, headers=headers).status_code == 200

    def refused(method: str, path: str, body: Any = None, hdrs: dict[str, str] = headers) -> tuple[int, str, str]:
        return refused_without_trace(cloud, lambda: client.simulate_request(method, path, json=body, headers=hdrs))

    assert refused("PUT", f"{url}/one-more") == (
        400, "badRequest", "The number of tags exceeded the per-server limit 50",
    )  # fmt: skip
    assert refused("PUT", f"{url}/t1") == (400, "badRequest", "The number of tags exceeded the per-server limit 50")
    assert refused("PUT", f"{url}/a,b")[2].startswith("Tag 'a,b' is invalid.")
    assert refused("PUT", url, {"tags": [f"u{i}" for i in range(51)]})[:2] == (400, "badRequest")
    assert refused("PUT", url, {"tags": "a"})[:2] == (400, "badRequest")
    assert refused("DELETE", f"{url}/nope") == (404, "itemNotFound", f"Instance {server_id} has no tag 'nope'")
    assert refused("PUT", url, {"tags": []}, version("2.25", DEMO)) == (
        404, "itemNotFound", "The resource could not be found.",
    )  # fmt: skip
    assert refused("PUT", url, {"tags": []}, version("2.26", OTHER))[:2] == (404, "itemNotFound")
    assert refused("PUT", f"/v2.1/servers/{building}/tags/x") == (
        409, "conflictingRequest", f"Cannot 'update tag' instance {building} while it is in vm_state building",
    )  # fmt: skip
    catch_up()
    assert client.simulate_get(url, headers=version("2.25", DEMO)).status_code == 404


# --- listing ----------------------------------------------------------------------------------------


@pytest.fixture
def fleet(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot, flavor_id: str) -> dict[str, str]:
    """Four DEMO servers (one active, one failed, two building) and one of OTHER's."""
    host_aggregates.create(cloud, "rack2", "az2")  # a zone must exist to be asked for
    ids = {
        "web-1": boot(name="web-1", headers=DEMO, tags=["web", "prod"])["id"],
        "web-2": boot(name="web-2", headers=DEMO, tags=["web"])["id"],
        "db": boot(name="db", headers=DEMO, tags=["prod"], availability_zone="az2")["id"],
        "tmp": boot(name="tmp", headers=DEMO)["id"],
        "theirs": boot(name="theirs", headers=OTHER, tags=["web"])["id"],
    }
    activate(cloud, ids["web-1"])
    failed = cloud.server(uuid.UUID(ids["tmp"]))
    failed.fail_scheduling("none")
    cloud.save(failed)
    catch_up()
    return ids


def names(client: TestClient, query: dict[str, str], v: str = "2.100", headers: dict[str, str] = DEMO) -> list[str]:
    result = client.simulate_get("/v2.1/servers/detail", params=query, headers=version(v, headers))
    assert result.status_code == 200, result.text
    return [server["name"] for server in result.json["servers"]]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["tmp", "db", "web-2", "web-1"]),
        ({"status": "ACTIVE"}, ["web-1"]),
        ({"status": "build"}, ["db", "web-2"]),
        ({"tags": "web,prod"}, ["web-1"]),
        ({"tags-any": "web,prod"}, ["db", "web-2", "web-1"]),
        ({"not-tags": "web,prod"}, ["tmp", "db", "web-2"]),
        ({"not-tags-any": "web,prod"}, ["tmp"]),
        ({"flavor": "1"}, ["tmp", "db", "web-2", "web-1"]),
        ({"flavor": "2"}, []),
        ({"name": "^web"}, ["web-2", "web-1"]),
        ({"availability_zone": "az2"}, ["db"]),
        ({"locked": "false"}, ["tmp", "db", "web-2", "web-1"]),
        ({"locked": "true"}, []),
        ({"ip": "10.0.0.1"}, []),
        ({"host": "compute1"}, ["tmp", "db", "web-2", "web-1"]),  # an admin filter: ignored for members
        ({"sort_key": "display_name", "sort_dir": "asc"}, ["db", "tmp", "web-1", "web-2"]),
        ({"sort_dir": "asc"}, ["web-1", "web-2", "db", "tmp"]),
        ({"sort_key": ["vm_state", "display_name"], "sort_dir": ["asc", "desc"]}, ["web-1", "web-2", "db", "tmp"]),
        ({"sort_key": "display_name", "sort_dir": "asc", "limit": "2", "marker": "unused"}, None),
    ],
)
def test_listing_filters_and_sorts_in_the_views(client: TestClient, query: dict[str, Any], expected: Any) -> None:
    if expected is None:
        assert client.simulate_get("/v2.1/servers", params=query, headers=DEMO).status_code == 400
        return
    assert names(client, query) == expected


def test_filters_newer_than_the_microversion_are_ignored(client: TestClient, fleet: dict[str, str]) -> None:
    assert names(client, {"tags": "web,prod"}, v="2.25") == ["tmp", "db", "web-2", "web-1"]
    assert names(client, {"availability_zone": "az2"}, v="2.82") == ["tmp", "db", "web-2", "web-1"]
    assert names(client, {"availability_zone": "az2"}, v="2.82", headers={}) == []  # admins: own project
    assert names(client, {"all_tenants": "1", "availability_zone": "az2"}, v="2.82", headers={}) == ["db"]
    assert names(client, {"all_tenants": "1", "tags": "web"}, headers={}) == ["theirs", "web-2", "web-1"]
    assert names(client, {"status": "NOSUCH"}, v="2.37") == []


def test_changes_since_and_before(client: TestClient, cloud: Cloud, catch_up: CatchUp, fleet: dict[str, str]) -> None:
    detail = client.simulate_get("/v2.1/servers/detail", headers={**LATEST, **DEMO}).json["servers"]
    web2_updated = next(s["updated"] for s in detail if s["name"] == "web-2")
    client.simulate_delete(f"/v2.1/servers/{fleet['tmp']}", headers=DEMO)
    catch_up()

    since_start = names(client, {"changes-since": "2000-01-01T00:00:00Z"})
    before_start = names(client, {"changes-before": "2000-01-01T00:00:00"})
    old_before = names(client, {"changes-before": "2000-01-01T00:00:00"}, v="2.65")

    assert since_start == ["tmp", "db", "web-2", "web-1"]  # recently deleted servers show too
    assert before_start == []
    assert old_before == ["db", "web-2", "web-1"]  # changes-before needs 2.66
    assert "web-2" in names(client, {"changes-since": web2_updated})
    assert names(client, {"changes-since": "2999-01-01T00:00:00Z"}) == []


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("query", "microversion", "status", "message"),
    [
        ({"status": "NOSUCH"}, "2.38", 400, "Invalid status value"),
        ({"changes-since": "yesterday"}, "2.100", 400, "Invalid input for query parameters changes-since."),
        ({"changes-since": "2020-01-01"}, "2.100", 400, "Invalid input for query parameters changes-since."),
        (
            {"changes-since": "2020-01-02T00:00:00Z", "changes-before": "2020-01-01T00:00:00Z"},
            "2.100",
            400,
            "The value of changes-since must be less than or equal to changes-before.",
        ),
        ({"locked": "maybe"}, "2.73", 400, "Invalid value 'maybe' for the locked parameter"),
        ({"sort_key": "colour"}, "2.100", 400, "Invalid input for query parameters sort_key."),
        ({"sort_key": "id"}, "2.75", 400, "Invalid input for query parameters sort_key."),
        ({"sort_dir": "up"}, "2.100", 400, "Invalid input received: Unknown sort direction"),
        ({"sort_dir": ["asc", "desc"]}, "2.100", 400, "Invalid input received: Sort direction size exceeds"),
        ({"sort_key": "host"}, "2.100", 403, "Only administrators can sort servers by host"),
        ({"colour": "red"}, "2.75", 400, "Additional properties are not allowed ('colour' was unexpected)"),
        ({"status": "DELETED"}, "2.100", 403, "Only administrators may list deleted instances"),
    ],
)
def test_bad_listing_parameters(
    client: TestClient, query: dict[str, str], microversion: str, status: int, message: str
) -> None:
    result = client.simulate_get("/v2.1/servers/detail", params=query, headers=version(microversion, DEMO))

    assert error(result)[0] == status
    assert error(result)[2].startswith(message), error(result)[2]


def test_ignored_sort_keys_and_unknown_parameters_before_2_75(client: TestClient, fleet: dict[str, str]) -> None:
    assert names(client, {"sort_key": "id", "colour": "red"}, v="2.74") == ["tmp", "db", "web-2", "web-1"]
    assert names(client, {"sort_key": ["id", "display_name"]}, v="2.74") == ["web-2", "web-1", "tmp", "db"]


def test_sorted_pages_follow_the_marker(client: TestClient, fleet: dict[str, str]) -> None:
    query = {"sort_key": "display_name", "sort_dir": "asc", "limit": "3"}
    first = client.simulate_get("/v2.1/servers", params=query, headers=DEMO).json
    rest = client.simulate_get("/v2.1/servers", params=query | {"marker": fleet["web-1"]}, headers=DEMO).json

    assert [s["name"] for s in first["servers"]] == ["db", "tmp", "web-1"]
    assert first["servers_links"][0]["href"].endswith(f"marker={fleet['web-1']}")
    assert [s["name"] for s in rest["servers"]] == ["web-2"]


def test_admins_sort_by_host_and_list_deleted_by_status(
    client: TestClient, catch_up: CatchUp, fleet: dict[str, str]
) -> None:
    client.simulate_delete(f"/v2.1/servers/{fleet['db']}", headers=DEMO)
    catch_up()

    by_host = names(client, {"all_tenants": "1", "sort_key": "host", "sort_dir": "desc"}, headers={})
    deleted = names(client, {"all_tenants": "1", "status": "DELETED"}, headers={})

    assert by_host[0] == "web-1"  # the only one on a host
    assert deleted == ["db"]


def test_update_answers_before_the_view_has_the_server(client: TestClient, boot: Boot) -> None:
    server_id = boot(headers=DEMO, tags=["t"], metadata={"a": "b"})["id"]  # no projection has run

    result = client.simulate_put(
        f"/v2.1/servers/{server_id}", json={"server": {"name": "x"}}, headers={**LATEST, **DEMO}
    )

    assert result.status_code == 200, result.text
    body = result.json["server"]
    assert (body["name"], body["tags"], body["metadata"], body["status"]) == ("x", ["t"], {"a": "b"}, "BUILD")


def test_one_request_creates_at_most_a_thousand_servers(cloud: Cloud, image_id: str, flavor_id: str) -> None:
    too_many = CreateServer(name="x", flavor_ref=flavor_id, image_ref=image_id, min_count=1001, max_count=1001)
    before = cloud.recorder.max_notification_id()

    with pytest.raises(InvalidReference, match=r"At most 1000 servers may be created by one request\."):
        cloud.create_server(too_many, RequestContext(project_id="p", user_id="u", request_id="req-1", is_admin=True))
    assert cloud.recorder.max_notification_id() == before
