"""The Image aggregate: a bootable disk image servers are created from.

Only what booting needs lives here now; the image service API extends it.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event


class Image(Aggregate):
    @event("Registered")
    def __init__(
        self,
        *,
        id: UUID,
        name: str,
        owner: str,
        disk_format: str,
        container_format: str,
        min_disk: int,
        min_ram: int,
        size: int,
        visibility: str,
    ) -> None:
        self.name = name
        self.owner = owner
        self.disk_format = disk_format
        self.container_format = container_format
        self.min_disk = min_disk
        self.min_ram = min_ram
        self.size = size
        self.visibility = visibility
        self.status = "active"

    def usable_by(self, project_id: str) -> bool:
        return self.visibility == "public" or self.owner == project_id
