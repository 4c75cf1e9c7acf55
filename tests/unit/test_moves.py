"""The move sagas end to end in one process: the API records the request, the scheduler claims
a destination, the hosts' agents act on libvirt's test driver and the conductor records each
step, as the relay would deliver them (here: straight from the store's log, synchronously).

Two simulated hosts either share one hypervisor (test:///default, as libvirtd's test driver
shares it between agents) or each have their own (a test driver per host file)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import libvirt
import pytest
from falcon.testing import TestClient

from agents.compute import ComputeAgent
from agents.libvirt_driver import LibvirtHypervisor
from agents.power_sync import PowerStateSync
from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.messages import EventMessage
from chronova.scheduler import Scheduler
from chronova.web import create_router
from command_api.app import create_app as create_command_app
from domain.commands import CreateFlavor
from projections.views import ViewStore
from query_api.app import create_app as create_query_app
from tests.unit.conftest import ADMIN, DEMO, LATEST, SECRET

KEYS = HostKeys(SECRET.encode())
_NODE = (
    "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads><active>8</active>"
    "<mhz>2000</mhz></cpu><memory>16777216</memory></node>"
)


class Outbox:
    """The agent's publisher, read synchronously by the test (the in-process bus waits for a reader thread)."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.records.append(Record(topic, 0, len(self.records), key, value))

    def flush(self) -> None:
        """Published at once."""

    def drain(self) -> list[Record]:
        records, self.records = self.records, []
        return records


class Deployment:
    """The scheduler, two hosts' agent and the conductor, fed from the store's log on demand."""

    def __init__(self, cloud: Cloud, catch_up: Callable[[], None], uris: dict[str, str]) -> None:
        self.cloud = cloud
        self.catch_up = catch_up
        self.hypervisors = {
            name: LibvirtHypervisor(uri, name, vcpus=8, memory_mb=16384, shutdown_timeout=0.1)
            for name, uri in uris.items()
        }
        self.reports = Outbox()
        self.agent_keys = {name: KEYS.key(name) for name in uris}
        self.agent = ComputeAgent(self.hypervisors, self.agent_keys, self.reports, self.reports)
        self.scheduler = Scheduler(cloud)
        self.conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS)
        self.position = 0
        self.paused_agent = False
        self._held: list[Record] = []  # what a paused agent has not seen yet

    def run(self) -> None:
        """Deliver everything new until nothing moves any more."""
        for _ in range(50):
            notifications = self.cloud.recorder.select_notifications(
                start=self.position, limit=1000, inclusive_of_start=False
            )
            for notification in notifications:
                message = EventMessage.from_domain_event(
                    notification.id, self.cloud.mapper.to_domain_event(notification)
                )
                record = Record(message.topic, 0, notification.id, message.aggregate_id, message.to_json())
                self.scheduler.handle(record)
                self._held.append(record)
                self.position = notification.id
            held, self._held = ([], self._held) if self.paused_agent else (self._held, [])
            for record in held:
                self.agent.handle(record)
            self.scheduler.flush()
            self.agent.flush()
            reports = self.reports.drain()
            for record in reports:
                self.conductor.handle(record)
            self.conductor.flush()
            if not notifications and not reports and not held:
                break
        self.catch_up()

    def heartbeat(self) -> None:
        self.agent.send_heartbeats()
        self.run()

    def owner(self, server_id: str) -> list[tuple[str, int]]:
        """(host, libvirt state) of every domain of the server, over every distinct hypervisor."""
        found = []
        for hypervisor in {h.connection.getURI(): h for h in self.hypervisors.values()}.values():
            try:
                domain = hypervisor.connection.lookupByUUIDString(server_id)
            except libvirt.libvirtError:
                continue
            found.append((hypervisor.owner(domain), domain.state()[0]))
        return sorted(found)

    def allocations(self) -> dict[str, dict[str, dict[str, int]]]:
        return {name: self.cloud.host(name).allocations for name in self.hypervisors}


@pytest.fixture(params=["shared", "separate"])
def deployment(request: pytest.FixtureRequest, cloud: Cloud, catch_up: Callable[[], None], tmp_path: Path) -> Any:
    if request.param == "shared":
        uris = {"hostA": "test:///default", "hostB": "test:///default"}
    else:
        uris = {}
        for name in ("hostA", "hostB"):
            (tmp_path / f"{name}.xml").write_text(_NODE)
            uris[name] = f"test://{tmp_path}/{name}.xml"
    deployment = Deployment(cloud, catch_up, uris)
    deployment.heartbeat()
    return deployment


@pytest.fixture
def flavors(cloud: Cloud) -> None:
    cloud.create_flavor(CreateFlavor(name="m1.small", vcpus=2, ram=1024, disk=1, flavorid="2"))


def act(client: TestClient, server_id: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.simulate_post(f"/v2.1/servers/{server_id}/action", json=body, headers={**LATEST, **(headers or {})})


def show(client: TestClient, server_id: str) -> dict[str, Any]:
    return client.simulate_get(f"/v2.1/servers/{server_id}", headers=LATEST).json["server"]


def placed(client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]]) -> tuple[str, str]:
    server_id = boot(headers=DEMO)["id"]
    deployment.run()
    server = show(client, server_id)
    assert server["status"] == "ACTIVE", server
    return server_id, server["OS-EXT-SRV-ATTR:host"]


def other(host: str) -> str:
    return "hostB" if host == "hostA" else "hostA"


def test_resize_then_confirm_moves_the_guest_and_releases_the_source(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], flavors: None
) -> None:
    server_id, source = placed(client, deployment, boot)
    deployment.paused_agent = True
    accepted = act(client, server_id, {"resize": {"flavorRef": "2"}}, DEMO)
    deployment.run()
    during = show(client, server_id)
    deployment.paused_agent = False
    deployment.run()
    resized = show(client, server_id)
    allocations = deployment.allocations()

    assert accepted.status_code == 202, accepted.text
    assert (during["status"], during["OS-EXT-STS:task_state"]) == ("RESIZE", "resize_migrating")
    assert (resized["status"], resized["OS-EXT-SRV-ATTR:host"], resized["flavor"]["vcpus"]) == (
        "VERIFY_RESIZE",
        other(source),
        2,
    )
    (migration_id,) = allocations[source]
    assert allocations[source][migration_id]["VCPU"] == 1
    assert allocations[other(source)][server_id]["VCPU"] == 2
    assert deployment.owner(server_id)[-1] == (other(source), libvirt.VIR_DOMAIN_RUNNING)

    confirmed = act(client, server_id, {"confirmResize": None}, DEMO)
    deployment.run()
    final = show(client, server_id)
    again = act(client, server_id, {"confirmResize": None}, DEMO)

    assert confirmed.status_code == 204, confirmed.text
    assert (final["status"], final["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    assert deployment.allocations() == {source: {}, other(source): {server_id: allocations[other(source)][server_id]}}
    assert deployment.owner(server_id) == [(other(source), libvirt.VIR_DOMAIN_RUNNING)]
    assert (again.status_code, again.json["conflictingRequest"]["message"]) == (
        409,
        f"Cannot 'confirmResize' instance {server_id} while it is in vm_state active",
    )
    actions = client.simulate_get(f"/v2.1/servers/{server_id}/os-instance-actions", headers=LATEST).json
    assert [a["action"] for a in actions["instanceActions"]][:2] == ["confirmResize", "resize"]
    request_id = accepted.headers["x-openstack-request-id"]
    record = client.simulate_get(f"/v2.1/servers/{server_id}/os-instance-actions/{request_id}", headers=LATEST).json
    steps = {e["event"]: e["result"] for e in record["instanceAction"]["events"]}
    assert steps == {
        "conductor_migrate_server": "Success",
        "compute_resize_instance": "Success",
        "compute_finish_resize": "Success",
    }


def test_revert_puts_the_guest_back_with_its_old_flavor_and_claim(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], flavors: None
) -> None:
    server_id, source = placed(client, deployment, boot)
    before = deployment.allocations()
    act(client, server_id, {"resize": {"flavorRef": "2"}}, DEMO)
    deployment.run()

    reverted = act(client, server_id, {"revertResize": None}, DEMO)
    deployment.run()
    final = show(client, server_id)

    assert reverted.status_code == 202, reverted.text
    assert (final["status"], final["OS-EXT-SRV-ATTR:host"], final["flavor"]["vcpus"]) == ("ACTIVE", source, 1)
    assert deployment.allocations() == before
    assert deployment.owner(server_id) == [(source, libvirt.VIR_DOMAIN_RUNNING)]


def test_cold_and_live_migration_to_the_other_host(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]]
) -> None:
    server_id, source = placed(client, deployment, boot)
    migrated = act(client, server_id, {"migrate": None})
    deployment.run()
    act(client, server_id, {"confirmResize": None})
    deployment.run()
    after_cold = show(client, server_id)

    live = act(client, server_id, {"os-migrateLive": {"host": source, "block_migration": "auto"}})
    deployment.run()
    after_live = show(client, server_id)
    migrations = client.simulate_get("/v2.1/os-migrations", headers=LATEST).json["migrations"]

    assert (migrated.status_code, live.status_code) == (202, 202), live.text
    assert (after_cold["status"], after_cold["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", other(source))
    assert (after_live["status"], after_live["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", source)
    assert deployment.owner(server_id) == [(source, libvirt.VIR_DOMAIN_RUNNING)]
    assert deployment.allocations()[other(source)] == {}
    assert [(m["migration_type"], m["status"], m["source_compute"], m["dest_compute"]) for m in migrations] == [
        ("live-migration", "completed", other(source), source),
        ("migration", "confirmed", source, other(source)),
    ]


def test_evacuate_only_off_a_down_host_and_from_2_95_it_lands_stopped(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], cloud: Cloud
) -> None:
    server_id, source = placed(client, deployment, boot)
    refused = act(client, server_id, {"evacuate": {}})
    host = cloud.host(source)
    host.force_down(True)
    cloud.save(host)
    deployment.run()
    accepted = act(client, server_id, {"evacuate": {}})
    deployment.run()
    final = show(client, server_id)

    assert (refused.status_code, refused.json["badRequest"]["message"]) == (
        400,
        f"Compute service of {source} is still in use.",
    )
    assert accepted.status_code == 200, accepted.text
    assert (final["status"], final["OS-EXT-SRV-ATTR:host"]) == ("SHUTOFF", other(source))
    assert deployment.allocations()[source] == {}


def test_a_host_back_from_the_dead_destroys_its_copy_of_an_evacuated_server_once(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], cloud: Cloud
) -> None:
    """With a driver per host the source still has the domain after the evacuation (its agent never died
    here, as a rebooted host's libvirt may keep it); its power-state sync must not leave two copies."""
    server_id, source = placed(client, deployment, boot)
    host = cloud.host(source)
    host.force_down(True)
    cloud.save(host)
    deployment.run()
    assert act(client, server_id, {"evacuate": {}}).status_code == 200
    deployment.run()
    dest = other(source)
    separate = deployment.hypervisors[source].connection.getURI() != deployment.hypervisors[dest].connection.getURI()
    assert [owner for owner, _ in deployment.owner(server_id)] == (sorted([dest, source]) if separate else [dest])

    sync = PowerStateSync(deployment.hypervisors, deployment.agent_keys, deployment.reports)
    sync.report_once()
    deployment.run()
    versions = cloud.server(uuid.UUID(server_id)).version
    sync.report_once()
    deployment.run()

    assert [owner for owner, _ in deployment.owner(server_id)] == [dest]
    assert show(client, server_id)["OS-EXT-SRV-ATTR:host"] == dest
    assert cloud.server(uuid.UUID(server_id)).version == versions  # asked once, whatever the next sync sees
    migrations = client.simulate_get(f"/v2.1/servers/{server_id}/migrations", headers=LATEST)
    listed = client.simulate_get("/v2.1/os-migrations", headers=LATEST).json["migrations"]
    assert [m["status"] for m in listed if m["instance_uuid"] == server_id] == (
        ["completed"] if separate else ["done"]
    ), migrations.text


def test_a_host_never_destroys_a_domain_another_host_defined(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]]
) -> None:
    server_id, source = placed(client, deployment, boot)
    assert deployment.hypervisors[other(source)].destroy_left_behind(server_id) is False
    assert [owner for owner, _ in deployment.owner(server_id)] == [source]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"resize": {"flavorRef": "1"}}, DEMO, 400, "When resizing, instances must change flavor!"),
        ({"resize": {"flavorRef": "404"}}, DEMO, 400, "Unable to locate requested flavor."),
        ({"resize": {}}, DEMO, 400, "Invalid input for field/attribute resize. 'flavorRef' is a required property"),
        ({"migrate": {"host": "nowhere"}}, {}, 400, "Compute host nowhere could not be found."),
        (
            {"os-migrateLive": {"host": "nowhere", "block_migration": "auto"}},
            {},
            400,
            "Compute host nowhere could not be found.",
        ),
        (
            {"migrate": None},
            DEMO,
            403,
            "Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed.",
        ),
        ({"confirmResize": None}, DEMO, 409, "Cannot 'confirmResize' instance {id} while it is in vm_state active"),
    ],
)
def test_bad_move_requests_get_novas_errors_and_record_nothing(
    client: TestClient,
    deployment: Deployment,
    boot: Callable[..., dict[str, Any]],
    cloud: Cloud,
    body: dict[str, Any],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    server_id, _ = placed(client, deployment, boot)
    recorded = cloud.recorder.max_notification_id()

    result = act(client, server_id, body, headers)

    ((_, detail),) = result.json.items()
    assert (result.status_code, detail["message"]) == (status, message.format(id=server_id))
    assert cloud.recorder.max_notification_id() == recorded


def test_no_valid_host_leaves_the_server_active_with_a_fault(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], cloud: Cloud
) -> None:
    server_id, source = placed(client, deployment, boot)
    target = cloud.host(other(source))
    target.disable("maintenance")
    cloud.save(target)
    deployment.run()
    accepted = act(client, server_id, {"migrate": None})
    deployment.run()
    final = show(client, server_id)
    migrations = client.simulate_get("/v2.1/os-migrations", headers=LATEST).json["migrations"]
    request_id = accepted.headers["x-openstack-request-id"]
    record = client.simulate_get(f"/v2.1/servers/{server_id}/os-instance-actions/{request_id}", headers=LATEST).json

    assert (final["status"], final["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    assert "fault" not in final  # Nova shows a fault only on a server in ERROR
    (step,) = record["instanceAction"]["events"]
    assert (step["event"], step["result"]) == ("conductor_migrate_server", "Error")
    assert migrations[0]["status"] == "error"
    assert list(deployment.allocations()[source]) == [server_id]


def test_a_repeated_step_report_changes_nothing(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], cloud: Cloud
) -> None:
    server_id, _ = placed(client, deployment, boot)
    act(client, server_id, {"migrate": None})
    deployment.run()
    version = cloud.server(uuid.UUID(server_id)).version

    deployment.position = 0  # the whole log delivered again, as after a crash before commits
    deployment.run()

    assert cloud.server(uuid.UUID(server_id)).version == version


def test_deleting_a_resized_server_releases_both_claims(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]], flavors: None
) -> None:
    server_id, _ = placed(client, deployment, boot)
    act(client, server_id, {"resize": {"flavorRef": "2"}}, DEMO)
    deployment.run()

    deleted = client.simulate_delete(f"/v2.1/servers/{server_id}", headers=DEMO)
    deployment.run()

    assert deleted.status_code == 204
    assert deployment.allocations() == {"hostA": {}, "hostB": {}}


@pytest.mark.parametrize("end", ["confirmResize", "revertResize"])
def test_a_resize_on_the_same_host_holds_two_claims_and_keeps_one(
    client: TestClient,
    deployment: Deployment,
    boot: Callable[..., dict[str, Any]],
    flavors: None,
    cloud: Cloud,
    views: ViewStore,
    settings: Settings,
    end: str,
) -> None:
    server_id, source = placed(client, deployment, boot)
    target = cloud.host(other(source))
    target.disable("maintenance")
    cloud.save(target)
    same_host = replace(settings, allow_resize_to_same_host=True)
    client = TestClient(
        create_router(create_command_app(cloud, views, same_host), create_query_app(cloud, views, same_host)),
        headers=ADMIN,
    )
    act(client, server_id, {"resize": {"flavorRef": "2"}}, DEMO)
    deployment.run()
    during = deployment.allocations()[source]

    act(client, server_id, {end: None}, DEMO)
    deployment.run()
    final = show(client, server_id)

    assert sorted(claim["VCPU"] for claim in during.values()) == [1, 2]
    assert (final["status"], final["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", source)
    kept = 2 if end == "confirmResize" else 1
    assert [(consumer, claim["VCPU"]) for consumer, claim in deployment.allocations()[source].items()] == [
        (server_id, kept)
    ]
    domain = deployment.hypervisors[source].connection.lookupByUUIDString(server_id)
    assert (domain.isActive(), domain.info()[3]) == (1, kept)


def test_a_live_migration_in_progress_is_listed_under_its_server(
    client: TestClient, deployment: Deployment, boot: Callable[..., dict[str, Any]]
) -> None:
    server_id, source = placed(client, deployment, boot)
    deployment.paused_agent = True
    act(client, server_id, {"os-migrateLive": {"host": None, "block_migration": False}})
    deployment.run()
    during = show(client, server_id)
    (listed,) = client.simulate_get(f"/v2.1/servers/{server_id}/migrations", headers=LATEST).json["migrations"]
    (migration,) = client.simulate_get("/v2.1/os-migrations", headers=LATEST).json["migrations"]
    deployment.paused_agent = False
    deployment.run()
    after = client.simulate_get(f"/v2.1/servers/{server_id}/migrations", headers=LATEST).json["migrations"]

    assert (during["status"], during["OS-EXT-STS:task_state"]) == ("MIGRATING", "migrating")
    assert (listed["server_uuid"], listed["status"], listed["source_compute"], listed["dest_compute"]) == (
        server_id,
        "running",
        source,
        other(source),
    )
    assert migration["links"][0]["href"].endswith(f"/v2.1/servers/{server_id}/migrations/{listed['id']}")
    assert after == []
