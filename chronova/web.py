"""HTTP plumbing shared by the command and query apps.

Both apps must look like one Nova endpoint to a client: same request ids,
same microversion negotiation, same error bodies, same URL forms. So the
middleware, the one error handler and the link builders live here, and each
app only adds its routes.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import falcon
from eventsourcing.persistence import IntegrityError

from chronova.config import Settings
from chronova.identity.auth import Authenticator, authenticator_for
from chronova.identity.tokens import InvalidToken
from domain.commands import RequestContext
from domain.errors import AlreadyExists, Forbidden, InvalidReference, InvalidState, NotFound, NotSupported

log = logging.getLogger(__name__)

API_PREFIX = "/v2.1"
MIN_VERSION = (2, 1)
MAX_VERSION = (2, 100)
MAX_BODY_BYTES = 1024 * 1024
# The words Nova takes for a boolean, in bodies and query strings alike.
TRUE_WORDS = frozenset({"true", "1", "on", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "off", "no", "n", "f"})

# Nova's top-level collections are these plus every "os-*" one; any other first
# segment after /v2.1 is a project id (the /v2.1/{project_id}/... form).
COLLECTIONS = frozenset({"servers", "flavors", "images", "limits", "extensions"})

_ERROR_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
_DEFAULT_MESSAGES = {
    400: "The request is malformed or otherwise incorrect.",
    404: "The resource could not be found.",
    405: "The method is not allowed for the requested URL.",
    413: "Request is too large.",
}
_DOMAIN_STATUS = {
    NotFound: 404,
    InvalidReference: 400,
    AlreadyExists: 409,
    InvalidState: 409,
    Forbidden: 403,
    NotSupported: 501,
}
_VERSION_FORMAT = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


def version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def parse_microversion(headers: dict[str, str]) -> tuple[int, int]:
    """The compute microversion a request asks for; clients negotiate with it."""
    requested = _compute_version_header(headers)
    if requested is None:
        return MIN_VERSION
    if requested.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_FORMAT.match(requested)
    if not match:
        raise falcon.HTTPBadRequest(
            description=f"API Version String {requested} is of invalid format. Must be of format MajorNum.MinorNum."
        )
    version = (int(match[1]), int(match[2]))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise falcon.HTTPNotAcceptable(
            description=f"Version {requested} is not supported by the API. "
            f"Minimum is {version_text(MIN_VERSION)} and maximum is {version_text(MAX_VERSION)}."
        )
    return version


def _compute_version_header(headers: dict[str, str]) -> str | None:
    """`OpenStack-API-Version` may name several services; only `compute` is ours."""
    generic = headers.get("OPENSTACK-API-VERSION")
    if generic is not None:
        for entry in generic.split(","):
            service, _, value = entry.strip().partition(" ")
            if service.lower() == "compute":
                return value.strip()
        return None
    legacy = headers.get("X-OPENSTACK-NOVA-API-VERSION")
    return legacy.strip() if legacy is not None else None


class RequestIdMiddleware:
    """Gives each request an id that clients quote in bug reports and we log."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = f"req-{uuid.uuid4()}"

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object, succeeded: bool) -> None:
        resp.set_header("x-openstack-request-id", req.context.request_id)
        resp.set_header("x-compute-request-id", req.context.request_id)


class MicroversionMiddleware:
    """Parses the requested microversion and echoes the one served, errors included."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.api_version = parse_microversion(req.headers)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object, succeeded: bool) -> None:
        served = version_text(getattr(req.context, "api_version", MIN_VERSION))
        resp.set_header("OpenStack-API-Version", f"compute {served}")
        resp.set_header("X-OpenStack-Nova-API-Version", served)
        resp.set_header("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")


class ProjectPathMiddleware:
    """Routes /v2.1/{project_id}/x as /v2.1/x, remembering the project for links."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.url_project_id = None
        segments = req.path.split("/")
        if len(segments) > 3 and "/" + segments[1] == API_PREFIX and not _is_collection(segments[2]):
            req.context.url_project_id = segments[2]
            req.path = "/".join([*segments[:2], *segments[3:]])


def _is_collection(segment: str) -> bool:
    return segment in COLLECTIONS or segment.startswith("os-")


class BodyLimitMiddleware:
    """Refuses an oversized body from its Content-Length, before anything reads it."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if (req.content_length or 0) > MAX_BODY_BYTES:
            raise falcon.HTTPContentTooLarge(description="Request is too large.")


class StorableTextMiddleware:
    """Refuses a path or query string holding text no database takes (NUL, unpaired surrogates),
    as read_json_body does for bodies: PostgreSQL would fail the lookup or the write with a 500."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not (_storable(req.path) and _storable(req.params)):
            raise falcon.HTTPBadRequest(description="Invalid input: text may not contain NUL or unpaired surrogates.")


class AuthMiddleware:
    """Every request but the version documents needs a valid token; it becomes `req.context.caller`."""

    def __init__(self, authenticator: Authenticator, public_paths: frozenset[str]) -> None:
        self._authenticator = authenticator
        self._public_paths = public_paths

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.caller = None
        if req.method in ("GET", "HEAD") and req.path.rstrip("/") in self._public_paths:
            return
        token = req.get_header("X-Auth-Token")
        try:
            claims = self._authenticator.authenticate(token) if token else None
        except InvalidToken:
            claims = None
        if claims is None:
            raise falcon.HTTPUnauthorized(
                description="The request you have made requires authentication.",
                challenges=[f'Keystone uri="{req.prefix}/identity"'],
            )
        url_project = req.context.get("url_project_id")
        if url_project is not None and url_project != claims.project_id:
            raise falcon.HTTPBadRequest(
                description=f"Malformed request URL: URL's project_id '{url_project}' doesn't match "
                f"Context's project_id '{claims.project_id}'"
            )
        req.context.caller = RequestContext(
            project_id=claims.project_id,
            user_id=claims.user_id,
            request_id=req.context.request_id,
            is_admin=claims.is_admin,
            roles=claims.roles,
        )


def read_json_body(req: falcon.Request) -> Any:
    """The request's JSON document; a body without a Content-Length is bounded too."""
    raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise falcon.HTTPContentTooLarge(description="Request is too large.")
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise falcon.HTTPBadRequest(description="Malformed request body") from None
    if not _storable(document):
        raise falcon.HTTPBadRequest(description="Invalid input: text may not contain NUL or unpaired surrogates.")
    return document


def _storable(value: Any) -> bool:
    """Whether every string in a document can be stored: PostgreSQL text holds no NUL,
    and UTF-8 has no lone surrogates. Refused here, such text never reaches an event
    that a projection could not write."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _domain_status(ex: Exception) -> int | None:
    return next((status for kind, status in _DOMAIN_STATUS.items() if isinstance(ex, kind)), None)


def render_error(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    """Every failure as Nova's `{"<name>": {"code", "message"}}`; tracebacks go to the log only."""
    headers: dict[str, str] = {}
    if isinstance(ex, falcon.HTTPError):
        code = ex.status_code
        message = ex.description or _DEFAULT_MESSAGES.get(code) or ex.title
        headers = dict(ex.headers or {})
    elif (domain_status := _domain_status(ex)) is not None:
        code, message = domain_status, str(ex)
    elif isinstance(ex, IntegrityError):
        code, message = 409, "The request conflicted with a concurrent change; please retry."
    else:
        log.error("unexpected error in %s %s (%s)", req.method, req.path, req.context.get("request_id"), exc_info=ex)
        code = 500
        message = "Unexpected API Error. Please report this with the request id; the API log has the details."
    resp.status = code
    resp.set_headers(headers)
    resp.media = {_ERROR_NAMES.get(code, "computeFault"): {"code": code, "message": message}}


def create_nova_app(settings: Settings) -> falcon.App:
    """A Falcon app with Nova's request handling; the caller adds its routes."""
    app = falcon.App(
        middleware=[
            RequestIdMiddleware(),
            MicroversionMiddleware(),
            ProjectPathMiddleware(),
            BodyLimitMiddleware(),
            StorableTextMiddleware(),
            AuthMiddleware(authenticator_for(settings), frozenset({"", API_PREFIX, "/openapi.json"})),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler((Exception, falcon.HTTPError), render_error)
    return app


def require_admin(req: falcon.Request, policy: str) -> None:
    """Admin-only APIs answer members with Nova's policy message."""
    if not req.context.caller.is_admin:
        raise falcon.HTTPForbidden(description=f"Policy doesn't allow {policy} to be performed.")


def create_router(
    command_app: WSGIApplication,
    query_app: WSGIApplication,
    mounts: dict[str, WSGIApplication] | None = None,
) -> WSGIApplication:
    """Reads to the query app, writes to the command app, on one listening port.

    `mounts` maps a path prefix ("/image", "/identity") to the app that owns
    it, so the other services a client needs answer on the same port.
    """
    mounted = sorted((mounts or {}).items(), key=lambda item: -len(item[0]))

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, mounted_app in mounted:
            if path == prefix or path.startswith(prefix + "/"):
                return mounted_app(environ, start_response)
        app = query_app if environ.get("REQUEST_METHOD") in ("GET", "HEAD") else command_app
        return app(environ, start_response)

    return route


# --- links: Nova's self and bookmark URLs ------------------------------------------


def _project_part(req: falcon.Request) -> str:
    project = req.context.get("url_project_id")
    return f"/{project}" if project else ""


def self_href(req: falcon.Request, collection: str, item_id: str) -> str:
    return f"{req.prefix}{API_PREFIX}{_project_part(req)}/{collection}/{item_id}"


def bookmark_href(req: falcon.Request, collection: str, item_id: str) -> str:
    return f"{req.prefix}{_project_part(req)}/{collection}/{item_id}"


def links(req: falcon.Request, collection: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": self_href(req, collection, item_id)},
        {"rel": "bookmark", "href": bookmark_href(req, collection, item_id)},
    ]


def collection_href(req: falcon.Request, path: str) -> str:
    """An API URL in the same form (with or without project id) the client used."""
    return f"{req.prefix}{API_PREFIX}{_project_part(req)}/{path}"
