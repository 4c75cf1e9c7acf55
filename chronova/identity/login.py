"""Version documents and tokens: logging in, checking a token, the service catalog."""

from __future__ import annotations

from typing import Any

import falcon

from chronova import web
from chronova.identity.common import DOMAIN, PREFIX, V3, IdentityResource, caller
from chronova.identity.schemas import AuthRequest, load, reference
from chronova.identity.tokens import InvalidToken, TokenClaims
from domain.errors import NotFound
from domain.identity import role_id


def _version(req: falcon.Request) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{req.prefix}{V3}/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def catalog(base: str) -> list[dict[str, Any]]:
    """The services on this API port, as every interface (clients pick `public` by default)."""
    services = (
        ("compute", "nova", f"{base}/v2.1"),
        ("image", "glance", f"{base}/image"),
        ("identity", "keystone", f"{base}{PREFIX}"),
    )
    return [
        {
            "id": role_id(f"service/{kind}"),
            "type": kind,
            "name": name,
            "endpoints": [
                {
                    "id": role_id(f"endpoint/{kind}/{interface}"),
                    "interface": interface,
                    "region": "RegionOne",
                    "region_id": "RegionOne",
                    "url": url,
                }
                for interface in ("public", "internal", "admin")
            ],
        }
        for kind, name, url in services
    ]


def token_body(req: falcon.Request, claims: TokenClaims, with_catalog: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "methods": list(claims.methods),
        "user": {"id": claims.user_id, "name": claims.user_name, "domain": DOMAIN, "password_expires_at": None},
        "audit_ids": [claims.audit_id],
        "expires_at": claims.expires_at,
        "issued_at": claims.issued_at,
        "project": {"id": claims.project_id, "name": claims.project_name, "domain": DOMAIN},
        "is_domain": False,
        "roles": [{"id": role_id(role), "name": role} for role in claims.roles],
    }
    if with_catalog:
        body["catalog"] = catalog(req.prefix)
    return {"token": body}


class Versions:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_300
        resp.media = {"versions": {"values": [_version(req)]}}


class Version:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": _version(req)}


class Tokens(IdentityResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        auth = load(AuthRequest(), web.read_json_body(req))["auth"]
        identity, scope_body = auth["identity"], auth.get("scope")
        scope = reference(scope_body["project"]) if scope_body else None
        try:
            if "password" in identity["methods"]:
                if "password" not in identity:
                    raise falcon.HTTPBadRequest(description="Expecting to find password in identity.")
                user = identity["password"]["user"]
                token, claims = self.logins.with_password(reference(user), user.get("password", ""), scope)
            else:
                if "token" not in identity:
                    raise falcon.HTTPBadRequest(description="Expecting to find token in identity.")
                token, claims = self.logins.with_token(identity["token"]["id"], scope)
        except InvalidToken as e:
            raise falcon.HTTPUnauthorized(description=str(e)) from None
        resp.status = falcon.HTTP_201
        resp.set_header("X-Subject-Token", token)
        resp.media = token_body(req, claims, "nocatalog" not in req.params)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller(req)
        subject = req.get_header("X-Subject-Token") or ""
        try:
            claims = self.signer.verify(subject)
        except InvalidToken:
            raise NotFound(f"Could not find token: {subject[:16]}") from None
        resp.set_header("X-Subject-Token", subject)
        resp.media = token_body(req, claims, "nocatalog" not in req.params)

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.on_get(req, resp)


class Catalog:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller(req)
        resp.media = {"catalog": catalog(req.prefix), "links": {"self": req.url, "previous": None, "next": None}}
