"""The billing consumer on real PostgreSQL and a real Tansu broker: redelivery, restart, dead letters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from falcon.testing import TestClient
from kafka import KafkaConsumer

from chronova.billing.consumer import BillingConsumer, ServerEventSource
from chronova.billing.fold import change_of
from chronova.billing.http import create_app
from chronova.billing.replay import replayed_usage
from chronova.billing.store import BillingStore
from chronova.billing.usage import Window, usage
from chronova.bus.kafka import KafkaPublisher, ensure_topics
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.follower import LogFollower
from chronova.identity.tokens import TokenSigner, token_key
from chronova.messages import DEAD_LETTER_TOPIC, SERVER_EVENTS_TOPIC
from chronova.relay import Relay
from domain.server import Server
from tests.conftest import ChronovaProcess, free_port, wait_for
from tests.unit import nova_shapes
from tests.unit.test_billing_fold import SMALL, T0, life, totals


def run_consumer(store: BillingStore, kafka: str, publisher: KafkaPublisher, until_offsets: int) -> None:
    """Consume until `until_offsets` records are accounted for, then stop, as a restart would."""
    stop = threading.Event()
    source = ServerEventSource(kafka)
    thread = threading.Thread(target=BillingConsumer(store, source, publisher).run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: sum(store.offsets().values()) >= until_offsets, timeout=30, what="billing to catch up")
    finally:
        stop.set()
        thread.join(timeout=10)
        source.close()


def test_redelivery_restart_and_dead_letters(postgres_url: str, kafka: str) -> None:
    ensure_topics(kafka, [SERVER_EVENTS_TOPIC, DEAD_LETTER_TOPIC], partitions=2)
    store = BillingStore(Settings(database_url=postgres_url).postgres_conninfo())
    store.create_tables()
    publisher = KafkaPublisher(kafka, "test")
    events = life()
    for message in events[:4]:
        publisher.publish(SERVER_EVENTS_TOPIC, message.aggregate_id, message.to_json())
    publisher.publish(SERVER_EVENTS_TOPIC, events[0].aggregate_id, b"{not json")
    publisher.flush()
    run_consumer(store, kafka, publisher, until_offsets=5)

    # Restarted: the rest, then everything again (the relay publishes at least once).
    for message in events[4:] + events:
        publisher.publish(SERVER_EVENTS_TOPIC, message.aggregate_id, message.to_json())
    publisher.flush()
    run_consumer(store, kafka, publisher, until_offsets=5 + len(events) * 2 - 4)

    end = T0 + timedelta(hours=10)
    window = Window(T0, end)
    stored = usage(store.segments(T0, end), window, end)
    expected = totals(events, window, end)
    assert [(r.flavor, r.seconds, r.vcpu_hours, r.disk_gb_hours) for r in stored] == [
        (r.flavor, r.seconds, r.vcpu_hours, r.disk_gb_hours) for r in expected
    ]

    reader = KafkaConsumer(DEAD_LETTER_TOPIC, bootstrap_servers=kafka, auto_offset_reset="earliest")
    parked = [json.loads(m.value) for batch in reader.poll(timeout_ms=5000).values() for m in batch]
    reader.close()
    assert [(p["consumer"], p["value"]) for p in parked] == [("billing", "{not json")]
    assert "not an event envelope" in parked[0]["reason"]


def test_kill_9_mid_stream_then_restart_gives_the_same_totals(postgres_url: str, kafka: str, tmp_path: Path) -> None:
    ensure_topics(kafka, [SERVER_EVENTS_TOPIC, DEAD_LETTER_TOPIC], partitions=2)
    servers = [str(uuid.uuid4()) for _ in range(300)]
    events = [replace(m, aggregate_id=server) for server in servers for m in life()]
    events = [e for i in range(9) for e in events[i::9]]  # servers interleaved, each in its own order
    publisher = KafkaPublisher(kafka, "test")
    for message in events:
        publisher.publish(SERVER_EVENTS_TOPIC, message.aggregate_id, message.to_json())
    publisher.flush()
    store = BillingStore(Settings(database_url=postgres_url).postgres_conninfo())
    env = {"CHRONOVA_DATABASE_URL": postgres_url, "CHRONOVA_KAFKA": kafka, "CHRONOVA_SECRET": "s"}
    env |= {"CHRONOVA_BILLING_PORT": str(free_port()), "CHRONOVA_KAFKA_PARTITIONS": "2"}
    first = ChronovaProcess("billing", env, tmp_path, "run")

    def progress() -> int:
        try:
            return sum(store.offsets().values())
        except psycopg.Error:
            return 0

    wait_for(lambda: progress() > 0, timeout=60, what="billing to start consuming")
    first.kill()
    assert progress() < len(events), "the consumer finished before it was killed: nothing was tested"
    second = ChronovaProcess("billing", env, tmp_path, "run")
    try:
        wait_for(lambda: progress() == len(events), timeout=60, what="billing to catch up after kill -9")
    finally:
        second.stop()
    end = T0 + timedelta(hours=10)
    window = Window(T0, end)
    stored = usage(store.segments(T0, end), window, end)
    expected = totals(events, window, end)
    assert len(expected) == 600
    assert [(r.server_id, r.flavor, r.seconds, r.ram_mb_hours) for r in stored] == [
        (r.server_id, r.flavor, r.seconds, r.ram_mb_hours) for r in expected
    ]


def test_export_refuses_bad_input_in_one_line(postgres_url: str) -> None:
    BillingStore(Settings(database_url=postgres_url).postgres_conninfo()).create_tables()
    env = {**os.environ, "CHRONOVA_DATABASE_URL": postgres_url}
    for args in (["--since", "2999-01-01"], ["--since", "2026-02-01", "--until", "2026-01-01"], ["--project", "nope"]):
        done = subprocess.run(
            [sys.executable, "-m", "chronova.cli", "billing", "export", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "chronova billing: error:" in done.stderr


def test_usage_agrees_with_a_replay_of_the_event_store(postgres_url: str, kafka: str) -> None:
    settings = Settings(database_url=postgres_url, kafka_bootstrap=kafka, kafka_partitions=2)
    ensure_topics(kafka, [SERVER_EVENTS_TOPIC, DEAD_LETTER_TOPIC], partitions=2)
    cloud = Cloud(settings.store_env(create_tables=True))
    for n in range(20):
        server = Server(
            project_id=f"p{n % 3}", user_id="u", request_id="r", name=f"vm{n}", flavor=SMALL, image_id="i",
            metadata={}, user_data=None, description=None, availability_zone=None, key_name=None,
        )  # fmt: skip
        server.schedule("h1")
        server.record_spawned("h1", 1)
        if n % 2:
            server.request_delete("r", "u")
            server.record_deleted("h1")
        cloud.save(server)
    relay = Relay(cloud, cloud.factory.tracking_recorder(), KafkaPublisher(kafka, "relay"))
    stop = threading.Event()
    follower = LogFollower(cloud, settings)
    threading.Thread(target=relay.run, args=(follower, stop), daemon=True).start()
    store = BillingStore(settings.postgres_conninfo())
    store.create_tables()
    try:
        wait_for(lambda: relay.position() == cloud.recorder.max_notification_id(), what="the relay to publish")
        run_consumer(store, kafka, KafkaPublisher(kafka, "dl"), until_offsets=20 * 3 + 10 * 2)
    finally:
        stop.set()
    now = datetime.now(UTC)
    window = Window(now - timedelta(hours=1), now)
    stored = usage(store.segments(window.since, window.until), window, now)
    replayed = replayed_usage(cloud, window, now)
    assert len(replayed) == 20
    assert [(r.server_id, r.seconds, r.vcpu_hours) for r in stored] == [
        (r.server_id, r.seconds, r.vcpu_hours) for r in replayed
    ]


def test_http_serves_nova_usage_and_the_export(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, secret="billing-test-secret")
    store = BillingStore(settings.postgres_conninfo())
    store.create_tables()
    store.record([change_of(m) for m in life()[:5]], {})
    now = T0 + timedelta(hours=2)
    client = TestClient(create_app(store, settings, clock=lambda: now))
    token, _ = TokenSigner(token_key(settings.cloud_secret())).issue(
        user_id="u", user_name="admin", project_id="admin", project_name="admin", roles=("admin",)
    )
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.40"}
    query = "start=2026-01-01T00:00:00&end=2026-01-01T02:00:00&detailed=1"
    listed = client.simulate_get("/v2.1/os-simple-tenant-usage", query_string=query, headers=headers)
    assert listed.status_code == 200, listed.text
    (tenant,) = listed.json["tenant_usages"]
    assert not nova_shapes.mismatches(tenant, {**nova_shapes.TENANT_USAGE, "server_usages": list})
    (server,) = tenant["server_usages"]
    assert not nova_shapes.mismatches(server, nova_shapes.SERVER_USAGE)
    assert server["hours"] == pytest.approx(118 / 60) and server["state"] == "active"
    exported = client.simulate_get(
        "/v2.1/os-billing-usage", query_string="format=csv&since=2026-01-01T00:00:00Z", headers=headers
    )
    assert exported.status_code == 200, exported.text
    header, row = exported.text.splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["stopped_seconds"] == "1800.0"
    future = client.simulate_get("/v2.1/os-billing-usage", query_string="until=2999-01-01", headers=headers)
    assert future.status_code == 400 and "in the future" in future.json["badRequest"]["message"]
