"""Kafka through kafka-python.

Consumers assign themselves every partition of their topics instead of
joining a group (no rebalancing, no join delay); the group id is used only to
store their committed offsets in Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from chronova.bus import Record

log = logging.getLogger(__name__)


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int) -> None:
    """Create missing topics; every process calls this at start, so order of start-up does not matter."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chronova-admin")
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


class KafkaPublisher:
    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            linger_ms=2,
            retries=5,
            max_in_flight_requests_per_connection=1,
        )
        self._futures: list = []

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self._futures.append(self._producer.send(topic, key=key.encode(), value=value))

    def flush(self) -> None:
        futures, self._futures = self._futures, []
        self._producer.flush()
        for future in futures:
            future.get(timeout=30)  # raises the send error, if any


class KafkaRecordConsumer:
    def __init__(self, bootstrap: str, topics: list[str], group_id: str) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=1000,
            # Under load, wait for a few KB rather than fetching a handful of records
            # at a time; when idle this adds at most fetch_max_wait_ms of latency.
            fetch_min_bytes=16 * 1024,
            fetch_max_wait_ms=20,
        )
        self._assigned = self._partitions(topics)
        self._consumer.assign(self._assigned)

    def _partitions(self, topics: list[str]) -> list[TopicPartition]:
        deadline = time.monotonic() + 30
        assigned: list[TopicPartition] = []
        for topic in topics:
            partitions = self._consumer.partitions_for_topic(topic)
            while not partitions:
                if time.monotonic() > deadline:
                    raise KafkaError(f"topic {topic} has no partitions")
                time.sleep(0.2)
                partitions = self._consumer.partitions_for_topic(topic)
            assigned.extend(TopicPartition(topic, p) for p in sorted(partitions))
        return assigned

    def poll(self, timeout: float) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        return [
            Record(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                key=m.key.decode(errors="replace") if m.key is not None else None,
                value=m.value,
            )
            for messages in batches.values()
            for m in messages
        ]

    def commit(self) -> None:
        self._consumer.commit()

    def rewind(self) -> None:
        for partition in self._assigned:
            committed = self._consumer.committed(partition)
            if committed is None:
                self._consumer.seek_to_beginning(partition)
            else:
                self._consumer.seek(partition, committed)
