"""The Image aggregate: a bootable disk image servers are created from.

An image is registered first (Glance's `queued`: metadata, no data yet) and
becomes `active` once its data is stored; the seed registers images whose data
lives elsewhere, so they are active at once. Glance's rules about who may see,
change, publish or delete an image live here; the image API only parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.commands import RequestContext
from domain.errors import Forbidden, InvalidReference, InvalidState

# Attributes a PATCH may set; everything else an image shows is read-only or an extra property.
MUTABLE = frozenset(
    {
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "min_disk",
        "min_ram",
        "owner",
        "disk_format",
        "container_format",
        "tags",
    }
)
# Visible to every project: Glance lists community images only to their owner or when asked for.
OPEN_VISIBILITIES = frozenset({"public", "community"})


@dataclass(frozen=True)
class CreateImage:
    """POST /v2/images, validated: what the caller asked for, owner and id still to be decided."""

    id: UUID | None = None
    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    min_disk: int = 0
    min_ram: int = 0
    owner: str | None = None  # None: the caller's project
    tags: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Change:
    """One JSON-patch operation on an image attribute or extra property."""

    op: str  # "add", "replace" or "remove"
    attribute: str
    value: Any = None
    # Patches of media type v2.0 (JSON schema draft 4) may not add what exists.
    refuse_existing: bool = False


def _unauthorized(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


def _check_visibility(visibility: str, ctx: RequestContext) -> None:
    if visibility == "public" and not ctx.is_admin:
        raise _unauthorized("publicize_image")


class Image(Aggregate):
    # Not keyword-only: eventsourcing 9.5.6 loses the defaults of keyword-only arguments.
    @event("Registered")
    def __init__(
        self,
        id: UUID,
        name: str | None,
        owner: str | None,
        disk_format: str | None,
        container_format: str | None,
        min_disk: int,
        min_ram: int,
        size: int | None,
        visibility: str,
        protected: bool = False,
        os_hidden: bool = False,
        tags: list[str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.owner = owner
        self.disk_format = disk_format
        self.container_format = container_format
        self.min_disk = min_disk
        self.min_ram = min_ram
        self.size = size
        self.visibility = visibility
        self.protected = protected
        self.os_hidden = os_hidden
        self.tags = list(tags or [])
        self.properties = dict(properties or {})
        self.checksum: str | None = None
        self.os_hash_algo: str | None = None
        self.os_hash_value: str | None = None
        self.location: str | None = None
        # Registered with a size: its data is already stored elsewhere (the seed's images).
        self.status = "active" if size is not None else "queued"

    @classmethod
    def create(cls, image_id: UUID, request: CreateImage, ctx: RequestContext) -> Image:
        """A queued image owned by the caller's project, unless an admin names another owner."""
        owner = request.owner or ctx.project_id
        if owner != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        _check_visibility(request.visibility, ctx)
        return cls(
            id=image_id,
            name=request.name,
            owner=owner,
            disk_format=request.disk_format,
            container_format=request.container_format,
            min_disk=request.min_disk,
            min_ram=request.min_ram,
            size=None,
            visibility=request.visibility,
            protected=request.protected,
            os_hidden=request.os_hidden,
            tags=list(dict.fromkeys(request.tags)),
            properties=dict(request.properties),
        )

    # --- who may do what ------------------------------------------------------------------
    def usable_by(self, project_id: str) -> bool:
        """Whether a project may boot from it (Nova asks Glance the same question)."""
        return self.visibility in OPEN_VISIBILITIES or self.owner == project_id

    def visible_to(self, ctx: RequestContext) -> bool:
        return self.status != "deleted" and (ctx.is_admin or self.usable_by(ctx.project_id))

    def check_mutable_by(self, ctx: RequestContext, action: str) -> None:
        """Only the owner (or an admin) changes an image others can merely see."""
        if not (ctx.is_admin or (self.owner is not None and self.owner == ctx.project_id)):
            raise _unauthorized(action)

    # --- metadata -------------------------------------------------------------------------
    def change(self, changes: list[Change], ctx: RequestContext) -> None:
        """Applies a PATCH in order, all or nothing: one event with the resulting values."""
        self.check_mutable_by(ctx, "modify_image")
        values: dict[str, Any] = {name: getattr(self, name) for name in MUTABLE}
        values["tags"] = list(self.tags)
        properties = dict(self.properties)
        for change in changes:
            if change.attribute in MUTABLE:
                self._check_attribute_change(change, ctx)
                values[change.attribute] = change.value
            else:
                _change_property(properties, change)
        values["tags"] = list(dict.fromkeys(values["tags"]))
        self._updated(**values, properties=properties)

    def _check_attribute_change(self, change: Change, ctx: RequestContext) -> None:
        name = change.attribute
        if change.op == "remove":
            raise Forbidden(f"Property {name} may not be removed.")
        if change.refuse_existing and change.op == "add":
            raise InvalidState(f"Property {name} already present.")
        if name == "owner" and not ctx.is_admin:
            raise Forbidden("Owner can't be updated by non admin.")
        if name == "visibility":
            _check_visibility(change.value, ctx)
        if name in ("disk_format", "container_format") and self.status != "queued":
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")

    @event("Updated")
    def _updated(
        self,
        name: str | None,
        visibility: str,
        protected: bool,
        os_hidden: bool,
        min_disk: int,
        min_ram: int,
        owner: str | None,
        disk_format: str | None,
        container_format: str | None,
        tags: list[str],
        properties: dict[str, str],
    ) -> None:
        self.name = name
        self.visibility = visibility
        self.protected = protected
        self.os_hidden = os_hidden
        self.min_disk = min_disk
        self.min_ram = min_ram
        self.owner = owner
        self.disk_format = disk_format
        self.container_format = container_format
        self.tags = list(tags)
        self.properties = dict(properties)

    # --- data -----------------------------------------------------------------------------
    def check_accepts_data(self, ctx: RequestContext) -> None:
        """Checked before a byte is stored, and again when the upload is recorded."""
        try:
            self.check_mutable_by(ctx, "upload_image")
        except Forbidden:
            raise Forbidden(f"Not allowed to upload image data for image {self.id}") from None
        if self.status != "queued":
            raise InvalidState(f"Image status transition from {self.status} to saving is not allowed")
        missing = [name for name in ("disk_format", "container_format") if not getattr(self, name)]
        if missing:
            noun = "Property" if len(missing) == 1 else "Properties"
            raise InvalidReference(f"{noun} {', '.join(missing)} must be set prior to saving data.")

    def record_data(
        self,
        ctx: RequestContext,
        *,
        size: int,
        checksum: str,
        os_hash_algo: str,
        os_hash_value: str,
        location: str,
    ) -> None:
        self.check_accepts_data(ctx)
        self._data_stored(
            size=size, checksum=checksum, os_hash_algo=os_hash_algo, os_hash_value=os_hash_value, location=location
        )

    @event("DataStored")
    def _data_stored(self, size: int, checksum: str, os_hash_algo: str, os_hash_value: str, location: str) -> None:
        self.size = size
        self.checksum = checksum
        self.os_hash_algo = os_hash_algo
        self.os_hash_value = os_hash_value
        self.location = location
        self.status = "active"

    # --- deletion -------------------------------------------------------------------------
    def delete(self, ctx: RequestContext) -> None:
        self.check_mutable_by(ctx, "delete_image")
        if self.protected:
            raise Forbidden(f"Image {self.id} is protected and cannot be deleted.")
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.status = "deleted"


def _change_property(properties: dict[str, str], change: Change) -> None:
    """Extra properties: replace and remove need one that exists; add sets it."""
    name = change.attribute
    exists = name in properties
    if change.op in ("replace", "remove") and not exists:
        raise InvalidState(f"Property {name} does not exist.")
    if change.op == "add" and change.refuse_existing and exists:
        raise InvalidState(f"Property {name} already present.")
    if change.op == "remove":
        del properties[name]
    else:
        properties[name] = change.value
