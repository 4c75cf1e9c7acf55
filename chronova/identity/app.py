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
from chronova.identity.common import PREFIX, V3
from chronova.identity.directory import (
    AuthProjects,
    DomainItem,
    Domains,
    Grant,
    ProjectItem,
    Projects,
    RoleAssignments,
    RoleItem,
    Roles,
    UserItem,
    Users,
)
from chronova.identity.login import Catalog, Tokens, Version, Versions
from chronova.identity.tokens import InvalidToken, TokenSigner, token_key
from domain.errors import AlreadyExists, Forbidden, NotFound
from projections.views import ViewStore

log = logging.getLogger(__name__)

_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}


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
