"""Server group use cases (os-server-groups), and joining a group at server create.

Groups belong to a project: another project's group is not there (404),
except for admins, as with servers.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chronova import quotas
from chronova.cloud import Cloud
from domain.commands import RequestContext
from domain.errors import InvalidReference, NotFound
from domain.server_group import ServerGroup, group_not_found
from projections.quotas import project_usage
from projections.views import ViewStore

ATTEMPTS = 5
QUOTA_EXCEEDED = "Quota exceeded, too many server groups."


def create_group(
    cloud: Cloud, views: ViewStore, ctx: RequestContext, name: str, policy: str, rules: dict[str, Any]
) -> ServerGroup:
    quotas.ensure_within(
        cloud,
        ctx.project_id,
        "server_groups",
        lambda: project_usage(views, ctx.project_id)["server_groups"],
        1,
        message=QUOTA_EXCEEDED,
    )
    group = ServerGroup(name=name, policy=policy, rules=rules, project_id=ctx.project_id, user_id=ctx.user_id)
    cloud.save(group)
    return group


def visible_group(cloud: Cloud, group_id: str, ctx: RequestContext) -> ServerGroup:
    try:
        uuid = UUID(group_id)
    except ValueError:
        raise group_not_found(group_id) from None
    group = cloud.load(uuid, ServerGroup, f"Instance group {group_id} could not be found.")
    if group.deleted or not (ctx.is_admin or group.project_id == ctx.project_id):
        raise group_not_found(group_id)
    return group


def delete_group(cloud: Cloud, group_id: str, ctx: RequestContext) -> None:
    """Members keep running; only the group goes. A server joining meanwhile makes it try again."""
    for remaining in reversed(range(ATTEMPTS)):
        group = visible_group(cloud, group_id, ctx)
        group.delete()
        try:
            cloud.save(group)
            return
        except IntegrityError:
            if not remaining:
                raise


def group_with_new_member(
    cloud: Cloud, group_id: str | UUID, server_id: str | UUID, ctx: RequestContext
) -> ServerGroup:
    """The group named by a server create's `scheduler_hints.group`, with the new server recorded as a member.

    Unsaved: the caller saves it with the new Server in one transaction, so a
    server is in its group exactly when it exists. An unknown, deleted or
    (for a member) another project's group is a bad reference in the create
    request: 400, as Nova answers.
    """
    try:
        group = visible_group(cloud, str(group_id), ctx)
    except NotFound as e:
        raise InvalidReference(str(e)) from None
    group.add_member(str(server_id))
    return group
