"""POST /servers/{id}/action through the HTTP apps: each action's preconditions and
Nova's refusals, the task a host action waits in until its host reports through
the conductor, locks, os-resetState, and bad requests that record nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.messages import REPORTS_TOPIC
from chronova.reports import ActionCompleted, ActionFailed, Report, encode_report
from chronova.web import create_router
from command_api.app import create_app as create_command_app
from projections.runner import projector
from projections.views import ViewStore
from query_api.app import create_app as create_query_app
from tests.unit.conftest import ADMIN, DEMO, LATEST, OTHER, SECRET

Boot = Callable[..., dict[str, Any]]
CatchUp = Callable[[], None]
HOST = "compute1"
KEYS = HostKeys(SECRET.encode())
# What the agent reports as the domain's power state after each action (libvirt's view).
POWER_AFTER = {"reboot": 1, "stop": 4, "start": 1, "pause": 3, "unpause": 1, "suspend": 4, "resume": 1}


def v(microversion: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {microversion}", **(headers or {})}


def error(result: Any) -> tuple[int, str]:
    ((_, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, detail["message"]


def deliver(cloud: Cloud, report: Report) -> None:
    """What the conductor does with a report its host signed."""
    conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS)
    signed = encode_report(report, KEYS.key(report.host), time.time())
    conductor.handle(Record(REPORTS_TOPIC, 0, 0, report.host, signed))
    conductor.flush()


def position(cloud: Cloud) -> int:
    return cloud.recorder.max_notification_id() or 0


class Api:
    """A DEMO server placed on compute1 and running, and the requests the tests make about it."""

    def __init__(self, client: TestClient, cloud: Cloud, catch_up: CatchUp, server_id: str) -> None:
        self.client = client
        self.cloud = cloud
        self.catch_up = catch_up
        self.id = server_id

    def act(self, body: Any, headers: dict[str, str] | None = None, server_id: str | None = None) -> Any:
        """As DEMO, the server's project, unless `headers` say otherwise ({}: as the admin)."""
        return self.client.simulate_post(
            f"/v2.1/servers/{server_id or self.id}/action",
            json=body,
            headers={**LATEST, **(DEMO if headers is None else headers)},
        )

    def show(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        self.catch_up()
        result = self.client.simulate_get(f"/v2.1/servers/{self.id}", headers={**LATEST, **(headers or {})})
        assert result.status_code == 200, result.text
        return result.json["server"]

    def state(self) -> tuple[str, str, str | None, int]:
        server = self.show()
        return (
            server["status"],
            server["OS-EXT-STS:vm_state"],
            server["OS-EXT-STS:task_state"],
            server["OS-EXT-STS:power_state"],
        )

    def action_record(self, request_id: str) -> dict[str, Any]:
        self.catch_up()
        result = self.client.simulate_get(f"/v2.1/servers/{self.id}/os-instance-actions/{request_id}", headers=LATEST)
        assert result.status_code == 200, result.text
        return result.json["instanceAction"]

    def report(self, request: Any, action: str, *, failed: str | None = None, power_state: int | None = None) -> None:
        """The host's report on the action `request` (the 202) asked for."""
        request_id = request.headers["x-openstack-request-id"]
        power = POWER_AFTER[action] if power_state is None else power_state
        if failed is None:
            deliver(self.cloud, ActionCompleted(HOST, self.id, request_id, action, power))
        else:
            deliver(self.cloud, ActionFailed(HOST, self.id, request_id, action, failed, power))

    def done(self, body: dict[str, Any], action: str) -> None:
        """Ask for an action and have the host complete it."""
        result = self.act(body)
        assert result.status_code == 202, result.text
        self.report(result, action)


@pytest.fixture
def api(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot) -> Api:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.schedule(HOST)
    server.record_spawned(HOST, 1)
    cloud.save(server)
    catch_up()
    return Api(client, cloud, catch_up, server_id)


# Steps that bring the server where an action may start, then the action, its task and end.
_LIFECYCLE = [
    pytest.param([], {"reboot": {"type": "SOFT"}}, "reboot", "rebooting", "REBOOT", "active", id="soft-reboot"),
    pytest.param([], {"reboot": {"type": "hard"}}, "reboot", "rebooting_hard", "HARD_REBOOT", "active", id="hard"),
    pytest.param([], {"os-stop": None}, "stop", "powering-off", "ACTIVE", "stopped", id="stop"),
    pytest.param(
        [({"os-stop": {}}, "stop")], {"os-start": {}}, "start", "powering-on", "SHUTOFF", "active", id="start"
    ),
    pytest.param([], {"pause": None}, "pause", "pausing", "ACTIVE", "paused", id="pause"),
    pytest.param([({"pause": None}, "pause")], {"unpause": None}, "unpause", "unpausing", "PAUSED", "active", id="unp"),
    pytest.param([], {"suspend": None}, "suspend", "suspending", "ACTIVE", "suspended", id="suspend"),
    pytest.param([({"suspend": {}}, "suspend")], {"resume": {}}, "resume", "resuming", "SUSPENDED", "active", id="res"),
]
_STATUS = {"active": "ACTIVE", "stopped": "SHUTOFF", "paused": "PAUSED", "suspended": "SUSPENDED"}


@pytest.mark.parametrize(("before", "body", "action", "task", "in_flight", "ends_in"), _LIFECYCLE)
def test_a_host_action_waits_in_its_task_until_the_host_reports(
    api: Api,
    before: list[tuple[dict[str, Any], str]],
    body: dict[str, Any],
    action: str,
    task: str,
    in_flight: str,
    ends_in: str,
) -> None:
    for step, name in before:
        api.done(step, name)
    vm_state_before = api.state()[1]

    accepted = api.act(body)
    during = api.state()
    record = api.action_record(accepted.headers["x-openstack-request-id"])
    api.report(accepted, action)
    after = api.state()
    finished = api.action_record(accepted.headers["x-openstack-request-id"])

    assert (accepted.status_code, accepted.text) == (202, "")
    assert during[:3] == (in_flight, vm_state_before, task)
    assert (record["action"], record["user_id"], record["project_id"], record["message"]) == (
        action, "alice", "demo", None,
    )  # fmt: skip
    (step,) = record["events"]
    assert (step["event"], step["result"], step["finish_time"], step["host"]) == (
        f"compute_{action}_instance", None, None, HOST,
    )  # fmt: skip
    assert after == (_STATUS[ends_in], ends_in, None, POWER_AFTER[action])
    assert finished["events"][0]["result"] == "Success"
    assert finished["events"][0]["finish_time"] >= step["start_time"]


_STOPPED = [({"os-stop": None}, "stop")]


@pytest.mark.parametrize(
    ("before", "body", "name", "vm_state"),
    [
        (_STOPPED, {"os-stop": None}, "stop", "stopped"),
        ([], {"os-start": None}, "start", "active"),
        (_STOPPED, {"reboot": {"type": "SOFT"}}, "reboot", "stopped"),
        (_STOPPED, {"pause": None}, "pause", "stopped"),
        ([], {"unpause": None}, "unpause", "active"),
        ([({"pause": None}, "pause")], {"suspend": None}, "suspend", "paused"),
        ([], {"resume": None}, "resume", "active"),
    ],
)
def test_an_action_from_the_wrong_vm_state_is_refused_as_nova_does(
    api: Api, before: list[tuple[dict[str, Any], str]], body: dict[str, Any], name: str, vm_state: str
) -> None:
    for step, action in before:
        api.done(step, action)
    recorded = position(api.cloud)

    result = api.act(body)

    assert error(result) == (409, f"Cannot '{name}' instance {api.id} while it is in vm_state {vm_state}")
    assert position(api.cloud) == recorded


def test_the_202_waits_for_the_view_so_the_next_read_shows_the_task(
    api: Api, views: ViewStore, settings: Settings
) -> None:
    """Nova's clients (`openstack server reboot --wait`) poll right after the 202: they must see the reboot."""
    deployed = settings.with_(action_view_timeout=5.0)
    router = create_router(create_command_app(api.cloud, views, deployed), create_query_app(api.cloud, views, deployed))
    client = TestClient(router, headers={**ADMIN, **LATEST})
    stop = threading.Event()

    def slow_projector() -> None:
        while not stop.wait(0.2):
            projector(api.cloud, views).catch_up()

    following = threading.Thread(target=slow_projector, daemon=True)
    following.start()
    try:
        accepted = client.simulate_post(
            f"/v2.1/servers/{api.id}/action", json={"reboot": {"type": "SOFT"}}, headers=DEMO
        )
        shown = client.simulate_get(f"/v2.1/servers/{api.id}", headers=DEMO).json["server"]
    finally:
        stop.set()
        following.join(timeout=10)

    assert accepted.status_code == 202
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("REBOOT", "rebooting")


def test_a_task_in_flight_refuses_other_actions_but_a_hard_reboot_overtakes_it(api: Api) -> None:
    pausing = api.act({"pause": None})
    refusals = [error(api.act(body)) for body in ({"os-stop": None}, {"reboot": {"type": "SOFT"}}, {"pause": None})]
    hard = api.act({"reboot": {"type": "HARD"}})
    api.report(pausing, "pause")  # late: the reboot overtook the pause, the report is dropped
    overtaken = api.state()
    api.report(hard, "reboot")

    assert [message for _, message in refusals] == [
        f"Cannot '{name}' instance {api.id} while it is in task_state pausing" for name in ("stop", "reboot", "pause")
    ]
    assert hard.status_code == 202
    assert overtaken == ("HARD_REBOOT", "active", "rebooting_hard", 1)
    assert api.state() == ("ACTIVE", "active", None, 1)


def test_a_hard_reboot_starts_from_stopped_and_shows_shutoff_until_done(api: Api) -> None:
    api.done({"os-stop": None}, "stop")

    rebooting = api.act({"reboot": {"type": "HARD"}})

    assert rebooting.status_code == 202
    assert api.state() == ("SHUTOFF", "stopped", "rebooting_hard", 4)  # Nova's status map: no HARD_REBOOT here
    api.report(rebooting, "reboot")
    assert api.state() == ("ACTIVE", "active", None, 1)


def test_a_failed_action_ends_its_task_with_a_fault_and_an_error_event(api: Api) -> None:
    pausing = api.act({"pause": None})
    api.report(pausing, "pause", failed="Requested operation is not valid: domain is not running", power_state=1)
    server = api.show()
    record = api.action_record(pausing.headers["x-openstack-request-id"])

    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    assert "fault" not in server  # Nova shows a fault only on ERROR and DELETED servers
    assert record["message"] == "Error"
    (step,) = record["events"]
    assert (step["event"], step["result"]) == ("compute_pause_instance", "Error")
    assert step["details"] == "Requested operation is not valid: domain is not running"


def test_a_reboot_that_leaves_the_guest_down_puts_the_server_in_error(api: Api) -> None:
    rebooting = api.act({"reboot": {"type": "SOFT"}})
    api.report(rebooting, "reboot", failed="internal error: qemu died\ntraceback...", power_state=4)

    server = api.show()

    assert (server["status"], server["OS-EXT-STS:power_state"]) == ("ERROR", 4)
    assert server["fault"]["code"] == 500
    assert server["fault"]["message"] == "internal error: qemu died"
    assert server["fault"]["details"] == "internal error: qemu died\ntraceback..."  # admins see details


def test_a_report_that_is_not_the_pending_one_changes_nothing(api: Api) -> None:
    stopping = api.act({"os-stop": None})
    request_id = stopping.headers["x-openstack-request-id"]
    recorded = position(api.cloud)

    deliver(api.cloud, ActionCompleted("compute2", api.id, request_id, "stop", 4))  # another host
    deliver(api.cloud, ActionCompleted(HOST, api.id, "req-someone-else", "stop", 4))  # another request
    deliver(api.cloud, ActionCompleted(HOST, api.id, request_id, "pause", 3))  # another action
    unchanged = position(api.cloud)
    api.report(stopping, "stop")
    api.report(stopping, "stop")  # redelivered: already applied

    assert unchanged == recorded
    assert position(api.cloud) == recorded + 1
    assert api.state() == ("SHUTOFF", "stopped", None, 4)


def test_a_server_not_placed_yet_cannot_be_acted_on(client: TestClient, cloud: Cloud, catch_up: CatchUp, boot: Boot):
    building = Api(client, cloud, catch_up, boot(headers=DEMO)["id"])
    failed = Api(client, cloud, catch_up, boot(headers=DEMO)["id"])
    server = cloud.server(uuid.UUID(failed.id))
    server.fail_scheduling("no host")
    cloud.save(server)
    recorded = position(cloud)

    assert error(building.act({"os-stop": None})) == (
        409, f"Cannot 'stop' instance {building.id} while it is in vm_state building",
    )  # fmt: skip
    assert error(failed.act({"os-stop": None})) == (409, f"Instance {failed.id} is not ready")
    assert error(failed.act({"reboot": {"type": "HARD"}})) == (409, f"Instance {failed.id} is not ready")
    assert position(cloud) == recorded


def test_metadata_cannot_change_while_a_task_runs(api: Api) -> None:
    api.act({"os-stop": None})

    result = api.client.simulate_post(
        f"/v2.1/servers/{api.id}/metadata", json={"metadata": {"a": "b"}}, headers={**LATEST, **DEMO}
    )

    assert error(result) == (409, f"Cannot 'update metadata' instance {api.id} while it is in task_state powering-off")


# --- lock and unlock ------------------------------------------------------------------------


def test_a_locked_server_refuses_its_members_and_obeys_admins(api: Api) -> None:
    locked = api.act({"lock": {"locked_reason": "maintenance window"}})
    shown = api.show(DEMO)
    recorded = position(api.cloud)
    refusals = [
        api.act({"os-stop": None}),
        api.act({"reboot": {"type": "HARD"}}),
        api.client.simulate_delete(f"/v2.1/servers/{api.id}", headers=DEMO),
        api.client.simulate_put(f"/v2.1/servers/{api.id}/metadata", json={"metadata": {}}, headers=DEMO),
    ]
    unchanged = position(api.cloud)
    by_admin = api.act({"os-stop": None}, headers={})

    assert (locked.status_code, locked.text) == (202, "")
    assert (shown["locked"], shown["locked_reason"]) == (True, "maintenance window")
    assert [error(result) for result in refusals] == [(409, f"Instance {api.id} is locked")] * 4
    assert unchanged == recorded
    assert by_admin.status_code == 202
    record = api.action_record(locked.headers["x-openstack-request-id"])
    assert (record["action"], record["message"], record["project_id"]) == ("lock", None, "demo")
    assert [(e["event"], e["result"]) for e in record["events"]] == [("api_lock", "Success")]


def test_the_owner_locking_again_records_nothing_and_unlocking_clears_the_reason(api: Api) -> None:
    api.act({"lock": None})
    recorded = position(api.cloud)
    again = api.act({"lock": {"locked_reason": "ignored: already locked by its owner"}})
    unchanged = position(api.cloud)
    unlocked = api.act({"unlock": None})
    shown = api.show(DEMO)

    assert again.status_code == 202 and unchanged == recorded
    assert unlocked.status_code == 202
    assert (shown["locked"], shown["locked_reason"]) == (False, None)
    assert api.act({"os-stop": None}).status_code == 202
    record = api.action_record(unlocked.headers["x-openstack-request-id"])
    assert [(e["event"], e["result"]) for e in record["events"]] == [("api_unlock", "Success")]


def test_only_an_admin_undoes_an_admins_lock(api: Api) -> None:
    api.act({"lock": {"locked_reason": "abuse report"}}, headers={})
    recorded = position(api.cloud)

    refused = api.act({"unlock": {}})
    unchanged = position(api.cloud)
    by_admin = api.act({"unlock": {}}, headers={})

    message = "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed."
    assert error(refused) == (403, message)
    assert unchanged == recorded
    assert by_admin.status_code == 202
    assert api.show()["locked"] is False


def test_a_lock_reason_exists_from_2_73(api: Api) -> None:
    early = api.act({"lock": {"locked_reason": "not read before 2.73", "anything": 1}}, headers=v("2.72", DEMO))

    assert early.status_code == 202
    api.catch_up()
    shown_272 = api.client.simulate_get(f"/v2.1/servers/{api.id}", headers=v("2.72", DEMO)).json["server"]
    shown_273 = api.show(DEMO)
    assert shown_272["locked"] is True and "locked_reason" not in shown_272
    assert shown_273["locked_reason"] is None


@pytest.mark.parametrize(
    "lock",
    [{"locked_reason": ""}, {"locked_reason": "x" * 256}, {"locked_reason": 5}, {"reason": "x"}, "now", []],
)
def test_a_bad_lock_reason_is_refused_from_2_73(api: Api, lock: Any) -> None:
    recorded = position(api.cloud)

    result = api.act({"lock": lock})

    assert error(result)[0] == 400
    assert error(result)[1].startswith("Invalid input for field/attribute")
    assert position(api.cloud) == recorded


def test_locked_servers_can_be_listed(api: Api) -> None:
    api.act({"lock": None})
    api.catch_up()

    locked = api.client.simulate_get("/v2.1/servers", params={"locked": "true"}, headers={**LATEST, **DEMO})
    unlocked = api.client.simulate_get("/v2.1/servers", params={"locked": "false"}, headers={**LATEST, **DEMO})

    assert [s["id"] for s in locked.json["servers"]] == [api.id]
    assert unlocked.json["servers"] == []


# --- os-resetState ----------------------------------------------------------------------------


def test_an_admin_resets_a_server_stuck_in_a_task(api: Api) -> None:
    stopping = api.act({"os-stop": None})

    reset = api.act({"os-resetState": {"state": "error"}}, headers={})
    errored = api.state()
    api.report(stopping, "stop")  # the host's late report on the task that was reset away
    after_report = api.state()
    api.act({"os-resetState": {"state": "active"}}, headers={})

    assert (reset.status_code, reset.text) == (202, "")
    assert errored == ("ERROR", "error", None, 1)
    assert after_report == errored
    assert api.state() == ("ACTIVE", "active", None, 1)
    record = api.action_record(reset.headers["x-openstack-request-id"])
    assert (record["action"], record["events"]) == ("resetState", [])


def test_reset_state_is_for_admins_and_other_projects_servers_are_not_found(api: Api) -> None:
    recorded = position(api.cloud)

    own = api.act({"os-resetState": {"state": "error"}})
    foreign = api.act({"os-resetState": {"state": "error"}}, headers=OTHER)

    assert error(own) == (403, "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.")
    assert error(foreign) == (404, f"Instance {api.id} could not be found.")
    assert position(api.cloud) == recorded


# --- bad requests record nothing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"frobnicate": {}}, "There is no such action: frobnicate"),
        ({"os-teleport": {"host": "moon"}}, "There is no such action: os-teleport"),
        ({}, "Malformed request body"),
        ({"pause": None, "unpause": None}, "Malformed request body"),
        ([{"pause": None}], "Malformed request body"),
        ("pause", "Malformed request body"),
        ({"reboot": {}}, "Invalid input for field/attribute reboot. 'type' is a required property"),
        ({"reboot": None}, "Invalid input for field/attribute reboot. Value: null. Invalid input type."),
        (
            {"reboot": {"type": "GENTLE"}},
            "Invalid input for field/attribute type. Value: \"GENTLE\". 'GENTLE' is not one of "
            "['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
        ),
        (
            {"reboot": {"type": "SOFT", "force": True}},
            "Invalid input for field/attribute reboot. Additional properties are not allowed ('force' was unexpected)",
        ),
        ({"os-resetState": {}}, "Invalid input for field/attribute os-resetState. 'state' is a required property"),
        (
            {"os-resetState": {"state": "stopped"}},
            "Invalid input for field/attribute state. Value: \"stopped\". 'stopped' is not one of ['active', 'error']",
        ),
        ({"os-getConsoleOutput": {"length": -2}}, None),
        ({"os-getConsoleOutput": {"length": "ten"}}, None),
        ({"os-getConsoleOutput": {"length": True}}, None),
        ({"os-getConsoleOutput": {"lines": 5}}, None),
        ({"os-getConsoleOutput": None}, None),
    ],
)
def test_a_bad_action_request_is_refused_before_the_server_is_looked_up(
    api: Api, body: Any, message: str | None
) -> None:
    recorded = position(api.cloud)

    on_server = api.act(body)
    on_nothing = api.act(body, server_id=str(uuid.uuid4()))

    assert error(on_server)[0] == 400
    if message is not None:
        assert error(on_server)[1] == message
    assert error(on_nothing) == error(on_server)
    assert position(api.cloud) == recorded


def test_malformed_json_is_a_bad_request(api: Api) -> None:
    result = api.client.simulate_post(f"/v2.1/servers/{api.id}/action", body=b"{pause", headers={**LATEST, **DEMO})

    assert error(result) == (400, "Malformed request body")


@pytest.mark.parametrize(
    "body",
    [
        {"reboot": {"type": "SOFT"}},
        {"os-stop": None},
        {"pause": None},
        {"lock": None},
        {"unlock": None},
        {"os-getConsoleOutput": {}},
    ],
)
def test_another_projects_or_an_unknown_server_is_not_found(api: Api, body: dict[str, Any]) -> None:
    recorded = position(api.cloud)
    unknown = str(uuid.uuid4())

    assert error(api.act(body, headers=OTHER)) == (404, f"Instance {api.id} could not be found.")
    assert error(api.act(body, server_id=unknown)) == (404, f"Instance {unknown} could not be found.")
    assert error(api.act(body, server_id="not-a-uuid")) == (404, "Instance not-a-uuid could not be found.")
    assert position(api.cloud) == recorded
