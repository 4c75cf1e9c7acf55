"""Users, projects and role assignments: who may act in which project.

Keystone's model, reduced to what a compute cloud needs: one domain
("default"), users with a password, projects, and roles granted to a user on a
project. Ids are Keystone-style 32-hex strings derived from the names, so a
name is unique by construction (a second `Created` conflicts) and a login by
name loads the user without any index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import NotFound

DEFAULT_DOMAIN = "default"
ROLES = ("admin", "member", "reader")
_USER_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/user")
_PROJECT_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/project")
_ROLE_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/role")
# scrypt's interactive-login parameters: about 50 ms and 16 MiB per check.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def user_aggregate_id(name: str, domain: str = DEFAULT_DOMAIN) -> UUID:
    return uuid5(_USER_NAMESPACE, f"{domain}/{name}")


def project_aggregate_id(name: str, domain: str = DEFAULT_DOMAIN) -> UUID:
    return uuid5(_PROJECT_NAMESPACE, f"{domain}/{name}")


def role_id(name: str) -> str:
    return uuid5(_ROLE_NAMESPACE, name).hex


def hash_password(password: str) -> str:
    """A salted scrypt hash; the event keeps only this, and the bus never sees it."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, password_hash: str) -> bool:
    scheme, salt, digest = password_hash.split("$")
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


class User(Aggregate):
    @event("Created")
    def __init__(
        self,
        *,
        id: UUID,
        name: str,
        domain_id: str,
        password_hash: str,
        email: str | None,
        default_project_id: str | None,
        enabled: bool,
        request_id: str,
    ) -> None:
        self.name = name
        self.domain_id = domain_id
        self.password_hash = password_hash
        self.email = email
        self.default_project_id = default_project_id
        self.enabled = enabled

    @property
    def user_id(self) -> str:
        return self.id.hex

    def check_password(self, password: str) -> bool:
        return self.enabled and password_matches(password, self.password_hash)

    def change_password(self, password_hash: str, request_id: str) -> None:
        self._password_changed(password_hash=password_hash, request_id=request_id)

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str, request_id: str) -> None:
        self.password_hash = password_hash

    def set_enabled(self, enabled: bool, request_id: str) -> None:
        if enabled != self.enabled:
            self._enabled_changed(enabled=enabled, request_id=request_id)

    @event("EnabledChanged")
    def _enabled_changed(self, enabled: bool, request_id: str) -> None:
        self.enabled = enabled


class Project(Aggregate):
    """A project and the roles its members hold in it."""

    @event("Created")
    def __init__(
        self, *, id: UUID, name: str, domain_id: str, description: str, enabled: bool, request_id: str
    ) -> None:
        self.name = name
        self.domain_id = domain_id
        self.description = description
        self.enabled = enabled
        self.roles: dict[str, list[str]] = {}

    @property
    def project_id(self) -> str:
        return self.id.hex

    def roles_of(self, user_id: str) -> list[str]:
        return list(self.roles.get(user_id, []))

    def grant(self, user_id: str, role: str, request_id: str) -> None:
        if role not in ROLES:
            raise NotFound(f"Could not find role: {role}.")
        if role not in self.roles.get(user_id, []):
            self._role_granted(user_id=user_id, role=role, request_id=request_id)

    @event("RoleGranted")
    def _role_granted(self, user_id: str, role: str, request_id: str) -> None:
        self.roles[user_id] = [*self.roles.get(user_id, []), role]

    def revoke(self, user_id: str, role: str, request_id: str) -> None:
        if role not in self.roles.get(user_id, []):
            raise NotFound(f"Could not find role assignment with role: {role_id(role)}, user: {user_id}.")
        self._role_revoked(user_id=user_id, role=role, request_id=request_id)

    @event("RoleRevoked")
    def _role_revoked(self, user_id: str, role: str, request_id: str) -> None:
        self.roles[user_id] = [r for r in self.roles[user_id] if r != role]


def role_name(reference: str) -> str:
    """A role named by name or by id, as Keystone's URLs allow."""
    for name in ROLES:
        if reference in (name, role_id(name)):
            return name
    raise NotFound(f"Could not find role: {reference}.")
