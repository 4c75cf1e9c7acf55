"""POST /os-keypairs (import, or generate below 2.92) and DELETE /os-keypairs/{name}.

The whole body is validated first, the public key included, so a refused
request records nothing.
"""

from __future__ import annotations

import re
from typing import Any

import falcon
from marshmallow import fields, validate

from chronova import web
from chronova.cloud import Cloud
from chronova.keypairs import InvalidKey, create_keypair, delete_keypair, imported
from command_api.schemas import _envelope, _load, _NovaSchema, _reject_newer_keys
from domain.keypair import KEY_TYPES, SSH
from projections.views import ViewStore
from query_api.keypairs import keypair_body, known_params_only, target_user

Version = tuple[int, int]
_NAME = re.compile(r"^[_\- a-zA-Z0-9]+$")
_NAME_V292 = re.compile(r"^[_\-@. a-zA-Z0-9]+$")  # 2.92 adds '@' and '.'
_INVALID_NAME = (
    "An invalid 'name' value was provided. The name must be: printable characters. "
    "Can not start or end with whitespace."
)
_KEYS_SINCE = {"type": (2, 2), "user_id": (2, 10)}


class KeypairName(fields.String):
    """Nova's keypair name: 1 to 255 of a small alphabet, which 2.92 widens."""

    default_error_messages = {
        "short": "{input} is too short",
        "long": "{input} is too long",
        "pattern": "{input} does not match {pattern}",
    }

    def __init__(self, *, pattern: re.Pattern[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pattern = pattern

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            raise self.make_error("short", input=repr(text))
        if len(text) > 255:
            raise self.make_error("long", input=repr(text))
        if not self._pattern.match(text):
            raise self.make_error("pattern", input=repr(text), pattern=repr(self._pattern.pattern))
        return text


class _KeypairSchema(_NovaSchema):
    name = KeypairName(required=True, pattern=_NAME)
    public_key = fields.String()
    key_type = fields.String(
        data_key="type", validate=validate.OneOf(KEY_TYPES, error=f"'{{input}}' is not one of {list(KEY_TYPES)}")
    )
    user_id = fields.String()


class _KeypairSchemaV292(_KeypairSchema):
    name = KeypairName(required=True, pattern=_NAME_V292)
    public_key = fields.String(required=True)


def _create_body(body: Any, version: Version) -> dict[str, Any]:
    keypair = _envelope(body, "keypair")
    _reject_newer_keys(keypair, version, _KEYS_SINCE, "keypair")
    if isinstance(keypair, dict):
        _check_name_format(keypair.get("name"))
    schema = _KeypairSchemaV292() if version >= (2, 92) else _KeypairSchema()
    return _load(schema, keypair, "keypair")


def _check_name_format(name: Any) -> None:
    """Nova reports an unprintable or space-padded name in words of its own, before other checks."""
    if isinstance(name, str) and (name != name.strip() or not name.isprintable()):
        raise falcon.HTTPBadRequest(description=_INVALID_NAME)


class KeypairsResource:
    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        version = req.context.api_version
        loaded = _create_body(web.read_json_body(req), version)
        caller = req.context.caller
        user_id = loaded.get("user_id") or caller.user_id
        if user_id != caller.user_id:
            web.require_admin(req, "os_compute_api:os-keypairs:create")
        key_type = loaded.get("key_type", SSH)
        try:
            key = imported(loaded["public_key"], key_type) if "public_key" in loaded else None
        except InvalidKey as e:
            raise falcon.HTTPBadRequest(description=str(e)) from None
        keypair, material = create_keypair(
            self._cloud, self._views, caller, user_id=user_id, name=loaded["name"], key_type=key_type, key=key
        )
        shown = {
            "name": keypair.name,
            "public_key": material.public_key,
            "fingerprint": material.fingerprint,
            "user_id": keypair.user_id,
            "key_type": key_type,
        }
        body = keypair_body(shown, version, ("name", "public_key", "fingerprint", "user_id"))
        if material.private_key is not None:
            body["private_key"] = material.private_key  # shown once, recorded nowhere
        resp.status = falcon.HTTP_201 if version >= (2, 2) else falcon.HTTP_200
        resp.media = {"keypair": body}


class KeypairResource:
    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        known_params_only(req, frozenset({"user_id"}))
        user_id = target_user(req, "delete")
        delete_keypair(self._cloud, req.context.caller, user_id=user_id, name=name)
        resp.status = falcon.HTTP_204 if req.context.api_version >= (2, 2) else falcon.HTTP_202


def add_routes(app: falcon.App, cloud: Cloud, views: ViewStore) -> None:
    app.add_route(f"{web.API_PREFIX}/os-keypairs", KeypairsResource(cloud, views))
    app.add_route(f"{web.API_PREFIX}/os-keypairs/{{name}}", KeypairResource(cloud))
