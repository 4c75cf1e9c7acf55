"""The Server aggregate's life: each step's state, and the steps it refuses."""

import pytest

from domain.errors import InvalidState, WrongHost
from domain.server import NO_VALID_HOST, Server
from domain.states import PowerState, TaskState, VmState, server_status

FLAVOR = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "extra_specs": {}}


def new_server() -> Server:
    return Server(
        project_id="p1",
        user_id="u1",
        request_id="req-1",
        name="vm1",
        flavor=FLAVOR,
        image_id="img",
        metadata={},
        user_data=None,
        description=None,
        availability_zone=None,
        key_name=None,
    )


def replayed(server: Server) -> Server:
    """The same server rebuilt from its events alone."""
    rebuilt = None
    for event in server.collect_events():
        rebuilt = event.mutate(rebuilt)
    return rebuilt


def test_a_new_server_is_building_and_scheduling():
    server = new_server()
    assert (server.vm_state, server.task_state, server.power_state) == (VmState.BUILDING, TaskState.SCHEDULING, 0)
    assert server_status(server.vm_state, server.task_state) == "BUILD"


def test_boot_reaches_active_on_the_scheduled_host_and_replays_identically():
    server = new_server()
    server.schedule("h1")
    server.record_spawned("h1", PowerState.RUNNING)
    assert (server.vm_state, server.task_state, server.host) == (VmState.ACTIVE, None, "h1")
    assert server_status(server.vm_state, server.task_state) == "ACTIVE"
    rebuilt = replayed(server)
    assert (rebuilt.vm_state, rebuilt.task_state, rebuilt.host, rebuilt.version) == ("active", None, "h1", 3)


def test_the_placement_event_carries_everything_the_agent_needs():
    server = new_server()
    server.collect_events()
    server.schedule("h1")
    (scheduled,) = server.collect_events()
    assert scheduled.host == "h1" and scheduled.flavor == FLAVOR and scheduled.name == "vm1"


def test_a_report_from_another_host_is_refused():
    server = new_server()
    server.schedule("h1")
    with pytest.raises(WrongHost):
        server.record_spawned("h2", PowerState.RUNNING)
    assert server.vm_state == VmState.BUILDING


def test_a_second_spawned_report_contradicts_the_state_machine():
    server = new_server()
    server.schedule("h1")
    server.record_spawned("h1", PowerState.RUNNING)
    with pytest.raises(InvalidState, match=r"Cannot 'spawn' instance .* while it is in vm_state active"):
        server.record_spawned("h1", PowerState.RUNNING)


def test_no_valid_host_puts_the_server_in_error_with_nova_fault():
    server = new_server()
    server.fail_scheduling("ComputeFilter removed 2")
    assert server.vm_state == VmState.ERROR
    assert server.fault == {"code": 500, "message": NO_VALID_HOST, "details": "ComputeFilter removed 2"}
    with pytest.raises(InvalidState):
        server.schedule("h1")


def test_spawn_failure_is_an_error_with_the_reason():
    server = new_server()
    server.schedule("h1")
    server.record_spawn_failed("h1", "libvirt said no")
    assert server.vm_state == VmState.ERROR and server.fault["details"] == "libvirt said no"


def test_delete_goes_through_deleting_and_is_idempotent():
    server = new_server()
    server.schedule("h1")
    server.record_spawned("h1", PowerState.RUNNING)
    server.request_delete("req-2", "u1")
    server.request_delete("req-3", "u1")
    assert server.task_state == TaskState.DELETING
    assert sum(1 for e in server.collect_events() if type(e).__name__ == "DeletionStarted") == 1
    server.record_deleted("h1")
    assert server.vm_state == VmState.DELETED
    with pytest.raises(InvalidState):
        server.request_delete("req-4", "u1")


def test_deleted_needs_a_delete_in_progress():
    server = new_server()
    server.schedule("h1")
    with pytest.raises(InvalidState, match="task_state spawning"):
        server.record_deleted("h1")
