"""A whole distributed Chronova (PostgreSQL, Tansu, one process per component)
shared by the tests that drive it with the real OpenStack clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import Cluster, free_port, tansu_broker, temporary_database, wait_for

ADMIN_PASSWORD = "admin-pw"
DEMO_PASSWORD = "demo-pw"
COMPUTE_HOST = "compute1"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with temporary_database() as database, tansu_broker() as kafka:
        env = {
            "CHRONOVA_DATABASE_URL": database,
            "CHRONOVA_KAFKA": kafka,
            "CHRONOVA_API_PORT": str(free_port()),
            "CHRONOVA_HEARTBEAT_INTERVAL": "1",
            "CHRONOVA_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CHRONOVA_DEMO_PASSWORD": DEMO_PASSWORD,
            "CHRONOVA_HOST_MEMORY_MB": "16384",
            "CHRONOVA_HOST_VCPUS": "16",
            "PYTHONUNBUFFERED": "1",
        }
        cluster = Cluster(env, tmp_path_factory.mktemp("deployment"))
        try:
            init = cluster.start("init")
            assert init.process.wait(timeout=60) == 0, init.output()
            for component in ("projections", "relay", "scheduler", "conductor", "api"):
                cluster.start(component)
            cluster.start("agent", "--host", COMPUTE_HOST)
            cluster.wait_for_api()

            def host_registered() -> bool:
                response = requests.get(
                    f"{cluster.api_url}/v2.1/os-hypervisors/detail", headers=cluster.headers, timeout=5
                )
                return response.status_code == 200 and bool(response.json()["hypervisors"])

            wait_for(host_registered, timeout=30, what="the compute host to register")
            yield cluster
        finally:
            cluster.stop()
            for process in cluster.processes:
                if "Traceback" in process.output():
                    print(process.output()[-6000:])
