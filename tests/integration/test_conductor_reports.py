"""Reports on a real Kafka topic: garbage is parked with its reason, the loop
goes on, and a report about a server on another host changes nothing."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.messages import DEAD_LETTER_TOPIC, REPORTS_TOPIC
from chronova.reports import Heartbeat, Spawned, encode_report
from chronova.scheduler import Scheduler
from chronova.seed import SEED_IMAGE_ID, seed
from chronova.wiring import Wiring
from domain.commands import CreateServer, RequestContext
from domain.errors import NotFound
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

KEYS = HostKeys(b"test-secret")


def dead_letters(bootstrap: str) -> list[dict]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1500)
    consumer.assign([TopicPartition(DEAD_LETTER_TOPIC, p) for p in consumer.partitions_for_topic(DEAD_LETTER_TOPIC)])
    consumer.seek_to_beginning()
    parked = [json.loads(r.value) for r in consumer]
    consumer.close()
    return parked


def test_malformed_reports_are_parked_and_valid_ones_still_applied(postgres_url: str, kafka: str) -> None:
    settings = Settings(database_url=postgres_url, kafka_bootstrap=kafka, secret="test-secret")
    wiring = Wiring.build(settings, create_tables=True)
    stop = threading.Event()
    consume_reports, _ = wiring.conductor()
    conductor = threading.Thread(target=consume_reports, args=(stop,), daemon=True)
    conductor.start()
    producer = KafkaProducer(bootstrap_servers=kafka)
    host = f"h-{uuid.uuid4().hex[:6]}"
    inventories = inventories_to_dict(default_inventories(4, 4096, 40))
    try:
        producer.send(REPORTS_TOPIC, key=b"x", value=b"{not json")
        producer.send(REPORTS_TOPIC, key=b"x", value=b'{"type": "format_disk", "host": "h"}')
        key = KEYS.key(host)
        impostor = Heartbeat(f"{host}-victim", inventories, {})
        producer.send(REPORTS_TOPIC, key=host.encode(), value=encode_report(impostor, key, time.time()))
        producer.send(
            REPORTS_TOPIC, key=host.encode(), value=encode_report(Heartbeat(host, inventories, {}), key, time.time())
        )
        producer.flush()
        cloud = Cloud(settings.store_env(create_tables=False))
        wait_for(lambda: _exists(cloud, host), what="the valid heartbeat to register the host")
        assert cloud.host(host).up

        def all_parked() -> list[str] | None:
            reasons = [p["reason"] for p in dead_letters(kafka)]
            return reasons if len(reasons) >= 3 else None

        reasons = wait_for(all_parked, what="three parked reports")
        # Different keys, different partitions: the parking order is not fixed.
        assert len(reasons) == 3
        for expected in ("report is not JSON", "report is not signed", f"does not match host '{host}-victim'"):
            assert sum(expected in reason for reason in reasons) == 1, reasons
        assert not _exists(cloud, f"{host}-victim")
    finally:
        stop.set()
        conductor.join(timeout=10)


def _exists(cloud: Cloud, host: str) -> bool:
    try:
        cloud.host(host)
    except NotFound:
        return False
    return True


def test_a_report_about_another_hosts_server_is_dropped(postgres_url: str) -> None:
    cloud = Cloud(Settings(database_url=postgres_url).store_env())
    seed(cloud, Settings())
    for name in ("honest", "rogue"):
        host = Host(name=name, inventories=inventories_to_dict(default_inventories(4, 4096, 40)), hypervisor={})
        host.report_alive()
        cloud.save(host)
    ctx = RequestContext("admin", "admin", "req-1", True)
    server = cloud.create_server(CreateServer(name="vm", flavor_ref="1", image_ref=str(SEED_IMAGE_ID)), ctx)
    scheduler = Scheduler(cloud)
    scheduler.index.catch_up(cloud.recorder.max_notification_id())
    placed_on = scheduler.schedule(server.id)
    liar = "rogue" if placed_on == "honest" else "honest"
    before = cloud.recorder.max_notification_id()
    report = Spawned(host=liar, server_id=str(server.id), power_state=1)
    conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS)
    conductor.handle(Record(REPORTS_TOPIC, 0, 0, liar, encode_report(report, KEYS.key(liar), time.time())))
    conductor.flush()
    assert cloud.recorder.max_notification_id() == before
    assert cloud.server(server.id).vm_state == "building"
    # The same report from the host the server is on is applied: the test can fail.
    honest = encode_report(Spawned(placed_on, str(server.id), 1), KEYS.key(placed_on), time.time())
    conductor.handle(Record(REPORTS_TOPIC, 0, 1, placed_on, honest))
    conductor.flush()
    assert cloud.server(server.id).vm_state == "active"
