"""The command and the query app as separate processes on PostgreSQL: a GET on
the query process right after the command process answered 202 finds the
server, and its rename or a quota change reads back changed (invariant 7 across
processes); each app answers only its methods."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from domain.identity import project_aggregate_id
from tests.conftest import Cluster, free_port, wait_for
from tests.integration.helpers import Endpoint, create_server, get_server

pytestmark = pytest.mark.integration


def test_a_write_on_the_command_process_is_readable_at_once_on_the_query_process(
    postgres_url: str, tmp_path: Path
) -> None:
    command_port, query_port = free_port(), free_port()
    cluster = Cluster({"CHRONOVA_DATABASE_URL": postgres_url, "CHRONOVA_API_PORT": str(command_port)}, tmp_path)
    try:
        assert cluster.start("init").process.wait(timeout=60) == 0
        cluster.start("projections")
        cluster.start("command-api")
        cluster.start("query-api", "--port", str(query_port))
        reads = f"http://127.0.0.1:{query_port}"
        wait_for(lambda: _answers(reads), what="the query API")
        wait_for(lambda: _answers(cluster.api_url, method="POST"), what="the command API")

        unlimited = {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}
        admin_project = project_aggregate_id("admin").hex
        raised = requests.put(
            f"{cluster.api_url}/v2.1/os-quota-sets/{admin_project}", json=unlimited, headers=cluster.headers, timeout=5
        )
        assert raised.status_code == 200, raised.text
        quota = requests.get(f"{reads}/v2.1/os-quota-sets/{admin_project}", headers=cluster.headers, timeout=5)
        assert quota.json()["quota_set"]["instances"] == -1
        for n in range(20):
            server = create_server(cluster, f"split-{n}")
            response = get_server(Endpoint(reads, cluster.headers), server["id"])
            assert response.status_code == 200, response.text
            assert response.json()["server"]["status"] == "BUILD"  # no scheduler runs here
            renamed = requests.put(
                f"{cluster.api_url}/v2.1/servers/{server['id']}",
                json={"server": {"name": f"renamed-{n}"}},
                headers=cluster.headers,
                timeout=5,
            )
            assert renamed.status_code == 200, renamed.text
            assert get_server(Endpoint(reads, cluster.headers), server["id"]).json()["server"]["name"] == f"renamed-{n}"

        assert (
            requests.get(f"{cluster.api_url}/v2.1/servers/detail", headers=cluster.headers, timeout=5).status_code
            == 405
        )
        assert requests.post(f"{reads}/v2.1/servers", json={}, headers=cluster.headers, timeout=5).status_code == 405
    finally:
        cluster.stop()


def _answers(url: str, method: str = "GET") -> bool:
    try:
        requests.request(method, f"{url}/v2.1/servers", timeout=1)
    except requests.ConnectionError:
        return False
    return True
