"""The billing consumer: server events from Kafka, folded into usage, stored with their offsets.

Its offsets live in PostgreSQL beside the usage, written in the same transaction; at every start it seeks
to them. Kafka's copy (group `chronova-billing`) is written after each batch only so lag tools see it.
A record it cannot understand is parked on the dead-letter topic with the reason, and its offset is
stored like any other: consumption goes on.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from chronova.billing.fold import Change, change_of
from chronova.billing.store import BillingStore
from chronova.bus import Publisher, Record
from chronova.bus.loop import park
from chronova.messages import SERVER_EVENTS_TOPIC, EventMessage, MalformedMessage

log = logging.getLogger(__name__)

GROUP_ID = "chronova-billing"
CONSUMER_NAME = "billing"


class ServerEventSource:
    """Every partition of the server events topic, read from the offsets billing stored."""

    def __init__(self, bootstrap: str, topic: str = SERVER_EVENTS_TOPIC) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=GROUP_ID,
            client_id=GROUP_ID,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=1000,
        )
        self._partitions = self._wait_for_partitions(topic)
        self._consumer.assign(self._partitions)

    def _wait_for_partitions(self, topic: str) -> list[TopicPartition]:
        deadline = time.monotonic() + 30
        while not (partitions := self._consumer.partitions_for_topic(topic)):
            if time.monotonic() > deadline:
                raise KafkaError(f"topic {topic} has no partitions")
            time.sleep(0.2)
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    def seek(self, offsets: dict[tuple[str, int], int]) -> None:
        for partition in self._partitions:
            stored = offsets.get((partition.topic, partition.partition))
            if stored is None:
                self._consumer.seek_to_beginning(partition)
            else:
                self._consumer.seek(partition, stored)

    def poll(self, timeout: float) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        return [
            Record(m.topic, m.partition, m.offset, m.key.decode(errors="replace") if m.key else None, m.value)
            for messages in batches.values()
            for m in messages
        ]

    def acknowledge(self, offsets: dict[tuple[str, int], int]) -> None:
        """Mirror the stored offsets into the consumer group, for monitoring only; failures are harmless."""
        try:
            self._consumer.commit(
                {TopicPartition(t, p): OffsetAndMetadata(offset, "", -1) for (t, p), offset in offsets.items()}
            )
        except KafkaError as e:
            log.debug("could not mirror offsets to Kafka: %s", e)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def changes_of(records: list[Record], dead_letters: Publisher) -> list[Change]:
    """What the records mean for billing; those that make no sense are parked with the reason."""
    changes = []
    for record in records:
        try:
            changes.append(change_of(EventMessage.from_json(record.value)))
        except MalformedMessage as e:
            park(dead_letters, CONSUMER_NAME, record, str(e))
    return changes


def next_offsets(records: list[Record]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        offsets[key] = max(offsets.get(key, 0), record.offset + 1)
    return offsets


class BillingConsumer:
    def __init__(self, store: BillingStore, source: ServerEventSource, dead_letters: Publisher) -> None:
        self._store = store
        self._source = source
        self._dead_letters = dead_letters

    def run(self, stop: threading.Event) -> None:
        """Until `stop`; any failure ends the run, and the next one seeks to the stored offsets again."""
        self._source.seek(self._store.offsets())
        log.info("billing consuming %s", SERVER_EVENTS_TOPIC)
        while not stop.is_set():
            records = self._source.poll(timeout=0.5)
            if not records:
                continue
            offsets = next_offsets(records)
            self._store.record(changes_of(records, self._dead_letters), offsets)
            self._source.acknowledge(offsets)
