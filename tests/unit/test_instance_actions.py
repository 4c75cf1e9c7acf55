"""os-instance-actions through the HTTP apps: the actions and events a server's
history yields, who sees what per microversion, paging and time filters."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from tests.unit.conftest import DEMO, OTHER

Boot = Callable[..., dict[str, Any]]
CatchUp = Callable[[], None]
ACTION_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
SCHEDULE = "conductor_schedule_and_build_instances"
BUILD = "compute__do_build_and_run_instance"


def version(v: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **(headers or {})}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


def actions(client: TestClient, server_id: str, headers: dict[str, str], **query: str) -> Any:
    return client.simulate_get(f"/v2.1/servers/{server_id}/os-instance-actions", params=query, headers=headers)


def action(client: TestClient, server_id: str, request_id: str, headers: dict[str, str]) -> Any:
    return client.simulate_get(f"/v2.1/servers/{server_id}/os-instance-actions/{request_id}", headers=headers)


@pytest.fixture
def built(client: TestClient, cloud: Cloud, catch_up: CatchUp) -> tuple[str, str]:
    """A DEMO server scheduled on compute1 and spawned there; (server id, its create request id)."""
    created = client.simulate_post(
        "/v2.1/servers",
        json={"server": {"name": "vm", "imageRef": cloud_image(cloud), "flavorRef": "1", "networks": "none"}},
        headers=version("2.100", DEMO),
    )
    assert created.status_code == 202, created.text
    server_id = created.json["server"]["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.schedule("compute1")
    cloud.save(server)
    server.record_spawned("compute1", 1)
    cloud.save(server)
    catch_up()
    return server_id, created.headers["x-openstack-request-id"]


def cloud_image(cloud: Cloud) -> str:
    image = uuid.uuid4()
    cloud.register_image(
        image, name="i", owner="admin", disk_format="qcow2", container_format="bare", min_disk=0, min_ram=0,
        size=1, visibility="public",
    )  # fmt: skip
    return str(image)


@pytest.mark.usefixtures("flavor_id")
def test_a_boot_is_one_create_action_with_two_events(client: TestClient, built: tuple[str, str]) -> None:
    server_id, request_id = built

    listed = actions(client, server_id, version("2.1", DEMO))
    listed_258 = actions(client, server_id, version("2.58", DEMO)).json["instanceActions"]
    shown = action(client, server_id, request_id, version("2.84")).json["instanceAction"]

    assert listed.status_code == 200
    (create,) = listed.json["instanceActions"]
    assert set(create) == {"action", "instance_uuid", "request_id", "user_id", "project_id", "start_time", "message"}
    assert (create["action"], create["instance_uuid"], create["request_id"]) == ("create", server_id, request_id)
    assert (create["user_id"], create["project_id"], create["message"]) == ("alice", "demo", None)
    assert ACTION_TIME.match(create["start_time"])
    assert ACTION_TIME.match(listed_258[0]["updated_at"]) and listed_258[0]["updated_at"] >= create["start_time"]
    schedule, build = shown["events"]
    assert (schedule["event"], schedule["result"], schedule["host"]) == (SCHEDULE, "Success", "")
    assert (build["event"], build["result"], build["host"]) == (BUILD, "Success", "compute1")
    assert set(build) == {"event", "start_time", "finish_time", "result", "traceback", "host", "hostId", "details"}
    assert build["hostId"] == hashlib.sha224(b"democompute1").hexdigest()
    assert schedule["start_time"] == create["start_time"] <= build["start_time"] <= build["finish_time"]
    assert shown["updated_at"] == build["finish_time"]


@pytest.mark.usefixtures("flavor_id")
@pytest.mark.parametrize(
    ("microversion", "admin", "event_keys"),
    [
        ("2.50", False, None),
        ("2.50", True, {"event", "start_time", "finish_time", "result", "traceback"}),
        ("2.51", False, {"event", "start_time", "finish_time", "result"}),
        ("2.62", False, {"event", "start_time", "finish_time", "result", "hostId"}),
        ("2.62", True, {"event", "start_time", "finish_time", "result", "traceback", "host", "hostId"}),
        ("2.84", False, {"event", "start_time", "finish_time", "result", "hostId"}),
        ("2.84", True, {"event", "start_time", "finish_time", "result", "traceback", "host", "hostId", "details"}),
    ],
)
def test_who_sees_which_event_fields(
    client: TestClient, built: tuple[str, str], microversion: str, admin: bool, event_keys: set[str] | None
) -> None:
    server_id, request_id = built

    shown = action(client, server_id, request_id, version(microversion, {} if admin else DEMO)).json["instanceAction"]

    if event_keys is None:
        assert "events" not in shown
    else:
        assert all(set(event) == event_keys for event in shown["events"]) and shown["events"]
    assert ("updated_at" in shown) == (microversion >= "2.58")


def test_a_failed_boot_is_an_error_with_details_for_admins(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.fail_scheduling("no host has 512 MB free")
    cloud.save(server)
    catch_up()
    (create,) = actions(client, server_id, version("2.84", DEMO)).json["instanceActions"]

    as_admin = action(client, server_id, create["request_id"], version("2.84")).json["instanceAction"]
    as_owner = action(client, server_id, create["request_id"], version("2.84", DEMO)).json["instanceAction"]

    assert create["message"] == "Error"
    (event,) = as_admin["events"]
    assert (event["event"], event["result"]) == (SCHEDULE, "Error")
    assert event["details"].startswith("No valid host was found")
    assert event["traceback"] == "no host has 512 MB free"
    assert set(as_owner["events"][0]) == {"event", "start_time", "finish_time", "result", "hostId"}


def test_a_spawn_failure_finishes_the_build_event_in_error(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.schedule("compute1")
    server.record_spawn_failed("compute1", "libvirt said no")
    cloud.save(server)
    catch_up()
    (create,) = actions(client, server_id, version("2.84")).json["instanceActions"]

    events = action(client, server_id, create["request_id"], version("2.84")).json["instanceAction"]["events"]

    assert [(e["event"], e["result"]) for e in events] == [(SCHEDULE, "Success"), (BUILD, "Error")]
    assert events[1]["traceback"] == "libvirt said no"


@pytest.mark.usefixtures("flavor_id")
def test_a_delete_is_an_action_that_stays_visible(
    client: TestClient, cloud: Cloud, catch_up: CatchUp, built: tuple[str, str]
) -> None:
    server_id, _ = built
    deleted = client.simulate_delete(f"/v2.1/servers/{server_id}", headers=DEMO)
    catch_up()
    (terminating,) = action(client, server_id, deleted.headers["x-openstack-request-id"], version("2.62")).json[
        "instanceAction"
    ]["events"]
    server = cloud.server(uuid.UUID(server_id))
    server.record_deleted("compute1")  # what the conductor records when the agent reports the domain gone
    cloud.save(server)
    catch_up()

    listed = actions(client, server_id, version("2.58", DEMO)).json["instanceActions"]
    at_221 = actions(client, server_id, version("2.21", DEMO))
    before_221 = actions(client, server_id, version("2.20", DEMO))
    as_admin = actions(client, server_id, version("2.58")).json["instanceActions"]

    assert [a["action"] for a in listed] == ["delete", "create"]
    assert listed[0]["request_id"] == deleted.headers["x-openstack-request-id"]
    assert (listed[0]["user_id"], listed[0]["project_id"]) == ("alice", "demo")
    assert at_221.status_code == 200
    assert error(before_221) == (404, "itemNotFound", f"Instance {server_id} could not be found.")
    assert as_admin == listed
    assert (terminating["event"], terminating["result"], terminating["host"]) == (
        "compute_terminate_instance", None, "compute1",
    )  # fmt: skip
    (terminated,) = action(client, server_id, listed[0]["request_id"], version("2.62")).json["instanceAction"]["events"]
    assert (terminated["result"], listed[0]["updated_at"]) == ("Success", terminated["finish_time"])


def test_a_server_deleted_before_it_was_placed_has_a_delete_without_events(
    client: TestClient, catch_up: CatchUp, boot: Boot
) -> None:
    server_id = boot(headers=DEMO)["id"]
    client.simulate_delete(f"/v2.1/servers/{server_id}", headers=DEMO)
    catch_up()

    delete, _ = actions(client, server_id, version("2.84", DEMO)).json["instanceActions"]

    shown = action(client, server_id, delete["request_id"], version("2.84")).json["instanceAction"]
    assert (shown["action"], shown["events"]) == ("delete", [])


@pytest.mark.usefixtures("flavor_id")
def test_other_projects_and_unknown_actions_are_404(client: TestClient, built: tuple[str, str]) -> None:
    server_id, request_id = built

    assert error(actions(client, server_id, OTHER)) == (
        404,
        "itemNotFound",
        f"Instance {server_id} could not be found.",
    )
    assert error(action(client, server_id, request_id, OTHER))[:2] == (404, "itemNotFound")
    assert error(action(client, server_id, "req-nope", DEMO)) == (404, "itemNotFound", "Action req-nope not found")
    assert error(actions(client, "not-a-uuid", DEMO))[:2] == (404, "itemNotFound")


def test_paging_and_time_filters(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot) -> None:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.schedule("compute1")
    server.record_spawned("compute1", 1)
    cloud.save(server)
    client.simulate_delete(f"/v2.1/servers/{server_id}", headers=DEMO)
    catch_up()
    everything = actions(client, server_id, version("2.66", DEMO)).json["instanceActions"]
    newest, oldest = everything

    first = actions(client, server_id, version("2.58", DEMO), limit="1").json
    second = actions(client, server_id, version("2.58", DEMO), limit="1", marker=newest["request_id"]).json
    since = actions(client, server_id, version("2.58", DEMO), **{"changes-since": newest["updated_at"] + "Z"}).json
    before = actions(client, server_id, version("2.66", DEMO), **{"changes-before": oldest["updated_at"]}).json

    assert [a["action"] for a in everything] == ["delete", "create"]
    assert first["instanceActions"] == [newest]
    assert first["links"] == [
        {
            "rel": "next",
            "href": f"http://falconframework.org/v2.1/servers/{server_id}/os-instance-actions"
            f"?limit=1&marker={newest['request_id']}",
        }
    ]
    assert second["instanceActions"] == [oldest] and "links" in second
    assert since["instanceActions"] == [newest]
    assert before["instanceActions"] == [oldest]


@pytest.mark.usefixtures("flavor_id")
@pytest.mark.parametrize(
    ("query", "microversion", "message"),
    [
        ({"marker": "req-nope"}, "2.58", "Marker req-nope could not be found."),
        ({"limit": "-1"}, "2.58", "limit param must be positive"),
        ({"changes-since": "soon"}, "2.58", "Invalid input for query parameters changes-since."),
        ({"changes-before": "2020-01-01T00:00:00Z"}, "2.58", "Additional properties are not allowed"),
        ({"colour": "red"}, "2.66", "Additional properties are not allowed ('colour' was unexpected)"),
        (
            {"changes-since": "2020-01-02T00:00:00Z", "changes-before": "2020-01-01T00:00:00Z"},
            "2.66",
            "The value of changes-since must be less than or equal to changes-before.",
        ),
    ],
)
def test_bad_listing_parameters(
    client: TestClient, built: tuple[str, str], query: dict[str, str], microversion: str, message: str
) -> None:
    server_id, _ = built

    status, name, text = error(actions(client, server_id, version(microversion, DEMO), **query))

    assert (status, name) == (400, "badRequest")
    assert text.startswith(message), text


@pytest.mark.usefixtures("flavor_id")
def test_parameters_are_ignored_before_2_58(client: TestClient, built: tuple[str, str]) -> None:
    server_id, _ = built

    result = actions(client, server_id, version("2.57", DEMO), limit="nope", colour="red")

    assert result.status_code == 200 and len(result.json["instanceActions"]) == 1 and "links" not in result.json
