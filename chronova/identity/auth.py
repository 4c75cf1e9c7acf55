"""Who sent a request: a token checked by the built-in identity or by an external Keystone.

The compute and image APIs only need `authenticate(token) -> TokenClaims`;
which identity service issued the token is configuration.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chronova.config import ConfigError, Settings
from chronova.identity.tokens import InvalidToken, TokenClaims, TokenSigner, token_key

log = logging.getLogger(__name__)

# How long an externally validated token is trusted before Keystone is asked again.
REMOTE_CACHE_SECONDS = 60.0


class Authenticator(Protocol):
    def authenticate(self, token: str) -> TokenClaims: ...


class LocalAuthenticator:
    """Tokens from the built-in identity service: checked with the cloud secret alone."""

    def __init__(self, signer: TokenSigner) -> None:
        self._signer = signer

    def authenticate(self, token: str) -> TokenClaims:
        return self._signer.verify(token)


class KeystoneAuthenticator:
    """Tokens from an external Keystone, validated with a service token (keystonemiddleware's job)."""

    def __init__(self, url: str, username: str, password: str, project: str, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._credentials = {"username": username, "password": password, "project": project}
        self._timeout = timeout
        self._lock = threading.Lock()
        self._service_token: tuple[str, float] | None = None
        self._cache: dict[str, tuple[TokenClaims, float]] = {}

    def authenticate(self, token: str) -> TokenClaims:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = self._validate(token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (claims, now + REMOTE_CACHE_SECONDS)
        return claims

    def _validate(self, token: str) -> TokenClaims:
        headers = {"X-Auth-Token": self._service(), "X-Subject-Token": token}
        status, body, _ = self._call("GET", "/v3/auth/tokens", headers)
        if status == 401:  # our own service token expired: get another once
            self._service_token = None
            headers["X-Auth-Token"] = self._service()
            status, body, _ = self._call("GET", "/v3/auth/tokens", headers)
        if status != 200:
            raise InvalidToken("The request you have made requires authentication.")
        return claims_from_keystone(body["token"])

    def _service(self) -> str:
        cached = self._service_token
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        creds = self._credentials
        auth = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": creds["username"], "domain": {"id": "default"}, "password": creds["password"]}
                },
            },
            "scope": {"project": {"name": creds["project"], "domain": {"id": "default"}}},
        }
        status, _, headers = self._call("POST", "/v3/auth/tokens?nocatalog", {}, {"auth": auth})
        if status != 201 or "x-subject-token" not in headers:
            log.error("external Keystone refused the service credentials (HTTP %s)", status)
            raise InvalidToken("The request you have made requires authentication.")
        self._service_token = (headers["x-subject-token"], time.monotonic() + 600)
        return headers["x-subject-token"]

    def _call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self._url + path,
            data=data,
            method=method,
            headers={**headers, "Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return response.status, json.loads(response.read() or b"{}"), _lower(response.headers.items())
        except urllib.error.HTTPError as e:
            return e.code, {}, _lower((e.headers or {}).items())
        except (urllib.error.URLError, OSError, ValueError) as e:
            log.error("external Keystone at %s unreachable: %s", self._url, e)
            raise InvalidToken("The request you have made requires authentication.") from None


def _lower(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def claims_from_keystone(token: dict[str, Any]) -> TokenClaims:
    """A Keystone v3 token body as the claims the APIs authorise with."""
    project = token.get("project") or {}
    try:
        expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        expires = datetime.now(UTC) + timedelta(minutes=5)
    return TokenClaims(
        user_id=token["user"]["id"],
        user_name=token["user"].get("name", ""),
        project_id=project.get("id", ""),
        project_name=project.get("name", ""),
        roles=tuple(role["name"].lower() for role in token.get("roles", [])),
        issued_at=token.get("issued_at", ""),
        expires_at=expires.isoformat(),
        audit_id=(token.get("audit_ids") or [""])[0],
        methods=tuple(token.get("methods", [])),
    )


def authenticator_for(settings: Settings) -> Authenticator:
    if settings.keystone_url:
        if not (settings.keystone_username and settings.keystone_password):
            raise ConfigError("CHRONOVA_KEYSTONE_URL needs CHRONOVA_KEYSTONE_USERNAME and CHRONOVA_KEYSTONE_PASSWORD")
        return KeystoneAuthenticator(
            settings.keystone_url, settings.keystone_username, settings.keystone_password, settings.keystone_project
        )
    return LocalAuthenticator(TokenSigner(token_key(settings.cloud_secret())))
