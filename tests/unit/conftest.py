"""Fixtures for the HTTP apps: a real embedded store (SQLite), its read models,
and both Falcon apps behind the same router the embedded deployment serves."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity.app import create_app as create_identity_app
from chronova.identity.tokens import TokenSigner, token_key
from chronova.images.app import create_app as create_image_app
from chronova.web import create_router
from command_api.app import create_app as create_command_app
from domain.commands import CreateFlavor
from projections.runner import ALL_DDL, projector
from projections.views import ViewStore, open_view_store
from query_api.app import create_app as create_query_app

LATEST = {"OpenStack-API-Version": "compute 2.100"}
SECRET = "unit-test-secret"
_SIGNER = TokenSigner(token_key(SECRET.encode()))


def token_headers(user_id: str, project_id: str, *roles: str) -> dict[str, str]:
    """What a client sends after logging in: a token, here signed with the tests' cloud secret."""
    token, _ = _SIGNER.issue(
        user_id=user_id, user_name=user_id, project_id=project_id, project_name=project_id, roles=roles
    )
    return {"X-Auth-Token": token}


ADMIN = token_headers("admin", "admin", "admin", "member")  # the default on every request of `client`
DEMO = token_headers("alice", "demo", "member")  # a non-admin project
OTHER = token_headers("bob", "other", "member")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No agent answers console requests and no projector follows the store here (tests catch up
    # themselves): waiting as long as a deployment does for either would only slow the tests.
    return Settings(
        database_url=f"sqlite:///{tmp_path}", secret=SECRET, console_output_timeout=0.5, action_view_timeout=0
    )


@pytest.fixture
def cloud(settings: Settings) -> Cloud:
    return Cloud(settings.store_env())


@pytest.fixture
def views(cloud: Cloud) -> ViewStore:
    return open_view_store(cloud.factory, ALL_DDL)


@pytest.fixture
def catch_up(cloud: Cloud, views: ViewStore) -> Callable[[], None]:
    """Brings every read model up to the store, synchronously."""
    return lambda: projector(cloud, views).catch_up()


@pytest.fixture
def client(cloud: Cloud, views: ViewStore, settings: Settings) -> TestClient:
    mounts = {
        "/identity": create_identity_app(cloud, views, settings),
        "/image": create_image_app(cloud, views, settings),
    }
    router = create_router(
        create_command_app(cloud, views, settings), create_query_app(cloud, views, settings), mounts=mounts
    )
    return TestClient(router, headers=ADMIN)


@pytest.fixture
def image_id(cloud: Cloud) -> str:
    image = uuid.uuid4()
    cloud.register_image(
        image,
        name="cirros",
        owner="admin",
        disk_format="qcow2",
        container_format="bare",
        min_disk=0,
        min_ram=0,
        size=1,
        visibility="public",
    )
    return str(image)


@pytest.fixture
def flavor_id(cloud: Cloud) -> str:
    cloud.create_flavor(CreateFlavor(name="m1.tiny", vcpus=1, ram=512, disk=1, flavorid="1"))
    return "1"


@pytest.fixture
def boot(client: TestClient, image_id: str, flavor_id: str) -> Callable[..., dict[str, Any]]:
    """POST /servers as a project; returns the 202 body's server."""

    def boot(name: str = "vm1", headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        server = {"name": name, "imageRef": image_id, "flavorRef": flavor_id, "networks": "none", **fields}
        result = client.simulate_post("/v2.1/servers", json={"server": server}, headers={**LATEST, **(headers or {})})
        assert result.status_code == 202, result.text
        return result.json["server"]

    return boot
