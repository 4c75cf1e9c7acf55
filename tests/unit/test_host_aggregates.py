"""os-aggregates through HTTP: integer ids from one registry, unique names,
hosts and metadata, and Nova's availability-zone rules."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova import host_aggregates
from chronova.cloud import Cloud
from domain.aggregate import HostAggregate, host_aggregate_id
from domain.host import Host
from domain.placement import DISK_GB, MEMORY_MB, VCPU, default_inventories, inventories_to_dict
from tests.unit.conftest import DEMO, LATEST

CatchUp = Callable[[], None]
USAGE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
V241 = {"OpenStack-API-Version": "compute 2.41"}


def error(result: Any) -> tuple[int, str]:
    ((_name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, detail["message"]


def register(cloud: Cloud, name: str) -> Host:
    host = Host(name=name, inventories=inventories_to_dict(default_inventories(8, 16384, 100)), hypervisor={})
    host.report_alive()
    cloud.save(host)
    return host


def with_a_server(cloud: Cloud, name: str) -> None:
    host = cloud.host(name)
    host.claim(str(uuid.uuid4()), {VCPU: 1, MEMORY_MB: 512, DISK_GB: 1})
    cloud.save(host)


@pytest.fixture
def hosts(cloud: Cloud) -> None:
    for name in ("compute1", "compute2"):
        register(cloud, name)


def create(client: TestClient, name: str, zone: str | None = None, headers: dict[str, str] | None = None) -> Any:
    aggregate = {"name": name} | ({"availability_zone": zone} if zone else {})
    return client.simulate_post("/v2.1/os-aggregates", json={"aggregate": aggregate}, headers=headers or LATEST)


def action(client: TestClient, number: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.simulate_post(f"/v2.1/os-aggregates/{number}/action", json=body, headers=headers or LATEST)


# --- create, show, list ---------------------------------------------------------------------


def test_create_answers_without_hosts_or_metadata_and_show_has_them(client: TestClient, catch_up: CatchUp) -> None:
    created = create(client, "rack1", "london")
    catch_up()
    shown = client.simulate_get("/v2.1/os-aggregates/1", headers=LATEST)

    assert created.status_code == 200
    body = created.json["aggregate"]
    assert body == {
        "availability_zone": "london",
        "created_at": body["created_at"],
        "deleted": False,
        "deleted_at": None,
        "id": 1,
        "name": "rack1",
        "updated_at": None,
        "uuid": str(host_aggregate_id(1)),
    }
    assert USAGE_TIME.match(body["created_at"])
    assert shown.json["aggregate"] == body | {"hosts": [], "metadata": {"availability_zone": "london"}}


def test_uuid_appears_in_2_41(client: TestClient, catch_up: CatchUp) -> None:
    old = create(client, "a", headers={"OpenStack-API-Version": "compute 2.40"}).json["aggregate"]
    catch_up()
    listed = client.simulate_get("/v2.1/os-aggregates", headers=V241).json["aggregates"]

    assert "uuid" not in old and old["availability_zone"] is None
    assert [(a["id"], a["uuid"]) for a in listed] == [(1, str(host_aggregate_id(1)))]


def test_a_new_aggregate_is_readable_at_once(client: TestClient, catch_up: CatchUp) -> None:
    number = create(client, "rack1").json["aggregate"]["id"]  # nothing has projected it yet
    late_projector = threading.Timer(0.2, catch_up)
    late_projector.start()

    shown = client.simulate_get(f"/v2.1/os-aggregates/{number}", headers=LATEST)

    late_projector.join()
    assert shown.status_code == 200 and shown.json["aggregate"]["name"] == "rack1"


def test_numbers_are_never_reused_and_names_are_unique(client: TestClient, cloud: Cloud) -> None:
    assert create(client, "a").json["aggregate"]["id"] == 1
    assert create(client, "b").json["aggregate"]["id"] == 2
    before = cloud.recorder.max_notification_id()
    assert error(create(client, "a")) == (409, "Aggregate a already exists.")
    assert cloud.recorder.max_notification_id() == before

    assert client.simulate_delete("/v2.1/os-aggregates/2", headers=LATEST).status_code == 200
    assert create(client, "b").json["aggregate"]["id"] == 3  # the name is free again, the number is not


def test_concurrent_creates_get_distinct_numbers(cloud: Cloud) -> None:
    numbers: list[int] = []
    lock = threading.Lock()

    def make(index: int) -> None:
        aggregate = host_aggregates.create(cloud, f"agg{index}", None)
        with lock:
            numbers.append(aggregate.number)

    threads = [threading.Thread(target=make, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    assert {cloud.load(host_aggregate_id(n), HostAggregate).name for n in numbers} == {f"agg{i}" for i in range(6)}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"aggregate": {"name": ""}}, "field/attribute name."),
        ({"aggregate": {"name": " padded "}}, "field/attribute name."),
        ({"aggregate": {"name": "x", "availability_zone": "a:b"}}, "printable characters except :"),
        ({"aggregate": {"name": "x", "availability_zone": ""}}, "availability_zone"),
        ({"aggregate": {"name": "x", "hosts": []}}, "Additional properties are not allowed ('hosts' was unexpected)"),
        ({"aggregate": {}}, "'name' is a required property"),
        ({"name": "x"}, "'aggregate' is a required property"),
    ],
)
def test_bad_creates_record_nothing(client: TestClient, cloud: Cloud, body: Any, fragment: str) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_post("/v2.1/os-aggregates", json=body, headers=LATEST)

    status, message = error(result)
    assert status == 400 and fragment in message
    assert cloud.recorder.max_notification_id() == before


def test_aggregates_are_for_admins(client: TestClient, hosts: None) -> None:
    create(client, "rack1")
    calls = {
        "create": create(client, "x", headers=DEMO),
        "index": client.simulate_get("/v2.1/os-aggregates", headers=DEMO),
        "show": client.simulate_get("/v2.1/os-aggregates/1", headers=DEMO),
        "update": client.simulate_put("/v2.1/os-aggregates/1", json={"aggregate": {"name": "y"}}, headers=DEMO),
        "delete": client.simulate_delete("/v2.1/os-aggregates/1", headers=DEMO),
        "add_host": action(client, 1, {"add_host": {"host": "compute1"}}, headers=DEMO),
    }

    for policy, result in calls.items():
        assert error(result) == (403, f"Policy doesn't allow os_compute_api:os-aggregates:{policy} to be performed.")


def test_unknown_and_malformed_ids(client: TestClient, catch_up: CatchUp) -> None:
    catch_up()
    assert error(client.simulate_get("/v2.1/os-aggregates/x", headers=LATEST)) == (
        400,
        "Invalid input received: id must be an integer",
    )
    assert error(client.simulate_get("/v2.1/os-aggregates/7", headers=LATEST)) == (
        404,
        "Aggregate 7 could not be found.",
    )
    assert client.simulate_get(f"/v2.1/os-aggregates/{10**30}", headers=LATEST).status_code == 404
    assert error(client.simulate_delete("/v2.1/os-aggregates/7", headers=LATEST)) == (
        404,
        "Aggregate 7 could not be found.",
    )


# --- update and delete ----------------------------------------------------------------------


def test_update_renames_and_moves_the_zone(client: TestClient, catch_up: CatchUp) -> None:
    create(client, "rack1", "az1")
    create(client, "rack2")

    updated = client.simulate_put(
        "/v2.1/os-aggregates/1", json={"aggregate": {"name": "  rack9 ", "availability_zone": "az2"}}, headers=LATEST
    )
    catch_up()

    body = updated.json["aggregate"]
    assert (body["name"], body["availability_zone"], body["metadata"]) == ("rack9", "az2", {"availability_zone": "az2"})
    assert USAGE_TIME.match(body["updated_at"])
    assert client.simulate_get("/v2.1/os-aggregates/1", headers=LATEST).json["aggregate"] == body
    taken = client.simulate_put("/v2.1/os-aggregates/2", json={"aggregate": {"name": "rack9"}}, headers=LATEST)
    assert error(taken) == (409, "Aggregate rack9 already exists.")
    assert create(client, "rack1").status_code == 200  # the old name is free


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"aggregate": {}}, 400, None),
        ({"aggregate": {"name": "   "}}, 400, None),
        ({"aggregate": {"availability_zone": None}}, 400,
         "Cannot update aggregate 1. Reason: Aggregate rack1 does not support empty named availability zone."),
        ({"aggregate": {"uuid": "x"}}, 400, None),
    ],
)  # fmt: skip
def test_bad_updates_record_nothing(
    client: TestClient, cloud: Cloud, body: Any, status: int, message: str | None
) -> None:
    create(client, "rack1")
    before = cloud.recorder.max_notification_id()

    result = client.simulate_put("/v2.1/os-aggregates/1", json=body, headers=LATEST)

    assert result.status_code == status, result.text
    if message is not None:
        assert error(result) == (status, message)
    assert cloud.recorder.max_notification_id() == before


def test_an_aggregate_with_hosts_is_not_deleted(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, hosts: None
) -> None:
    create(client, "rack1")
    action(client, 1, {"add_host": {"host": "compute1"}})

    refused = client.simulate_delete("/v2.1/os-aggregates/1", headers=LATEST)
    action(client, 1, {"remove_host": {"host": "compute1"}})
    deleted = client.simulate_delete("/v2.1/os-aggregates/1", headers=LATEST)
    catch_up()

    assert error(refused) == (400, "Cannot remove host from aggregate 1. Reason: Host aggregate is not empty.")
    assert (deleted.status_code, deleted.text) == (200, "")
    assert error(client.simulate_get("/v2.1/os-aggregates/1", headers=LATEST))[0] == 404


# --- hosts ------------------------------------------------------------------------------------


def test_add_and_remove_hosts(client: TestClient, catch_up: CatchUp, hosts: None) -> None:
    create(client, "rack1", "az1")

    added = action(client, 1, {"add_host": {"host": "compute2"}})
    action(client, 1, {"add_host": {"host": "compute1"}})
    catch_up()
    listed = client.simulate_get("/v2.1/os-aggregates", headers=LATEST).json["aggregates"]
    removed = action(client, 1, {"remove_host": {"host": "compute2"}})

    assert added.status_code == 200
    assert (added.json["aggregate"]["hosts"], added.json["aggregate"]["updated_at"]) == (["compute2"], None)
    assert listed[0]["hosts"] == ["compute2", "compute1"]
    assert removed.json["aggregate"]["hosts"] == ["compute1"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"add_host": {"host": "ghost"}}, 404, "Compute host ghost could not be found."),
        ({"add_host": {"host": "compute1"}}, 409, "Aggregate 1 already has host compute1."),
        ({"remove_host": {"host": "ghost"}}, 404, "Cannot remove host ghost in aggregate 1"),
        ({"remove_host": {"host": "compute2"}}, 404, "Cannot remove host compute2 in aggregate 1"),
        ({"add_host": {"host": "bad host"}}, 400, None),
        ({"add_host": {}}, 400, None),
        ({"add_host": {"host": "compute2"}, "remove_host": {"host": "compute1"}}, 400, "Malformed request body"),
        ({"reboot": {}}, 400, "There is no such action: reboot"),
        ({"set_metadata": {"metadata": {"bad/key": "x"}}}, 400, None),
        ({"set_metadata": {"metadata": {"k": 1}}}, 400, None),
        ({"set_metadata": {}}, 400, None),
    ],
)
def test_bad_actions_record_nothing(
    client: TestClient, cloud: Cloud, hosts: None, body: Any, status: int, message: str | None
) -> None:
    create(client, "rack1")
    action(client, 1, {"add_host": {"host": "compute1"}})
    before = cloud.recorder.max_notification_id()

    result = action(client, 1, body)

    assert result.status_code == status, result.text
    if message is not None:
        assert error(result) == (status, message)
    assert cloud.recorder.max_notification_id() == before


def test_actions_on_an_unknown_aggregate(client: TestClient, hosts: None) -> None:
    assert error(action(client, 9, {"add_host": {"host": "compute1"}})) == (404, "Aggregate 9 could not be found.")
    assert error(action(client, 9, {"remove_host": {"host": "compute1"}})) == (
        404,
        "Cannot remove host compute1 in aggregate 9",
    )
    assert error(action(client, 9, {"set_metadata": {"metadata": {}}})) == (404, "Aggregate 9 could not be found.")


# --- metadata ---------------------------------------------------------------------------------


def test_set_metadata_adds_replaces_and_removes_keys(client: TestClient, catch_up: CatchUp) -> None:
    create(client, "rack1", "az1")
    action(client, 1, {"set_metadata": {"metadata": {"ssd": "true", "tier": "gold"}}})

    result = action(client, 1, {"set_metadata": {"metadata": {"ssd": None, "tier": "silver", "gone": None}}})
    catch_up()

    body = result.json["aggregate"]
    assert body["metadata"] == {"availability_zone": "az1", "tier": "silver"}
    assert USAGE_TIME.match(body["updated_at"])
    assert client.simulate_get("/v2.1/os-aggregates/1", headers=LATEST).json["aggregate"] == body


def test_zone_metadata_moves_the_zone(client: TestClient, catch_up: CatchUp) -> None:
    create(client, "rack1")

    body = action(client, 1, {"set_metadata": {"metadata": {"availability_zone": "az7"}}}).json["aggregate"]
    emptied = action(client, 1, {"set_metadata": {"metadata": {"availability_zone": None}}})

    assert body["availability_zone"] == "az7"
    assert error(emptied) == (
        400,
        "Cannot update metadata of aggregate 1. "
        "Reason: Aggregate rack1 does not support empty named availability zone.",
    )


# --- availability-zone rules --------------------------------------------------------------------


def test_a_host_is_in_one_zone_only(client: TestClient, cloud: Cloud, hosts: None) -> None:
    create(client, "rack1", "az1")
    create(client, "rack2", "az2")
    create(client, "plain")
    action(client, 1, {"add_host": {"host": "compute1"}})
    before = cloud.recorder.max_notification_id()

    into_other_zone = action(client, 2, {"add_host": {"host": "compute1"}})
    zone_onto_host = action(client, 3, {"add_host": {"host": "compute1"}})
    rename_zone = client.simulate_put(
        "/v2.1/os-aggregates/3", json={"aggregate": {"availability_zone": "az2"}}, headers=LATEST
    )
    metadata_zone = action(client, 3, {"set_metadata": {"metadata": {"availability_zone": "az9"}}})

    assert error(into_other_zone) == (
        409,
        "Cannot add host to aggregate 2. Reason: One or more hosts already in availability zone(s) ['az1'].",
    )
    assert zone_onto_host.status_code == 200  # an aggregate without a zone takes any host
    assert error(rename_zone) == (
        400,
        "Cannot update aggregate 3. Reason: One or more hosts already in availability zone(s) ['az1'].",
    )
    assert error(metadata_zone)[0] == 400
    assert cloud.recorder.max_notification_id() == before + 1  # only the plain aggregate's add_host


def test_hosts_with_servers_do_not_change_zone(client: TestClient, cloud: Cloud, hosts: None) -> None:
    create(client, "rack1", "az1")
    create(client, "plain")
    with_a_server(cloud, "compute1")
    before = cloud.recorder.max_notification_id()

    into_zone = action(client, 1, {"add_host": {"host": "compute1"}})
    assert action(client, 2, {"add_host": {"host": "compute1"}}).status_code == 200
    zone_on_it = client.simulate_put(
        "/v2.1/os-aggregates/2", json={"aggregate": {"availability_zone": "az1"}}, headers=LATEST
    )

    assert error(into_zone) == (
        409,
        "Cannot add host to aggregate 1. Reason: The host cannot be added to the aggregate as the availability zone "
        "of the host would change from 'nova' to 'az1' but the host already has 1 instance(s). Changing the AZ of an "
        "existing instance is not supported by this action. Move the instances away from this host then try again. "
        "If you need to move the instances between AZs then you can use shelve_offload and unshelve to achieve this..",
    )
    assert error(zone_on_it) == (
        400,
        "Cannot update aggregate 2. Reason: One or more hosts contain instances in this zone.",
    )
    assert cloud.recorder.max_notification_id() == before + 1


def test_a_host_with_servers_does_not_leave_its_zone(client: TestClient, cloud: Cloud, hosts: None) -> None:
    create(client, "rack1", "az1")
    action(client, 1, {"add_host": {"host": "compute1"}})
    with_a_server(cloud, "compute1")

    result = action(client, 1, {"remove_host": {"host": "compute1"}})

    status, message = error(result)
    assert status == 409
    assert message.startswith(
        "Cannot remove host from aggregate 1. Reason: The host cannot be removed from the aggregate as the "
        "availability zone of the host would change from 'az1' to 'nova'"
    )
