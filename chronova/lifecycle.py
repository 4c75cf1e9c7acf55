"""Lifecycle action use cases: rebuild, shelve, shelveOffload, unshelve, rescue, unrescue,
createImage, changePassword, and soft delete with restore and forceDelete.

Each is a host action (domain.host_actions): the request is judged and
recorded here, the host's agent does the work and its report ends the task.
What Nova decides in its API from configuration (offload a shelved server at
once, soft delete instead of delete) is decided here from Settings.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from chronova.server_actions import _judged_and_saved
from chronova.servers import _require_keypair, usable_image, visible_server
from domain import host_actions, migration
from domain.commands import RequestContext
from domain.errors import Forbidden, InvalidReference, InvalidState, NotFound, NotSupported
from domain.host import Host, host_id
from domain.image import CreateImage, Image
from domain.server import Server
from domain.states import PowerState, VmState, check_transition

if TYPE_CHECKING:
    from chronova.cloud import Cloud

# Nova's CONF.password_length and the characters its generate_password draws from (no look-alikes).
PASSWORD_LENGTH = 12
_PASSWORD_CHARACTERS = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
# Image properties a snapshot does not inherit from its server's image: they describe that image's data.
UNSHELVE_TO_HOST_POLICY = "os_compute_api:os-shelve:unshelve_to_host"
_NOT_INHERITED = frozenset({"instance_uuid", "image_type", "base_image_ref", "owner_id", "user_id"})


def generate_password() -> str:
    return "".join(secrets.choice(_PASSWORD_CHARACTERS) for _ in range(PASSWORD_LENGTH))


@dataclass(frozen=True)
class Rebuild:
    """POST /servers/{id}/action {"rebuild": ...}, validated: the new image and what else changes."""

    image_ref: str
    changes: dict[str, Any]  # name, metadata, description, access_ip_v4/v6, user_data: only those given


def rebuild(cloud: Cloud, server_id: UUID, wanted: Rebuild, ctx: RequestContext) -> tuple[Server, int | None]:
    """Nova judges the server (404, lock, state) before the image (400 "Cannot find image for rebuild")."""
    rebuilt: list[Server] = []

    def request(server: Server) -> bool:
        server.require_unlocked(ctx.is_admin)
        check_transition("rebuild", str(server.id), server.vm_state, server.task_state)
        image = _rebuild_image(cloud, wanted.image_ref, ctx)
        if wanted.changes.get("key_name") is not None:
            _require_keypair(cloud, ctx.user_id, wanted.changes["key_name"])
        changes = {
            **wanted.changes,
            "image_id": str(image.id),
            "image_properties": {key: str(value)[:255] for key, value in image.properties.items()},
        }
        details = {
            "changes": changes,
            "name": changes.get("name", server.name),
            "vcpus": server.flavor["vcpus"],
            "memory_mb": server.flavor["ram"],
        }
        server.request_action(
            host_actions.REBUILD, is_admin=ctx.is_admin, request_id=ctx.request_id, user_id=ctx.user_id, details=details
        )
        rebuilt[:] = [server]
        return True

    position = _judged_and_saved(cloud, server_id, ctx, request)
    return rebuilt[0], position


def _rebuild_image(cloud: Cloud, image_ref: str, ctx: RequestContext) -> Image:
    ref = image_ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        image = cloud.load(UUID(ref), Image)
    except (ValueError, NotFound):
        raise InvalidReference("Cannot find image for rebuild") from None
    if not image.visible_to(ctx):
        raise InvalidReference("Cannot find image for rebuild")
    if image.status != "active":
        raise InvalidReference(f"Image {ref} is not active.")
    return image


def shelve(cloud: Cloud, server_id: UUID, offload_time: float, ctx: RequestContext) -> int | None:
    """Nova's shelved_offload_time 0: the host offloads the server as part of shelving it."""
    action = host_actions.SHELVE_AND_OFFLOAD if offload_time == 0 else host_actions.SHELVE
    return _host_action(cloud, server_id, action, ctx)


def shelve_offload(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> int | None:
    return _host_action(cloud, server_id, host_actions.SHELVE_OFFLOAD, ctx)


def unshelve(cloud: Cloud, server_id: UUID, host: str | None, ctx: RequestContext) -> int | None:
    """A shelved server still on its host starts there again. An offloaded one is scheduled again like a
    move from no source (domain.migration.UNSHELVE, /work/notes/move-scheduling.md), to `host` if an admin
    names one (2.91); its guest runs once its new host has defined it."""
    if host is not None and not ctx.is_admin:
        raise Forbidden(f"Policy doesn't allow {UNSHELVE_TO_HOST_POLICY} to be performed.")

    def request(server: Server) -> bool:
        server.require_unlocked(ctx.is_admin)
        check_transition("unshelve", str(server.id), server.vm_state, server.task_state)
        if server.vm_state == VmState.SHELVED_OFFLOADED:
            if host is not None:
                _require_compute_host(cloud, host)
            server.request_move(
                migration.UNSHELVE,
                migration_id=str(uuid4()),
                new_flavor=None,
                requested_host=host,
                is_admin=ctx.is_admin,
                request_id=ctx.request_id,
                user_id=ctx.user_id,
                options={"power_state": int(PowerState.RUNNING)},  # the guest runs once placed
            )
            return True
        if host is not None:
            raise InvalidState("Only a shelved offloaded server can be unshelved to a given host.")
        server.request_action(
            host_actions.UNSHELVE, is_admin=ctx.is_admin, request_id=ctx.request_id, user_id=ctx.user_id
        )
        return True

    return _judged_and_saved(cloud, server_id, ctx, request)


def _require_compute_host(cloud: Cloud, name: str) -> None:
    try:
        cloud.load(host_id(name), Host)
    except NotFound:
        raise InvalidReference(f"Compute host {name} could not be found.") from None


def rescue(
    cloud: Cloud, server_id: UUID, password: str | None, rescue_image_ref: str | None, ctx: RequestContext
) -> tuple[str, int | None]:
    """The password is returned, never recorded (an event is kept forever and published to every consumer).

    The rescue image defaults to the server's own, as in Nova.
    """

    def request(server: Server) -> bool:
        server.require_unlocked(ctx.is_admin)
        check_transition("rescue", str(server.id), server.vm_state, server.task_state)
        image_id = str(usable_image(cloud, rescue_image_ref, ctx).id) if rescue_image_ref else server.image_id
        details = {"image_id": image_id}
        server.request_action(
            host_actions.RESCUE, is_admin=ctx.is_admin, request_id=ctx.request_id, user_id=ctx.user_id, details=details
        )
        return True

    return password or generate_password(), _judged_and_saved(cloud, server_id, ctx, request)


def unrescue(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> int | None:
    return _host_action(cloud, server_id, host_actions.UNRESCUE, ctx)


def create_image(
    cloud: Cloud, server_id: UUID, name: str, metadata: dict[str, str], ctx: RequestContext
) -> tuple[UUID, int]:
    """A queued, private snapshot image and the host's task to fill it, saved in one transaction.

    The image carries what Nova's snapshot carries: its server's image's
    properties, then `instance_uuid`, `image_type` and `base_image_ref`,
    then the request's metadata.
    """
    for remaining in reversed(range(3)):
        server = visible_server(cloud, server_id, ctx)
        check_transition("createImage", str(server.id), server.vm_state, server.task_state)
        base = _base_image(cloud, server.image_id)
        properties = {key: value for key, value in server.image_properties.items() if key not in _NOT_INHERITED}
        properties |= {
            "instance_uuid": str(server.id),
            "image_type": "snapshot",
            "base_image_ref": server.image_id,
            "user_id": ctx.user_id,
            **metadata,
        }
        image_id = uuid4()
        request = CreateImage(
            id=image_id,
            name=name,
            disk_format=(base and base.disk_format) or "raw",
            container_format=(base and base.container_format) or "bare",
            visibility="private",
            min_disk=server.flavor.get("disk", 0),
            min_ram=(base and base.min_ram) or 0,
            properties=tuple(properties.items()),
        )
        image = Image.create(image_id, request, ctx)
        details = {"image_id": str(image.id)}
        server.request_action(
            host_actions.SNAPSHOT,
            is_admin=True,  # Nova's snapshot does not check the lock: a locked server's owner may snapshot it
            request_id=ctx.request_id,
            user_id=ctx.user_id,
            details=details,
        )
        try:
            recordings = cloud.save(image, server)
        except IntegrityError:
            if not remaining:
                raise
            continue
        return image.id, max(recording.notification.id for recording in recordings)
    raise AssertionError("unreachable")


def _base_image(cloud: Cloud, image_id: str) -> Image | None:
    try:
        return cloud.load(UUID(image_id), Image)
    except (ValueError, NotFound):  # the image may be gone; the snapshot falls back on Nova's defaults
        return None


def change_password(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> None:
    """Refused as Nova refuses it for the drivers Chronova runs; nothing is ever recorded.

    Nova's libvirt driver sets a password only through the QEMU guest agent
    (image property hw_qemu_guest_agent) under kvm or qemu; any other
    virt_type cannot (SetAdminPasswdNotSupported, 409). Where a guest agent
    is declared, Chronova still answers 501: the password would have to
    travel to the host inside an event, which is kept forever.
    """
    server = visible_server(cloud, server_id, ctx)
    server.require_unlocked(ctx.is_admin)
    check_transition("changePassword", str(server.id), server.vm_state, server.task_state)
    if server.host is None:
        raise InvalidState(f"Instance {server.id} is not ready")
    try:
        hypervisor = cloud.load(host_id(server.host), Host).hypervisor.get("type", "")
    except NotFound:
        hypervisor = ""  # a host that never reported: no driver known to set passwords
    if str(hypervisor).lower() not in ("qemu", "kvm"):
        raise InvalidState("Set admin password is not supported")
    if str(server.image_properties.get("hw_qemu_guest_agent", "")).lower() not in ("yes", "true", "1"):
        raise InvalidState("QEMU guest agent is not enabled")
    raise NotSupported("Unable to set password on instance")


# --- soft delete ----------------------------------------------------------------------------


def delete(cloud: Cloud, server_id: UUID, reclaim_interval: float, ctx: RequestContext) -> None:
    """DELETE /servers/{id}: with Nova's reclaim_instance_interval above 0 a server that ran is only
    soft deleted (powered off, kept); one that never ran, or is soft deleted already, goes at once."""
    if reclaim_interval > 0:
        visible_server(cloud, server_id, ctx).require_unlocked(ctx.is_admin)
        try:
            _host_action(cloud, server_id, host_actions.SOFT_DELETE, ctx)
            return
        except InvalidState:
            pass  # no host (never ran), soft deleted already, or being deleted: deleted outright, as Nova does
    cloud.delete_server(server_id, ctx)


def restore(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> int | None:
    return _host_action(cloud, server_id, host_actions.RESTORE, ctx)


def force_delete(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> None:
    """Nova's force_delete: the lock and a task in flight refuse it, any vm_state is fine."""
    server = visible_server(cloud, server_id, ctx)
    server.require_unlocked(ctx.is_admin)
    check_transition("forceDelete", str(server.id), server.vm_state, server.task_state)
    cloud.delete_server(server_id, ctx)


def _host_action(cloud: Cloud, server_id: UUID, action: host_actions.HostAction, ctx: RequestContext) -> int | None:
    def request(server: Server) -> bool:
        server.request_action(action, is_admin=ctx.is_admin, request_id=ctx.request_id, user_id=ctx.user_id)
        return True

    return _judged_and_saved(cloud, server_id, ctx, request)
