"""The built-in identity service: the Keystone v3 subset the OpenStack clients use.

Mounted at /identity on the API port. Logins and grants are use cases on the
event store; listings read the identity view. Errors use Keystone's own body
(`{"error": {"code", "message", "title"}}`), which keystoneauth parses.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from chronova import web
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity import accounts
from chronova.identity.accounts import Logins, Reference
from chronova.identity.schemas import AuthRequest, ProjectRequest, UserRequest, load, reference
from chronova.identity.tokens import InvalidToken, TokenClaims, TokenSigner, token_key
from domain.errors import AlreadyExists, Forbidden, NotFound
from domain.identity import DEFAULT_DOMAIN, ROLES, role_id, role_name
from projections.views import ViewStore

log = logging.getLogger(__name__)

PREFIX = "/identity"
V3 = f"{PREFIX}/v3"
VIEW_WAIT_SECONDS = 3.0
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
_DOMAIN = {"id": DEFAULT_DOMAIN, "name": "Default"}


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
        "user": {"id": claims.user_id, "name": claims.user_name, "domain": _DOMAIN, "password_expires_at": None},
        "audit_ids": [claims.audit_id],
        "expires_at": claims.expires_at,
        "issued_at": claims.issued_at,
        "project": {"id": claims.project_id, "name": claims.project_name, "domain": _DOMAIN},
        "is_domain": False,
        "roles": [{"id": role_id(role), "name": role} for role in claims.roles],
    }
    if with_catalog:
        body["catalog"] = catalog(req.prefix)
    return {"token": body}


def _caller(req: falcon.Request) -> TokenClaims:
    claims = req.context.claims
    if claims is None:
        raise falcon.HTTPUnauthorized(description=accounts.UNAUTHORIZED)
    return claims


def _require_admin(req: falcon.Request, action: str) -> TokenClaims:
    claims = _caller(req)
    if not claims.is_admin:
        raise Forbidden(f"You are not authorized to perform the requested action: {action}.")
    return claims


class _Base:
    def __init__(self, cloud: Cloud, views: ViewStore, signer: TokenSigner) -> None:
        self.cloud = cloud
        self.views = views
        self.signer = signer
        self.logins = Logins(cloud, signer)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Listings are read after the view has caught up with the store (read your writes)."""
        self.views.wait_for("identity", self.cloud.recorder.max_notification_id() or 0, VIEW_WAIT_SECONDS)
        return self.views.query(sql, params)


class Versions:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_300
        resp.media = {"versions": {"values": [_version(req)]}}


class Version:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": _version(req)}


class Tokens(_Base):
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
        _caller(req)
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
        _caller(req)
        resp.media = {"catalog": catalog(req.prefix), "links": {"self": req.url, "previous": None, "next": None}}


def _project(req: falcon.Request, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "is_domain": False,
        "parent_id": row["domain_id"],
        "tags": [],
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/projects/{row['id']}"},
    }


def _user(req: falcon.Request, row: dict[str, Any]) -> dict[str, Any]:
    user = {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "enabled": bool(row["enabled"]),
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/users/{row['id']}"},
    }
    if row.get("email"):
        user["email"] = row["email"]
    if row.get("default_project_id"):
        user["default_project_id"] = row["default_project_id"]
    return user


def _listing(req: falcon.Request, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: items, "links": {"self": req.url, "previous": None, "next": None}}


class AuthProjects(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = _caller(req)
        rows = self.query(
            """SELECT DISTINCT p.* FROM identity_projects p JOIN identity_assignments a ON a.project_id = p.id
               WHERE a.user_id = %(user)s ORDER BY p.name""",
            {"user": claims.user_id},
        )
        resp.media = _listing(req, "projects", [_project(req, row) for row in rows])


class Projects(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = _caller(req)
        rows = self.query("SELECT * FROM identity_projects ORDER BY name")
        if not claims.is_admin:
            rows = [row for row in rows if row["id"] == claims.project_id]
        name = req.get_param("name")
        rows = [row for row in rows if name is None or row["name"] == name]
        resp.media = _listing(req, "projects", [_project(req, row) for row in rows])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = load(ProjectRequest(), web.read_json_body(req))["project"]
        _require_admin(req, "identity:create_project")
        project = accounts.create_project(
            self.cloud,
            name=body["name"],
            description=body["description"] or "",
            request_id=req.context.request_id,
            enabled=body["enabled"],
        )
        row = {
            "id": project.project_id,
            "name": project.name,
            "domain_id": DEFAULT_DOMAIN,
            "description": project.description,
            "enabled": project.enabled,
        }
        resp.status = falcon.HTTP_201
        resp.media = {"project": _project(req, row)}


class ProjectItem(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        claims = _caller(req)
        if not (claims.is_admin or claims.project_id == project_id):
            raise Forbidden("You are not authorized to perform the requested action: identity:get_project.")
        rows = self.query("SELECT * FROM identity_projects WHERE id = %(id)s", {"id": project_id})
        if not rows:
            raise NotFound(f"Could not find project: {project_id}.")
        resp.media = {"project": _project(req, rows[0])}


class Users(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _require_admin(req, "identity:list_users")
        rows = self.query("SELECT * FROM identity_users ORDER BY name")
        name = req.get_param("name")
        resp.media = _listing(req, "users", [_user(req, row) for row in rows if name is None or row["name"] == name])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = load(UserRequest(), web.read_json_body(req))["user"]
        _require_admin(req, "identity:create_user")
        user = accounts.create_user(
            self.cloud,
            name=body["name"],
            password=body["password"],
            request_id=req.context.request_id,
            email=body["email"],
            default_project_id=body["default_project_id"],
            enabled=body["enabled"],
        )
        row = {
            "id": user.user_id,
            "name": user.name,
            "domain_id": DEFAULT_DOMAIN,
            "enabled": user.enabled,
            "email": user.email,
            "default_project_id": user.default_project_id,
        }
        resp.status = falcon.HTTP_201
        resp.media = {"user": _user(req, row)}


class UserItem(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        claims = _caller(req)
        if not (claims.is_admin or claims.user_id == user_id):
            raise Forbidden("You are not authorized to perform the requested action: identity:get_user.")
        rows = self.query("SELECT * FROM identity_users WHERE id = %(id)s", {"id": user_id})
        if not rows:
            raise NotFound(f"Could not find user: {user_id}.")
        resp.media = {"user": _user(req, rows[0])}


def _role(req: falcon.Request, name: str) -> dict[str, Any]:
    return {
        "id": role_id(name),
        "name": name,
        "domain_id": None,
        "description": None,
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/roles/{role_id(name)}"},
    }


class Roles:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _caller(req)
        name = req.get_param("name")
        resp.media = _listing(req, "roles", [_role(req, r) for r in ROLES if name is None or r == name])


class RoleItem:
    def on_get(self, req: falcon.Request, resp: falcon.Response, role: str) -> None:
        _caller(req)
        resp.media = {"role": _role(req, role_name(role))}


class Grant(_Base):
    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str, user_id: str, role: str) -> None:
        _require_admin(req, "identity:create_grant")
        accounts.grant_role(self.cloud, project_id, user_id, role_name(role), req.context.request_id)
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str, user_id: str, role: str) -> None:
        _require_admin(req, "identity:revoke_grant")
        accounts.revoke_role(self.cloud, project_id, user_id, role_name(role), req.context.request_id)
        resp.status = falcon.HTTP_204

    def on_head(self, req: falcon.Request, resp: falcon.Response, project_id: str, user_id: str, role: str) -> None:
        _require_admin(req, "identity:check_grant")
        project = accounts.find_project(self.cloud, Reference(id=project_id))
        if role_name(role) not in project.roles_of(user_id):
            raise NotFound(f"Could not find role assignment with role: {role}, user: {user_id}.")
        resp.status = falcon.HTTP_204


class RoleAssignments(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = _caller(req)
        user = req.get_param("user.id")
        if not claims.is_admin and user != claims.user_id:
            raise Forbidden("You are not authorized to perform the requested action: identity:list_role_assignments.")
        project = req.get_param("scope.project.id")
        rows = self.query("SELECT * FROM identity_assignments ORDER BY project_id, user_id, role")
        items = [
            {
                "role": {"id": role_id(row["role"]), "name": row["role"]},
                "user": {"id": row["user_id"]},
                "scope": {"project": {"id": row["project_id"]}},
                "links": {"assignment": req.url},
            }
            for row in rows
            if (user is None or row["user_id"] == user) and (project is None or row["project_id"] == project)
        ]
        resp.media = _listing(req, "role_assignments", items)


class Domains:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _caller(req)
        resp.media = _listing(req, "domains", [_domain(req)])


class DomainItem:
    def on_get(self, req: falcon.Request, resp: falcon.Response, domain_id: str) -> None:
        _caller(req)
        if domain_id not in ("default", "Default"):
            raise NotFound(f"Could not find domain: {domain_id}.")
        resp.media = {"domain": _domain(req)}


def _domain(req: falcon.Request) -> dict[str, Any]:
    return {
        **_DOMAIN,
        "description": "The default domain",
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/domains/default"},
    }


class TokenMiddleware:
    """Keystone reads its caller from X-Auth-Token like every other service; absent is allowed here
    because logging in and the version documents need no token."""

    def __init__(self, signer: TokenSigner) -> None:
        self._signer = signer

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = req.get_header("X-Auth-Token")
        req.context.claims = None
        if token:
            try:
                req.context.claims = self._signer.verify(token)
            except InvalidToken:
                if not (req.method == "POST" and req.path.rstrip("/") == f"{V3}/auth/tokens"):
                    raise falcon.HTTPUnauthorized(description=accounts.UNAUTHORIZED) from None


def _render_error(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    """Keystone's error body; anything unexpected is logged by the shared handler's rules."""
    if isinstance(ex, falcon.HTTPError):
        code, message, headers = ex.status_code, ex.description or ex.title, dict(ex.headers or {})
    elif isinstance(ex, NotFound):
        code, message, headers = 404, str(ex), {}
    elif isinstance(ex, AlreadyExists):
        code, message, headers = 409, str(ex), {}
    elif isinstance(ex, Forbidden):
        code, message, headers = 403, str(ex), {}
    else:
        log.error("unexpected error in %s %s (%s)", req.method, req.path, req.context.get("request_id"), exc_info=ex)
        code, message, headers = 500, "An unexpected error prevented the server from fulfilling your request.", {}
    if code == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{req.prefix}{PREFIX}"'
    resp.status = code
    resp.set_headers(headers)
    resp.media = {"error": {"code": code, "message": message, "title": _TITLES.get(code, "Internal Server Error")}}


def create_app(cloud: Cloud, views: ViewStore, settings: Settings) -> falcon.App:
    signer = TokenSigner(token_key(settings.cloud_secret()))
    app = falcon.App(
        middleware=[
            web.RequestIdMiddleware(),
            web.BodyLimitMiddleware(),
            web.StorableTextMiddleware(),
            TokenMiddleware(signer),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler((Exception, falcon.HTTPError), _render_error)
    parts = (cloud, views, signer)
    app.add_route(PREFIX, Versions())
    app.add_route(V3, Version())
    app.add_route(f"{V3}/auth/tokens", Tokens(*parts))
    app.add_route(f"{V3}/auth/catalog", Catalog())
    app.add_route(f"{V3}/auth/projects", AuthProjects(*parts))
    app.add_route(f"{V3}/projects", Projects(*parts))
    app.add_route(f"{V3}/projects/{{project_id}}", ProjectItem(*parts))
    app.add_route(f"{V3}/users", Users(*parts))
    app.add_route(f"{V3}/users/{{user_id}}", UserItem(*parts))
    app.add_route(f"{V3}/roles", Roles())
    app.add_route(f"{V3}/roles/{{role}}", RoleItem())
    app.add_route(f"{V3}/projects/{{project_id}}/users/{{user_id}}/roles/{{role}}", Grant(*parts))
    app.add_route(f"{V3}/role_assignments", RoleAssignments(*parts))
    app.add_route(f"{V3}/domains", Domains())
    app.add_route(f"{V3}/domains/{{domain_id}}", DomainItem())
    return app
