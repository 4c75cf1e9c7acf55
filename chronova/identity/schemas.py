"""Request bodies of the identity API, validated whole before anything is done."""

from __future__ import annotations

from typing import Any

import falcon
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from chronova.identity.accounts import Reference

_NAME = validate.Length(min=1, max=255)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Domain(_Strict):
    id = fields.String()
    name = fields.String()


class _NamedThing(_Strict):
    id = fields.String()
    name = fields.String(validate=_NAME)
    domain = fields.Nested(_Domain)
    password = fields.String(validate=validate.Length(max=4096))


class _Password(_Strict):
    user = fields.Nested(_NamedThing, required=True)


class _Token(_Strict):
    id = fields.String(required=True)


class _Identity(_Strict):
    methods = fields.List(fields.String(validate=validate.OneOf(["password", "token"])), required=True)
    password = fields.Nested(_Password)
    token = fields.Nested(_Token)


class _Scope(_Strict):
    project = fields.Nested(_NamedThing, required=True)


class _Auth(_Strict):
    identity = fields.Nested(_Identity, required=True)
    scope = fields.Nested(_Scope)


class AuthRequest(_Strict):
    auth = fields.Nested(_Auth, required=True)


class _User(Schema):
    """Keystone keeps unknown user attributes; Chronova drops them rather than refusing old clients."""

    name = fields.String(required=True, validate=_NAME)
    password = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    email = fields.String(load_default=None, allow_none=True)
    default_project_id = fields.String(load_default=None, allow_none=True)
    enabled = fields.Boolean(load_default=True)
    domain_id = fields.String(validate=validate.OneOf(["default"]))
    description = fields.String(allow_none=True)


class UserRequest(_Strict):
    user = fields.Nested(_User(unknown="exclude"), required=True)


class _Project(Schema):
    name = fields.String(required=True, validate=_NAME)
    description = fields.String(load_default="", allow_none=True)
    enabled = fields.Boolean(load_default=True)
    domain_id = fields.String(validate=validate.OneOf(["default"]))
    is_domain = fields.Boolean(validate=validate.Equal(False))
    parent_id = fields.String(allow_none=True)
    tags = fields.List(fields.String())


class ProjectRequest(_Strict):
    project = fields.Nested(_Project(unknown="exclude"), required=True)


def load(schema: Schema, body: Any) -> dict[str, Any]:
    try:
        return schema.load(body)
    except ValidationError as e:
        raise falcon.HTTPBadRequest(description=f"Invalid input for field(s): {_first_error(e.messages)}") from None


def _first_error(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        key, inner = next(iter(messages.items()))
        return _first_error(inner, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return f"{path}: {messages[0]}" if isinstance(messages[0], str) else _first_error(messages[0], path)
    return path


def reference(thing: dict[str, Any]) -> Reference:
    """A user or project as the auth body names it: by id, or by name plus domain."""
    if "id" in thing:
        return Reference(id=thing["id"])
    if "name" not in thing:
        raise falcon.HTTPBadRequest(description="Expecting to find id or name in user or project.")
    domain = thing.get("domain") or {}
    domain_id = domain.get("id") or (
        "default" if domain.get("name", "Default").lower() == "default" else domain["name"]
    )
    return Reference(name=thing["name"], domain=domain_id)
