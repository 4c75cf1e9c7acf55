"""The server groups view: each group and its members that are not deleted,
as GET /os-server-groups shows them (Nova lists only live members)."""

from __future__ import annotations

import json

from chronova.messages import EventMessage
from projections.views import Statement

DDL = (
    # `position` (the notification id of the creation) is Nova's listing order.
    """CREATE TABLE IF NOT EXISTS server_groups (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        policy TEXT NOT NULL,
        rules TEXT NOT NULL,
        project_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        position BIGINT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS server_groups_by_project ON server_groups (project_id, position)",
    """CREATE TABLE IF NOT EXISTS server_group_members (
        group_id TEXT NOT NULL,
        server_id TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (group_id, server_id)
    )""",
    "CREATE INDEX IF NOT EXISTS server_group_members_by_server ON server_group_members (server_id)",
)


class ServerGroupsProjection:
    name = "server_groups"
    ddl = DDL
    event_types = frozenset({"ServerGroup.Created", "ServerGroup.MemberAdded", "ServerGroup.Deleted", "Server.Deleted"})

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        match message.event_type:
            case "ServerGroup.Created":
                return [
                    Statement(
                        """INSERT INTO server_groups
                               (id, name, policy, rules, project_id, user_id, position, created_at)
                           VALUES (%(id)s, %(name)s, %(policy)s, %(rules)s, %(project_id)s, %(user_id)s,
                               %(position)s, %(ts)s)
                           ON CONFLICT (id) DO NOTHING""",
                        {
                            "id": message.aggregate_id,
                            "name": data["name"],
                            "policy": data["policy"],
                            "rules": json.dumps(data["rules"]),
                            "project_id": data["project_id"],
                            "user_id": data["user_id"],
                            "position": message.notification_id,
                            "ts": message.timestamp,
                        },
                    )
                ]
            case "ServerGroup.MemberAdded":
                return [
                    Statement(
                        """INSERT INTO server_group_members (group_id, server_id, position)
                           VALUES (%(id)s, %(server_id)s, %(position)s)
                           ON CONFLICT (group_id, server_id) DO NOTHING""",
                        {
                            "id": message.aggregate_id,
                            "server_id": data["server_id"],
                            "position": message.notification_id,
                        },
                    )
                ]
            case "ServerGroup.Deleted":
                return [
                    Statement("DELETE FROM server_group_members WHERE group_id = %(id)s", {"id": message.aggregate_id}),
                    Statement("DELETE FROM server_groups WHERE id = %(id)s", {"id": message.aggregate_id}),
                ]
            case "Server.Deleted":
                return [
                    Statement("DELETE FROM server_group_members WHERE server_id = %(id)s", {"id": message.aggregate_id})
                ]
        return []
