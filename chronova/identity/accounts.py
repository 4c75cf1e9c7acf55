"""Identity use cases: log in, create users and projects, grant roles.

Logins load the user and project aggregates by their name-derived ids, so a
password check never waits for a projection and sees the latest password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from chronova.identity.tokens import InvalidToken, TokenClaims, TokenSigner
from domain.errors import AlreadyExists, NotFound
from domain.identity import (
    DEFAULT_DOMAIN,
    Project,
    User,
    hash_password,
    project_aggregate_id,
    user_aggregate_id,
)

UNAUTHORIZED = "The request you have made requires authentication."


@dataclass(frozen=True)
class Reference:
    """A user or project named by id, or by name within a domain (Keystone's two ways)."""

    id: str | None = None
    name: str | None = None
    domain: str = DEFAULT_DOMAIN


def _aggregate_uuid(ref: Reference, by_name: type) -> UUID | None:
    if ref.id is not None:
        try:
            return UUID(hex=ref.id)
        except ValueError:
            return None
    if ref.domain != DEFAULT_DOMAIN or ref.name is None:
        return None
    return user_aggregate_id(ref.name) if by_name is User else project_aggregate_id(ref.name)


def find_user(cloud: Cloud, ref: Reference) -> User:
    uuid = _aggregate_uuid(ref, User)
    if uuid is None:
        raise NotFound(f"Could not find user: {ref.id or ref.name}.")
    return cloud.load(uuid, User, f"Could not find user: {ref.id or ref.name}.")


def find_project(cloud: Cloud, ref: Reference) -> Project:
    uuid = _aggregate_uuid(ref, Project)
    if uuid is None:
        raise NotFound(f"Could not find project: {ref.id or ref.name}.")
    return cloud.load(uuid, Project, f"Could not find project: {ref.id or ref.name}.")


class Logins:
    def __init__(self, cloud: Cloud, signer: TokenSigner) -> None:
        self._cloud = cloud
        self._signer = signer

    def with_password(self, user_ref: Reference, password: str, scope: Reference | None) -> tuple[str, TokenClaims]:
        try:
            user = find_user(self._cloud, user_ref)
        except NotFound:
            raise InvalidToken(UNAUTHORIZED) from None
        if not user.check_password(password):
            raise InvalidToken(UNAUTHORIZED)
        return self._scoped(user, scope, ("password",))

    def with_token(self, token: str, scope: Reference | None) -> tuple[str, TokenClaims]:
        """Re-scoping or renewing: the new token never outlives the one it came from."""
        claims = self._signer.verify(token)
        try:
            user = self._cloud.load(UUID(hex=claims.user_id), User)
        except (ValueError, NotFound):
            raise InvalidToken(UNAUTHORIZED) from None
        if not user.enabled:
            raise InvalidToken(UNAUTHORIZED)
        scope = scope or Reference(id=claims.project_id)
        return self._scoped(user, scope, ("token", "password"), claims.expiry())

    def _scoped(
        self, user: User, scope: Reference | None, methods: tuple[str, ...], expires: datetime | None = None
    ) -> tuple[str, TokenClaims]:
        if scope is None:
            if user.default_project_id is None:
                raise InvalidToken(UNAUTHORIZED)
            scope = Reference(id=user.default_project_id)
        try:
            project = find_project(self._cloud, scope)
        except NotFound:
            raise InvalidToken(UNAUTHORIZED) from None
        roles = project.roles_of(user.user_id)
        if not roles or not project.enabled:
            raise InvalidToken(f"User {user.user_id} has no access to project {project.project_id}")
        return self._signer.issue(
            user_id=user.user_id,
            user_name=user.name,
            project_id=project.project_id,
            project_name=project.name,
            roles=tuple(roles),
            methods=methods,
            expires_at=expires,
        )


def create_user(
    cloud: Cloud,
    *,
    name: str,
    password: str,
    request_id: str,
    email: str | None = None,
    default_project_id: str | None = None,
    enabled: bool = True,
) -> User:
    user = User(
        id=user_aggregate_id(name),
        name=name,
        domain_id=DEFAULT_DOMAIN,
        password_hash=hash_password(password),
        email=email,
        default_project_id=default_project_id,
        enabled=enabled,
        request_id=request_id,
    )
    try:
        cloud.save(user)
    except IntegrityError:
        raise AlreadyExists(
            f"Conflict occurred attempting to store user - Duplicate entry found with name {name}."
        ) from None
    return user


def create_project(cloud: Cloud, *, name: str, description: str, request_id: str, enabled: bool = True) -> Project:
    project = Project(
        id=project_aggregate_id(name),
        name=name,
        domain_id=DEFAULT_DOMAIN,
        description=description,
        enabled=enabled,
        request_id=request_id,
    )
    try:
        cloud.save(project)
    except IntegrityError:
        raise AlreadyExists(
            f"Conflict occurred attempting to store project - Duplicate entry found with name {name} "
            f"at domain ID {DEFAULT_DOMAIN}."
        ) from None
    return project


def grant_role(cloud: Cloud, project_id: str, user_id: str, role: str, request_id: str) -> None:
    project = find_project(cloud, Reference(id=project_id))
    find_user(cloud, Reference(id=user_id))
    project.grant(user_id, role, request_id)
    cloud.save(project)


def revoke_role(cloud: Cloud, project_id: str, user_id: str, role: str, request_id: str) -> None:
    project = find_project(cloud, Reference(id=project_id))
    project.revoke(user_id, role, request_id)
    cloud.save(project)
