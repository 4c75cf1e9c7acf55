"""The identity API's routes (Keystone v3 subset, chronova/identity/app.py)."""

from __future__ import annotations

from typing import Any

from chronova.openapi.operations import Op, Query, q_string
from chronova.openapi.schemas import derived

# --- the identity API (Keystone v3 subset, chronova/identity/app.py) ---------------------------

V3 = "/identity/v3"
_IDENTITY_SCHEMAS = "chronova.identity.schemas"


def _identity(summary: str, ok: int | tuple[int, ...] = 200, **kwargs: Any) -> Op:
    return Op(summary, ok, api="identity", **kwargs)


_BY_NAME = (q_string("name", "Only the one with this name."),)
_NO_CATALOG = (Query("nocatalog", {"type": "string", "enum": [""]}, "Leave the catalog out."),)
_SUBJECT = (*_NO_CATALOG, Query("X-Subject-Token", {"type": "string"}, "The token to check.", "header", required=True))

IDENTITY: dict[str, dict[str, Op]] = {
    "/identity": {"get": _identity("List identity API versions", 300, public=True, errors=())},
    V3: {"get": _identity("Show the v3 version", public=True, errors=())},
    f"{V3}/auth/tokens": {
        "post": _identity(
            "Log in (password or token); the token is the X-Subject-Token header",
            201,
            body=lambda: derived(_IDENTITY_SCHEMAS, "AuthRequest"),
            query=_NO_CATALOG,
            public=True,
            errors=(400, 401, 404),
        ),
        "get": _identity("Validate the token in X-Subject-Token", query=_SUBJECT, errors=(404,)),
        "head": _identity("Check the token in X-Subject-Token", query=_SUBJECT, errors=(404,)),
    },
    f"{V3}/auth/catalog": {"get": _identity("The service catalog", errors=())},
    f"{V3}/auth/projects": {"get": _identity("Projects the caller may scope to", errors=())},
    f"{V3}/projects": {
        "get": _identity("List projects", query=_BY_NAME, errors=()),
        "post": _identity(
            "Create a project", 201, body=lambda: derived(_IDENTITY_SCHEMAS, "ProjectRequest"), errors=(403, 409)
        ),
    },
    f"{V3}/projects/{{project_id}}": {"get": _identity("Show a project", errors=(403, 404))},
    f"{V3}/users": {
        "get": _identity("List users", query=_BY_NAME, errors=(403,)),
        "post": _identity(
            "Create a user", 201, body=lambda: derived(_IDENTITY_SCHEMAS, "UserRequest"), errors=(403, 409)
        ),
    },
    f"{V3}/users/{{user_id}}": {"get": _identity("Show a user", errors=(403, 404))},
    f"{V3}/roles": {"get": _identity("List roles", query=_BY_NAME, errors=())},
    f"{V3}/roles/{{role}}": {"get": _identity("Show a role", errors=(404,))},
    f"{V3}/projects/{{project_id}}/users/{{user_id}}/roles/{{role}}": {
        "put": _identity("Grant a role on a project", 204, errors=(403, 404)),
        "delete": _identity("Revoke a role", 204, errors=(403, 404)),
        "head": _identity("Check a grant", 204, errors=(403, 404)),
    },
    f"{V3}/role_assignments": {
        "get": _identity(
            "List role assignments",
            query=(q_string("user.id"), q_string("scope.project.id")),
            errors=(403,),
        )
    },
    f"{V3}/domains": {"get": _identity("List domains (the default one)", errors=())},
    f"{V3}/domains/{{domain_id}}": {"get": _identity("Show the default domain", errors=(404,))},
}
