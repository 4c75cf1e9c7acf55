"""Server use cases: create (one or several at once), update, delete, metadata, tags.

Each loads the aggregates it needs, calls domain methods and saves once, so
one request is one transaction. Cloud keeps `create_server`, `delete_server`
and `visible_server` as thin delegates for its older callers.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError

from domain.aggregate import DEFAULT_ZONE
from domain.commands import CreateServer, RequestContext, UpdateServer
from domain.errors import InvalidReference, NotFound, QuotaExceeded
from domain.flavor import Flavor, flavor_aggregate_id
from domain.host import Host, host_id
from domain.image import Image
from domain.keypair import Keypair, keypair_id
from domain.quota import UNLIMITED
from domain.request_spec import request_spec
from domain.server import MAX_TAGS, Server, default_hostname
from domain.states import VmState
from projections.quotas import project_limits
from projections.views import ViewStore

if TYPE_CHECKING:
    from chronova.cloud import Cloud

_DELETE_ATTEMPTS = 5
# Nova bounds a request by quota only; with unlimited quotas one transaction still has to hold every server.
MAX_SERVERS_PER_REQUEST = 1000
_RESERVATION_CHARACTERS = string.digits + string.ascii_lowercase
# From 2.98 a server shows its image's properties; Nova's response schema allows keys of this form only.
_IMAGE_PROPERTY_KEY = frozenset(string.ascii_letters + string.digits + "_:. ")


@dataclass(frozen=True)
class Reservation:
    """The servers one POST /servers created, in launch order, and the id Nova gives the batch."""

    reservation_id: str
    servers: list[Server]


def visible_server(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> Server:
    """Another project's server, or a deleted one, is simply not there (404)."""
    try:
        server = cloud.load(server_id, Server)
    except NotFound:
        raise NotFound(f"Instance {server_id} could not be found.") from None
    if server.vm_state == VmState.DELETED or not (ctx.is_admin or server.project_id == ctx.project_id):
        raise NotFound(f"Instance {server_id} could not be found.")
    return server


# --- create -------------------------------------------------------------------------------


def create_servers(
    cloud: Cloud, cmd: CreateServer, ctx: RequestContext, admitted: Sequence[Aggregate | DomainEvent] = ()
) -> Reservation:
    """Up to `max_count` servers (at least `min_count`) in one transaction, named and numbered as Nova does.

    `admitted` (the quota ledger's turn) is stored last, so the quota view never counts the admission before
    the servers it admitted.
    """
    if cmd.min_count > MAX_SERVERS_PER_REQUEST:
        raise InvalidReference(f"At most {MAX_SERVERS_PER_REQUEST} servers may be created by one request.")
    flavor = usable_flavor(cloud, cmd.flavor_ref, ctx)
    image = usable_image(cloud, cmd.image_ref, ctx)
    _check_placeable(cloud, flavor, image, cmd.availability_zone)
    if cmd.key_name is not None:
        _require_keypair(cloud, ctx.user_id, cmd.key_name)
    if cmd.forced_host is not None:
        _require_host(cloud, cmd.forced_host)
    reservation_id = "r-" + "".join(secrets.choice(_RESERVATION_CHARACTERS) for _ in range(8))
    count = min(cmd.max_count, MAX_SERVERS_PER_REQUEST)
    servers = [_new_server(cmd, ctx, flavor, image, reservation_id, index, count) for index in range(count)]
    cloud.save(*servers, *_groups_joined(cloud, cmd, servers, ctx), *admitted)
    return Reservation(reservation_id=reservation_id, servers=servers)


def _groups_joined(cloud: Cloud, cmd: CreateServer, servers: list[Server], ctx: RequestContext) -> list[Aggregate]:
    """The server group of the `group` hint (the first, given several), with the new servers as members."""
    # Imported here: chronova.server_groups imports Cloud at run time, and Cloud imports this module.
    from chronova.server_groups import group_with_new_member

    hint = cmd.scheduler_hints.get("group")
    group_id = hint[0] if isinstance(hint, list) and hint else hint
    if not group_id:
        return []
    group = group_with_new_member(cloud, group_id, servers[0].id, ctx)
    for server in servers[1:]:
        group.add_member(str(server.id))
    return [group]


def _new_server(
    cmd: CreateServer, ctx: RequestContext, flavor: Flavor, image: Image, reservation_id: str, index: int, count: int
) -> Server:
    several = count > 1
    server = Server(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        request_id=ctx.request_id,
        name=f"{cmd.name}-{index + 1}" if several else cmd.name,
        flavor=flavor.snapshot_for_server(),
        image_id=str(image.id),
        metadata=dict(cmd.metadata),
        user_data=cmd.user_data,
        description=cmd.description,
        availability_zone=cmd.availability_zone,
        key_name=cmd.key_name,
    )
    hostname = cmd.hostname or default_hostname(cmd.name)
    if not hostname:
        hostname = f"Server-{server.id}"
    elif several:
        hostname = f"{hostname}-{index + 1}"
    server.record_boot_options(
        request_id=ctx.request_id,
        user_id=ctx.user_id,
        hostname=hostname,
        tags=list(cmd.tags),
        reservation_id=reservation_id,
        launch_index=index,
        scheduler_hints=dict(cmd.scheduler_hints),
        requested_host=cmd.forced_host,
        requested_node=cmd.forced_node,
        access_ip_v4=cmd.access_ip_v4,
        access_ip_v6=cmd.access_ip_v6,
        config_drive=cmd.config_drive,
        trusted_image_certificates=list(cmd.trusted_image_certificates)
        if cmd.trusted_image_certificates is not None
        else None,
        image_properties=_shown_image_properties(image),
    )
    return server


def usable_flavor(cloud: Cloud, flavor_ref: str, ctx: RequestContext) -> Flavor:
    flavorid = flavor_ref.rstrip("/").rsplit("/", 1)[-1]
    not_found = f"Flavor {flavorid} could not be found."
    try:
        flavor = cloud.load(flavor_aggregate_id(flavorid), Flavor, not_found)
    except NotFound:
        raise InvalidReference(not_found) from None
    if not flavor.usable_by(ctx.project_id, ctx.is_admin):
        raise InvalidReference(not_found)
    return flavor


def usable_image(cloud: Cloud, image_ref: str, ctx: RequestContext) -> Image:
    ref = image_ref.rstrip("/").rsplit("/", 1)[-1]
    not_found = f"Image {ref} could not be found."
    try:
        image = cloud.load(UUID(ref), Image, not_found)
    except (ValueError, NotFound):
        raise InvalidReference(not_found) from None
    if not image.visible_to(ctx):
        raise InvalidReference(not_found)
    if image.status != "active":
        raise InvalidReference(f"Image {ref} is not active.")
    return image


def _check_placeable(cloud: Cloud, flavor: Flavor, image: Image, zone: str | None) -> None:
    """A request no host could ever satisfy (malformed resource classes or traits, a trait both required
    and forbidden, a zone nobody defined) is a 400 now, not a server stuck or in ERROR later."""
    # Imported here: chronova.host_aggregates imports Cloud at run time, and Cloud imports this module.
    from chronova.host_aggregates import live_aggregates

    request_spec(flavor.snapshot_for_server(), _shown_image_properties(image))
    if zone is not None and zone != DEFAULT_ZONE:
        if zone not in {aggregate.availability_zone for aggregate in live_aggregates(cloud)}:
            raise InvalidReference("The requested availability zone is not available")


def _require_host(cloud: Cloud, name: str) -> None:
    try:
        cloud.load(host_id(name), Host)
    except NotFound:
        raise InvalidReference(f"Compute host {name} could not be found.") from None


def _require_keypair(cloud: Cloud, user_id: str, name: str) -> None:
    try:
        keypair = cloud.load(keypair_id(user_id, name), Keypair)
    except NotFound:
        keypair = None
    if keypair is None or keypair.deleted:
        raise InvalidReference("Invalid key_name provided.")


def _shown_image_properties(image: Image) -> dict[str, str]:
    return {
        key: str(value)[:255]
        for key, value in image.properties.items()
        if 1 <= len(key) <= 255 and set(key) <= _IMAGE_PROPERTY_KEY and value is not None
    }


# --- update and delete ------------------------------------------------------------------------


def update_server(cloud: Cloud, server_id: UUID, cmd: UpdateServer, ctx: RequestContext) -> Server:
    server = visible_server(cloud, server_id, ctx)
    if not cmd.changes:
        return server  # `{"server": {}}`: nothing to record
    current = {
        "name": server.name,
        "description": server.description,
        "hostname": server.hostname,
        "access_ip_v4": server.access_ip_v4,
        "access_ip_v6": server.access_ip_v6,
    }
    server.update(**(current | cmd.changes), request_id=ctx.request_id, user_id=ctx.user_id)  # type: ignore[arg-type]
    cloud.save(server)
    return server


def delete_server(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> None:
    """A server that never reached a host is deleted at once; otherwise its agent finishes.

    A delete racing the scheduler or the conductor is judged again on the
    newer state: clients expect a delete to succeed, never a 409. The one
    409 is Nova's: a member may not delete a locked server.
    """
    for attempt in range(_DELETE_ATTEMPTS):
        server = visible_server(cloud, server_id, ctx)
        server.require_unlocked(ctx.is_admin)
        server.request_delete(request_id=ctx.request_id, user_id=ctx.user_id)
        if not server.needs_host_cleanup:
            server.record_deleted(host=None)
        try:
            cloud.save(server)
            return
        except IntegrityError:
            if attempt == _DELETE_ATTEMPTS - 1:
                raise


# --- metadata -----------------------------------------------------------------------------------


def replace_metadata(
    cloud: Cloud, views: ViewStore, server_id: UUID, metadata: dict[str, str], ctx: RequestContext
) -> dict[str, str]:
    """PUT /servers/{id}/metadata: exactly these items afterwards."""
    server = visible_server(cloud, server_id, ctx)
    return _save_metadata(cloud, views, server, dict(metadata), "update metadata", ctx)


def merge_metadata(
    cloud: Cloud, views: ViewStore, server_id: UUID, metadata: dict[str, str], ctx: RequestContext
) -> dict[str, str]:
    """POST /servers/{id}/metadata and PUT /metadata/{key}: these items added or replaced."""
    server = visible_server(cloud, server_id, ctx)
    return _save_metadata(cloud, views, server, server.metadata | metadata, "update metadata", ctx)


def delete_metadata_item(cloud: Cloud, views: ViewStore, server_id: UUID, key: str, ctx: RequestContext) -> None:
    server = visible_server(cloud, server_id, ctx)
    if key not in server.metadata:
        raise NotFound("Metadata item was not found")
    remaining = {k: v for k, v in server.metadata.items() if k != key}
    _save_metadata(cloud, views, server, remaining, "delete metadata", ctx)


def _save_metadata(
    cloud: Cloud, views: ViewStore, server: Server, metadata: dict[str, str], action: str, ctx: RequestContext
) -> dict[str, str]:
    server.check_metadata_editable(action, ctx.is_admin)
    limit = project_limits(views, server.project_id)["metadata_items"]
    if limit != UNLIMITED and len(metadata) > limit:
        raise QuotaExceeded(f"Maximum number of metadata items exceeds {limit}")
    server.replace_metadata(metadata, action=action, request_id=ctx.request_id, user_id=ctx.user_id)
    cloud.save(server)
    return dict(server.metadata)


# --- tags ------------------------------------------------------------------------------------------


def replace_tags(cloud: Cloud, server_id: UUID, tags: list[str], ctx: RequestContext) -> list[str]:
    server = visible_server(cloud, server_id, ctx)
    server.replace_tags(tags, action="update tags", request_id=ctx.request_id, user_id=ctx.user_id)
    cloud.save(server)
    return list(server.tags)


def add_tag(cloud: Cloud, server_id: UUID, tag: str, ctx: RequestContext) -> bool:
    """Whether the tag was added (False: the server had it already, nothing recorded)."""
    server = visible_server(cloud, server_id, ctx)
    server.check_editable("update tag")
    if len(server.tags) >= MAX_TAGS:  # checked before "already there", as Nova does
        raise InvalidReference(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    if tag in server.tags:
        return False
    server.replace_tags([*server.tags, tag], action="update tag", request_id=ctx.request_id, user_id=ctx.user_id)
    cloud.save(server)
    return True


def delete_tag(cloud: Cloud, server_id: UUID, tag: str, ctx: RequestContext) -> None:
    server = visible_server(cloud, server_id, ctx)
    server.check_editable("delete tag")
    if tag not in server.tags:
        raise NotFound(f"Instance {server_id} has no tag '{tag}'")
    remaining = [t for t in server.tags if t != tag]
    server.replace_tags(remaining, action="delete tag", request_id=ctx.request_id, user_id=ctx.user_id)
    cloud.save(server)


def delete_tags(cloud: Cloud, server_id: UUID, ctx: RequestContext) -> None:
    server = visible_server(cloud, server_id, ctx)
    server.replace_tags([], action="delete tags", request_id=ctx.request_id, user_id=ctx.user_id)
    cloud.save(server)
