"""What every identity resource shares: where it lives, who is asking, how listings read the view."""

from __future__ import annotations

from typing import Any

import falcon

from chronova.cloud import Cloud
from chronova.identity import accounts
from chronova.identity.accounts import Logins
from chronova.identity.tokens import TokenClaims, TokenSigner
from domain.errors import Forbidden
from domain.identity import DEFAULT_DOMAIN
from projections.views import ViewStore

PREFIX = "/identity"
V3 = f"{PREFIX}/v3"
VIEW_WAIT_SECONDS = 3.0
DOMAIN = {"id": DEFAULT_DOMAIN, "name": "Default"}


def caller(req: falcon.Request) -> TokenClaims:
    claims = req.context.claims
    if claims is None:
        raise falcon.HTTPUnauthorized(description=accounts.UNAUTHORIZED)
    return claims


def require_admin(req: falcon.Request, action: str) -> TokenClaims:
    claims = caller(req)
    if not claims.is_admin:
        raise Forbidden(f"You are not authorized to perform the requested action: {action}.")
    return claims


class IdentityResource:
    def __init__(self, cloud: Cloud, views: ViewStore, signer: TokenSigner) -> None:
        self.cloud = cloud
        self.views = views
        self.signer = signer
        self.logins = Logins(cloud, signer)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Listings are read after the view has caught up with the store (read your writes)."""
        self.views.wait_for("identity", self.cloud.recorder.max_notification_id() or 0, VIEW_WAIT_SECONDS)
        return self.views.query(sql, params)


def listing(req: falcon.Request, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: items, "links": {"self": req.url, "previous": None, "next": None}}
