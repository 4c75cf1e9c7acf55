"""The relay killed mid-stream and restarted: every stored event reaches Kafka."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.wiring import ALL_TOPICS, Transport
from domain.flavor import Flavor, FlavorNameReservation
from tests.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def record_flavors(cloud: Cloud, start: int, count: int, per_save: int = 250) -> None:
    """Many small aggregates, saved in batches: two events per flavor."""
    for first in range(start, start + count, per_save):
        aggregates = []
        for n in range(first, min(first + per_save, start + count)):
            aggregates.append(
                Flavor(
                    flavorid=f"f{n}",
                    name=f"flavor-{n}",
                    vcpus=1,
                    ram=64,
                    disk=0,
                    ephemeral=0,
                    swap=0,
                    rxtx_factor=1.0,
                    is_public=True,
                    description=None,
                )
            )
            aggregates.append(FlavorNameReservation(name=f"flavor-{n}", flavorid=f"f{n}"))
        cloud.save(*aggregates)


def published(bootstrap: str) -> list[tuple[str, int]]:
    """(aggregate id, version) of every event on every Chronova topic, duplicates included."""
    import json

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    partitions = [TopicPartition(t, p) for t in ALL_TOPICS for p in (consumer.partitions_for_topic(t) or ())]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    seen = [(m["aggregate_id"], m["version"]) for m in (json.loads(r.value) for r in consumer)]
    consumer.close()
    return seen


def test_relay_killed_and_restarted_publishes_every_event(cluster: Cluster, postgres_url: str, kafka: str) -> None:
    settings = Settings(database_url=postgres_url, kafka_bootstrap=kafka)
    init = cluster.start("init")
    assert init.process.wait(timeout=60) == 0, init.output()
    Transport(settings)  # creates the topics
    cloud = Cloud(settings.store_env(create_tables=False))
    record_flavors(cloud, 0, 10_000)

    relay = cluster.start("relay")
    positions = cloud.factory.tracking_recorder()
    wait_for(lambda: (positions.max_tracking_id("relay") or 0) > 0, interval=0.005, what="the relay's first batch")
    relay.kill()
    stopped_at = positions.max_tracking_id("relay")
    total = cloud.recorder.max_notification_id()
    assert stopped_at < total, "the relay finished before it was killed; the test proved nothing"

    record_flavors(cloud, 10_000, 500)  # written while no relay runs
    cluster.start("relay")
    total = cloud.recorder.max_notification_id()
    wait_for(lambda: positions.max_tracking_id("relay") == total, timeout=60, what="the restarted relay to catch up")

    stored = {(str(n.originator_id), n.originator_version) for n in cloud.recorder.select_notifications(0, total + 1)}
    seen = published(kafka)
    assert set(seen) == stored  # every stored event was published; duplicates are allowed
