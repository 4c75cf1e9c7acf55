"""The machine-readable description of Chronova's HTTP API (OpenAPI 3.0), served at /openapi.json.

Clients, fuzzers and reviewers read one document instead of the code. Request
bodies are derived from the marshmallow schemas the command app validates with,
so the document cannot promise keys the API refuses; what marshmallow cannot say
(a custom field's accepted forms) is said once per field class below. The route
table here is checked against the routes the apps register (tests/unit/test_openapi.py),
so a route nobody described fails the tests rather than going missing from here.
"""

from __future__ import annotations

import json
from functools import cache

import falcon

from chronova.openapi.compute import COMPUTE
from chronova.openapi.identity import IDENTITY
from chronova.openapi.images import IMAGE
from chronova.openapi.operations import document


@cache
def openapi_document() -> str:
    return json.dumps(document(COMPUTE | IDENTITY | IMAGE))


class DocumentResource:
    """GET /openapi.json; public, like the version documents, so tools can read it before logging in."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.text = openapi_document()

    on_head = on_get
