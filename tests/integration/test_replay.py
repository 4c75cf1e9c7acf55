"""Replays on real PostgreSQL: blue/green rebuild while the query API answers,
verify catching a view row changed behind the projector's back, and the cloud
as of a past moment read through the query API."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from falcon.testing import TestClient

from chronova.audit.cli import main as audit
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity.tokens import TokenSigner, token_key
from chronova.servers import create_servers, delete_server, update_server
from domain.commands import CreateFlavor, CreateServer, RequestContext, UpdateServer
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from projections.as_of import FrozenCloud, build, open_views
from projections.rebuild import PARTITIONED, rebuild, verify
from projections.replay import EventDecoder, Partition, count_events, read_log, tables_of
from projections.runner import ALL_DDL, ALL_PROJECTIONS, event_type_of, projector
from projections.servers import ServersProjection
from projections.views import PostgresViewStore, open_view_store
from query_api.app import create_app
from tests.conftest import REPO, free_port, temporary_database, wait_for

SECRET = "replay-test-secret"
ADMIN = RequestContext("admin", "admin", "req-replay", is_admin=True)
LATEST = {"OpenStack-API-Version": "compute 2.100"}


def _headers() -> dict[str, str]:
    signer = TokenSigner(token_key(SECRET.encode()))
    token, _ = signer.issue(
        user_id="admin", user_name="admin", project_id="admin", project_name="admin", roles=("admin",)
    )
    return {"X-Auth-Token": token, **LATEST}


class Store:
    """A PostgreSQL store with its live views, and a few ways to make events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.settings = Settings(database_url=url, secret=SECRET)
        self.cloud = Cloud(self.settings.store_env(create_tables=True))
        self.views = open_view_store(self.cloud.factory, ALL_DDL)
        assert isinstance(self.views, PostgresViewStore)
        self.image = uuid.uuid4()
        self.cloud.register_image(
            self.image,
            name="cirros",
            owner="admin",
            disk_format="qcow2",
            container_format="bare",
            min_disk=0,
            min_ram=0,
            size=1,
            visibility="public",
        )
        self.cloud.create_flavor(CreateFlavor(name="m1.tiny", vcpus=1, ram=512, disk=1, flavorid="1"))
        host = Host(
            name="compute1",
            inventories=inventories_to_dict(default_inventories(64, 65536, 1000)),
            hypervisor={"type": "QEMU", "version": 8002000, "host_ip": "192.0.2.10", "cpu_info": {}},
        )
        host.report_alive()
        self.cloud.save(host)

    def boot(self, name: str, count: int = 1) -> list[str]:
        command = CreateServer(name=name, flavor_ref="1", image_ref=str(self.image), max_count=count)
        servers = create_servers(self.cloud, command, ADMIN).servers
        for server in servers:
            server.schedule("compute1")
            server.record_spawned("compute1", 1)
        self.cloud.save(*servers)
        return [str(server.id) for server in servers]

    def catch_up(self) -> None:
        projector(self.cloud, self.views).catch_up()

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as db:
            cursor = db.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        self.views.datastore.close()
        self.cloud.close()


@pytest.fixture
def store() -> Iterator[Store]:
    with temporary_database() as url:
        store = Store(url)
        try:
            yield store
        finally:
            store.close()


def test_the_cheap_decoder_reads_every_event_as_the_domain_mapper_does(store: Store) -> None:
    store.boot("vm", 3)
    decoder = EventDecoder(store.cloud)
    for page in read_log(store.cloud, 0, None):
        for notification in page:
            assert decoder.message(notification) == decoder._by_mapper(notification)


def test_the_server_leaves_out_other_types_and_partitions_and_the_log_count_covers_all(store: Store) -> None:
    store.boot("vm", 5)
    everything = [n for page in read_log(store.cloud, 0, None, page_size=3) for n in page]
    wanted = frozenset({"Server.Created", "Server.Spawned"})
    expected = [n.id for n in everything if event_type_of(n.topic) in wanted]
    assert len(expected) == 10  # five servers, two of the types each
    typed = read_log(store.cloud, 0, None, page_size=3, event_types=wanted)
    assert [n.id for page in typed for n in page] == expected
    shares = [
        [n.id for page in read_log(store.cloud, 0, None, 3, Partition(index, 2), wanted) for n in page]
        for index in range(2)
    ]
    assert sorted(shares[0] + shares[1]) == expected and not set(shares[0]) & set(shares[1])
    assert count_events(store.cloud, 0, everything[-1].id) == len(everything)
    assert count_events(store.cloud, everything[2].id, everything[-1].id) == len(everything) - 3


def _live_projector(store: Store, stop: threading.Event) -> None:
    """What `chronova projections` does: positions read once, then kept in memory while it follows the log."""
    live = projector(store.cloud, store.views)
    positions = live.positions()
    while not stop.is_set():
        batch = store.cloud.recorder.select_notifications(
            start=min(positions.values()), limit=7, inclusive_of_start=False
        )
        if batch:
            live.apply(batch, positions)
        else:
            time.sleep(0.01)


def test_rebuild_switches_while_the_query_api_answers_and_the_projector_carries_on(store: Store) -> None:
    ids = store.boot("vm", 30)
    store.catch_up()
    client = TestClient(create_app(store.cloud, store.views, store.settings), headers=_headers())
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def read() -> None:
        nonlocal answered
        while not stop.is_set():
            result = client.simulate_get(f"/v2.1/servers/{ids[0]}")
            if result.status_code != 200 or result.json["server"]["name"] != "vm-1":
                failures.append(f"{result.status_code} {result.text[:200]}")
            answered += 1

    threads = [threading.Thread(target=read), threading.Thread(target=_live_projector, args=(store, stop))]
    for thread in threads:
        thread.start()
    try:
        # New servers keep arriving while the rebuild runs, and the live projector keeps projecting them.
        writer = threading.Thread(target=lambda: [store.boot(f"late{n}", 3) for n in range(10)])
        writer.start()
        outcome = rebuild(store.cloud, store.views, ServersProjection())
        writer.join()
        latest = store.boot("after-rebuild")[0]
        end = store.cloud.recorder.max_notification_id() or 0
        assert store.views.wait_for("servers", end, timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures[:3]
    assert answered > 0
    assert outcome.events_read > 0 and outcome.position > 0
    # Every server once, each as a replay would show it: nothing lost or applied twice across the switch.
    assert store.sql("SELECT count(*) FROM servers")[0][0] == 30 + 10 * 3 + 1
    assert client.simulate_get(f"/v2.1/servers/{latest}").json["server"]["name"] == "after-rebuild"
    for projection in ALL_PROJECTIONS:
        assert verify(store.cloud, store.views, projection).differences == [], projection.name
    assert store.sql("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'rebuild%%'") == []


def test_rebuild_of_a_view_nobody_projected_starts_the_projector_after_it(store: Store) -> None:
    store.boot("vm", 4)
    assert audit(["--database-url", store.url, "rebuild", "all"]) == 0
    assert store.sql("SELECT count(*) FROM servers")[0][0] == 4
    store.boot("next")
    store.catch_up()
    assert store.sql("SELECT count(*) FROM servers")[0][0] == 5
    assert audit(["--database-url", store.url, "verify", "all"]) == 0


def _rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    return sorted(store.sql(f"SELECT * FROM {table}"), key=repr)


def test_a_rebuild_in_partitions_makes_the_same_rows_as_one_fold(store: Store) -> None:
    ids = store.boot("vm", 12)
    host = store.cloud.host("compute1")
    for server_id in ids:
        host.claim(server_id, {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1})
    store.cloud.save(host)
    for server_id in ids[:6]:
        server = store.cloud.server(uuid.UUID(server_id))
        server.lock(by_owner=True, reason="test", request_id="req-lock", user_id="admin")
        server.unlock(request_id="req-unlock", user_id="admin")
        store.cloud.save(server)
    for server_id in ids[::3]:
        update_server(store.cloud, uuid.UUID(server_id), UpdateServer({"name": "renamed"}), ADMIN)
        delete_server(store.cloud, uuid.UUID(server_id), ADMIN)
        deleted = store.cloud.server(uuid.UUID(server_id))
        deleted.record_deleted(host="compute1")
        store.cloud.save(deleted)
        host = store.cloud.host("compute1")
        host.release(server_id)
        store.cloud.save(host)
    table = store.cloud.recorder.events_table_name  # type: ignore[attr-defined]
    shares = store.sql(f"SELECT DISTINCT get_byte(uuid_send(originator_id), 15) %% 3 FROM {table}")
    assert len(shares) > 1  # else every partition but one would be empty and prove nothing
    partitioned = [p for p in ALL_PROJECTIONS if p.name in PARTITIONED]
    assert {"servers", "instance_actions"} <= {p.name for p in partitioned}
    seen: dict[int, dict[str, list[tuple[Any, ...]]]] = {}
    for partitions in (1, 3):
        for projection in partitioned:
            outcome = rebuild(store.cloud, store.views, projection, partitions=partitions)
            assert outcome.events_read == store.cloud.recorder.max_notification_id(), projection.name
            assert store.views.max_tracking_id(projection.name) == outcome.position
        seen[partitions] = {t: _rows(store, t) for p in partitioned for t in tables_of(p)}
    assert seen[1]["servers"] and seen[1]["instance_actions"] and seen[1]["hypervisors"]
    assert seen[3] == seen[1]


def test_verify_reports_a_view_row_changed_by_sql(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    ids = store.boot("vm", 3)
    store.catch_up()
    assert audit(["--database-url", store.url, "verify", "servers"]) == 0
    store.sql("UPDATE servers SET name = 'tampered' WHERE id = %s", (ids[1],))
    capsys.readouterr()
    assert audit(["--database-url", store.url, "verify", "servers"]) == 1
    out = capsys.readouterr().out
    assert "tampered" in out and "vm-2" in out
    assert "servers: 2 difference(s)" in out


def test_as_of_shows_the_old_state_through_the_query_api(store: Store) -> None:
    server = store.boot("first-name")[0]
    time.sleep(0.01)
    created = datetime.now(UTC)
    time.sleep(0.01)
    update_server(store.cloud, uuid.UUID(server), UpdateServer({"name": "second-name"}), ADMIN)
    time.sleep(0.01)
    renamed = datetime.now(UTC)
    time.sleep(0.01)
    delete_server(store.cloud, uuid.UUID(server), ADMIN)
    deleted = store.cloud.server(uuid.UUID(server))
    deleted.record_deleted(host="compute1")  # what the conductor records when the agent reports the domain gone
    store.cloud.save(deleted)
    store.catch_up()

    def name_as_of(moment: datetime) -> tuple[int, str | None, str | None]:
        copy = build(store.cloud, store.settings, moment)
        views = open_views(copy.env)
        try:
            client = TestClient(create_app(FrozenCloud(copy.position), views, store.settings), headers=_headers())
            result = client.simulate_get(f"/v2.1/servers/{server}")
            shown = result.json.get("server") or {}
            return result.status_code, shown.get("name"), shown.get("status")
        finally:
            views.datastore.close()

    assert name_as_of(created) == (200, "first-name", "ACTIVE")
    assert name_as_of(renamed) == (200, "second-name", "ACTIVE")
    assert name_as_of(datetime.now(UTC)) in ((404, None, None), (200, "second-name", "DELETED"))


def test_bad_input_is_one_line_and_a_non_zero_exit(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store.boot("vm")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases = [
        (["rebuild", "nonsense"], "unknown projection 'nonsense'"),
        (["verify", "nonsense"], "unknown projection 'nonsense'"),
        (["as-of", future], "is in the future"),
        (["as-of", "2001-01-01T00:00:00Z"], "is before the first event"),
        (["as-of", "yesterday"], "expected an ISO 8601 time"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert audit(["--database-url", store.url, *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("chronova audit: error:") and message in err, err


def test_verify_reports_an_altered_event(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store.boot("vm", 2)
    store.catch_up()
    assert audit(["--database-url", store.url, "seal"]) == 0
    table = store.cloud.recorder.events_table_name  # type: ignore[attr-defined]
    store.sql(
        f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), 'vm-1', 'vm-X'), 'UTF8')"
        " WHERE topic LIKE %s",
        ("%Server.Created",),
    )
    capsys.readouterr()
    assert audit(["--database-url", store.url, "verify", "flavors"]) == 1
    out = capsys.readouterr().out
    assert "events: altered:" in out, out


def test_as_of_serves_the_query_api_from_its_own_schema(store: Store, tmp_path: Path) -> None:
    server = store.boot("first-name")[0]
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    update_server(store.cloud, uuid.UUID(server), UpdateServer({"name": "second-name"}), ADMIN)
    store.catch_up()
    port = free_port()
    log = (tmp_path / "as-of.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chronova.cli", "audit", "--database-url", store.url, "as-of", moment.isoformat(),
         "--serve", str(port)],
        env={**os.environ, "CHRONOVA_SECRET": SECRET},
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def shown() -> requests.Response | None:
            try:
                return requests.get(f"http://127.0.0.1:{port}/v2.1/servers/{server}", headers=_headers(), timeout=5)
            except requests.ConnectionError:
                assert process.poll() is None, (tmp_path / "as-of.log").read_text()
                return None

        response = wait_for(shown, timeout=60, what="the as-of query API")
        assert response.status_code == 200, response.text
        assert response.json()["server"]["name"] == "first-name"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    assert store.sql("SELECT name FROM servers WHERE id = %s", (server,)) == [("second-name",)]
