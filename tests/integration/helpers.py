"""Small HTTP and libvirt helpers shared by the integration tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Protocol

import libvirt
import requests

from chronova.seed import SEED_IMAGE_ID
from tests.conftest import wait_for

CHRONOVA_XMLNS = "https://chronova.invalid/xmlns/instance/1"
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions


class Api(Protocol):
    """Where the compute API is and the headers (a token) to call it with: a Cluster, or an Endpoint."""

    api_url: str
    headers: dict[str, str]


@dataclass
class Endpoint:
    api_url: str
    headers: dict[str, str]


def create_server(api: Api, name: str, flavor: str = "1") -> dict:
    response = requests.post(
        f"{api.api_url}/v2.1/servers",
        json={"server": {"name": name, "imageRef": str(SEED_IMAGE_ID), "flavorRef": flavor, "networks": "none"}},
        headers={"OpenStack-API-Version": "compute 2.100", **api.headers},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["server"]


def get_server(api: Api, server_id: str) -> requests.Response:
    return requests.get(
        f"{api.api_url}/v2.1/servers/{server_id}",
        headers={"OpenStack-API-Version": "compute 2.100", **api.headers},
        timeout=10,
    )


def wait_for_status(api: Api, server_id: str, status: str, timeout: float = 30) -> dict:
    def reached() -> dict | None:
        response = get_server(api, server_id)
        body = response.json().get("server", {}) if response.status_code == 200 else {}
        return body if body.get("status") == status else None

    return wait_for(reached, timeout=timeout, what=f"server {server_id} to become {status}")


def domains_on_host(uri: str, host: str) -> list[libvirt.virDomain]:
    """Domains Chronova defined for `host` (read from the domain's metadata)."""
    conn = libvirt.open(uri)
    found = []
    for domain in conn.listAllDomains():
        try:
            metadata = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, CHRONOVA_XMLNS)
        except libvirt.libvirtError:
            continue
        element = ET.fromstring(metadata)
        if any(child.text == host for child in element):
            found.append(domain)
    return found
