"""Flavor management beyond create, through HTTP: delete, description, listing
filters and order, extra specs (with 2.86's checks) and private flavors'
access lists; refused requests record nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from domain.commands import CreateFlavor
from tests.unit.conftest import DEMO, OTHER

CatchUp = Callable[[], None]


def version(v: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **more}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


@pytest.fixture
def flavors(cloud: Cloud, catch_up: CatchUp) -> None:
    for flavorid, name, ram, disk in [("1", "m1.tiny", 512, 1), ("2", "m1.small", 2048, 20), ("3", "m1.big", 4096, 5)]:
        cloud.create_flavor(CreateFlavor(name=name, vcpus=1, ram=ram, disk=disk, flavorid=flavorid))
    cloud.create_flavor(CreateFlavor(name="secret", vcpus=2, ram=64, disk=1, flavorid="9", is_public=False))
    catch_up()


@pytest.fixture
def unchanged(cloud: Cloud) -> Iterator[None]:
    """Asserts that the test recorded nothing."""
    before = cloud.recorder.max_notification_id()
    yield
    assert cloud.recorder.max_notification_id() == before


def ids(client: TestClient, path: str = "/v2.1/flavors", headers: dict[str, str] | None = None, **query: str) -> Any:
    result = client.simulate_get(path, params=query, headers=headers or {})
    assert result.status_code == 200, result.text
    return [flavor["id"] for flavor in result.json["flavors"]]


# --- bodies per microversion ----------------------------------------------------------------

FLAVOR_KEYS_2_1 = {
    "id", "name", "links", "ram", "disk", "vcpus", "swap", "OS-FLV-EXT-DATA:ephemeral", "OS-FLV-DISABLED:disabled",
    "os-flavor-access:is_public", "rxtx_factor",
}  # fmt: skip


@pytest.mark.usefixtures("flavors")
@pytest.mark.parametrize(
    ("microversion", "added", "swap"),
    [("2.1", set(), ""), ("2.55", {"description"}, ""), ("2.61", {"description", "extra_specs"}, ""),
     ("2.75", {"description", "extra_specs"}, 0)],
)  # fmt: skip
def test_flavor_bodies_per_microversion(client: TestClient, microversion: str, added: set[str], swap: Any) -> None:
    shown = client.simulate_get("/v2.1/flavors/1", headers=version(microversion)).json["flavor"]
    listed = client.simulate_get("/v2.1/flavors", headers=version(microversion)).json["flavors"][0]

    assert set(shown) == FLAVOR_KEYS_2_1 | added
    assert set(listed) == {"id", "name", "links"} | (added & {"description"})
    assert (shown["swap"], shown["OS-FLV-DISABLED:disabled"], shown["rxtx_factor"]) == (swap, False, 1.0)
    assert shown["links"][0] == {"rel": "self", "href": "http://falconframework.org/v2.1/flavors/1"}
    assert client.simulate_head("/v2.1/flavors/1", headers=version(microversion)).status_code == 200


# --- DELETE /flavors/{id} -----------------------------------------------------------------


@pytest.mark.usefixtures("flavors")
def test_delete_answers_202_records_it_and_frees_the_name_and_id(
    client: TestClient, cloud: Cloud, catch_up: CatchUp
) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_delete("/v2.1/flavors/2")

    assert (result.status_code, result.content) == (202, b"")
    assert cloud.recorder.max_notification_id() > before
    catch_up()
    assert error(client.simulate_get("/v2.1/flavors/2")) == (404, "itemNotFound", "Flavor 2 could not be found.")
    assert ids(client) == ["1", "3"]
    again = {"name": "m1.small", "ram": 1024, "vcpus": 2, "disk": 1, "id": "2"}
    assert client.simulate_post("/v2.1/flavors", json={"flavor": again}).status_code == 200
    catch_up()
    assert client.simulate_get("/v2.1/flavors/2").json["flavor"]["ram"] == 1024
    assert ids(client) == ["1", "2", "3"]


@pytest.mark.usefixtures("flavors")
def test_a_deleted_flavor_name_serves_a_new_flavor_id(client: TestClient, catch_up: CatchUp) -> None:
    assert client.simulate_delete("/v2.1/flavors/1").status_code == 202
    renamed = {"name": "m1.tiny", "ram": 256, "vcpus": 1, "disk": 1, "id": "tiny-2"}

    assert client.simulate_post("/v2.1/flavors", json={"flavor": renamed}).status_code == 200
    duplicate = client.simulate_post("/v2.1/flavors", json={"flavor": renamed | {"id": "tiny-3"}})

    assert error(duplicate) == (409, "conflictingRequest", "Flavor with name m1.tiny already exists.")
    catch_up()
    assert ids(client) == ["2", "3", "tiny-2"]


@pytest.mark.usefixtures("flavors", "unchanged")
def test_delete_is_for_admins_and_known_flavors(client: TestClient) -> None:
    assert error(client.simulate_delete("/v2.1/flavors/1", headers=DEMO)) == (
        403, "forbidden", "Policy doesn't allow os_compute_api:os-flavor-manage:delete to be performed.",
    )  # fmt: skip
    assert error(client.simulate_delete("/v2.1/flavors/nope")) == (
        404, "itemNotFound", "Flavor nope could not be found.",
    )  # fmt: skip


@pytest.mark.usefixtures("flavors")
def test_a_deleted_flavor_cannot_be_deleted_or_changed_again(client: TestClient, cloud: Cloud) -> None:
    assert client.simulate_delete("/v2.1/flavors/3").status_code == 202
    before = cloud.recorder.max_notification_id()

    twice = client.simulate_delete("/v2.1/flavors/3")
    described = client.simulate_put("/v2.1/flavors/3", json={"flavor": {"description": "x"}}, headers=version("2.55"))
    specs = client.simulate_post("/v2.1/flavors/3/os-extra_specs", json={"extra_specs": {"a": "b"}})

    assert [r.status_code for r in (twice, described, specs)] == [404, 404, 404]
    assert cloud.recorder.max_notification_id() == before


# --- PUT /flavors/{id} (2.55) -------------------------------------------------------------


@pytest.mark.usefixtures("flavors")
def test_update_description_from_2_55(client: TestClient, catch_up: CatchUp) -> None:
    result = client.simulate_put(
        "/v2.1/flavors/1", json={"flavor": {"description": "updated description"}}, headers=version("2.61")
    )

    assert result.status_code == 200, result.text
    body = result.json["flavor"]
    assert (body["id"], body["description"], body["swap"], body["extra_specs"]) == ("1", "updated description", "", {})
    catch_up()
    assert client.simulate_get("/v2.1/flavors/1", headers=version("2.55")).json["flavor"]["description"] == (
        "updated description"
    )
    cleared = client.simulate_put("/v2.1/flavors/1", json={"flavor": {"description": None}}, headers=version("2.55"))
    assert cleared.json["flavor"]["description"] is None
    assert "extra_specs" not in cleared.json["flavor"]


@pytest.mark.usefixtures("flavors", "unchanged")
@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"flavor": {"description": "d"}}, version("2.54"), (404, "itemNotFound", "The resource could not be found.")),
        (
            {"flavor": {"description": "d"}},
            version("2.55", **DEMO),
            (403, "forbidden", "Policy doesn't allow os_compute_api:os-flavor-manage:update to be performed."),
        ),
        (
            {"flavor": {}},
            version("2.55"),
            (400, "badRequest", "Invalid input for field/attribute flavor. 'description' is a required property"),
        ),
        (
            {"flavor": {"description": "d", "name": "n"}},
            version("2.55"),
            (
                400,
                "badRequest",
                "Invalid input for field/attribute flavor. "
                "Additional properties are not allowed ('name' was unexpected)",
            ),
        ),
        ({"description": "d"}, version("2.55"), (400, "badRequest", "'flavor' is a required property")),
    ],
)
def test_invalid_description_updates_change_nothing(
    client: TestClient, body: Any, headers: dict[str, str], expected: tuple[int, str, str]
) -> None:
    assert error(client.simulate_put("/v2.1/flavors/1", json=body, headers=headers)) == expected


@pytest.mark.usefixtures("flavors", "unchanged")
def test_a_too_long_description_or_unknown_flavor_is_refused(client: TestClient) -> None:
    too_long = client.simulate_put(
        "/v2.1/flavors/1", json={"flavor": {"description": "x" * 65536}}, headers=version("2.55")
    )
    unknown = client.simulate_put("/v2.1/flavors/42", json={"flavor": {"description": "d"}}, headers=version("2.55"))

    assert error(too_long)[:2] == (400, "badRequest")
    assert error(unknown) == (404, "itemNotFound", "Flavor 42 could not be found.")


# --- GET /flavors: filters, order, paging --------------------------------------------------


@pytest.mark.usefixtures("flavors")
def test_is_public_rules_for_admins_and_members(client: TestClient) -> None:
    assert ids(client) == ["1", "2", "3"]
    assert ids(client, is_public="true") == ["1", "2", "3"]
    assert ids(client, is_public="None") == ["1", "2", "3", "9"]
    assert ids(client, is_public="false") == ["9"]
    assert ids(client, headers=DEMO, is_public="false") == ["1", "2", "3"]  # members cannot choose
    assert ids(client, headers=DEMO, is_public="bogus") == ["1", "2", "3"]
    assert error(client.simulate_get("/v2.1/flavors", params={"is_public": "bogus"})) == (
        400, "badRequest", "Invalid is_public filter [bogus]",
    )  # fmt: skip


@pytest.mark.usefixtures("flavors")
def test_min_ram_min_disk_and_sorting(client: TestClient) -> None:
    assert ids(client, minRam="1000") == ["2", "3"]
    assert ids(client, minDisk="5") == ["2", "3"]
    assert ids(client, sort_key="memory_mb", sort_dir="desc") == ["3", "2", "1"]
    assert ids(client, sort_key="root_gb") == ["1", "3", "2"]
    assert ids(client, sort_key="name") == ["3", "2", "1"]
    assert ids(client, sort_key="id") == ["1", "2", "3"]


@pytest.mark.usefixtures("flavors")
def test_paging_follows_the_sort_order(client: TestClient) -> None:
    first = client.simulate_get("/v2.1/flavors/detail", params={"sort_key": "root_gb", "limit": "2"}).json

    assert [f["id"] for f in first["flavors"]] == ["1", "3"]
    assert first["flavors_links"][0]["href"].endswith("/v2.1/flavors/detail?sort_key=root_gb&limit=2&marker=3")
    assert ids(client, sort_key="root_gb", marker="3") == ["2"]
    assert ids(client, sort_key="root_gb", sort_dir="desc", marker="3") == ["1"]
    # The marker may be a flavor the other filters leave out, but not one the caller cannot see.
    assert ids(client, minRam="1000", marker="1") == ["2", "3"]
    assert error(client.simulate_get("/v2.1/flavors", params={"marker": "9"}, headers=DEMO)) == (
        400, "badRequest", "marker [9] not found",
    )  # fmt: skip


@pytest.mark.usefixtures("flavors")
@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        (
            {"sort_key": "size"},
            {},
            "Invalid input for query parameters sort_key. Value: size. 'size' is not one of ['created_at', ",
        ),
        ({"sort_dir": "up"}, {}, "Invalid input for query parameters sort_dir. Value: up. 'up' is not one of"),
        ({"name": "tiny"}, version("2.75"), "Additional properties are not allowed ('name' was unexpected)"),
        ({"minDisk": "-1"}, {}, "Invalid minDisk filter [-1]"),
    ],
)
def test_bad_list_parameters_are_bad_requests(
    client: TestClient, query: dict[str, str], headers: dict[str, str], message: str
) -> None:
    status, name, text = error(client.simulate_get("/v2.1/flavors", params=query, headers=headers))
    assert (status, name) == (400, "badRequest")
    assert text.startswith(message)


@pytest.mark.usefixtures("flavors")
def test_name_filters_before_2_75_and_unknown_parameters_pass_there(client: TestClient) -> None:
    assert ids(client, name="^m1\\.(tiny|big)$") == ["1", "3"]
    assert ids(client, headers=version("2.74"), whatever="1") == ["1", "2", "3"]


# --- private flavors and their access lists ------------------------------------------------


def access(client: TestClient, flavor_id: str, action: str, tenant: str, **headers: str) -> Any:
    body = {action: {"tenant": tenant}}
    return client.simulate_post(f"/v2.1/flavors/{flavor_id}/action", json=body, headers=version("2.7", **headers))


@pytest.mark.usefixtures("flavors")
def test_a_private_flavor_is_visible_to_the_projects_on_its_access_list(client: TestClient, catch_up: CatchUp) -> None:
    granted = access(client, "9", "addTenantAccess", "demo")

    assert granted.status_code == 200
    assert granted.json == {"flavor_access": [{"flavor_id": "9", "tenant_id": "demo"}]}
    catch_up()
    assert client.simulate_get("/v2.1/flavors/9", headers=DEMO).status_code == 200
    assert ids(client, headers=DEMO) == ["1", "2", "3", "9"]
    assert client.simulate_get("/v2.1/flavors/9", headers=OTHER).status_code == 404
    assert ids(client, headers=OTHER) == ["1", "2", "3"]
    listed = client.simulate_get("/v2.1/flavors/9/os-flavor-access")
    assert listed.json == {"flavor_access": [{"flavor_id": "9", "tenant_id": "demo"}]}

    revoked = access(client, "9", "removeTenantAccess", "demo")

    assert revoked.json == {"flavor_access": []}
    catch_up()
    assert client.simulate_get("/v2.1/flavors/9", headers=DEMO).status_code == 404


@pytest.mark.usefixtures("flavors", "unchanged")
def test_access_list_refusals(client: TestClient) -> None:
    assert error(client.simulate_get("/v2.1/flavors/1/os-flavor-access")) == (
        404, "itemNotFound", "Access list not available for public flavors.",
    )  # fmt: skip
    assert error(client.simulate_get("/v2.1/flavors/9/os-flavor-access", headers=DEMO)) == (
        403, "forbidden", "Policy doesn't allow os_compute_api:os-flavor-access to be performed.",
    )  # fmt: skip
    assert error(access(client, "1", "addTenantAccess", "demo")) == (
        409, "conflictingRequest", "Can not add access to a public flavor.",
    )  # fmt: skip
    assert error(access(client, "9", "removeTenantAccess", "demo")) == (
        404, "itemNotFound", "Flavor access not found for 9 / demo combination.",
    )  # fmt: skip
    assert error(access(client, "9", "addTenantAccess", "demo", **DEMO)) == (
        403, "forbidden", "Policy doesn't allow os_compute_api:os-flavor-access:add_tenant_access to be performed.",
    )  # fmt: skip
    assert error(access(client, "nope", "addTenantAccess", "demo"))[:2] == (404, "itemNotFound")


@pytest.mark.usefixtures("flavors")
def test_granting_twice_conflicts_and_public_flavors_took_grants_before_2_7(client: TestClient) -> None:
    assert access(client, "9", "addTenantAccess", "demo").status_code == 200
    assert error(access(client, "9", "addTenantAccess", "demo")) == (
        409, "conflictingRequest", "Flavor access already exists for flavor 9 and project demo combination.",
    )  # fmt: skip
    legacy = client.simulate_post("/v2.1/flavors/1/action", json={"addTenantAccess": {"tenant": "demo"}})
    assert legacy.status_code == 200


@pytest.mark.usefixtures("flavors", "unchanged")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"addTenantAccess": {"tenant": "demo"}, "x": {}}, "Malformed request body"),
        ([], "Malformed request body"),
        ({"grant": {"tenant": "demo"}}, "There is no such action: grant"),
        ({"addTenantAccess": {}}, "Invalid input for field/attribute addTenantAccess. 'tenant' is a required property"),
        ({"addTenantAccess": {"tenant": ""}}, 'Invalid input for field/attribute tenant. Value: "".'),
        (
            {"removeTenantAccess": {"tenant": "demo", "x": 1}},
            "Invalid input for field/attribute removeTenantAccess. Additional properties are not allowed",
        ),
    ],
)
def test_malformed_actions_are_bad_requests(client: TestClient, body: Any, message: str) -> None:
    status, name, text = error(client.simulate_post("/v2.1/flavors/9/action", json=body))
    assert (status, name) == (400, "badRequest")
    assert text.startswith(message)


# --- os-extra_specs ------------------------------------------------------------------------


@pytest.mark.usefixtures("flavors")
def test_extra_specs_round_trip(client: TestClient, cloud: Cloud, catch_up: CatchUp) -> None:
    specs = {"hw:cpu_policy": "shared", "hw:numa_nodes": 1}

    created = client.simulate_post("/v2.1/flavors/1/os-extra_specs", json={"extra_specs": specs})

    assert (created.status_code, created.json) == (200, {"extra_specs": specs})  # echoed as sent
    catch_up()
    listed = client.simulate_get("/v2.1/flavors/1/os-extra_specs", headers=DEMO)
    assert listed.json == {"extra_specs": {"hw:cpu_policy": "shared", "hw:numa_nodes": "1"}}
    assert client.simulate_get("/v2.1/flavors/1/os-extra_specs/hw:numa_nodes").json == {"hw:numa_nodes": "1"}

    updated = client.simulate_put("/v2.1/flavors/1/os-extra_specs/hw:numa_nodes", json={"hw:numa_nodes": "2"})
    deleted = client.simulate_delete("/v2.1/flavors/1/os-extra_specs/hw:cpu_policy")

    assert (updated.status_code, updated.json) == (200, {"hw:numa_nodes": "2"})
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert cloud.flavor("1").extra_specs == {"hw:numa_nodes": "2"}
    catch_up()
    shown = client.simulate_get("/v2.1/flavors/1", headers=version("2.61")).json["flavor"]
    assert shown["extra_specs"] == {"hw:numa_nodes": "2"}
    assert error(client.simulate_get("/v2.1/flavors/1/os-extra_specs/hw:cpu_policy")) == (
        404, "itemNotFound", "Flavor 1 has no extra specs with key hw:cpu_policy.",
    )  # fmt: skip


@pytest.mark.usefixtures("flavors")
def test_extra_specs_of_a_private_flavor_are_hidden_from_other_projects(client: TestClient) -> None:
    assert error(client.simulate_get("/v2.1/flavors/9/os-extra_specs", headers=DEMO)) == (
        404, "itemNotFound", "Flavor 9 could not be found.",
    )  # fmt: skip
    assert client.simulate_get("/v2.1/flavors/9/os-extra_specs").status_code == 200


@pytest.mark.usefixtures("flavors", "unchanged")
@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "expected"),
    [
        (
            "POST", "1/os-extra_specs", {"extra_specs": {"a": "b"}}, DEMO,
            (403, "Policy doesn't allow os_compute_api:os-flavor-extra-specs:create to be performed."),
        ),
        (
            "PUT", "1/os-extra_specs/a", {"a": "b"}, DEMO,
            (403, "Policy doesn't allow os_compute_api:os-flavor-extra-specs:update to be performed."),
        ),
        (
            "DELETE", "1/os-extra_specs/a", None, DEMO,
            (403, "Policy doesn't allow os_compute_api:os-flavor-extra-specs:delete to be performed."),
        ),
        ("PUT", "1/os-extra_specs/a", {"b": "c"}, {}, (400, "Request body and URI mismatch")),
        ("PUT", "1/os-extra_specs/a", {}, {}, (400, "{} should be non-empty")),
        ("PUT", "1/os-extra_specs/a", {"a": "1", "b": "2"}, {}, (400, "{'a': '1', 'b': '2'} has too many properties")),
        ("POST", "1/os-extra_specs", {"specs": {}}, {}, (400, "'extra_specs' is a required property")),
        (
            "POST", "1/os-extra_specs", {"extra_specs": {"a/b": "c"}}, {},
            (400, "Invalid input for field/attribute extra_specs. Value: {\"a/b\": \"c\"}. 'a/b' does not match"),
        ),
        (
            "POST", "1/os-extra_specs", {"extra_specs": {"a": True}}, {},
            (400, "Invalid input for field/attribute a. Value: true. true is not of type 'string', 'number'"),
        ),
        ("POST", "1/os-extra_specs", {"extra_specs": {"a": "x" * 256}}, {}, (400, "Invalid input for field/attribute")),
        ("POST", "1/os-extra_specs", {"extra_specs": {"a": 10**300}}, {}, (400, "extra_specs value has 301 chara")),
        ("DELETE", "1/os-extra_specs/missing", None, {}, (404, "Flavor 1 has no extra specs with key missing.")),
        ("POST", "42/os-extra_specs", {"extra_specs": {"a": "b"}}, {}, (404, "Flavor 42 could not be found.")),
        ("PUT", "42/os-extra_specs/a", {"a": "b"}, {}, (404, "Flavor 42 could not be found.")),
    ],
)  # fmt: skip
def test_refused_extra_spec_changes_record_nothing(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str], expected: tuple[int, str]
) -> None:
    result = client.simulate_request(method, f"/v2.1/flavors/{path}", json=body, headers=headers)
    status, _, message = error(result)
    assert (status, message[: len(expected[1])]) == expected


@pytest.mark.usefixtures("flavors")
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hw:cpu_policy", "sometimes", "Validation failed; 'sometimes' is not one of: dedicated, shared, mixed."),
        ("hw:numa_nodes", "0", "Validation failed; '0' is less than the min value of '1'."),
        ("hw:numa_nodes", "two", "Validation failed; 'two' is not a valid integer value."),
        ("hw:redirected_usb_ports", "16", "Validation failed; '16' is greater than the max value of '15'."),
        ("hw:boot_menu", "perhaps", "Validation failed; 'perhaps' is not a valid boolean-like value."),
        ("hw:mem_page_size", "huge", "Validation failed; 'huge' is not of the format"),
        ("hw:no_such_thing", "1", "Validation failed; extra spec 'hw:no_such_thing' does not appear to be a valid"),
        ("resources:VCPU", "many", "Validation failed; 'many' is not a valid integer value."),
        ("resources1:vcpu", "1", "Validation failed; extra spec 'resources1:vcpu' does not appear"),
        ("trait:HW_CPU_X86_AVX2", "wanted", "Validation failed; 'wanted' is not one of: required, forbidden."),
        ("capabilities:colour", "blue", "Validation failed; extra spec 'capabilities:colour' does not appear"),
    ],
)
def test_from_2_86_known_extra_specs_are_checked(
    client: TestClient, cloud: Cloud, key: str, value: str, message: str
) -> None:
    before = cloud.recorder.max_notification_id()
    body = {"extra_specs": {key: value}}

    strict = client.simulate_post("/v2.1/flavors/1/os-extra_specs", json=body, headers=version("2.86"))

    status, name, text = error(strict)
    assert (status, name) == (400, "badRequest") and text.startswith(message)
    assert cloud.recorder.max_notification_id() == before
    lenient = client.simulate_post("/v2.1/flavors/1/os-extra_specs", json=body, headers=version("2.85"))
    assert lenient.status_code == 200


@pytest.mark.usefixtures("flavors")
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hw:cpu_policy", "dedicated"),
        ("hw:numa_cpus.0", "0-3,^2"),
        ("hw:mem_page_size", "2MB"),
        ("hw:vif_multiqueue_enabled", "True"),
        ("resources:CUSTOM_GPU", "2"),
        ("resources_gpu:VGPU", "1"),
        ("trait:HW_CPU_X86_AVX2", "required"),
        ("aggregate_instance_extra_specs:ssd", "true"),
        ("capabilities:cpu_info:arch", "x86_64"),
        ("quota:cpu_shares", "anything"),  # a namespace described nowhere here passes unchecked
        ("my_company:colour", "blue"),
        ("group_policy", "isolate"),
    ],
)
def test_valid_and_unknown_namespace_extra_specs_pass_at_2_86(client: TestClient, key: str, value: str) -> None:
    body = {"extra_specs": {key: value}}
    result = client.simulate_post("/v2.1/flavors/1/os-extra_specs", json=body, headers=version("2.86"))
    assert result.status_code == 200, result.text
