"""Server groups (Nova's os-server-groups): a project's servers that the
scheduler places with one policy (affinity, anti-affinity, or the soft kinds).

A server joins its group in the same transaction that creates it, so a
group's member list is exactly the servers created into it.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def group_not_found(group_id: object) -> NotFound:
    return NotFound(f"Instance group {group_id} could not be found.")


class ServerGroup(Aggregate):
    @event("Created")
    def __init__(self, *, name: str, policy: str, rules: dict[str, Any], project_id: str, user_id: str) -> None:
        self.name = name
        self.policy = policy
        self.rules = rules
        self.project_id = project_id
        self.user_id = user_id
        self.members: list[str] = []
        self.deleted = False

    def add_member(self, server_id: str) -> None:
        """A deleted group takes no members; a server already in it is not recorded twice."""
        if self.deleted:
            raise group_not_found(self.id)
        if server_id not in self.members:
            self._member_added(server_id=server_id)

    @event("MemberAdded")
    def _member_added(self, server_id: str) -> None:
        self.members.append(server_id)

    def delete(self) -> None:
        if self.deleted:
            raise group_not_found(self.id)
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True
