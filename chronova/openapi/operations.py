"""Operations, parameters and error bodies, and the OpenAPI document built from a route table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chronova import web
from chronova.openapi.schemas import _ANY_OBJECT, _MAX_INT, JsonSchema

# --- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A query parameter, or with `location="header"` a header the operation reads."""

    name: str
    schema: JsonSchema
    description: str = ""
    location: str = "query"
    required: bool = False


def q_string(name: str, description: str = "", **extra: Any) -> Query:
    return Query(name, {"type": "string", **extra}, description)


def q_integer(name: str, description: str = "", minimum: int = 0) -> Query:
    return Query(name, {"type": "integer", "minimum": minimum, "maximum": _MAX_INT}, description)


def q_boolean(name: str, description: str = "") -> Query:
    return Query(name, {"type": "boolean"}, description)


PAGING = (q_integer("limit", "At most this many items (capped at 1000)."), q_string("marker", "Start after this id."))


@dataclass(frozen=True)
class Op:
    """One operation: what it does, what it reads, what it answers.

    `body` is a callable so that a schema is derived when the document is built,
    from the schemas the app validates with at that moment."""

    summary: str
    ok: int | tuple[int, ...] = 200
    query: tuple[Query, ...] | Callable[[], tuple[Query, ...]] = ()
    body: Callable[[], JsonSchema] | None = None
    errors: tuple[int, ...] = (400, 403, 404)
    public: bool = False
    api: str = "compute"
    media_type: str = "application/json"
    answers: str = "application/json"


def readable(summary: str, **kwargs: Any) -> dict[str, Op]:
    """GET and HEAD, as the query app answers every read (monitors probe with HEAD)."""
    op = Op(summary, **kwargs)
    return {"get": op, "head": op}


# --- the shared pieces -------------------------------------------------------------------

_MICROVERSION = {
    "name": "OpenStack-API-Version",
    "in": "header",
    "required": False,
    "description": f"The compute microversion: `compute 2.N` ({web.version_text(web.MIN_VERSION)} to "
    f"{web.version_text(web.MAX_VERSION)}) or `compute latest`. Absent means 2.1.",
    "schema": {"type": "string", "pattern": r"^compute (latest|2\.([1-9]|[1-9][0-9]|100))$"},
}
_MESSAGES = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    300: "Multiple choices: the versions",
    400: "Bad request",
    401: "No valid token",
    403: "Forbidden by policy or quota",
    404: "Not found (or another project's)",
    405: "Method not allowed",
    406: "Microversion not supported",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    501: "Not implemented by this deployment's drivers",
}


def _fault_schema(status: int, api: str) -> JsonSchema:
    if api == "identity":
        return _keystone_error(status)
    name = web._ERROR_NAMES.get(status, "computeFault")
    return {
        "type": "object",
        "properties": {
            name: {
                "type": "object",
                "properties": {"code": {"type": "integer", "enum": [status]}, "message": {"type": "string"}},
                "required": ["code", "message"],
            }
        },
        "required": [name],
    }


def _keystone_error(status: int) -> JsonSchema:
    """Keystone's own error body, which keystoneauth parses."""
    error = {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "enum": [status]},
            "message": {"type": "string"},
            "title": {"type": "string"},
        },
        "required": ["code", "message", "title"],
    }
    return {"type": "object", "properties": {"error": error}, "required": ["error"]}


def _path_parameters(path: str) -> list[JsonSchema]:
    names = [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]


def _operation(path: str, method: str, op: Op) -> JsonSchema:
    statuses = op.ok if isinstance(op.ok, tuple) else (op.ok,)
    responses: JsonSchema = {}
    for status in statuses:
        schema = _ANY_OBJECT if op.answers == "application/json" else {"type": "string", "format": "binary"}
        content = {} if status == 204 or method == "head" else {"content": {op.answers: {"schema": schema}}}
        responses[str(status)] = {"description": _MESSAGES[status], **content}
    compute = op.api == "compute"
    errors = sorted(
        {*op.errors} | ({406} if compute else set()) | ({400} if op.body else set()) | (set() if op.public else {401})
    )
    for status in errors:
        body = {} if method == "head" else {"content": {"application/json": {"schema": _fault_schema(status, op.api)}}}
        responses[str(status)] = {"description": _MESSAGES[status], **body}
    queries = op.query() if callable(op.query) else op.query
    described: JsonSchema = {
        "operationId": f"{method}:{path}",
        "summary": op.summary,
        "parameters": [
            *_path_parameters(path),
            *([{"$ref": "#/components/parameters/Microversion"}] if compute else []),
            *(
                {
                    "name": q.name,
                    "in": q.location,
                    "required": q.required,
                    "schema": q.schema,
                    "description": q.description,
                }
                for q in queries
            ),
        ],
        "responses": responses,
    }
    described["tags"] = [op.api]
    if op.public:
        described["security"] = []
    if op.body is not None:
        described["requestBody"] = {"required": True, "content": {op.media_type: {"schema": op.body()}}}
    return described


def document(paths: Mapping[str, Mapping[str, Op]]) -> JsonSchema:
    """The OpenAPI document for a route table."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Chronova",
            "version": web.version_text(web.MAX_VERSION),
            "description": "The OpenStack Compute API v2.1 as Chronova serves it, up to microversion "
            f"{web.version_text(web.MAX_VERSION)}, with the identity (Keystone v3) and image (Glance v2) "
            "subsets it serves on the same port. Compute bodies are described as any supported microversion "
            "accepts them (anyOf one schema per microversion range where they differ).",
        },
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
            "parameters": {"Microversion": _MICROVERSION},
        },
        "paths": {
            path: {method: _operation(path, method, op) for method, op in methods.items()}
            for path, methods in paths.items()
        },
    }
