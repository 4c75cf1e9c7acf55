"""The one place that wires real adapters to Chronova's components.

Each component is a `run(stop)` callable; the CLI runs one of them per
process (distributed) or all of them as threads of one process (embedded).
The transport is the only thing that differs between the two.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chronova.bus import Consumer, Publisher, Record
from chronova.bus.loop import consume
from chronova.bus.memory import MemoryBus
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.follower import LogFollower
from chronova.messages import (
    CONSOLE_REQUESTS_TOPIC,
    DEAD_LETTER_TOPIC,
    REPORTS_TOPIC,
    SERVER_EVENTS_TOPIC,
    events_topic,
)
from chronova.relay import Relay

if TYPE_CHECKING:
    from agents.images import GuestImages

Component = Callable[[threading.Event], None]

ALL_TOPICS = (
    SERVER_EVENTS_TOPIC,
    events_topic("Host"),
    events_topic("Flavor"),
    events_topic("FlavorNameReservation"),
    events_topic("Image"),
    events_topic("User"),
    events_topic("Project"),
    events_topic("Keypair"),
    events_topic("QuotaSet"),
    events_topic("HostAggregate"),
    events_topic("HostAggregateRegistry"),
    events_topic("ServerGroup"),
    CONSOLE_REQUESTS_TOPIC,
    REPORTS_TOPIC,
    DEAD_LETTER_TOPIC,
)


class Transport:
    """Kafka when CHRONOVA_KAFKA is set, else one in-process bus."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.memory_bus = None if settings.uses_kafka else MemoryBus()
        if settings.uses_kafka:
            from chronova.bus.kafka import ensure_topics

            ensure_topics(settings.kafka_bootstrap, ALL_TOPICS, settings.kafka_partitions)

    def publisher(self, client_id: str) -> Publisher:
        if self.memory_bus is not None:
            return self.memory_bus.publisher()
        from chronova.bus.kafka import KafkaPublisher

        return KafkaPublisher(self._settings.kafka_bootstrap, client_id)

    def consumer(self, topics: list[str], group_id: str) -> Consumer:
        if self.memory_bus is not None:
            return self.memory_bus.consumer(topics)
        from chronova.bus.kafka import KafkaRecordConsumer

        return KafkaRecordConsumer(self._settings.kafka_bootstrap, topics, group_id)

    def close(self) -> None:
        if self.memory_bus is not None:
            self.memory_bus.close()


@dataclass
class Wiring:
    settings: Settings
    transport: Transport
    cloud: Cloud

    @classmethod
    def build(cls, settings: Settings, create_tables: bool) -> Wiring:
        cloud = Cloud(settings.store_env(create_tables))  # settings errors surface before any network wait
        return cls(settings=settings, transport=Transport(settings), cloud=cloud)

    def relay(self) -> Component:
        relay = Relay(
            self.cloud,
            positions=self.cloud.factory.tracking_recorder(),
            publisher=self.transport.publisher("chronova-relay"),
        )
        return lambda stop: self._following(relay.run, stop)

    def projections(self) -> Component:
        from projections.runner import ALL_DDL, projector
        from projections.views import open_view_store

        views = open_view_store(self.cloud.factory, ALL_DDL)
        runner = projector(self.cloud, views)
        return lambda stop: self._following(runner.run, stop)

    def sealer(self) -> Component:
        """Tamper evidence: seals each stored event (chronova.audit.integrity)."""
        from chronova.audit.integrity import Sealer

        sealer = Sealer(self.cloud)
        return lambda stop: self._following(sealer.run, stop)

    def _following(self, run: Callable[[LogFollower, threading.Event], None], stop: threading.Event) -> None:
        """Each (re)start follows the log with a fresh LISTEN connection, closed on the way out."""
        follower = LogFollower(self.cloud, self.settings)
        try:
            run(follower, stop)
        finally:
            follower.close()

    def scheduler(self) -> Component:
        from chronova.scheduler import Scheduler

        scheduler = Scheduler(self.cloud, self.settings.scheduler)
        return self._consumer("scheduler", [SERVER_EVENTS_TOPIC], scheduler.handle, scheduler.flush)

    def conductor(self) -> list[Component]:
        """Two loops: reports into events, and silent hosts marked down; a third reclaims parked servers."""
        from chronova.conductor import Conductor
        from chronova.host_keys import HostKeys
        from chronova.images.store import FileStore
        from chronova.liveness import HostLiveness

        liveness = HostLiveness(self.cloud, down_after=self.settings.service_down_time)
        files = FileStore(self.settings.images_dir())
        conductor = Conductor(
            self.cloud,
            liveness,
            HostKeys(self.settings.cloud_secret()),
            image_files=files,
            max_attempts=self.settings.scheduler.max_attempts,
        )
        components = [self._consumer("conductor", [REPORTS_TOPIC], conductor.handle, conductor.flush), liveness.run]
        if self.settings.reclaim_instance_interval > 0 or self.settings.shelved_offload_time > 0:
            components.append(self._reclaimer())
        return components

    def _reclaimer(self) -> Component:
        """Nova's periodic reclaim of soft-deleted servers and offload of shelved ones."""
        from chronova.reclaimer import Reclaimer
        from projections.runner import ALL_DDL
        from projections.views import open_view_store

        settings = self.settings
        views = open_view_store(self.cloud.factory, ALL_DDL)
        reclaimer = Reclaimer(self.cloud, views, settings.reclaim_instance_interval, settings.shelved_offload_time)
        return lambda stop: reclaimer.run(settings.reclaimer_interval, stop)

    def _consumer(
        self, name: str, topics: list[str], handle: Callable[[Record], None], after_batch: Callable[[], None]
    ) -> Component:
        consumer = self.transport.consumer(topics, f"chronova-{name}")
        dead_letters = self.transport.publisher(f"chronova-{name}-deadletters")
        return lambda stop: consume(consumer, handle, dead_letters, name, stop, after_batch)


def guest_images(settings: Settings) -> GuestImages | None:
    """Where an agent fetches what real guests boot from; None without service credentials."""
    from agents.images import GuestImages

    if not settings.agent_username:
        return None
    api_url = settings.agent_api_url or f"http://{settings.api_host}:{settings.api_port}"
    credentials = (settings.agent_username, settings.agent_password, settings.agent_project)
    return GuestImages(api_url, *credentials, instances_path=settings.guest_instances_path())


def agent_components(settings: Settings, transport: Transport | None = None) -> list[Component]:
    """The compute agent: no store, only the bus and libvirt (ARCHITECTURE.md invariant 5)."""
    from agents.compute import ComputeAgent
    from agents.libvirt_driver import LibvirtHypervisor
    from agents.power_sync import PowerStateSync

    keys = settings.agent_keys()  # before touching Kafka or libvirt: a missing key is a settings error
    transport = transport or Transport(settings)
    hypervisors = {
        host: LibvirtHypervisor(
            settings.libvirt_uri.format(host=host),
            host,
            vcpus=settings.host_vcpus,
            memory_mb=settings.host_memory_mb,
            disk_gb=settings.host_disk_gb,
            shutdown_timeout=settings.shutdown_timeout,
            soft_reboot_timeout=settings.soft_reboot_timeout,
            placement=settings.host_placement,
        )
        for host in settings.hosts
    }
    name = (
        f"agent-{settings.hosts[0]}"
        if len(settings.hosts) == 1
        else f"agent-{settings.hosts[0]}+{len(settings.hosts) - 1}"
    )
    agent = ComputeAgent(
        hypervisors,
        keys,
        results=transport.publisher(f"chronova-{name}"),
        heartbeats=transport.publisher(f"chronova-{name}-heartbeats"),
        boot_seconds=settings.simulated_boot_seconds,
        images=guest_images(settings),
    )
    consumer = transport.consumer([SERVER_EVENTS_TOPIC, CONSOLE_REQUESTS_TOPIC], f"chronova-{name}")
    dead_letters = transport.publisher(f"chronova-{name}-deadletters")
    components: list[Component] = [
        lambda stop: consume(consumer, agent.handle, dead_letters, name, stop, agent.flush),
        lambda stop: agent.run_heartbeats(settings.heartbeat_interval, stop),
    ]
    if settings.power_sync_interval > 0:
        power_sync = PowerStateSync(hypervisors, keys, transport.publisher(f"chronova-{name}-power-sync"))
        components.append(lambda stop: power_sync.run(settings.power_sync_interval, stop))
    return components
