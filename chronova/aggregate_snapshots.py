"""Aggregate snapshots for long histories: a Host gains an event with every
claim and release, so loading one would replay its whole life. The Cloud
stores a snapshot every HOST_SNAPSHOT_INTERVAL versions and loads from the
latest one plus the events after it.

(Not to be confused with image snapshots of servers: chronova.snapshots.)
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, ProjectorFunction, project_aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.host import Host
from domain.placement import Inventory

log = logging.getLogger(__name__)

HOST_SNAPSHOT_INTERVAL = 100


class InventoryAsDict(Transcoding):
    """A Host's state holds Inventory values, which JSON cannot hold as they are."""

    type = Inventory
    name = "placement_inventory"

    def encode(self, obj: Inventory) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> Inventory:
        return Inventory(**data)


class HostSnapshots(Application[UUID]):
    """Mixed into the Cloud: which aggregates are snapshotted, and how their state is encoded."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Host: HOST_SNAPSHOT_INTERVAL}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(InventoryAsDict())

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
    ) -> None:
        """A snapshot only speeds up loading: the command whose save triggered it has been recorded
        already and must not fail because a snapshot could not be stored."""
        try:
            super().take_snapshot(aggregate_id, version, projector_func)
        except Exception:
            log.exception(
                "could not snapshot aggregate %s at version %s; it loads from its events", aggregate_id, version
            )
