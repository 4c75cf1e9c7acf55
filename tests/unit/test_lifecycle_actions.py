"""The lifecycle actions through the HTTP apps and the conductor: rebuild, shelve,
shelveOffload, unshelve, rescue, unrescue, createImage, changePassword, and soft
delete with restore, forceDelete and the reclaimer; each with Nova's task, end
state, instance action and refusals, and bad requests that record nothing."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from chronova import lifecycle
from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.images.store import FileStore
from chronova.liveness import HostLiveness
from chronova.messages import REPORTS_TOPIC
from chronova.reclaimer import Reclaimer
from chronova.reports import (
    ActionCompleted,
    ActionFailed,
    Deleted,
    MoveStepDone,
    Report,
    SnapshotTaken,
    encode_report,
)
from chronova.scheduler import Scheduler
from domain import host_actions
from domain.commands import RequestContext
from domain.host import Host
from domain.image import Image
from domain.states import VmState
from projections.views import ViewStore
from tests.unit.conftest import DEMO, OTHER, SECRET
from tests.unit.test_server_actions import HOST, KEYS, Api, api, error, position

__all__ = ["api"]  # the fixture, shared with the power actions' tests


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Soft delete on (an hour to reclaim) and shelved servers kept on their host until offloaded."""
    return Settings(
        database_url=f"sqlite:///{tmp_path}",
        secret=SECRET,
        console_output_timeout=0.5,
        action_view_timeout=0,
        reclaim_instance_interval=3600,
        shelved_offload_time=-1,
    )


def deliver(cloud: Cloud, report: Report, files: FileStore | None = None) -> None:
    conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS, image_files=files)
    signed = encode_report(report, KEYS.key(report.host), time.time())
    conductor.handle(Record(REPORTS_TOPIC, 0, 0, report.host, signed))
    conductor.flush()


def complete(api: Api, accepted: Any, action: str, power_state: int) -> None:
    request_id = accepted.headers["x-openstack-request-id"]
    deliver(api.cloud, ActionCompleted(HOST, api.id, request_id, action, power_state))


def host_with_claim(cloud: Cloud, server_id: str) -> Host:
    host = Host(name=HOST, inventories={"VCPU": {"total": 8}, "MEMORY_MB": {"total": 8192}}, hypervisor={})
    host.claim(server_id, {"VCPU": 1, "MEMORY_MB": 512})
    cloud.save(host)
    return host


# (steps before, action body, report's action, task in flight, status in flight, vm_state after, power after)
_LIFECYCLE = [
    pytest.param([], {"rebuild": None}, "rebuild", "rebuilding", "REBUILD", "active", 1, id="rebuild"),
    pytest.param(
        [({"os-stop": None}, "stop", 4)], {"rebuild": None}, "rebuild", "rebuilding", "REBUILD", "stopped", 4,
        id="rebuild-stopped",
    ),
    pytest.param([], {"shelve": None}, "shelve", "shelving", "ACTIVE", "shelved", 4, id="shelve"),
    pytest.param(
        [({"shelve": None}, "shelve", 4)], {"unshelve": None}, "unshelve", "unshelving", "SHELVED", "active", 1,
        id="unshelve",
    ),
    pytest.param([], {"rescue": None}, "rescue", "rescuing", "ACTIVE", "rescued", 1, id="rescue"),
    pytest.param(
        [({"rescue": {"adminPass": "x"}}, "rescue", 1)], {"unrescue": None}, "unrescue", "unrescuing", "RESCUE",
        "active", 1, id="unrescue",
    ),
    pytest.param([], None, "delete", "soft-deleting", "ACTIVE", "soft-delete", 4, id="soft-delete"),
    pytest.param(
        [(None, "delete", 4)], {"restore": None}, "restore", "restoring", "SOFT_DELETED", "active", 1, id="restore"
    ),
]  # fmt: skip
_STATUS = {"active": "ACTIVE", "stopped": "SHUTOFF", "shelved": "SHELVED", "rescued": "RESCUE"}
_STEP = {"unshelve": "compute_start_instance", "delete": "compute_soft_delete_instance"}


def _ask(api: Api, body: dict[str, Any] | None, image_id: str) -> Any:
    """None is DELETE /servers/{id}; a rebuild names the server's image unless it says otherwise."""
    if body is None:
        return api.client.simulate_delete(f"/v2.1/servers/{api.id}", headers=DEMO)
    if body == {"rebuild": None}:
        body = {"rebuild": {"imageRef": image_id, "name": "rebuilt", "metadata": {"k": "v"}}}
    return api.act(body)


@pytest.mark.parametrize(("before", "body", "action", "task", "in_flight", "ends_in", "power"), _LIFECYCLE)
def test_a_lifecycle_action_waits_in_its_task_until_the_host_reports(
    api: Api,
    image_id: str,
    before: list[tuple[dict[str, Any] | None, str, int]],
    body: dict[str, Any] | None,
    action: str,
    task: str,
    in_flight: str,
    ends_in: str,
    power: int,
) -> None:
    for step, name, power_after in before:
        complete(api, _ask(api, step, image_id), name, power_after)
    vm_state_before = api.state()[1]

    accepted = _ask(api, body, image_id)
    during = api.state()
    complete(api, accepted, action, power)
    record = api.action_record(accepted.headers["x-openstack-request-id"])

    assert accepted.status_code in (200, 202, 204), accepted.text
    assert during[:3] == (in_flight, vm_state_before, task)
    assert api.state() == (_STATUS.get(ends_in, "SOFT_DELETED"), ends_in, None, power)
    assert record["action"] == action
    (event,) = record["events"]
    assert (event["event"], event["result"], event["host"]) == (_STEP.get(action, f"compute_{action}_instance"),
                                                                "Success", HOST)  # fmt: skip


def test_rebuild_answers_with_the_server_and_takes_on_the_new_image_name_and_metadata(
    api: Api, cloud: Cloud, image_id: str
) -> None:
    other_image = uuid.uuid4()
    cloud.register_image(
        other_image, name="fedora", owner="admin", disk_format="qcow2", container_format="bare",
        min_disk=0, min_ram=0, size=1, visibility="public",
    )  # fmt: skip
    body = {"imageRef": str(other_image), "name": "renamed", "metadata": {"role": "db"}, "adminPass": "s3cret"}

    result = api.act({"rebuild": body})
    shown = api.show()

    assert result.status_code == 202, result.text
    server = result.json["server"]
    assert (server["name"], server["image"]["id"], server["metadata"], server["adminPass"]) == (
        "renamed", str(other_image), {"role": "db"}, "s3cret",
    )  # fmt: skip
    assert (server["status"], shown["status"], shown["name"], shown["image"]["id"]) == (
        "REBUILD", "REBUILD", "renamed", str(other_image),
    )  # fmt: skip


def test_shelve_with_offload_time_zero_offloads_and_the_claim_is_released(api: Api, cloud: Cloud) -> None:
    host_with_claim(cloud, api.id)
    ctx = RequestContext(project_id="demo", user_id="alice", request_id="req-shelve-now")

    lifecycle.shelve(cloud, uuid.UUID(api.id), 0, ctx)
    deliver(cloud, ActionCompleted(HOST, api.id, "req-shelve-now", "shelve", 0))
    deliver(cloud, ActionCompleted(HOST, api.id, "req-shelve-now", "shelve", 0))  # redelivered: dropped

    server = api.show()
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-STS:power_state"]) == (
        "SHELVED_OFFLOADED", None, 0,
    )  # fmt: skip
    assert api.id not in cloud.host(HOST).allocations


def test_shelve_offload_of_a_shelved_server_releases_its_claim(api: Api, cloud: Cloud) -> None:
    host_with_claim(cloud, api.id)
    complete(api, api.act({"shelve": None}), "shelve", 4)

    offloading = api.act({"shelveOffload": None})
    during = api.state()
    complete(api, offloading, "shelveOffload", 0)

    assert during[2] == "shelving_offloading"
    assert api.state() == ("SHELVED_OFFLOADED", "shelved_offloaded", None, 0)
    assert api.id not in cloud.host(HOST).allocations
    assert api.action_record(offloading.headers["x-openstack-request-id"])["events"][0]["event"] == (
        "compute_shelve_offload_instance"
    )


def test_rescue_returns_a_password_it_never_records(api: Api, cloud: Cloud) -> None:
    given = api.act({"rescue": {"adminPass": "my-rescue-pass"}})
    complete(api, given, "rescue", 1)
    complete(api, api.act({"unrescue": None}), "unrescue", 1)
    generated = api.act({"rescue": None})

    assert (given.status_code, given.json) == (200, {"adminPass": "my-rescue-pass"})
    assert generated.status_code == 200 and len(generated.json["adminPass"]) == lifecycle.PASSWORD_LENGTH
    stored = b"".join(
        bytes(event.state) for event in cloud.recorder.select_events(uuid.UUID(api.id))
    )  # every event of the server, as stored
    assert b"my-rescue-pass" not in stored and generated.json["adminPass"].encode() not in stored


def test_create_image_registers_a_queued_snapshot_that_the_host_report_fills(
    api: Api, cloud: Cloud, tmp_path: Path
) -> None:
    files = FileStore(tmp_path / "images")
    accepted = api.act({"createImage": {"name": "snap", "metadata": {"purpose": "backup"}}})
    image_id = accepted.json["image_id"]
    queued = cloud.load(uuid.UUID(image_id), Image)
    during = api.state()

    data = b"<domain>snapshot</domain>"
    request_id = accepted.headers["x-openstack-request-id"]
    report = SnapshotTaken(HOST, api.id, request_id, image_id, base64.b64encode(data).decode(), 1)
    deliver(cloud, report, files)
    deliver(cloud, report, files)  # redelivered: nothing more
    active = cloud.load(uuid.UUID(image_id), Image)

    assert accepted.status_code == 202
    assert (queued.status, queued.name, queued.visibility, queued.owner) == ("queued", "snap", "private", "demo")
    assert (queued.properties["instance_uuid"], queued.properties["image_type"]) == (api.id, "snapshot")
    assert queued.properties["purpose"] == "backup"
    assert during == ("ACTIVE", "active", "image_snapshot", 1)
    assert (active.status, active.size) == ("active", len(data))
    assert files.open(active.location).read() == data  # type: ignore[arg-type,union-attr]
    assert len(list((tmp_path / "images").iterdir())) == 1
    assert api.state() == ("ACTIVE", "active", None, 1)
    assert api.action_record(request_id)["events"][0]["event"] == "compute_snapshot_instance"


def test_a_failed_snapshot_deletes_its_queued_image_as_nova_does(api: Api, cloud: Cloud) -> None:
    accepted = api.act({"createImage": {"name": "snap"}})
    request_id = accepted.headers["x-openstack-request-id"]

    deliver(cloud, ActionFailed(HOST, api.id, request_id, "createImage", "disk unreadable", 1))

    assert cloud.load(uuid.UUID(accepted.json["image_id"]), Image).status == "deleted"
    assert api.state() == ("ACTIVE", "active", None, 1)
    assert api.action_record(request_id)["events"][0]["result"] == "Error"


def test_create_image_before_2_45_answers_with_a_location(api: Api) -> None:
    result = api.client.simulate_post(
        f"/v2.1/servers/{api.id}/action",
        json={"createImage": {"name": "snap"}},
        headers={"OpenStack-API-Version": "compute 2.44", **DEMO},
    )

    assert (result.status_code, result.text) == (202, "")
    assert result.headers["location"].split("/image/v2/images/")[1] == str(uuid.UUID(result.headers["location"][-36:]))


def test_a_snapshot_report_naming_another_image_is_refused(api: Api, cloud: Cloud, tmp_path: Path) -> None:
    accepted = api.act({"createImage": {"name": "snap"}})
    other = api.act({"createImage": {"name": "x"}}, server_id=None)  # refused: a snapshot is in flight
    foreign = uuid.uuid4()
    request_id = accepted.headers["x-openstack-request-id"]
    recorded = position(cloud)

    deliver(cloud, SnapshotTaken(HOST, api.id, request_id, str(foreign), "AAAA", 1), FileStore(tmp_path / "i"))

    assert error(other) == (409, f"Cannot 'createImage' instance {api.id} while it is in task_state image_snapshot")
    assert position(cloud) == recorded
    assert not (tmp_path / "i").exists()


def test_change_password_is_refused_as_nova_refuses_it_without_a_guest_agent(api: Api) -> None:
    recorded = position(api.cloud)

    result = api.act({"changePassword": {"adminPass": "n3w"}})

    assert error(result) == (409, "Set admin password is not supported")
    assert position(api.cloud) == recorded


def test_force_delete_deletes_a_soft_deleted_server_at_once(api: Api) -> None:
    host_with_claim(api.cloud, api.id)
    complete(api, _ask(api, None, ""), "delete", 4)

    result = api.act({"forceDelete": None})
    during = api.state()
    deliver(api.cloud, Deleted(HOST, api.id))
    api.catch_up()

    assert result.status_code == 202
    assert during[2] == "deleting"
    assert api.client.simulate_get(f"/v2.1/servers/{api.id}").status_code == 404
    assert api.id not in api.cloud.host(HOST).allocations


def test_the_reclaimer_deletes_soft_deleted_servers_once_they_are_old_enough(api: Api, views: ViewStore) -> None:
    complete(api, _ask(api, None, ""), "delete", 4)
    api.catch_up()
    now = time.time()
    early = Reclaimer(api.cloud, views, reclaim_interval=3600, shelved_offload_time=-1, clock=lambda: now + 60)
    late = Reclaimer(api.cloud, views, reclaim_interval=3600, shelved_offload_time=-1, clock=lambda: now + 3700)

    assert early.run_once() == []
    assert late.run_once() == [api.id]
    api.catch_up()
    assert late.run_once() == []  # already being deleted
    assert api.state()[1:3] == ("soft-delete", "deleting")


def test_the_reclaimer_offloads_shelved_servers_after_the_offload_time(api: Api, views: ViewStore) -> None:
    complete(api, api.act({"shelve": None}), "shelve", 4)
    api.catch_up()
    later = time.time() + 120
    reclaimer = Reclaimer(api.cloud, views, reclaim_interval=0, shelved_offload_time=60, clock=lambda: later)

    assert reclaimer.run_once() == [api.id]
    assert api.state()[1:3] == ("shelved", "shelving_offloading")


# --- refusals: Nova's bodies, nothing recorded ----------------------------------------------------

_REFUSED = [
    ({"rebuild": {}}, 400, "Invalid input for field/attribute rebuild. 'imageRef' is a required property"),
    ({"rebuild": {"imageRef": str(uuid.UUID(int=7))}}, 400, "Cannot find image for rebuild"),
    ({"rebuild": {"imageRef": "x", "personality": []}}, 400, None),
    ({"createImage": {}}, 400, "Invalid input for field/attribute createImage. 'name' is a required property"),
    (
        {"changePassword": {}},
        400,
        "Invalid input for field/attribute changePassword. 'adminPass' is a required property",
    ),
    ({"restore": None}, 409, "Cannot 'restore' instance {id} while it is in vm_state active"),
    ({"unrescue": None}, 409, "Cannot 'unrescue' instance {id} while it is in vm_state active"),
    ({"shelveOffload": None}, 409, "Cannot 'shelveOffload' instance {id} while it is in vm_state active"),
    ({"unshelve": None}, 409, "Cannot 'unshelve' instance {id} while it is in vm_state active"),
    ({"rescue": {"rescue_image_ref": str(uuid.UUID(int=8))}}, 400, f"Image {uuid.UUID(int=8)} could not be found."),
]


@pytest.mark.parametrize(("body", "status", "message"), _REFUSED)
def test_bad_lifecycle_requests_are_refused_and_record_nothing(
    api: Api, body: dict[str, Any], status: int, message: str | None
) -> None:
    recorded = position(api.cloud)

    result = api.act(body)

    code, text = error(result)
    assert code == status
    if message is not None:
        assert text == message.format(id=api.id)
    assert position(api.cloud) == recorded


_ANY_ACTION = [
    {"rebuild": {"imageRef": str(uuid.UUID(int=7))}},
    {"shelve": None},
    {"rescue": None},
    {"createImage": {"name": "s"}},
    {"restore": None},
    {"forceDelete": None},
]


@pytest.mark.parametrize("body", _ANY_ACTION)
def test_another_projects_server_is_not_found(api: Api, body: dict[str, Any]) -> None:
    recorded = position(api.cloud)

    result = api.act(body, headers=OTHER)

    assert error(result) == (404, f"Instance {api.id} could not be found.")
    assert position(api.cloud) == recorded


def test_a_locked_server_refuses_its_members_lifecycle_actions(api: Api, image_id: str) -> None:
    api.act({"lock": None}, headers={})  # an admin's lock
    refusals = [error(api.act(body)) for body in ({"shelve": None}, {"rescue": None}, {"unrescue": None})]
    refusals.append(error(api.act({"rebuild": {"imageRef": image_id}})))
    snapshot = api.act({"createImage": {"name": "s"}})  # Nova's snapshot does not look at the lock

    assert refusals == [(409, f"Instance {api.id} is locked")] * 4
    assert snapshot.status_code == 202


def _offloaded(api: Api, cloud: Cloud) -> None:
    inventories = {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 8192}, "DISK_GB": {"total": 100}}
    host = Host(name=HOST, inventories=inventories, hypervisor={})
    host.report_alive()
    host.claim(api.id, {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1})
    cloud.save(host)
    complete(api, api.act({"shelve": None}), "shelve", 4)
    complete(api, api.act({"shelveOffload": None}), "shelveOffload", 0)


def schedule(cloud: Cloud, server_id: str) -> None:
    """What the scheduler does with the server's MoveRequested, once it has seen every host."""
    scheduler = Scheduler(cloud)
    scheduler.index.catch_up(position(cloud))
    scheduler.schedule(uuid.UUID(server_id))


def test_unshelving_an_offloaded_server_schedules_it_again_and_its_new_host_starts_it(api: Api, cloud: Cloud) -> None:
    _offloaded(api, cloud)

    accepted = api.act({"unshelve": None})
    requested = cloud.server(uuid.UUID(api.id))
    schedule(cloud, api.id)
    schedule(cloud, api.id)  # redelivered: placed once
    placed = cloud.server(uuid.UUID(api.id))
    migration_id = placed.migration["id"]  # type: ignore[index]
    deliver(cloud, MoveStepDone(HOST, api.id, migration_id, "unshelve_instance", 1))
    deliver(cloud, MoveStepDone(HOST, api.id, migration_id, "unshelve_instance", 1))  # redelivered: dropped
    unshelved = cloud.server(uuid.UUID(api.id))

    assert accepted.status_code == 202
    assert (requested.vm_state, requested.task_state, requested.host) == ("shelved_offloaded", "unshelving", None)
    assert (placed.task_state, placed.migration["step"], placed.migration["step_host"]) == (  # type: ignore[index]
        "spawning", "unshelve_instance", HOST,
    )  # fmt: skip
    assert (unshelved.vm_state, unshelved.task_state, unshelved.host, unshelved.power_state) == (
        "active", None, HOST, 1,
    )  # fmt: skip
    assert api.id in cloud.host(HOST).allocations


def test_a_failed_unshelve_leaves_the_server_offloaded_and_releases_the_new_claim(api: Api, cloud: Cloud) -> None:
    _offloaded(api, cloud)
    api.act({"unshelve": None})
    schedule(cloud, api.id)
    migration_id = cloud.server(uuid.UUID(api.id)).migration["id"]  # type: ignore[index]

    deliver(cloud, MoveStepDone(HOST, api.id, migration_id, "unshelve_instance", 0, reason="no memory"))
    server = cloud.server(uuid.UUID(api.id))

    assert (server.vm_state, server.task_state, server.host) == ("shelved_offloaded", None, None)
    assert server.fault["message"] == "no memory"  # type: ignore[index]
    assert api.id not in cloud.host(HOST).allocations


def test_unshelve_to_a_host_is_for_admins_and_offloaded_servers(api: Api) -> None:
    recorded = position(api.cloud)
    at_2_91 = {"OpenStack-API-Version": "compute 2.91"}

    member = api.act({"unshelve": {"host": HOST}}, headers={**at_2_91, **DEMO})
    too_early = api.act({"unshelve": {"host": HOST}}, headers={"OpenStack-API-Version": "compute 2.90"})
    zone = api.act({"unshelve": {"availability_zone": "az1"}}, headers=at_2_91)

    assert error(member) == (403, "Policy doesn't allow os_compute_api:os-shelve:unshelve_to_host to be performed.")
    assert error(too_early)[0] == 400 and error(zone)[0] == 400
    assert position(api.cloud) == recorded


# --- the domain rules --------------------------------------------------------------------------


def test_end_states_follow_nova() -> None:
    assert host_actions.REBUILD.end_state(VmState.STOPPED) == VmState.STOPPED
    assert host_actions.REBUILD.end_state(VmState.ERROR) == VmState.ACTIVE
    assert host_actions.SNAPSHOT.end_state(VmState.PAUSED) == VmState.PAUSED
    assert host_actions.host_action("shelve", {"offload": True}) is host_actions.SHELVE_AND_OFFLOAD
    assert host_actions.SHELVE_AND_OFFLOAD.args == {"offload": True}
    assert host_actions.host_action("shelve", host_actions.SHELVE.args) is host_actions.SHELVE
