"""The identity view: users, projects and role assignments, for listings."""

from __future__ import annotations

from chronova.messages import EventMessage
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS identity_users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        domain_id TEXT NOT NULL,
        email TEXT,
        default_project_id TEXT,
        enabled INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS identity_projects (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        domain_id TEXT NOT NULL,
        description TEXT NOT NULL,
        enabled INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS identity_assignments (
        project_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (project_id, user_id, role)
    )""",
)


def _hex(aggregate_id: str) -> str:
    return aggregate_id.replace("-", "")


class IdentityProjection:
    name = "identity"
    ddl = DDL
    event_types = frozenset(
        {"User.Created", "User.EnabledChanged", "Project.Created", "Project.RoleGranted", "Project.RoleRevoked"}
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data, key = message.data, _hex(message.aggregate_id)
        match message.event_type:
            case "User.Created":
                return [
                    Statement(
                        """INSERT INTO identity_users (id, name, domain_id, email, default_project_id, enabled)
                           VALUES (%(id)s, %(name)s, %(domain_id)s, %(email)s, %(default_project_id)s, %(enabled)s)
                           ON CONFLICT (id) DO NOTHING""",
                        {
                            **{k: data[k] for k in ("name", "domain_id", "email", "default_project_id")},
                            "id": key,
                            "enabled": int(data["enabled"]),
                        },
                    )
                ]
            case "User.EnabledChanged":
                return [
                    Statement(
                        "UPDATE identity_users SET enabled = %(enabled)s WHERE id = %(id)s",
                        {"enabled": int(data["enabled"]), "id": key},
                    )
                ]
            case "Project.Created":
                return [
                    Statement(
                        """INSERT INTO identity_projects (id, name, domain_id, description, enabled)
                           VALUES (%(id)s, %(name)s, %(domain_id)s, %(description)s, %(enabled)s)
                           ON CONFLICT (id) DO NOTHING""",
                        {
                            **{k: data[k] for k in ("name", "domain_id", "description")},
                            "id": key,
                            "enabled": int(data["enabled"]),
                        },
                    )
                ]
            case "Project.RoleGranted":
                return [
                    Statement(
                        """INSERT INTO identity_assignments (project_id, user_id, role)
                           VALUES (%(project_id)s, %(user_id)s, %(role)s) ON CONFLICT DO NOTHING""",
                        {"project_id": key, "user_id": data["user_id"], "role": data["role"]},
                    )
                ]
            case "Project.RoleRevoked":
                return [
                    Statement(
                        """DELETE FROM identity_assignments
                           WHERE project_id = %(project_id)s AND user_id = %(user_id)s AND role = %(role)s""",
                        {"project_id": key, "user_id": data["user_id"], "role": data["role"]},
                    )
                ]
        return []
