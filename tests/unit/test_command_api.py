"""The command app through HTTP: what Nova clients send, what they get back,
and that a refused request leaves the event store untouched."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

import chronova.quotas
from chronova.cloud import Cloud
from chronova.web import MAX_BODY_BYTES
from domain.states import VmState
from tests.unit.conftest import DEMO, LATEST, OTHER, token_headers

REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def post_server(client: TestClient, server: Any, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client.simulate_post("/v2.1/servers", json={"server": server, **body}, headers={**LATEST, **(headers or {})})


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


# --- POST /servers -------------------------------------------------------------------------


def test_create_server_answers_202_with_novas_body_and_headers(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}

    result = post_server(client, server)

    assert result.status_code == 202
    body = result.json["server"]
    assert set(body) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
    assert body["OS-DCF:diskConfig"] == "MANUAL"
    assert body["security_groups"] == [{"name": "default"}]
    self_href = f"http://falconframework.org/v2.1/servers/{body['id']}"
    assert body["links"] == [
        {"rel": "self", "href": self_href},
        {"rel": "bookmark", "href": f"http://falconframework.org/servers/{body['id']}"},
    ]
    assert result.headers["Location"] == self_href
    assert REQUEST_ID.match(result.headers["x-openstack-request-id"])
    assert result.headers["x-compute-request-id"] == result.headers["x-openstack-request-id"]
    assert result.headers["OpenStack-API-Version"] == "compute 2.100"
    assert result.headers["X-OpenStack-Nova-API-Version"] == "2.100"
    assert result.headers["Vary"] == "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    stored = cloud.server(uuid.UUID(body["id"]))
    assert (stored.name, stored.image_id, stored.flavor["id"]) == ("vm1", image_id, "1")
    assert stored.project_id == "admin" and len(body["adminPass"]) >= 12
    assert body["adminPass"] not in repr(cloud.recorder.select_notifications(0, 100))  # never recorded


def test_create_server_keeps_what_was_asked(client: TestClient, cloud: Cloud, image_id: str, flavor_id: str) -> None:
    server = {
        "name": "web",
        "imageRef": f"http://glance.example/v2/images/{image_id}",
        "flavorRef": f"http://nova.example/v2.1/flavors/{flavor_id}",
        "networks": [{"uuid": str(uuid.uuid4())}],
        "metadata": {"role": "web", "tier:front": ""},
        "user_data": "IyEvYmluL3NoCmVjaG8gaGk=",
        "key_name": "mykey",
        "availability_zone": "nova",
        "description": None,
        "adminPass": "s3cret",
        "min_count": "1",
        "max_count": 1,
        "security_groups": [{"name": "default"}],
        "config_drive": True,
    }
    keypair = client.simulate_post("/v2.1/os-keypairs", json={"keypair": {"name": "mykey"}}, headers=DEMO)
    assert keypair.status_code == 200, keypair.text

    result = post_server(client, server, headers=DEMO, **{"os:scheduler_hints": {"same_host": []}})

    assert result.status_code == 202, result.text
    assert result.json["server"]["adminPass"] == "s3cret"
    stored = cloud.server(uuid.UUID(result.json["server"]["id"]))
    assert (stored.project_id, stored.user_id) == ("demo", "alice")
    assert stored.metadata == {"role": "web", "tier:front": ""}
    assert (stored.user_data, stored.key_name, stored.availability_zone) == (
        "IyEvYmluL3NoCmVjaG8gaGk=",
        "mykey",
        "nova",
    )
    assert stored.image_id == image_id


def test_openstack_client_body_boots_from_the_block_device_image(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str
) -> None:
    block_device = {
        "uuid": image_id,
        "boot_index": "0",
        "source_type": "image",
        "destination_type": "local",
        "delete_on_termination": True,
    }
    server = {"name": "vm1", "imageRef": "", "flavorRef": flavor_id, "networks": "none"}

    result = post_server(client, server | {"block_device_mapping_v2": [block_device]})

    assert result.status_code == 202, result.text
    assert cloud.server(uuid.UUID(result.json["server"]["id"])).image_id == image_id


def test_project_in_the_url_owns_the_server_and_shapes_the_links(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}

    tenant42 = token_headers("carol", "tenant42", "member")
    result = client.simulate_post("/v2.1/tenant42/servers", json={"server": server}, headers={**LATEST, **tenant42})

    assert result.status_code == 202
    server_id = result.json["server"]["id"]
    assert cloud.server(uuid.UUID(server_id)).project_id == "tenant42"
    assert result.headers["Location"] == f"http://falconframework.org/v2.1/tenant42/servers/{server_id}"
    assert result.json["server"]["links"][1]["href"] == f"http://falconframework.org/tenant42/servers/{server_id}"


TOO_LONG = "x" * 256


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"bogus": 1},
            "Invalid input for field/attribute server. Additional properties are not allowed ('bogus' was unexpected)",
        ),
        ({"name": None}, "Invalid input for field/attribute name. Value: null. Field may not be null."),
        ({"name": 5}, "Invalid input for field/attribute name. Value: 5. Not a valid string."),
        (
            {"name": " vm"},
            'Invalid input for field/attribute name. Value: " vm". '
            "The name must be 1 to 255 printable characters and cannot start or end with whitespace.",
        ),
        ({"name": TOO_LONG}, "Invalid input for field/attribute name."),
        (
            {"flavorRef": True},
            "Invalid input for field/attribute flavorRef. Value: true. Must be a non-empty string or an integer.",
        ),
        (
            {"imageRef": "cirros"},
            'Invalid input for field/attribute imageRef. Value: "cirros". Must be an image uuid or an image URL.',
        ),
        ({"metadata": {"k": 1}}, "Invalid input for field/attribute metadata/k. Value: 1. Not a valid string."),
        (
            {"metadata": {"a/b": "v"}},
            'Invalid input for field/attribute metadata. Value: "a/b". Keys must be 1 to 255 of [a-zA-Z0-9-_:. ].',
        ),
        ({"metadata": ["k"]}, 'Invalid input for field/attribute metadata. Value: ["k"]. Not a valid mapping type.'),
        (
            {"user_data": "not base64!"},
            'Invalid input for field/attribute user_data. Value: "not base64!". Must be base64-encoded text.',
        ),
        (
            {"min_count": 0},
            "Invalid input for field/attribute min_count. Value: 0. "
            "Must be greater than or equal to 1 and less than or equal to 2147483647.",
        ),
        (
            {"min_count": -3},
            "Invalid input for field/attribute min_count. Value: -3. Must be greater than or equal to 1",
        ),
        (
            {"max_count": "two"},
            'Invalid input for field/attribute max_count. Value: "two". Must be an integer or a string of digits.',
        ),
        ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
        (
            {"max_count": 10**12},
            "Invalid input for field/attribute max_count. Value: 1000000000000. Must be greater than or equal to 1",
        ),
        (
            {"networks": "everything"},
            "Invalid input for field/attribute networks. Value: \"everything\". Must be 'none', 'auto' or a list",
        ),
        (
            {"networks": [{"uuid": "n", "color": "red"}]},
            "Invalid input for field/attribute networks/0. "
            "Additional properties are not allowed ('color' was unexpected)",
        ),
        ({"description": TOO_LONG}, "Invalid input for field/attribute description."),
        ({"config_drive": "maybe"}, "Invalid input for field/attribute config_drive."),
        (
            {"block_device_mapping_v2": [{"boot_index": "first"}]},
            "Invalid input for field/attribute block_device_mapping_v2/0/boot_index.",
        ),
    ],
)
def test_invalid_server_fields_are_refused_and_nothing_is_stored(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str, change: dict[str, Any], message: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"} | change
    before = cloud.recorder.max_notification_id()

    result = post_server(client, server)

    assert result.status_code == 400, result.text
    assert result.json["badRequest"]["message"].startswith(message)
    assert cloud.recorder.max_notification_id() == before


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("name", "Invalid input for field/attribute server. 'name' is a required property"),
        ("flavorRef", "Invalid input for field/attribute server. 'flavorRef' is a required property"),
        ("networks", "Invalid input for field/attribute server. 'networks' is a required property"),
        (
            "imageRef",
            "Block Device Mapping is Invalid: an imageRef or a block device with "
            "source_type 'image' and boot_index 0 is required.",
        ),
    ],
)
def test_missing_server_fields_are_refused(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str, remove: str, message: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}
    del server[remove]
    before = cloud.recorder.max_notification_id()

    result = post_server(client, server)

    assert error(result) == (400, "badRequest", message)
    assert cloud.recorder.max_notification_id() == before


def test_networks_may_be_left_out_before_2_37_but_not_be_a_word(
    client: TestClient, image_id: str, flavor_id: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id}
    old = {"OpenStack-API-Version": "compute 2.36"}

    assert post_server(client, server, headers=old).status_code == 202
    refused = post_server(client, server | {"networks": "auto"}, headers=old)
    assert error(refused)[:2] == (400, "badRequest")
    assert "2.37" in error(refused)[2]


def test_description_is_an_unknown_key_before_2_19(client: TestClient, image_id: str, flavor_id: str) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "description": "d"}

    refused = post_server(client, server, headers={"OpenStack-API-Version": "compute 2.18"})
    accepted = post_server(client, server, headers={"OpenStack-API-Version": "compute 2.19"})

    assert error(refused) == (
        400,
        "badRequest",
        "Invalid input for field/attribute server. "
        "Additional properties are not allowed ('description' was unexpected)",
    )
    assert accepted.status_code == 202


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "The request body must be a JSON object with a 'server' key."),
        ({}, "'server' is a required property"),
        ({"server": {}, "extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
        ({"server": "vm1"}, 'Invalid input for field/attribute server. Value: "vm1". Invalid input type.'),
    ],
)
def test_the_body_must_be_one_server_object(client: TestClient, cloud: Cloud, body: Any, message: str) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_post("/v2.1/servers", json=body, headers=LATEST)

    assert error(result) == (400, "badRequest", message)
    assert cloud.recorder.max_notification_id() == before


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"server": NaN}', b"\xff\xfe\x00", b"[" * 100_000])
def test_malformed_json_is_a_bad_request(client: TestClient, cloud: Cloud, raw: bytes) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_post("/v2.1/servers", body=raw, headers={"Content-Type": "application/json"})

    assert error(result) == (400, "badRequest", "Malformed request body")
    assert cloud.recorder.max_notification_id() == before


class _UnreadableStream:
    """A body that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the oversized body was read")

    readline = read

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise AssertionError("the oversized body was read")

    def __iter__(self) -> Any:
        raise AssertionError("the oversized body was read")


def test_an_oversized_body_is_refused_without_reading_it(client: TestClient, cloud: Cloud) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_post(
        "/v2.1/servers",
        extras={"wsgi.input": _UnreadableStream(), "CONTENT_LENGTH": str(MAX_BODY_BYTES + 1)},
    )

    assert error(result) == (413, "overLimit", "Request is too large.")
    assert cloud.recorder.max_notification_id() == before


def test_a_body_of_exactly_the_limit_is_read(client: TestClient) -> None:
    result = client.simulate_post("/v2.1/servers", body=b" " * MAX_BODY_BYTES)

    assert error(result) == (400, "badRequest", "Malformed request body")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"flavorRef": "42"}, "Flavor 42 could not be found."),
        (
            {"imageRef": "0b1d1f4c-1d9e-4ad7-9df4-6cf1b1c0f3a5"},
            "Image 0b1d1f4c-1d9e-4ad7-9df4-6cf1b1c0f3a5 could not be found.",
        ),
    ],
)
def test_unknown_flavor_or_image_is_a_bad_request(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str, headers: dict[str, str], message: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"} | headers
    before = cloud.recorder.max_notification_id()

    assert error(post_server(client, server)) == (400, "badRequest", message)
    assert cloud.recorder.max_notification_id() == before


# --- microversions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "served"),
    [
        ({}, "2.1"),
        ({"OpenStack-API-Version": "compute latest"}, "2.100"),
        ({"OpenStack-API-Version": "image 2.5, compute 2.61"}, "2.61"),
        ({"OpenStack-API-Version": "image 2.5"}, "2.1"),
        ({"X-OpenStack-Nova-API-Version": "2.53"}, "2.53"),
    ],
)
def test_the_served_microversion_is_echoed(client: TestClient, headers: dict[str, str], served: str) -> None:
    result = client.simulate_get("/v2.1", headers=headers)

    assert result.status_code == 200
    assert result.headers["OpenStack-API-Version"] == f"compute {served}"
    assert result.headers["X-OpenStack-Nova-API-Version"] == served


@pytest.mark.parametrize(
    ("value", "status", "name"),
    [("2.x", 400, "badRequest"), ("2.01", 400, "badRequest"), ("two", 400, "badRequest"),
     ("2.101", 406, "computeFault"), ("3.0", 406, "computeFault"), ("2.0", 406, "computeFault")],
)  # fmt: skip
def test_a_bad_microversion_is_refused_before_anything_happens(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str, value: str, status: int, name: str
) -> None:
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}
    before = cloud.recorder.max_notification_id()

    result = post_server(client, server, headers={"OpenStack-API-Version": f"compute {value}"})

    assert error(result)[:2] == (status, name)
    assert value in error(result)[2]
    assert result.headers["OpenStack-API-Version"] == "compute 2.1"
    assert REQUEST_ID.match(result.headers["x-compute-request-id"])
    assert cloud.recorder.max_notification_id() == before


# --- DELETE /servers/{id} ---------------------------------------------------------------------


def test_delete_server_answers_204_and_records_the_deletion(
    client: TestClient, cloud: Cloud, boot: Callable[..., dict[str, Any]]
) -> None:
    server_id = boot(headers=DEMO)["id"]

    result = client.simulate_delete(f"/v2.1/servers/{server_id}", headers=DEMO)

    assert result.status_code == 204
    assert result.text == ""
    assert cloud.server(uuid.UUID(server_id)).vm_state == VmState.DELETED


def test_deleting_another_projects_or_an_unknown_server_is_404(
    client: TestClient, cloud: Cloud, boot: Callable[..., dict[str, Any]]
) -> None:
    server_id = boot(headers=DEMO)["id"]
    unknown = str(uuid.uuid4())
    before = cloud.recorder.max_notification_id()

    others = client.simulate_delete(f"/v2.1/servers/{server_id}", headers=OTHER)
    missing = client.simulate_delete(f"/v2.1/servers/{unknown}", headers=DEMO)
    garbage = client.simulate_delete("/v2.1/servers/not-a-uuid", headers=DEMO)

    assert error(others) == (404, "itemNotFound", f"Instance {server_id} could not be found.")
    assert error(missing) == (404, "itemNotFound", f"Instance {unknown} could not be found.")
    assert error(garbage) == (404, "itemNotFound", "Instance not-a-uuid could not be found.")
    assert cloud.recorder.max_notification_id() == before


def test_a_deleted_server_cannot_be_deleted_again(client: TestClient, boot: Callable[..., dict[str, Any]]) -> None:
    server_id = boot()["id"]
    assert client.simulate_delete(f"/v2.1/servers/{server_id}").status_code == 204

    again = client.simulate_delete(f"/v2.1/servers/{server_id}")

    assert error(again) == (404, "itemNotFound", f"Instance {server_id} could not be found.")


# --- POST /flavors ------------------------------------------------------------------------------

FLAVOR = {"name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20, "id": None, "swap": 0,
          "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True}  # fmt: skip


def post_flavor(client: TestClient, flavor: Any, version: str = "2.61", headers: dict[str, str] | None = None) -> Any:
    headers = {"OpenStack-API-Version": f"compute {version}", **(headers or {})}
    return client.simulate_post("/v2.1/flavors", json={"flavor": flavor}, headers=headers)


def test_flavor_create_answers_200_with_the_flavor_at_2_61(client: TestClient, cloud: Cloud) -> None:
    result = post_flavor(client, FLAVOR | {"id": "m1.small", "rxtx_factor": "2.0"})

    assert result.status_code == 200
    assert result.json["flavor"] == {
        "id": "m1.small",
        "name": "m1.small",
        "links": [
            {"rel": "self", "href": "http://falconframework.org/v2.1/flavors/m1.small"},
            {"rel": "bookmark", "href": "http://falconframework.org/flavors/m1.small"},
        ],
        "description": None,
        "ram": 2048,
        "disk": 20,
        "vcpus": 1,
        "swap": "",
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": True,
        "rxtx_factor": 2.0,
        "extra_specs": {},
    }
    assert cloud.flavor("m1.small").ram == 2048


@pytest.mark.parametrize(
    ("version", "keys_added", "keys_absent", "swap"),
    [
        ("2.1", set(), {"description", "extra_specs"}, ""),
        ("2.55", {"description"}, {"extra_specs"}, ""),
        ("2.75", {"description", "extra_specs"}, set(), 0),
    ],
)
def test_flavor_body_follows_the_microversion(
    client: TestClient, version: str, keys_added: set[str], keys_absent: set[str], swap: Any
) -> None:
    body = post_flavor(client, FLAVOR, version=version).json["flavor"]

    assert keys_added <= set(body)
    assert not keys_absent & set(body)
    assert body["swap"] == swap
    uuid.UUID(body["id"])  # a null id gets a generated uuid


def test_flavor_numbers_may_be_digit_strings_and_swap_may_be_empty(client: TestClient, cloud: Cloud) -> None:
    flavor = FLAVOR | {"id": 42, "ram": "1024", "vcpus": "2", "disk": "0", "swap": "", "description": "small"}

    result = post_flavor(client, flavor, version="2.75")

    assert result.status_code == 200, result.text
    stored = cloud.flavor("42")
    assert (stored.ram, stored.vcpus, stored.disk, stored.swap, stored.description) == (1024, 2, 0, 0, "small")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ram": 0}, "Invalid input for field/attribute ram. Value: 0. Must be greater than or equal to 1"),
        ({"vcpus": -1}, "Invalid input for field/attribute vcpus. Value: -1. Must be greater than or equal to 1"),
        ({"disk": -1}, "Invalid input for field/attribute disk. Value: -1. Must be greater than or equal to 0"),
        (
            {"disk": "abc"},
            'Invalid input for field/attribute disk. Value: "abc". Must be an integer or a string of digits.',
        ),
        ({"ram": 1.5}, "Invalid input for field/attribute ram. Value: 1.5. Must be an integer or a string of digits."),
        (
            {"ram": 2**31},
            "Invalid input for field/attribute ram. Value: 2147483648. "
            "Must be greater than or equal to 1 and less than or equal to 2147483647.",
        ),
        (
            {"swap": "-1"},
            'Invalid input for field/attribute swap. Value: "-1". Must be an integer or a string of digits.',
        ),
        ({"OS-FLV-EXT-DATA:ephemeral": -5}, "Invalid input for field/attribute OS-FLV-EXT-DATA:ephemeral. Value: -5."),
        ({"name": " padded"}, 'Invalid input for field/attribute name. Value: " padded". The name must be'),
        ({"name": ""}, 'Invalid input for field/attribute name. Value: "". The name must be'),
        ({"id": ""}, 'Invalid input for field/attribute id. Value: "". Must be a non-empty string or an integer.'),
        ({"id": "a/b"}, 'Invalid input for field/attribute id. Value: "a/b". Invalid characters.'),
        ({"rxtx_factor": 0}, "Invalid input for field/attribute rxtx_factor. Value: 0. Must be greater than 0."),
        ({"os-flavor-access:is_public": "perhaps"}, "Invalid input for field/attribute os-flavor-access:is_public."),
        (
            {"description": "d"},
            "Invalid input for field/attribute flavor. "
            "Additional properties are not allowed ('description' was unexpected)",
        ),
        (
            {"extra": 1},
            "Invalid input for field/attribute flavor. Additional properties are not allowed ('extra' was unexpected)",
        ),
    ],
)
def test_invalid_flavors_are_refused_and_nothing_is_stored(
    client: TestClient, cloud: Cloud, change: dict[str, Any], message: str
) -> None:
    before = cloud.recorder.max_notification_id()

    result = post_flavor(client, FLAVOR | change, version="2.54")

    assert result.status_code == 400, result.text
    assert result.json["badRequest"]["message"].startswith(message)
    assert cloud.recorder.max_notification_id() == before


@pytest.mark.parametrize("missing", ["name", "ram", "vcpus", "disk"])
def test_required_flavor_fields(client: TestClient, missing: str) -> None:
    flavor = dict(FLAVOR)
    del flavor[missing]

    result = post_flavor(client, flavor)

    assert error(result) == (
        400,
        "badRequest",
        f"Invalid input for field/attribute flavor. '{missing}' is a required property",
    )


def test_only_admins_create_flavors(client: TestClient, cloud: Cloud) -> None:
    before = cloud.recorder.max_notification_id()

    refused = post_flavor(client, FLAVOR, headers=DEMO)

    assert error(refused) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.",
    )
    assert cloud.recorder.max_notification_id() == before
    assert post_flavor(client, FLAVOR, headers=token_headers("alice", "demo", "member", "admin")).status_code == 200


def test_duplicate_flavor_name_or_id_conflicts(client: TestClient) -> None:
    assert post_flavor(client, FLAVOR | {"id": "7"}).status_code == 200

    same_name = post_flavor(client, FLAVOR | {"id": "8"})
    same_id = post_flavor(client, FLAVOR | {"id": "7", "name": "other"})

    assert error(same_name) == (409, "conflictingRequest", "Flavor with name m1.small already exists.")
    assert error(same_id) == (409, "conflictingRequest", "Flavor with ID 7 already exists.")


# --- errors from routing and from bugs ---------------------------------------------------------------


def test_unknown_routes_and_methods_get_nova_bodies(client: TestClient) -> None:
    missing = client.simulate_post("/v2.1/nothing-here", json={})
    wrong_method = client.simulate_put("/v2.1/servers", json={})

    assert error(missing) == (404, "itemNotFound", "The resource could not be found.")
    assert error(wrong_method)[:2] == (405, "badMethod")
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method.headers["X-OpenStack-Nova-API-Version"] == "2.1"


def test_an_unexpected_failure_is_a_500_without_internals(
    client: TestClient, cloud: Cloud, image_id: str, flavor_id: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(chronova.quotas, "create_servers", broken)
    server = {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}

    result = post_server(client, server)

    status, name, message = error(result)
    assert (status, name) == (500, "computeFault")
    assert "hunter2" not in result.text and "Traceback" not in result.text
    assert "Unexpected API Error" in message
    assert "hunter2" in caplog.text and result.headers["x-compute-request-id"] in caplog.text
