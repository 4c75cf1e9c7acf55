"""The keypairs view: each user's keypairs as GET /os-keypairs lists them.

A deleted keypair keeps its row (marked deleted), and every change only
applies over an older version, so replaying an event changes nothing.
`serial` is Nova's integer keypair id: the notification id of the event
that created (or recreated) it, unique and increasing.
"""

from __future__ import annotations

from chronova.messages import EventMessage
from projections.views import Statement, ViewStore

DDL = (
    """CREATE TABLE IF NOT EXISTS keypairs (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        key_type TEXT NOT NULL,
        public_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        serial BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        deleted BOOLEAN NOT NULL,
        version BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS keypairs_by_user ON keypairs (user_id, name)",
)

_UPSERT = """INSERT INTO keypairs (id, user_id, name, key_type, public_key, fingerprint, serial, created_at,
        deleted, version)
    VALUES (%(id)s, %(user_id)s, %(name)s, %(key_type)s, %(public_key)s, %(fingerprint)s, %(serial)s, %(ts)s,
        %(deleted)s, %(version)s)
    ON CONFLICT (id) DO UPDATE SET key_type = excluded.key_type, public_key = excluded.public_key,
        fingerprint = excluded.fingerprint, serial = excluded.serial, created_at = excluded.created_at,
        deleted = excluded.deleted, version = excluded.version
    WHERE keypairs.version < excluded.version"""


class KeypairsProjection:
    name = "keypairs"
    ddl = DDL
    event_types = frozenset({"Keypair.Created", "Keypair.Recreated", "Keypair.Deleted"})

    def statements(self, message: EventMessage) -> list[Statement]:
        match message.event_type:
            case "Keypair.Created" | "Keypair.Recreated":
                return [self._upsert(message)]
            case "Keypair.Deleted":
                return [
                    Statement(
                        "UPDATE keypairs SET deleted = %(deleted)s, version = %(version)s "
                        "WHERE id = %(id)s AND version < %(version)s",
                        {"deleted": True, "version": message.version, "id": message.aggregate_id},
                    )
                ]
        return []

    @staticmethod
    def _upsert(message: EventMessage) -> Statement:
        data = message.data
        return Statement(
            _UPSERT,
            {
                "id": message.aggregate_id,
                "user_id": data["user_id"],
                "name": data["name"],
                "key_type": data["key_type"],
                "public_key": data["public_key"],
                "fingerprint": data["fingerprint"],
                "serial": message.notification_id,
                "ts": message.timestamp,
                "deleted": False,
                "version": message.version,
            },
        )


def keypairs_of_user(views: ViewStore, user_id: str) -> int:
    """How many keypairs a user holds (Nova counts key_pairs per user)."""
    rows = views.query(
        "SELECT COUNT(*) AS n FROM keypairs WHERE user_id = %(user_id)s AND deleted = %(deleted)s",
        {"user_id": user_id, "deleted": False},
    )
    return int(rows[0]["n"])
