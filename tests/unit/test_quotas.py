"""Quotas through the HTTP apps: os-quota-sets, os-quota-class-sets and /limits
per microversion, admin-only changes, and server creates refused at the limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from falcon.testing import TestClient

from chronova.cloud import Cloud
from chronova.messages import EventMessage
from domain.commands import CreateFlavor
from projections.quotas import QuotasProjection, project_limits, project_usage
from projections.runner import Projector
from projections.views import Statement, ViewStore
from tests.unit.conftest import DEMO, LATEST, OTHER

Boot = Callable[..., dict[str, Any]]
V2_1 = {"OpenStack-API-Version": "compute 2.1"}
V2_36 = {"OpenStack-API-Version": "compute 2.36"}
V2_39 = {"OpenStack-API-Version": "compute 2.39"}
V2_50 = {"OpenStack-API-Version": "compute 2.50"}
V2_57 = {"OpenStack-API-Version": "compute 2.57"}
DEFAULTS_2_57 = {
    "cores": 20,
    "instances": 10,
    "key_pairs": 100,
    "metadata_items": 128,
    "ram": 51200,
    "server_groups": 10,
    "server_group_members": 10,
}
INJECTED = {"injected_file_content_bytes": 10240, "injected_file_path_bytes": 255, "injected_files": 5}
NETWORK = {"fixed_ips": -1, "floating_ips": -1, "security_group_rules": -1, "security_groups": -1}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


def recorded(cloud: Cloud) -> int:
    return cloud.recorder.max_notification_id() or 0


def get(client: TestClient, path: str, version: dict[str, str] = V2_57, who: dict[str, str] | None = None) -> Any:
    return client.simulate_get(f"/v2.1/{path}", headers={**version, **(who or {})})


def put_quota(
    client: TestClient, project: str, values: dict[str, Any], version: dict[str, str] = V2_57, **headers: str
) -> Any:
    return client.simulate_put(
        f"/v2.1/os-quota-sets/{project}", json={"quota_set": values}, headers={**version, **headers}
    )


# --- os-quota-sets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [(V2_1, DEFAULTS_2_57 | INJECTED | NETWORK), (V2_36, DEFAULTS_2_57 | INJECTED), (V2_57, DEFAULTS_2_57)],
)
def test_quota_set_shows_novas_defaults_per_microversion(
    client: TestClient, version: dict[str, str], expected: dict[str, int]
) -> None:
    for path in ("os-quota-sets/demo", "os-quota-sets/demo/defaults"):
        assert get(client, path, version=version).json == {"quota_set": {"id": "demo"} | expected}


def test_an_admin_updates_a_projects_quota_and_a_member_reads_it(
    client: TestClient, catch_up: Callable[[], None]
) -> None:
    updated = put_quota(client, "demo", {"instances": "20", "cores": 40})

    assert updated.status_code == 200, updated.text
    assert updated.json == {"quota_set": DEFAULTS_2_57 | {"instances": 20, "cores": 40}}
    catch_up()
    shown = get(client, "os-quota-sets/demo", who=DEMO).json["quota_set"]
    assert (shown["instances"], shown["cores"], shown["ram"]) == (20, 40, 51200)
    assert get(client, "os-quota-sets/other").json["quota_set"]["instances"] == 10
    assert get(client, "os-quota-sets/demo/defaults").json["quota_set"]["instances"] == 10


def test_members_may_not_change_quotas_nor_read_another_projects(client: TestClient, cloud: Cloud) -> None:
    before = recorded(cloud)

    refused = put_quota(client, "demo", {"instances": 100}, **DEMO)

    assert error(refused) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed.",
    )
    deleted = client.simulate_delete("/v2.1/os-quota-sets/demo", headers=DEMO)
    assert error(deleted) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-quota-sets:delete to be performed.",
    )
    assert recorded(cloud) == before
    peek = get(client, "os-quota-sets/demo", who=OTHER)
    assert error(peek) == (403, "forbidden", "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")
    detail = get(client, "os-quota-sets/demo/detail", who=OTHER)
    assert error(detail) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-quota-sets:detail to be performed.",
    )
    assert get(client, "os-quota-sets/demo/defaults", who=OTHER).status_code == 200


@pytest.mark.parametrize(
    ("values", "version", "message"),
    [
        (
            {"instances": -2},
            V2_57,
            "Invalid input for field/attribute instances. Value: -2. -2 is less than the minimum of -1",
        ),
        (
            {"instances": "ten"},
            V2_57,
            "Invalid input for field/attribute instances. Value: \"ten\". 'ten' does not match '^-?[0-9]+$'",
        ),
        ({"instances": 1.5}, V2_57, None),
        ({"instances": True}, V2_57, None),
        ({"instances": 2**31}, V2_57, None),
        ({"force": "maybe"}, V2_57, None),
        (
            {"injected_files": 5},
            V2_57,
            "Invalid input for field/attribute quota_set. "
            "Additional properties are not allowed ('injected_files' was unexpected)",
        ),
        ({"floating_ips": 5}, V2_36, None),
        ({"networks": 5}, V2_1, None),
    ],
)
def test_bad_quota_values_are_refused_and_record_nothing(
    client: TestClient, cloud: Cloud, values: dict[str, Any], version: dict[str, str], message: str | None
) -> None:
    before = recorded(cloud)

    status, name, text = error(put_quota(client, "demo", values, version=version))

    assert (status, name) == (400, "badRequest")
    if message is not None:
        assert text == message
    assert recorded(cloud) == before


def test_older_microversions_take_the_keys_they_show(client: TestClient) -> None:
    updated = put_quota(client, "demo", {"floating_ips": 5, "injected_files": 7}, version=V2_1)

    assert updated.status_code == 200, updated.text
    assert (updated.json["quota_set"]["floating_ips"], updated.json["quota_set"]["injected_files"]) == (5, 7)
    assert "id" not in updated.json["quota_set"]


def test_a_limit_may_not_drop_below_usage_unless_forced(
    client: TestClient, cloud: Cloud, boot: Boot, catch_up: Callable[[], None]
) -> None:
    boot("a", headers=DEMO)
    boot("b", headers=DEMO)
    catch_up()
    before = recorded(cloud)

    refused = put_quota(client, "demo", {"instances": 1, "cores": -1})

    assert error(refused) == (
        400,
        "badRequest",
        "Quota limit 1 for instances must be greater than or equal to already used and reserved 2.",
    )
    assert recorded(cloud) == before
    forced = put_quota(client, "demo", {"instances": 1, "force": "True"})
    assert forced.status_code == 200 and forced.json["quota_set"]["instances"] == 1


def test_deleting_a_quota_set_brings_back_the_defaults(client: TestClient, catch_up: Callable[[], None]) -> None:
    assert put_quota(client, "demo", {"instances": 3}).status_code == 200

    deleted = client.simulate_delete("/v2.1/os-quota-sets/demo", headers=V2_57)

    assert deleted.status_code == 202 and deleted.text == ""
    catch_up()
    assert get(client, "os-quota-sets/demo").json["quota_set"]["instances"] == 10
    assert client.simulate_delete("/v2.1/os-quota-sets/never-set", headers=V2_57).status_code == 202


def test_detail_counts_the_projects_live_servers(client: TestClient, boot: Boot, catch_up: Callable[[], None]) -> None:
    boot("a", headers=DEMO)
    boot("b", headers=DEMO)
    boot("elsewhere", headers=OTHER)
    catch_up()

    detail = get(client, "os-quota-sets/demo/detail", who=DEMO).json["quota_set"]

    assert detail["id"] == "demo"
    assert detail["instances"] == {"in_use": 2, "limit": 10, "reserved": 0}
    assert detail["cores"] == {"in_use": 2, "limit": 20, "reserved": 0}
    assert detail["ram"] == {"in_use": 1024, "limit": 51200, "reserved": 0}
    assert detail["key_pairs"] == {"in_use": 0, "limit": 100, "reserved": 0}
    assert set(detail) == {"id", *DEFAULTS_2_57}


# --- os-quota-class-sets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (V2_1, {k: v for k, v in (DEFAULTS_2_57 | INJECTED | NETWORK).items() if not k.startswith("server_group")}),
        (V2_50, DEFAULTS_2_57 | INJECTED),
        (V2_57, DEFAULTS_2_57),
    ],
)
def test_quota_class_shapes_per_microversion(
    client: TestClient, version: dict[str, str], expected: dict[str, int]
) -> None:
    shown = get(client, "os-quota-class-sets/default", version=version)

    assert shown.json == {"quota_class_set": {"id": "default"} | expected}


def test_the_default_class_changes_every_projects_defaults(
    client: TestClient, cloud: Cloud, catch_up: Callable[[], None]
) -> None:
    body = {"quota_class_set": {"instances": 50, "cores": "50"}}

    updated = client.simulate_put("/v2.1/os-quota-class-sets/default", json=body, headers=V2_57)

    assert updated.status_code == 200, updated.text
    assert updated.json == {"quota_class_set": DEFAULTS_2_57 | {"instances": 50, "cores": 50}}
    catch_up()
    assert get(client, "os-quota-sets/demo/defaults").json["quota_set"]["instances"] == 50
    assert get(client, "os-quota-sets/demo", who=DEMO).json["quota_set"]["cores"] == 50
    assert get(client, "os-quota-class-sets/default").json["quota_class_set"]["instances"] == 50
    before = recorded(cloud)
    refused = client.simulate_put("/v2.1/os-quota-class-sets/default", json=body, headers={**V2_57, **DEMO})
    assert error(refused) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-quota-class-sets:update to be performed.",
    )
    assert recorded(cloud) == before
    peek = get(client, "os-quota-class-sets/default", who=DEMO)
    assert error(peek) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-quota-class-sets:show to be performed.",
    )


# --- enforcement on server create -----------------------------------------------------------


def post_server(client: TestClient, image_id: str, flavor_id: str, **fields: Any) -> Any:
    server = {"name": "vm", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none", **fields}
    return client.simulate_post("/v2.1/servers", json={"server": server}, headers={**LATEST, **DEMO})


def test_server_create_is_refused_once_the_instances_quota_is_reached(
    client: TestClient, cloud: Cloud, boot: Boot, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    assert put_quota(client, "demo", {"instances": 2}).status_code == 200
    catch_up()
    boot("a", headers=DEMO)
    catch_up()
    boot("b", headers=DEMO)
    catch_up()
    before = recorded(cloud)

    refused = post_server(client, image_id, flavor_id)

    assert error(refused) == (
        403,
        "forbidden",
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances",
    )
    assert recorded(cloud) == before
    boot("elsewhere", headers=OTHER)  # another project's quota is its own


def test_server_create_is_refused_once_the_cores_quota_is_reached(
    client: TestClient, cloud: Cloud, boot: Boot, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    assert put_quota(client, "demo", {"cores": 1}).status_code == 200
    catch_up()
    boot("a", headers=DEMO)
    catch_up()
    before = recorded(cloud)

    refused = post_server(client, image_id, flavor_id)

    assert error(refused) == (403, "forbidden", "Quota exceeded for cores: Requested 1, but already used 1 of 1 cores")
    assert recorded(cloud) == before


def test_a_deleted_server_gives_its_quota_back(
    client: TestClient, boot: Boot, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    assert put_quota(client, "demo", {"instances": 1}).status_code == 200
    catch_up()
    first = boot("a", headers=DEMO)
    catch_up()
    assert post_server(client, image_id, flavor_id).status_code == 403

    assert client.simulate_delete(f"/v2.1/servers/{first['id']}", headers={**LATEST, **DEMO}).status_code == 204
    catch_up()

    assert post_server(client, image_id, flavor_id).status_code == 202


def test_too_many_metadata_items_are_refused(
    client: TestClient, cloud: Cloud, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    assert put_quota(client, "demo", {"metadata_items": 1}).status_code == 200
    catch_up()
    before = recorded(cloud)

    refused = post_server(client, image_id, flavor_id, metadata={"a": "1", "b": "2"})

    assert error(refused) == (403, "forbidden", "Maximum number of metadata items exceeds 1")
    assert recorded(cloud) == before


def test_several_servers_are_trimmed_to_what_the_quota_holds(
    client: TestClient, boot: Boot, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    assert put_quota(client, "demo", {"instances": 4}).status_code == 200
    boot("a", headers=DEMO)
    catch_up()

    created = post_server(client, image_id, flavor_id, min_count=1, max_count=5)

    assert created.status_code == 202, created.text
    catch_up()
    assert get(client, "limits", who=DEMO).json["limits"]["absolute"]["totalInstancesUsed"] == 4
    refused = post_server(client, image_id, flavor_id, min_count=1, max_count=2)
    assert error(refused) == (
        403,
        "forbidden",
        "Quota exceeded for instances: Requested 1-2, but already used 4 of 4 instances",
    )


# --- /limits ---------------------------------------------------------------------------------


def test_limits_reflect_usage_after_boots_and_deletes(
    client: TestClient, boot: Boot, catch_up: Callable[[], None]
) -> None:
    first = boot("a", headers=DEMO)
    boot("b", headers=DEMO)
    catch_up()

    absolute = get(client, "limits", who=DEMO).json["limits"]["absolute"]

    assert absolute == {
        "maxServerMeta": 128,
        "maxTotalCores": 20,
        "maxTotalInstances": 10,
        "maxTotalKeypairs": 100,
        "maxTotalRAMSize": 51200,
        "maxServerGroups": 10,
        "maxServerGroupMembers": 10,
        "totalCoresUsed": 2,
        "totalInstancesUsed": 2,
        "totalRAMUsed": 1024,
        "totalServerGroupsUsed": 0,
    }
    assert client.simulate_delete(f"/v2.1/servers/{first['id']}", headers={**LATEST, **DEMO}).status_code == 204
    catch_up()
    after = get(client, "limits", who=DEMO).json["limits"]
    assert client.simulate_head("/v2.1/limits", headers=DEMO).status_code == 200
    assert (after["absolute"]["totalInstancesUsed"], after["absolute"]["totalRAMUsed"], after["rate"]) == (1, 512, [])


@pytest.mark.parametrize(
    ("version", "extra"),
    [
        (
            V2_1,
            {
                "maxImageMeta",
                "maxPersonality",
                "maxPersonalitySize",
                "maxSecurityGroups",
                "maxSecurityGroupRules",
                "maxTotalFloatingIps",
                "totalFloatingIpsUsed",
                "totalSecurityGroupsUsed",
            },
        ),
        (V2_36, {"maxImageMeta", "maxPersonality", "maxPersonalitySize"}),
        (V2_39, {"maxPersonality", "maxPersonalitySize"}),
        (V2_57, set()),
    ],
)
def test_limits_keys_per_microversion(client: TestClient, version: dict[str, str], extra: set[str]) -> None:
    base = {
        "maxServerMeta",
        "maxTotalCores",
        "maxTotalInstances",
        "maxTotalKeypairs",
        "maxTotalRAMSize",
        "maxServerGroups",
        "maxServerGroupMembers",
        "totalCoresUsed",
        "totalInstancesUsed",
        "totalRAMUsed",
        "totalServerGroupsUsed",
    }

    absolute = get(client, "limits", version=version).json["limits"]["absolute"]

    assert set(absolute) == base | extra


def test_only_admins_ask_for_another_projects_limits(
    client: TestClient, boot: Boot, catch_up: Callable[[], None]
) -> None:
    boot("a", headers=DEMO)
    catch_up()

    refused = get(client, "limits?tenant_id=demo", who=OTHER)

    assert error(refused) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:limits:other_project to be performed.",
    )
    assert get(client, "limits?tenant_id=demo").json["limits"]["absolute"]["totalInstancesUsed"] == 1
    assert get(client, "limits", who=OTHER).json["limits"]["absolute"]["totalInstancesUsed"] == 0


# --- the view ------------------------------------------------------------------------------


def test_replaying_events_never_counts_twice(
    client: TestClient, cloud: Cloud, views: ViewStore, boot: Boot, catch_up: Callable[[], None]
) -> None:
    boot("kept", headers=DEMO)
    gone = boot("gone", headers=DEMO)
    assert client.simulate_delete(f"/v2.1/servers/{gone['id']}", headers={**LATEST, **DEMO}).status_code == 204
    assert put_quota(client, "demo", {"instances": 5}).status_code == 200
    assert client.simulate_delete("/v2.1/os-quota-sets/demo", headers=V2_57).status_code == 202
    catch_up()
    projection = QuotasProjection()
    notifications = cloud.recorder.select_notifications(0, 10_000)
    messages = [EventMessage.from_domain_event(n.id, cloud.mapper.to_domain_event(n)) for n in notifications]
    statements = [s for m in messages if m.event_type in projection.event_types for s in projection.statements(m)]

    views.write([], statements)

    assert project_usage(views, "demo")["instances"] == 1
    assert project_limits(views, "demo")["instances"] == 10


HELD = ("instances", "cores", "ram", "server_groups")


def held(views: ViewStore, project: str) -> dict[str, int]:
    usage = project_usage(views, project)
    return {resource: usage[resource] for resource in HELD}


def counted(views: ViewStore, project: str) -> dict[str, int]:
    """What the project holds, counted row by row (what the totals replace on every create)."""
    live = {"project_id": project, "live": True}
    servers = views.query(
        """SELECT COUNT(*) AS instances, COALESCE(SUM(vcpus), 0) AS cores, COALESCE(SUM(ram), 0) AS ram
           FROM quota_usage WHERE project_id = %(project_id)s AND live = %(live)s""",
        live,
    )[0]
    groups = views.query(
        """SELECT COUNT(*) AS server_groups FROM quota_server_groups
           WHERE project_id = %(project_id)s AND live = %(live)s""",
        live,
    )[0]
    return {resource: int(value) for resource, value in (servers | groups).items()}


def post_group(client: TestClient, name: str, who: dict[str, str] = DEMO) -> Any:
    body = {"server_group": {"name": name, "policy": "affinity"}}
    return client.simulate_post("/v2.1/os-server-groups", json=body, headers={**LATEST, **who})


def some_history(client: TestClient, cloud: Cloud, boot: Boot) -> None:
    """Servers of two sizes in two projects, server groups, and deletes of both."""
    cloud.create_flavor(CreateFlavor(name="m1.large", vcpus=4, ram=8192, disk=1, flavorid="4"))
    small = [boot(f"small-{n}", headers=DEMO) for n in range(3)]
    large = [boot(f"large-{n}", headers=DEMO, flavorRef="4") for n in range(2)]
    boot("elsewhere", headers=OTHER, flavorRef="4")
    groups = [post_group(client, f"g{n}").json["server_group"]["id"] for n in range(3)]
    post_group(client, "theirs", who=OTHER)
    for server in (small[0], large[1]):
        assert client.simulate_delete(f"/v2.1/servers/{server['id']}", headers={**LATEST, **DEMO}).status_code == 204
    deleted = client.simulate_delete(f"/v2.1/os-server-groups/{groups[0]}", headers={**LATEST, **DEMO})
    assert deleted.status_code == 204


def quota_statements(cloud: Cloud) -> list[Statement]:
    projection = QuotasProjection()
    notifications = cloud.recorder.select_notifications(0, 10_000)
    messages = [EventMessage.from_domain_event(n.id, cloud.mapper.to_domain_event(n)) for n in notifications]
    return [s for m in messages if m.event_type in projection.event_types for s in projection.statements(m)]


def test_the_totals_agree_with_a_full_count_after_creates_and_deletes(
    client: TestClient, cloud: Cloud, views: ViewStore, boot: Boot, catch_up: Callable[[], None]
) -> None:
    some_history(client, cloud, boot)

    catch_up()

    assert (
        held(views, "demo")
        == counted(views, "demo")
        == {
            "instances": 3,
            "cores": 2 + 4,
            "ram": 2 * 512 + 8192,
            "server_groups": 2,
        }
    )
    assert (
        held(views, "other")
        == counted(views, "other")
        == {
            "instances": 1,
            "cores": 4,
            "ram": 8192,
            "server_groups": 1,
        }
    )


class ReplayedQuotas(QuotasProjection):
    """The same rows under another tracking name: its catch-up starts again from the first event."""

    name = "quotas-replayed"


def test_replaying_the_same_events_leaves_the_totals_unchanged(
    client: TestClient, cloud: Cloud, views: ViewStore, boot: Boot, catch_up: Callable[[], None]
) -> None:
    some_history(client, cloud, boot)
    catch_up()
    before = {project: held(views, project) for project in ("demo", "other")}

    Projector([ReplayedQuotas()], cloud, views).catch_up()
    views.write([], quota_statements(cloud))
    views.write([], quota_statements(cloud))

    assert {project: held(views, project) for project in ("demo", "other")} == before
    assert held(views, "demo") == counted(views, "demo")


# --- checks enforce the limits in the store, not the view's -----------------------------------


def ssh_key() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def post_keypair(client: TestClient, name: str) -> Any:
    body = {"keypair": {"name": name, "public_key": ssh_key()}}
    return client.simulate_post("/v2.1/os-keypairs", json=body, headers={**LATEST, **DEMO})


def test_a_server_create_right_after_a_quota_raise_is_accepted(
    client: TestClient, boot: Boot, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    assert put_quota(client, "demo", {"instances": 1}).status_code == 200
    boot("a", headers=DEMO)
    catch_up()
    assert post_server(client, image_id, flavor_id).status_code == 403

    assert put_quota(client, "demo", {"instances": 2}).status_code == 200
    created = post_server(client, image_id, flavor_id)  # no catch_up: the view still says 1

    assert created.status_code == 202, created.text


def test_a_server_create_right_after_the_default_class_is_raised_is_accepted(
    client: TestClient, boot: Boot, catch_up: Callable[[], None], image_id: str, flavor_id: str
) -> None:
    def default_instances(n: int) -> Any:
        body = {"quota_class_set": {"instances": n}}
        return client.simulate_put("/v2.1/os-quota-class-sets/default", json=body, headers=V2_57)

    assert default_instances(1).status_code == 200
    boot("a", headers=DEMO)
    catch_up()
    assert post_server(client, image_id, flavor_id).status_code == 403

    assert default_instances(2).status_code == 200
    created = post_server(client, image_id, flavor_id)

    assert created.status_code == 202, created.text


@pytest.mark.parametrize(
    ("resource", "create", "created"),
    [
        ("key_pairs", lambda client, n: post_keypair(client, f"k{n}"), 201),
        ("server_groups", lambda client, n: post_group(client, f"g{n}"), 200),
    ],
    ids=("key_pairs", "server_groups"),
)
def test_a_keypair_or_server_group_right_after_a_quota_raise_is_accepted(
    client: TestClient,
    catch_up: Callable[[], None],
    resource: str,
    create: Callable[[TestClient, int], Any],
    created: int,
) -> None:
    assert put_quota(client, "demo", {resource: 1}).status_code == 200
    assert create(client, 1).status_code == created
    catch_up()
    assert create(client, 2).status_code == 403

    assert put_quota(client, "demo", {resource: 2}).status_code == 200
    accepted = create(client, 3)

    assert accepted.status_code == created, accepted.text


def test_a_project_quota_update_shows_the_default_class_just_changed(client: TestClient) -> None:
    body = {"quota_class_set": {"instances": 50}}
    assert client.simulate_put("/v2.1/os-quota-class-sets/default", json=body, headers=V2_57).status_code == 200

    updated = put_quota(client, "demo", {"cores": 40})

    assert updated.json["quota_set"]["instances"] == 50
