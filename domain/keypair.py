"""The Keypair aggregate: a user's named SSH (or x509) public key.

Nova's keypairs belong to a user, not a project, and a name is unique per
user; the aggregate id is derived from (user, name), so two imports racing
for one name append the same version 1 and the store refuses the second.
A deleted keypair's name may be used again: the same aggregate is recreated.
Only public material is ever recorded; a generated private key is handed to
the caller once and never reaches an event.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, NotFound

KEYPAIR_NAMESPACE = uuid5(NAMESPACE_URL, "https://chronova.invalid/keypair")
SSH = "ssh"
X509 = "x509"
KEY_TYPES = (SSH, X509)


def keypair_id(user_id: str, name: str) -> UUID:
    """Keypairs are found by owner and name (servers name them by `key_name`)."""
    return uuid5(KEYPAIR_NAMESPACE, f"{user_id}/{name}")


def not_found_message(user_id: str, name: str) -> str:
    return f"Keypair {name} not found for user {user_id}"


def already_exists_message(name: str) -> str:
    return f"Key pair '{name}' already exists."


class Keypair(Aggregate):
    @event("Created")
    def __init__(
        self, *, user_id: str, name: str, key_type: str, public_key: str, fingerprint: str, request_id: str
    ) -> None:
        self.user_id = user_id
        self.name = name
        self.key_type = key_type
        self.public_key = public_key
        self.fingerprint = fingerprint
        self.deleted = False

    @staticmethod
    def create_id(user_id: str, name: str) -> UUID:
        return keypair_id(user_id, name)

    def recreate(self, *, key_type: str, public_key: str, fingerprint: str, request_id: str) -> None:
        """Use a deleted keypair's name again, with new key material."""
        if not self.deleted:
            raise AlreadyExists(already_exists_message(self.name))
        self._recreated(
            user_id=self.user_id,
            name=self.name,
            key_type=key_type,
            public_key=public_key,
            fingerprint=fingerprint,
            request_id=request_id,
        )

    @event("Recreated")
    def _recreated(
        self, user_id: str, name: str, key_type: str, public_key: str, fingerprint: str, request_id: str
    ) -> None:
        """Carries the owner and name too, so the event alone describes the keypair."""
        self.key_type = key_type
        self.public_key = public_key
        self.fingerprint = fingerprint
        self.deleted = False

    def delete(self, request_id: str) -> None:
        if self.deleted:
            raise NotFound(not_found_message(self.user_id, self.name))
        self._deleted(request_id=request_id)

    @event("Deleted")
    def _deleted(self, request_id: str) -> None:
        self.deleted = True
