"""Bearer tokens: signed, self-contained, expiring.

Like Keystone's Fernet tokens they are not stored: every API process checks a
token with the cloud secret alone, so authenticating a request costs one HMAC
and no database round trip, and issuing one writes no event (a token is a
credential, not a change to the cloud). The price is the same as Fernet's
without revocation events: a token stays valid until it expires, so tokens
live one hour by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

TOKEN_PREFIX = "ck1"
DEFAULT_TTL = timedelta(hours=1)


class InvalidToken(Exception):
    """Not a token we issued, tampered with, or expired."""


@dataclass(frozen=True)
class TokenClaims:
    """Who a token speaks for; everything an API needs to authorise a request."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    issued_at: str
    expires_at: str
    audit_id: str
    methods: tuple[str, ...] = ("password",)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def expiry(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)


def token_key(secret: bytes) -> bytes:
    """A key of its own for tokens, so a leaked token key reveals no host report key."""
    return hmac.new(secret, b"chronova identity tokens", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def timestamp(moment: datetime) -> str:
    """Keystone's format: UTC, microseconds, a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TokenSigner:
    def __init__(self, key: bytes, ttl: timedelta = DEFAULT_TTL) -> None:
        self._key = key
        self._ttl = ttl

    def issue(
        self,
        *,
        user_id: str,
        user_name: str,
        project_id: str,
        project_name: str,
        roles: tuple[str, ...],
        methods: tuple[str, ...] = ("password",),
        now: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, TokenClaims]:
        issued = now or datetime.now(UTC)
        claims = TokenClaims(
            user_id=user_id,
            user_name=user_name,
            project_id=project_id,
            project_name=project_name,
            roles=tuple(roles),
            issued_at=timestamp(issued),
            expires_at=timestamp(expires_at or issued + self._ttl),
            audit_id=_b64(secrets.token_bytes(16)),
            methods=tuple(methods),
        )
        payload = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
        return f"{TOKEN_PREFIX}.{payload}.{self._sign(payload)}", claims

    def verify(self, token: str, now: datetime | None = None) -> TokenClaims:
        # Tokens we issue are ASCII; compare_digest refuses other text with a TypeError, not a mismatch.
        prefix, _, rest = token.partition(".") if token.isascii() else ("", "", "")
        payload, _, signature = rest.partition(".")
        if prefix != TOKEN_PREFIX or not payload or not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidToken("The request you have made requires authentication.")
        try:
            fields = json.loads(_unb64(payload))
            claims = TokenClaims(**{**fields, "roles": tuple(fields["roles"]), "methods": tuple(fields["methods"])})
            expired = claims.expiry() <= (now or datetime.now(UTC))
        except (ValueError, TypeError, KeyError):
            raise InvalidToken("The request you have made requires authentication.") from None
        if expired:
            raise InvalidToken("The request you have made requires authentication.")
        return claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
