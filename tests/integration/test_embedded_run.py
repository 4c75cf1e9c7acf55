"""`chronova run`: the all-in-one deployment boots a server, stops cleanly on
Ctrl-C, and after a restart still has every server (the events are the state)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.conftest import Cluster, free_port
from tests.integration.helpers import create_server, get_server, wait_for_status

pytestmark = pytest.mark.integration


def test_embedded_run_keeps_servers_across_restart(tmp_path: Path) -> None:
    env = {"CHRONOVA_DATABASE_URL": f"sqlite:///{tmp_path}/data", "CHRONOVA_API_PORT": str(free_port())}
    cluster = Cluster(env, tmp_path)
    first = cluster.start("run")
    try:
        cluster.wait_for_api()
        server = create_server(cluster, "embedded-vm")
        wait_for_status(cluster, server["id"], "ACTIVE")
        assert first.interrupt() == 0, first.output()

        cluster.start("run")
        cluster.wait_for_api()
        again = get_server(cluster, server["id"])
        assert again.status_code == 200 and again.json()["server"]["status"] == "ACTIVE"
        flavors = requests.get(f"{cluster.api_url}/v2.1/flavors/detail", headers=cluster.headers, timeout=5).json()[
            "flavors"
        ]
        assert sorted(f["name"] for f in flavors) == ["m1.large", "m1.medium", "m1.small", "m1.tiny", "m1.xlarge"]
    finally:
        cluster.stop()
        for process in cluster.processes:
            assert "Traceback" not in process.output(), process.output()
