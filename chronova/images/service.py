"""The image API's use cases: load an image, call one domain method, save.

They write events only; the images view follows the store like every other
read model. Image data goes to the file store first and the event naming it
is saved after, so no event ever points at a file that is not complete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from chronova.images.store import FileStore
from domain.commands import RequestContext
from domain.errors import AlreadyExists, NotFound
from domain.image import Change, CreateImage, Image

# A concurrent change to the same image makes a save conflict; the use case is judged again on the newer state.
_ATTEMPTS = 5


def not_found_message(image_id: str) -> str:
    return f"No image found with ID {image_id}"


class ImageService:
    def __init__(self, cloud: Cloud, files: FileStore) -> None:
        self._cloud = cloud
        self._files = files

    def create(self, request: CreateImage, ctx: RequestContext) -> Image:
        image_id = request.id or uuid4()
        image = Image.create(image_id, request, ctx)
        try:
            self._cloud.save(image)
        except IntegrityError:
            raise AlreadyExists(f"Image ID {image_id} already exists!") from None
        return image

    def update(self, image_id: str, changes: list[Change], ctx: RequestContext) -> Image:
        return self._on_latest(image_id, ctx, not_found_message(image_id), lambda image: image.change(changes, ctx))

    def upload(self, image_id: str, data: BinaryIO, expected_size: int | None, ctx: RequestContext) -> Image:
        """Refused before a byte is stored when the image cannot take data; the file goes if the event does not."""
        image = self._visible(image_id, ctx, not_found_message(image_id))
        image.check_accepts_data(ctx)
        stored = self._files.write(image.id, data, expected_size)
        try:
            return self._on_latest(
                image_id,
                ctx,
                not_found_message(image_id),
                lambda latest: latest.record_data(
                    ctx,
                    size=stored.size,
                    checksum=stored.checksum,
                    os_hash_algo=stored.os_hash_algo,
                    os_hash_value=stored.os_hash_value,
                    location=stored.location,
                ),
            )
        except BaseException:
            self._files.remove(stored.location)
            raise

    def delete(self, image_id: str, ctx: RequestContext) -> None:
        missing = f"Failed to find image {image_id} to delete"
        image = self._on_latest(image_id, ctx, missing, lambda image: image.delete(ctx))
        if image.location is not None:
            self._files.remove(image.location)

    def _on_latest(self, image_id: str, ctx: RequestContext, missing: str, act: Callable[[Image], None]) -> Image:
        attempts = 0
        while True:
            image = self._visible(image_id, ctx, missing)
            act(image)
            try:
                self._cloud.save(image)
                return image
            except IntegrityError:
                attempts += 1
                if attempts == _ATTEMPTS:
                    raise

    def _visible(self, image_id: str, ctx: RequestContext, missing: str) -> Image:
        """Another project's private image, or a deleted one, is simply not there (404)."""
        try:
            image = self._cloud.load(UUID(image_id), Image, missing)
        except ValueError:
            raise NotFound(missing) from None
        if not image.visible_to(ctx):
            raise NotFound(missing)
        return image
