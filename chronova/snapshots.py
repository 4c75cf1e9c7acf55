"""Where a server's snapshot (createImage) lands: the image service's file store, then
the image's DataStored event, both from the conductor.

Why the conductor and not the agent: an agent holds no credential for the
image API and never writes to the store (ARCHITECTURE.md invariant 5); its
signed SnapshotTaken report carries the data, small enough for one message
(reports.MAX_SNAPSHOT_BYTES: the domains here have no disk, their image is
their definition). The file is written first and the event naming it saved
after, as the image API's upload does, so no event names a partial file.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from chronova.images.store import FileStore
from chronova.reports import SnapshotTaken
from domain.commands import RequestContext
from domain.errors import InvalidState, NotFound, WrongHost
from domain.image import Image
from domain.server import Server

if TYPE_CHECKING:
    from chronova.cloud import Cloud

log = logging.getLogger(__name__)
CONDUCTOR_USER = "chronova-conductor"


def snapshot_stored(cloud: Cloud, files: FileStore | None, server: Server, report: SnapshotTaken) -> Image | None:
    """The snapshot image with its data recorded (not saved yet), or None when the image went meanwhile.

    A report that does not answer this server's createImage in flight on
    the reporting host, or names an image that is not its snapshot, is
    refused before a byte is written.
    """
    if server.host != report.host:
        raise WrongHost(f"Instance {server.id} is not on host {report.host}")
    pending = server.pending_action
    if pending is None or pending.name != "createImage" or server.pending_request_id != report.request_id:
        raise InvalidState(f"Instance {server.id} has no createImage of request {report.request_id} in progress")
    if server.pending_args.get("image_id") != report.image_id:
        raise InvalidState(f"Image {report.image_id} is not the snapshot instance {server.id} is taking")
    if files is None:
        raise InvalidState("This conductor has no image store to put snapshot data in")
    try:
        data = base64.b64decode(report.data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidState(f"Snapshot data of instance {server.id} is not base64") from None
    try:
        image = cloud.load(UUID(report.image_id), Image)
    except NotFound:
        log.warning("snapshot image %s of %s is gone; the snapshot is dropped", report.image_id, server.id)
        return None
    ctx = RequestContext(
        project_id=image.owner or server.project_id, user_id=CONDUCTOR_USER, request_id=report.request_id, is_admin=True
    )
    try:
        image.check_accepts_data(ctx)
    except InvalidState as e:  # deleted (or filled) meanwhile: the server's task ends all the same
        log.warning("snapshot image %s of %s takes no data: %s", image.id, server.id, e)
        return None
    stored = files.write(image.id, io.BytesIO(data), len(data))
    image.record_data(
        ctx,
        size=stored.size,
        checksum=stored.checksum,
        os_hash_algo=stored.os_hash_algo,
        os_hash_value=stored.os_hash_value,
        location=stored.location,
    )
    return image


def snapshot_dropped(cloud: Cloud, request_args: dict[str, Any]) -> Image | None:
    """A failed snapshot's queued image, deleted (not saved yet), as Nova deletes it; None if it went already."""
    try:
        image = cloud.load(UUID(str(request_args["image_id"])), Image)
    except (KeyError, ValueError, NotFound):
        return None
    if image.status != "queued":
        return None
    image.delete(RequestContext(project_id=image.owner or "", user_id=CONDUCTOR_USER, request_id="", is_admin=True))
    return image
