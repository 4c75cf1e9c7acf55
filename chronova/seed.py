"""What a new cloud starts with: the `admin` and `demo` accounts, Nova's classic
m1 flavors and one bootable image.

Seeding is idempotent, so every start of the embedded deployment can call it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import UUID

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity import accounts
from domain.commands import CreateFlavor
from domain.errors import AlreadyExists, NotFound
from domain.flavor import flavor_aggregate_id
from domain.identity import Project, project_aggregate_id

SEED_IMAGE_ID = UUID("2a0f7e57-5a1b-4d1e-9d55-0c4a3c1b1e01")

M1_FLAVORS = (
    CreateFlavor(flavorid="1", name="m1.tiny", vcpus=1, ram=512, disk=1),
    CreateFlavor(flavorid="2", name="m1.small", vcpus=1, ram=2048, disk=20),
    CreateFlavor(flavorid="3", name="m1.medium", vcpus=2, ram=4096, disk=40),
    CreateFlavor(flavorid="4", name="m1.large", vcpus=4, ram=8192, disk=80),
    CreateFlavor(flavorid="5", name="m1.xlarge", vcpus=8, ram=16384, disk=160),
)


@dataclass(frozen=True)
class SeededUser:
    name: str
    project: str
    password: str


def seed(cloud: Cloud, settings: Settings) -> list[SeededUser]:
    """Seeds what is missing; returns the users it created, whose passwords the operator must learn once."""
    created = _seed_identity(cloud, settings)
    _seed_compute(cloud, project_aggregate_id("admin").hex)
    return created


def _seed_identity(cloud: Cloud, settings: Settings) -> list[SeededUser]:
    created = []
    accounts_wanted = (("admin", "admin", settings.admin_password), ("demo", "member", settings.demo_password))
    for name, role, password in accounts_wanted:
        try:
            project = accounts.create_project(cloud, name=name, description=f"{name} project", request_id="seed")
        except AlreadyExists:
            project = cloud.load(project_aggregate_id(name), Project)
        password = password or secrets.token_urlsafe(12)
        try:
            user = accounts.create_user(
                cloud, name=name, password=password, request_id="seed", default_project_id=project.project_id
            )
        except AlreadyExists:
            continue
        project.grant(user.user_id, role, "seed")
        cloud.save(project)
        created.append(SeededUser(name=name, project=name, password=password))
    return created


def _seed_compute(cloud: Cloud, admin_project: str) -> None:
    for flavor in M1_FLAVORS:
        if flavor_aggregate_id(flavor.flavorid or "") in cloud.repository:
            continue  # seeded before: an operator's delete of it stands
        try:
            cloud.create_flavor(flavor)
        except AlreadyExists:
            pass  # the name is taken by the operator's own flavor
    try:
        cloud.image(SEED_IMAGE_ID)
    except NotFound:
        cloud.register_image(
            SEED_IMAGE_ID,
            name="cirros-0.6.2-x86_64-disk",
            owner=admin_project,
            disk_format="qcow2",
            container_format="bare",
            min_disk=0,
            min_ram=0,
            size=21430272,
            visibility="public",
        )
