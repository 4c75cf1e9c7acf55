"""Which host sent a report: every report is signed with its host's own key.

Keys are derived from one cloud secret that only the conductor holds; an
agent holds the keys of the hosts it serves and nothing else. A compromised
host can therefore sign only for itself, and the conductor parks any report
whose signature does not match the host it names (ARCHITECTURE.md invariant 5).
Reports also carry their sending time, so an old report replayed later than
MAX_REPORT_AGE is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from chronova.messages import MalformedMessage

MAX_REPORT_AGE = 300.0
_KEY_CONTEXT = b"chronova/host-report-key/v1:"


def derive_host_key(secret: bytes, host: str) -> bytes:
    return hmac.new(secret, _KEY_CONTEXT + host.encode(), hashlib.sha256).digest()


def signature(key: bytes, body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


class HostKeys:
    """The conductor's side: the key of any host, from the cloud secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._keys: dict[str, bytes] = {}

    def key(self, host: str) -> bytes:
        if host not in self._keys:
            self._keys[host] = derive_host_key(self._secret, host)
        return self._keys[host]

    def check(self, body: dict[str, Any], now: float) -> None:
        """Raise MalformedMessage unless `body` was signed by its host, recently."""
        claimed = body.pop("sig", None)
        host = body.get("host")
        if not isinstance(claimed, str) or not isinstance(host, str):
            raise MalformedMessage("report is not signed")
        if not hmac.compare_digest(claimed, signature(self.key(host), body)):
            raise MalformedMessage(f"report signature does not match host {host!r}")
        sent_at = body.pop("sent_at", None)
        if not isinstance(sent_at, (int, float)) or abs(now - sent_at) > MAX_REPORT_AGE:
            raise MalformedMessage(f"report from {host!r} is stale or has no sending time")
