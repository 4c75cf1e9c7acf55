"""os-server-groups through HTTP: shapes per microversion, groups private to
their project, the server_groups quota, and servers joining a group."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from chronova.server_groups import group_with_new_member
from domain.commands import RequestContext
from domain.errors import InvalidReference
from tests.unit.conftest import DEMO, LATEST, OTHER

CatchUp = Callable[[], None]
Boot = Callable[..., dict[str, Any]]
V264 = {"OpenStack-API-Version": "compute 2.64"}
ALICE = RequestContext(project_id="demo", user_id="alice", request_id="req-test")
BOB = RequestContext(project_id="other", user_id="bob", request_id="req-test")


def version(v: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **more}


def error(result: Any) -> tuple[int, str]:
    ((_name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, detail["message"]


def create(client: TestClient, group: dict[str, Any], headers: dict[str, str] | None = None, v: str = "2.64") -> Any:
    return client.simulate_post(
        "/v2.1/os-server-groups",
        json={"server_group": group},
        headers={**version(v), **(DEMO if headers is None else headers)},
    )


def new_group(client: TestClient, name: str = "web", headers: dict[str, str] | None = None) -> str:
    result = create(client, {"name": name, "policy": "anti-affinity"}, headers)
    assert result.status_code == 200, result.text
    return result.json["server_group"]["id"]


def listing(client: TestClient, headers: dict[str, str] | None = None, **params: str) -> list[dict[str, Any]]:
    result = client.simulate_get(
        "/v2.1/os-server-groups", headers={**V264, **(DEMO if headers is None else headers)}, params=params
    )
    assert result.status_code == 200, result.text
    return result.json["server_groups"]


# --- create and show -------------------------------------------------------------------------


def test_create_at_2_64_with_a_rule(client: TestClient, catch_up: CatchUp) -> None:
    result = create(client, {"name": "web", "policy": "anti-affinity", "rules": {"max_server_per_host": "3"}})
    catch_up()

    assert result.status_code == 200
    body = result.json["server_group"]
    assert body == {
        "id": body["id"],
        "name": "web",
        "policy": "anti-affinity",
        "rules": {"max_server_per_host": 3},
        "members": [],
        "project_id": "demo",
        "user_id": "alice",
    }
    uuid.UUID(body["id"])
    assert client.simulate_get(f"/v2.1/os-server-groups/{body['id']}", headers={**V264, **DEMO}).json == result.json
    assert listing(client) == [body]


@pytest.mark.parametrize(
    ("v", "keys"),
    [
        ("2.1", {"id", "name", "policies", "members", "metadata"}),
        ("2.13", {"id", "name", "policies", "members", "metadata", "project_id", "user_id"}),
        ("2.63", {"id", "name", "policies", "members", "metadata", "project_id", "user_id"}),
        ("2.64", {"id", "name", "policy", "rules", "members", "project_id", "user_id"}),
    ],
)
def test_shapes_per_microversion(client: TestClient, catch_up: CatchUp, v: str, keys: set[str]) -> None:
    group_id = new_group(client)
    catch_up()

    shown = client.simulate_get(f"/v2.1/os-server-groups/{group_id}", headers=version(v, **DEMO)).json["server_group"]

    assert set(shown) == keys
    if "policies" in keys:
        assert (shown["policies"], shown["metadata"]) == (["anti-affinity"], {})
    else:
        assert (shown["policy"], shown["rules"]) == ("anti-affinity", {})


def test_policies_before_2_64_and_soft_ones_from_2_15(client: TestClient) -> None:
    hard = create(client, {"name": "a", "policies": ["affinity"]}, v="2.1")
    soft = create(client, {"name": "b", "policies": ["soft-anti-affinity"]}, v="2.15")

    assert hard.json["server_group"]["policies"] == ["affinity"]
    assert soft.json["server_group"]["policies"] == ["soft-anti-affinity"]


@pytest.mark.parametrize(
    ("v", "group", "message"),
    [
        ("2.64", {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}},
         "Only anti-affinity policy supports rules."),
        ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}, None),
        ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"other": 1}}, None),
        ("2.64", {"name": "g", "policies": ["affinity"]}, None),
        ("2.64", {"name": "g", "policy": "best-effort"}, None),
        ("2.63", {"name": "g", "policy": "affinity"}, None),
        ("2.14", {"name": "g", "policies": ["soft-affinity"]}, None),
        ("2.1", {"name": "g", "policies": []}, None),
        ("2.1", {"name": "g", "policies": ["affinity", "anti-affinity"]}, None),
        ("2.1", {"name": "g", "policies": "affinity"}, None),
        ("2.1", {"policies": ["affinity"]}, None),
        ("2.1", {"name": "", "policies": ["affinity"]}, None),
    ],
)  # fmt: skip
def test_bad_creates_record_nothing(
    client: TestClient, cloud: Cloud, v: str, group: dict[str, Any], message: str | None
) -> None:
    before = cloud.recorder.max_notification_id()

    result = create(client, group, v=v)

    assert result.status_code == 400, result.text
    if message is not None:
        assert error(result) == (400, message)
    assert cloud.recorder.max_notification_id() == before


def test_the_server_groups_quota(client: TestClient, cloud: Cloud, catch_up: CatchUp) -> None:
    for n in range(10):  # Nova's default quota
        new_group(client, f"g{n}")
    catch_up()
    before = cloud.recorder.max_notification_id()

    refused = create(client, {"name": "one-too-many", "policy": "affinity"})
    elsewhere = create(client, {"name": "fine", "policy": "affinity"}, OTHER)

    assert error(refused) == (403, "Quota exceeded, too many server groups.")
    assert elsewhere.status_code == 200
    assert cloud.recorder.max_notification_id() == before + 1


# --- visibility, listing, deleting --------------------------------------------------------------


def test_another_projects_group_is_not_there(client: TestClient, cloud: Cloud, catch_up: CatchUp) -> None:
    group_id = new_group(client)
    catch_up()
    before = cloud.recorder.max_notification_id()

    shown = client.simulate_get(f"/v2.1/os-server-groups/{group_id}", headers={**V264, **OTHER})
    deleted = client.simulate_delete(f"/v2.1/os-server-groups/{group_id}", headers={**V264, **OTHER})

    message = f"Instance group {group_id} could not be found."
    assert error(shown) == (404, message) and error(deleted) == (404, message)
    assert listing(client, OTHER) == []
    assert cloud.recorder.max_notification_id() == before
    assert client.simulate_get(f"/v2.1/os-server-groups/{group_id}", headers=V264).status_code == 200  # admin


def test_all_projects_is_for_admins(client: TestClient, catch_up: CatchUp) -> None:
    new_group(client, "mine")
    new_group(client, "theirs", OTHER)
    new_group(client, "admins", LATEST)
    catch_up()

    assert [g["name"] for g in listing(client, all_projects="True")] == ["mine"]  # ignored for members
    assert [g["name"] for g in listing(client, {})] == ["admins"]
    assert [g["name"] for g in listing(client, {}, all_projects="")] == ["mine", "theirs", "admins"]


def test_limit_and_offset(client: TestClient, catch_up: CatchUp) -> None:
    for name in ("a", "b", "c", "d"):
        new_group(client, name)
    catch_up()

    assert [g["name"] for g in listing(client, limit="2")] == ["a", "b"]
    assert [g["name"] for g in listing(client, limit="2", offset="3")] == ["d"]
    assert [g["name"] for g in listing(client, limit="0")] == ["a", "b", "c", "d"]  # 0 means Nova's maximum
    assert listing(client, offset=str(10**30)) == []


@pytest.mark.parametrize(
    ("params", "v", "message"),
    [
        (
            {"limit": "-1"},
            "2.64",
            "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
        ),
        ({"offset": ""}, "2.64", "Invalid input for query parameters offset. Value: . '' is too short"),
        ({"sort": "name"}, "2.75", "Additional properties are not allowed ('sort' was unexpected)"),
    ],
)
def test_bad_listing_parameters(client: TestClient, params: dict[str, str], v: str, message: str) -> None:
    result = client.simulate_get("/v2.1/os-server-groups", headers=version(v, **DEMO), params=params)

    assert error(result) == (400, message)


def test_delete(client: TestClient, catch_up: CatchUp) -> None:
    group_id = new_group(client)

    deleted = client.simulate_delete(f"/v2.1/os-server-groups/{group_id}", headers={**V264, **DEMO})
    again = client.simulate_delete(f"/v2.1/os-server-groups/{group_id}", headers={**V264, **DEMO})
    catch_up()

    assert (deleted.status_code, deleted.text) == (204, "")
    assert error(again)[0] == 404
    assert listing(client) == []
    assert error(client.simulate_delete("/v2.1/os-server-groups/nope", headers={**V264, **DEMO})) == (
        404,
        "Instance group nope could not be found.",
    )


# --- members ------------------------------------------------------------------------------------


def test_a_new_server_joins_its_group_and_leaves_when_deleted(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    group_id = new_group(client)
    server_id = boot(headers=DEMO)["id"]

    group = group_with_new_member(cloud, group_id, server_id, ALICE)
    cloud.save(group)
    catch_up()
    members = client.simulate_get(f"/v2.1/os-server-groups/{group_id}", headers={**V264, **DEMO})
    client.simulate_delete(f"/v2.1/servers/{server_id}", headers={**LATEST, **DEMO})
    catch_up()

    assert members.json["server_group"]["members"] == [server_id]
    assert listing(client)[0]["members"] == []  # Nova lists only servers that are not deleted
    assert cloud.load(group.id, type(group)).members == [server_id]


def test_only_a_visible_group_takes_members(client: TestClient, cloud: Cloud) -> None:
    group_id = new_group(client)
    gone_id = new_group(client, "gone")
    client.simulate_delete(f"/v2.1/os-server-groups/{gone_id}", headers={**V264, **DEMO})
    server_id = str(uuid.uuid4())

    for wanted, ctx in ((group_id, BOB), (gone_id, ALICE), (str(uuid.uuid4()), ALICE), ("not-a-uuid", ALICE)):
        with pytest.raises(InvalidReference, match=f"^Instance group {wanted} could not be found.$"):
            group_with_new_member(cloud, wanted, server_id, ctx)
    assert group_with_new_member(cloud, group_id, server_id, ALICE).members == [server_id]
