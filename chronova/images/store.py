"""Image data on local disk, written so that a crash never leaves half an image.

An upload streams into a hidden temporary file beside its final place, is
flushed to disk, and only then renamed to a name of its own; the event that
records the upload names that file and is saved after the rename. A crash
before the rename leaves a temporary file; one after it leaves a complete file
no event names. Neither ever passes for an image.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

CHUNK_BYTES = 1024 * 1024
HASH_ALGORITHM = "sha512"


class IncompleteUpload(Exception):
    """The body ended before the length the client announced; nothing was kept."""


@dataclass(frozen=True)
class StoredFile:
    location: str
    size: int
    checksum: str  # md5, as Glance's `checksum`
    os_hash_algo: str
    os_hash_value: str


class FileStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def write(self, image_id: UUID, stream: BinaryIO, expected_size: int | None) -> StoredFile:
        """Copies the stream in chunks, hashing as it goes; memory use does not grow with the image."""
        self._root.mkdir(parents=True, exist_ok=True)
        # A fresh name per upload: two racing uploads never write the same file, the loser removes its own.
        location = f"{image_id}.{secrets.token_hex(8)}"
        partial = self._root / f".{location}.part"
        md5, digest, size = hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGORITHM), 0
        try:
            with open(partial, "xb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    out.write(chunk)
                    md5.update(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                if expected_size is not None and size != expected_size:
                    raise IncompleteUpload(f"Expected {expected_size} bytes of image data, received {size}.")
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self._path(location))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self._sync_directory()
        return StoredFile(location, size, md5.hexdigest(), HASH_ALGORITHM, digest.hexdigest())

    def open(self, location: str) -> BinaryIO | None:
        try:
            return open(self._path(location), "rb")
        except FileNotFoundError:
            return None

    def remove(self, location: str) -> None:
        self._path(location).unlink(missing_ok=True)

    def _path(self, location: str) -> Path:
        if Path(location).name != location or location.startswith("."):
            raise ValueError(f"not a file name of this store: {location!r}")
        return self._root / location

    def _sync_directory(self) -> None:
        """The rename itself must survive a power cut, not only the file's bytes."""
        descriptor = os.open(self._root, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
