"""The images view: one row per image as the image API shows it, plus its tags
and extra properties in tables of their own, so listings filter on them in SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chronova.messages import EventMessage
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS images (
        id TEXT PRIMARY KEY,
        name TEXT,
        status TEXT NOT NULL,
        visibility TEXT NOT NULL,
        protected BOOLEAN NOT NULL,
        os_hidden BOOLEAN NOT NULL,
        owner TEXT,
        disk_format TEXT,
        container_format TEXT,
        min_disk INTEGER NOT NULL,
        min_ram INTEGER NOT NULL,
        size BIGINT,
        virtual_size BIGINT,
        checksum TEXT,
        os_hash_algo TEXT,
        os_hash_value TEXT,
        location TEXT,
        tags TEXT NOT NULL,
        properties TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS images_by_owner ON images (owner)",
    """CREATE TABLE IF NOT EXISTS image_tags (
        image_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (image_id, tag)
    )""",
    """CREATE TABLE IF NOT EXISTS image_properties (
        image_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (image_id, name)
    )""",
)

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so the view sorts and compares times as strings."""
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


def _tag_and_property_rows(image_id: str, tags: list[str], properties: dict[str, str]) -> list[Statement]:
    rows = [
        Statement(
            "INSERT INTO image_tags (image_id, tag) VALUES (%(id)s, %(tag)s) ON CONFLICT (image_id, tag) DO NOTHING",
            {"id": image_id, "tag": tag},
        )
        for tag in tags
    ]
    rows += [
        Statement(
            """INSERT INTO image_properties (image_id, name, value) VALUES (%(id)s, %(name)s, %(value)s)
               ON CONFLICT (image_id, name) DO NOTHING""",
            {"id": image_id, "name": name, "value": value},
        )
        for name, value in properties.items()
    ]
    return rows


def _forget_tags_and_properties(image_id: str) -> list[Statement]:
    return [
        Statement("DELETE FROM image_tags WHERE image_id = %(id)s", {"id": image_id}),
        Statement("DELETE FROM image_properties WHERE image_id = %(id)s", {"id": image_id}),
    ]


class ImagesProjection:
    name = "images"
    ddl = DDL
    event_types = frozenset({"Image.Registered", "Image.Updated", "Image.DataStored", "Image.Deleted"})

    def statements(self, message: EventMessage) -> list[Statement]:
        data, image_id = message.data, message.aggregate_id
        at = stamp(datetime.fromisoformat(message.timestamp))
        tags, properties = data.get("tags") or [], data.get("properties") or {}
        match message.event_type:
            case "Image.Registered":
                return [
                    Statement(
                        """INSERT INTO images (id, name, status, visibility, protected, os_hidden, owner, disk_format,
                               container_format, min_disk, min_ram, size, tags, properties, created_at, updated_at,
                               version)
                           VALUES (%(id)s, %(name)s, %(status)s, %(visibility)s, %(protected)s, %(os_hidden)s,
                               %(owner)s, %(disk_format)s, %(container_format)s, %(min_disk)s, %(min_ram)s, %(size)s,
                               %(tags)s, %(properties)s, %(at)s, %(at)s, %(version)s)
                           ON CONFLICT (id) DO NOTHING""",
                        {
                            "id": image_id,
                            "name": data["name"],
                            # Registered with a size: its data already exists (see domain/image.py).
                            "status": "active" if data["size"] is not None else "queued",
                            "visibility": data["visibility"],
                            "protected": bool(data.get("protected", False)),
                            "os_hidden": bool(data.get("os_hidden", False)),
                            "owner": data["owner"],
                            "disk_format": data["disk_format"],
                            "container_format": data["container_format"],
                            "min_disk": data["min_disk"],
                            "min_ram": data["min_ram"],
                            "size": data["size"],
                            "tags": json.dumps(tags),
                            "properties": json.dumps(properties),
                            "at": at,
                            "version": message.version,
                        },
                    ),
                    *_tag_and_property_rows(image_id, tags, properties),
                ]
            case "Image.Updated":
                columns = ("name", "visibility", "protected", "os_hidden", "owner", "disk_format", "container_format")
                return [
                    Statement(
                        f"""UPDATE images SET {", ".join(f"{c} = %({c})s" for c in columns)},
                               min_disk = %(min_disk)s, min_ram = %(min_ram)s, tags = %(tags)s,
                               properties = %(properties)s, updated_at = %(at)s, version = %(version)s
                           WHERE id = %(id)s""",
                        {name: data[name] for name in (*columns, "min_disk", "min_ram")}
                        | {
                            "tags": json.dumps(tags),
                            "properties": json.dumps(properties),
                            "at": at,
                            "version": message.version,
                            "id": image_id,
                        },
                    ),
                    *_forget_tags_and_properties(image_id),
                    *_tag_and_property_rows(image_id, tags, properties),
                ]
            case "Image.DataStored":
                return [
                    Statement(
                        """UPDATE images SET status = 'active', size = %(size)s, checksum = %(checksum)s,
                               os_hash_algo = %(os_hash_algo)s, os_hash_value = %(os_hash_value)s,
                               location = %(location)s, updated_at = %(at)s, version = %(version)s
                           WHERE id = %(id)s""",
                        {key: data[key] for key in ("size", "checksum", "os_hash_algo", "os_hash_value", "location")}
                        | {"at": at, "version": message.version, "id": image_id},
                    )
                ]
            case "Image.Deleted":
                return [
                    Statement("DELETE FROM images WHERE id = %(id)s", {"id": image_id}),
                    *_forget_tags_and_properties(image_id),
                ]
        return []
