"""Settings: where the store is, which bus, which hypervisor.

Read once from the environment (CHRONOVA_*) or built by tests; every process
of the distributed deployment and the embedded one use the same fields.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

from psycopg.conninfo import make_conninfo

from chronova.host_keys import derive_host_key
from chronova.scheduler_config import (
    HostPlacementOptions,
    SchedulerConfigError,
    host_placement_from_env,
    scheduler_policy_from_env,
)
from domain.scheduling import SchedulerPolicy


class ConfigError(Exception):
    """A setting that cannot work; the CLI prints it on one line."""


@dataclass(frozen=True)
class Settings:
    # "sqlite:///path/to/dir" (embedded) or "postgresql://user:pw@host:port/dbname".
    database_url: str = "sqlite:///data"
    # Comma-separated Kafka bootstrap servers; empty means the in-process bus.
    kafka_bootstrap: str = ""
    kafka_partitions: int = 8
    libvirt_uri: str = "test:///default"
    # Simulated or real hosts this agent process serves.
    hosts: tuple[str, ...] = ("compute1",)
    # Inventory overrides for simulated hosts; 0 means "ask libvirt".
    host_vcpus: int = 0
    host_memory_mb: int = 0
    host_disk_gb: int = 1024
    heartbeat_interval: float = 10.0
    # Filters, weighers and retries (chronova/scheduler_config.py lists the variables).
    scheduler: SchedulerPolicy = field(default_factory=SchedulerPolicy)
    # Allocation ratios, reservations and traits of the hosts an agent serves.
    host_placement: HostPlacementOptions = field(default_factory=HostPlacementOptions)
    # Nova's sync_power_state_interval: how often agents report their domains' power states; 0 or less: never.
    power_sync_interval: float = 600.0
    # Nova's shutdown_timeout and libvirt.wait_soft_reboot_seconds: how long a guest may take to shut down
    # when stopped or soft rebooted before its domain is destroyed.
    shutdown_timeout: float = 60.0
    soft_reboot_timeout: float = 120.0
    # Real guests (agents.images): where an agent finds the image and identity APIs, the service user it logs in
    # as (empty: no image is fetched, domains boot nothing), and Nova's instances_path for kernels and consoles.
    agent_api_url: str = ""
    agent_username: str = ""
    agent_password: str = ""
    agent_project: str = "admin"
    instances_path: str = ""
    # Nova's service_down_time: a host silent this long is marked down.
    service_down_time: float = 60.0
    # How long a simulated guest takes to boot before the agent reports it ACTIVE.
    simulated_boot_seconds: float = 0.0
    # How long os-getConsoleOutput waits for the server's host to report the console (then 409).
    console_output_timeout: float = 10.0
    # How long a server action's 202 waits for the servers view to show its task (Nova's clients poll at once).
    action_view_timeout: float = 3.0
    # Nova's allow_resize_to_same_host: whether a resize may stay on the server's host (chronova.moves).
    allow_resize_to_same_host: bool = False
    # Nova's reclaim_instance_interval: above 0, DELETE only soft deletes, and soft-deleted servers older than
    # this many seconds are deleted by the reclaimer (chronova.reclaimer).
    reclaim_instance_interval: float = 0.0
    # Nova's shelved_offload_time: 0 offloads a shelved server at once, -1 never, else after this many seconds.
    shelved_offload_time: float = 0.0
    # How often the reclaimer looks for servers to reclaim or offload (Nova runs these periodic tasks every minute).
    reclaimer_interval: float = 60.0
    api_host: str = "127.0.0.1"
    api_port: int = 8774
    # Where `chronova billing run` serves os-simple-tenant-usage and the usage export.
    billing_port: int = 8779
    # Where uploaded image files live; empty: `images` beside the embedded store, or ./data/images.
    image_dir: str = ""
    # Passwords of the seeded `admin` and `demo` users; empty: generated and printed once, at seeding.
    admin_password: str = ""
    demo_password: str = ""
    # An external Keystone instead of the built-in identity service, and the service user that validates tokens.
    keystone_url: str = ""
    keystone_username: str = ""
    keystone_password: str = ""
    keystone_project: str = "service"
    pool_size: int = 8
    # The cloud secret report keys derive from (conductor; simulated multi-host agents).
    secret: str = ""
    # One host's own report key, hex (`chronova host-key`): what a real agent holds instead of the secret.
    host_key: str = ""

    @property
    def is_embedded_store(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap)

    def data_dir(self) -> Path:
        """`sqlite:///data` is ./data, `sqlite:////var/lib/chronova` is absolute."""
        return Path(self.database_url.removeprefix("sqlite:///") or "data").resolve()

    def guest_instances_path(self) -> Path:
        base = self.data_dir() if self.is_embedded_store else Path("data").resolve()
        return Path(self.instances_path).resolve() if self.instances_path else base / "instances"

    def images_dir(self) -> Path:
        base = self.data_dir() if self.is_embedded_store else Path("data").resolve()
        return Path(self.image_dir).resolve() if self.image_dir else base / "images"

    def store_env(self, create_tables: bool = True) -> dict[str, str]:
        """The eventsourcing environment for this database.

        Only one process creates tables (`chronova init`, or the embedded
        `run`): PostgreSQL refuses concurrent DDL on the same catalog rows.
        """
        create = {"CREATE_TABLE": "y" if create_tables else "n"}
        if self.is_embedded_store:
            data = self.data_dir()
            data.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(data / "chronova.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "30",
                **create,
            }
        url = urlparse(self.database_url)
        if url.scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"CHRONOVA_DATABASE_URL: unsupported scheme {url.scheme!r}")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "chronova",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_size),
            "POSTGRES_CONN_MAX_AGE": "600",
            **create,
        }

    def postgres_conninfo(self) -> str:
        env = self.store_env(create_tables=False)
        return make_conninfo(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
        )

    def cloud_secret(self) -> bytes:
        if not self.secret:
            raise ConfigError("CHRONOVA_SECRET is required: token and report keys are derived from it")
        return self.secret.encode()

    def agent_keys(self) -> dict[str, bytes]:
        """The report key of every host this agent serves."""
        if self.host_key:
            if len(self.hosts) != 1:
                raise ConfigError("CHRONOVA_HOST_KEY is one host's key: serve exactly one host with it")
            try:
                return {self.hosts[0]: bytes.fromhex(self.host_key)}
            except ValueError:
                raise ConfigError("CHRONOVA_HOST_KEY: expected the hex key `chronova host-key` prints") from None
        secret = self.cloud_secret()
        return {host: derive_host_key(secret, host) for host in self.hosts}

    def with_embedded_secret(self) -> Settings:
        """The all-in-one deployment keeps a generated secret in its data directory."""
        if self.secret:
            return self
        path = self.data_dir() / "secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return replace(self, secret=path.read_text().strip())

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(key: str, default: float, kind: type) -> float:
            raw = env.get(key)
            if raw is None:
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {raw!r}") from None

        hosts = tuple(h.strip() for h in env.get("CHRONOVA_HOSTS", ",".join(defaults.hosts)).split(",") if h.strip())
        try:
            scheduler, host_placement = scheduler_policy_from_env(env), host_placement_from_env(env)
        except SchedulerConfigError as e:
            raise ConfigError(str(e)) from None
        return cls(
            scheduler=scheduler,
            host_placement=host_placement,
            database_url=env.get("CHRONOVA_DATABASE_URL", defaults.database_url),
            kafka_bootstrap=env.get("CHRONOVA_KAFKA", defaults.kafka_bootstrap),
            kafka_partitions=int(number("CHRONOVA_KAFKA_PARTITIONS", defaults.kafka_partitions, int)),
            libvirt_uri=env.get("CHRONOVA_LIBVIRT_URI", defaults.libvirt_uri),
            hosts=hosts or defaults.hosts,
            host_vcpus=int(number("CHRONOVA_HOST_VCPUS", defaults.host_vcpus, int)),
            host_memory_mb=int(number("CHRONOVA_HOST_MEMORY_MB", defaults.host_memory_mb, int)),
            host_disk_gb=int(number("CHRONOVA_HOST_DISK_GB", defaults.host_disk_gb, int)),
            heartbeat_interval=number("CHRONOVA_HEARTBEAT_INTERVAL", defaults.heartbeat_interval, float),
            power_sync_interval=number("CHRONOVA_POWER_SYNC_INTERVAL", defaults.power_sync_interval, float),
            shutdown_timeout=number("CHRONOVA_SHUTDOWN_TIMEOUT", defaults.shutdown_timeout, float),
            soft_reboot_timeout=number("CHRONOVA_SOFT_REBOOT_TIMEOUT", defaults.soft_reboot_timeout, float),
            agent_api_url=env.get("CHRONOVA_AGENT_API_URL", ""),
            agent_username=env.get("CHRONOVA_AGENT_USERNAME", ""),
            agent_password=env.get("CHRONOVA_AGENT_PASSWORD", ""),
            agent_project=env.get("CHRONOVA_AGENT_PROJECT", defaults.agent_project),
            instances_path=env.get("CHRONOVA_INSTANCES_PATH", ""),
            service_down_time=number("CHRONOVA_SERVICE_DOWN_TIME", defaults.service_down_time, float),
            simulated_boot_seconds=number("CHRONOVA_SIMULATED_BOOT_SECONDS", defaults.simulated_boot_seconds, float),
            console_output_timeout=number("CHRONOVA_CONSOLE_OUTPUT_TIMEOUT", defaults.console_output_timeout, float),
            action_view_timeout=number("CHRONOVA_ACTION_VIEW_TIMEOUT", defaults.action_view_timeout, float),
            allow_resize_to_same_host=env.get("CHRONOVA_ALLOW_RESIZE_TO_SAME_HOST", "").lower() in ("1", "true", "yes"),
            reclaim_instance_interval=number(
                "CHRONOVA_RECLAIM_INSTANCE_INTERVAL", defaults.reclaim_instance_interval, float
            ),
            shelved_offload_time=number("CHRONOVA_SHELVED_OFFLOAD_TIME", defaults.shelved_offload_time, float),
            reclaimer_interval=number("CHRONOVA_RECLAIMER_INTERVAL", defaults.reclaimer_interval, float),
            api_host=env.get("CHRONOVA_API_HOST", defaults.api_host),
            api_port=int(number("CHRONOVA_API_PORT", defaults.api_port, int)),
            billing_port=int(number("CHRONOVA_BILLING_PORT", defaults.billing_port, int)),
            image_dir=env.get("CHRONOVA_IMAGE_DIR", ""),
            admin_password=env.get("CHRONOVA_ADMIN_PASSWORD", ""),
            demo_password=env.get("CHRONOVA_DEMO_PASSWORD", ""),
            keystone_url=env.get("CHRONOVA_KEYSTONE_URL", ""),
            keystone_username=env.get("CHRONOVA_KEYSTONE_USERNAME", ""),
            keystone_password=env.get("CHRONOVA_KEYSTONE_PASSWORD", ""),
            keystone_project=env.get("CHRONOVA_KEYSTONE_PROJECT", defaults.keystone_project),
            pool_size=int(number("CHRONOVA_DB_POOL_SIZE", defaults.pool_size, int)),
            secret=env.get("CHRONOVA_SECRET", ""),
            host_key=env.get("CHRONOVA_HOST_KEY", ""),
        )
