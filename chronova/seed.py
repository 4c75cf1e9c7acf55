"""What a new cloud starts with: Nova's classic m1 flavors and one bootable image.

Seeding is idempotent, so every start of the embedded deployment can call it.
"""

from __future__ import annotations

from uuid import UUID

from chronova.cloud import Cloud
from domain.commands import CreateFlavor
from domain.errors import AlreadyExists, NotFound

SEED_IMAGE_ID = UUID("2a0f7e57-5a1b-4d1e-9d55-0c4a3c1b1e01")

M1_FLAVORS = (
    CreateFlavor(flavorid="1", name="m1.tiny", vcpus=1, ram=512, disk=1),
    CreateFlavor(flavorid="2", name="m1.small", vcpus=1, ram=2048, disk=20),
    CreateFlavor(flavorid="3", name="m1.medium", vcpus=2, ram=4096, disk=40),
    CreateFlavor(flavorid="4", name="m1.large", vcpus=4, ram=8192, disk=80),
    CreateFlavor(flavorid="5", name="m1.xlarge", vcpus=8, ram=16384, disk=160),
)


def seed(cloud: Cloud, admin_project: str) -> None:
    for flavor in M1_FLAVORS:
        try:
            cloud.create_flavor(flavor)
        except AlreadyExists:
            pass
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
