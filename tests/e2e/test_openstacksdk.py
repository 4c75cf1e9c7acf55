"""openstacksdk, unmodified, against a distributed Chronova: the same flows as
the CLI tests, through the library applications and Terraform-style tools use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest
from openstack.connection import Connection

from tests.conftest import Cluster
from tests.e2e.conftest import ADMIN_PASSWORD, COMPUTE_HOST, DEMO_PASSWORD

pytestmark = pytest.mark.integration


def connect(cluster: Cluster, user: str) -> Connection:
    return openstack.connect(
        auth_url=f"{cluster.api_url}/identity/v3",
        username=user,
        password=ADMIN_PASSWORD if user == "admin" else DEMO_PASSWORD,
        project_name=user,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )


@pytest.fixture(scope="module")
def admin(deployment: Cluster) -> Iterator[Connection]:
    connection = connect(deployment, "admin")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def demo(deployment: Cluster) -> Iterator[Connection]:
    connection = connect(deployment, "demo")
    yield connection
    connection.close()


def test_server_lifecycle(demo: Connection) -> None:
    image = demo.image.find_image("cirros-0.6.2-x86_64-disk")
    flavor = demo.compute.find_flavor("m1.tiny")
    server = demo.compute.create_server(name="sdk-vm", image_id=image.id, flavor_id=flavor.id, networks="none")
    server = demo.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    assert server.status == "ACTIVE"
    assert [s.id for s in demo.compute.servers(name="sdk-vm")] == [server.id]
    assert demo.compute.get_server(server.id).name == "sdk-vm"

    demo.compute.delete_server(server)
    demo.compute.wait_for_delete(server, wait=60, interval=0.5)
    assert demo.compute.find_server(server.id) is None


def test_flavors(admin: Connection) -> None:
    flavor = admin.compute.create_flavor(name="sdk.small", ram=128, vcpus=1, disk=1)
    assert admin.compute.get_flavor(flavor.id).ram == 128
    assert "sdk.small" in [f.name for f in admin.compute.flavors()]


def test_keypairs(demo: Connection) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_key = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    created = demo.compute.create_keypair(name="sdk-key", public_key=public_key)
    assert created.fingerprint
    assert [k.name for k in demo.compute.keypairs()] == ["sdk-key"]


def test_image_upload(demo: Connection, tmp_path: Path) -> None:
    data = os.urandom(64 * 1024)
    image = demo.image.create_image(
        name="sdk-image", data=data, disk_format="raw", container_format="bare", allow_duplicates=True
    )
    assert demo.image.get_image(image.id).status == "active"
    assert demo.image.download_image(image).content == data


def test_admin_views(admin: Connection) -> None:
    assert [h.name for h in admin.compute.hypervisors()] == [COMPUTE_HOST]
    services = [s for s in admin.compute.services() if s.binary == "nova-compute"]
    assert [(s.host, s.status) for s in services] == [(COMPUTE_HOST, "enabled")]
    project = admin.identity.find_project("demo")
    admin.compute.update_quota_set(project.id, instances=9)
    assert admin.compute.get_quota_set(project.id).instances == 9
    aggregate = admin.compute.create_aggregate(name="sdk-agg")
    aggregate = admin.compute.add_host_to_aggregate(aggregate, COMPUTE_HOST)
    assert aggregate.hosts == [COMPUTE_HOST]
    group = admin.compute.create_server_group(name="sdk-group", policy="affinity")
    assert admin.compute.get_server_group(group.id).policy == "affinity"
    assert isinstance(list(admin.compute.usages()), list)


def test_a_member_is_refused_admin_apis(demo: Connection) -> None:
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(demo.compute.hypervisors())
