"""POST /servers/{id}/action: one key names the action, its value holds the arguments.

As in Nova, the action's name and arguments are judged before the server is
looked up (an unknown action or a bad argument is a 400 even for a server
that does not exist), then the server (404), then who asks (403), then the
server's lock and state (409). A refused request records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import falcon
from marshmallow import fields, validate

from chronova import server_actions, web
from chronova.cloud import Cloud
from chronova.config import Settings
from command_api import lifecycle_actions, move_actions
from command_api.fields import MAX_INT, DigitInteger
from command_api.schemas import _load, _NovaSchema
from domain import host_actions
from domain.commands import RequestContext
from domain.errors import NotFound
from domain.states import VmState
from projections.servers import ServersProjection
from projections.views import ViewStore

_REBOOT_TYPES = ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]


def _one_of(choices: list[str]) -> validate.OneOf:
    """Nova's jsonschema wording for a value outside an enum."""
    return validate.OneOf(choices, error=f"{{input!r}} is not one of {choices}")


class _RebootSchema(_NovaSchema):
    type = fields.String(required=True, validate=_one_of(_REBOOT_TYPES))


class _LockSchemaV273(_NovaSchema):
    locked_reason = fields.String(validate=validate.Length(min=1, max=255))


class _ResetStateSchema(_NovaSchema):
    state = fields.String(required=True, validate=_one_of(["active", "error"]))


class _ConsoleOutputSchema(_NovaSchema):
    # -1 or null: all of it (Nova's schema documents -1 as "unlimited").
    length = DigitInteger(signed=True, allow_none=True, validate=validate.Range(min=-1, max=MAX_INT))


_REBOOT = _RebootSchema()
_LOCK_V273 = _LockSchemaV273()
_RESET_STATE = _ResetStateSchema()
_CONSOLE_OUTPUT = _ConsoleOutputSchema()
# Actions whose value Nova does not look at ({}, null, anything): the name is the whole request.
_HOST_ACTIONS = {
    "os-stop": host_actions.STOP,
    "os-start": host_actions.START,
    "pause": host_actions.PAUSE,
    "unpause": host_actions.UNPAUSE,
    "suspend": host_actions.SUSPEND,
    "resume": host_actions.RESUME,
}
ACTIONS = (
    "reboot",
    *_HOST_ACTIONS,
    "lock",
    "unlock",
    "os-resetState",
    "os-getConsoleOutput",
    *lifecycle_actions.ACTIONS,
    *move_actions.ACTIONS,
)


def _server_id(server_id: str) -> UUID:
    try:
        return UUID(server_id)
    except ValueError:
        raise NotFound(f"Instance {server_id} could not be found.") from None


def _action(body: Any) -> tuple[str, Any]:
    """The one key Nova reads the action from, and its value."""
    if not isinstance(body, dict) or len(body) != 1:
        raise falcon.HTTPBadRequest(description="Malformed request body")
    ((name, value),) = body.items()
    if name not in ACTIONS:
        raise falcon.HTTPBadRequest(description=f"There is no such action: {name}")
    return name, value


def _lock_reason(value: Any, version: tuple[int, int]) -> str | None:
    """From 2.73 `{"lock": null}` or `{"lock": {"locked_reason": "..."}}`; before it the value is ignored."""
    if version < (2, 73) or value is None:
        return None
    return _load(_LOCK_V273, value, "lock").get("locked_reason")


def _console_length(value: Any) -> int | None:
    length = _load(_CONSOLE_OUTPUT, value, "os-getConsoleOutput").get("length")
    return None if length == -1 else length


class ServerActionResource:
    def __init__(self, cloud: Cloud, views: ViewStore, settings: Settings) -> None:
        self._cloud = cloud
        self._views = views
        self._console_timeout = settings.console_output_timeout
        self._view_timeout = settings.action_view_timeout
        self._lifecycle = lifecycle_actions.LifecycleActions(cloud, views, settings)
        self._moves = move_actions.MoveActions(cloud, views, settings)

    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        name, value = _action(web.read_json_body(req))
        caller = req.context.caller
        if name == "os-getConsoleOutput":
            length = _console_length(value)
            server_uuid = _server_id(server_id)
            output = server_actions.console_output(self._cloud, server_uuid, length, caller, self._console_timeout)
            resp.media = {"output": output}
            return
        if name in move_actions.ACTIONS:
            self._moves.respond(name, value, req, resp, _server_id(server_id))
            return
        if name in lifecycle_actions.ACTIONS:
            self._lifecycle.respond(name, value, req, resp, _server_id(server_id))
            return
        run = self._use_case(name, value, req.context.api_version)
        position = run(_server_id(server_id), caller)
        if position is not None:
            # Nova's clients poll the server right after the 202 and expect to see the task.
            self._views.wait_for(ServersProjection.name, position, timeout=self._view_timeout)
        resp.status = falcon.HTTP_202

    def _use_case(
        self, name: str, value: Any, version: tuple[int, int]
    ) -> Callable[[UUID, RequestContext], int | None]:
        """The use case the action calls, its arguments already validated."""
        cloud = self._cloud
        if name == "reboot":
            kind = _load(_REBOOT, value, "reboot")["type"].upper()
            action = host_actions.HARD_REBOOT if kind == "HARD" else host_actions.REBOOT
            return lambda server_id, ctx: server_actions.request_host_action(cloud, server_id, action, ctx)
        if name in _HOST_ACTIONS:
            action = _HOST_ACTIONS[name]
            return lambda server_id, ctx: server_actions.request_host_action(cloud, server_id, action, ctx)
        if name == "lock":
            reason = _lock_reason(value, version)
            return lambda server_id, ctx: server_actions.lock_server(cloud, server_id, reason, ctx)
        if name == "unlock":
            return lambda server_id, ctx: server_actions.unlock_server(cloud, server_id, ctx)
        state = VmState(_load(_RESET_STATE, value, "os-resetState")["state"])
        return lambda server_id, ctx: server_actions.reset_state(cloud, server_id, state, ctx)


def add_routes(app: falcon.App, cloud: Cloud, views: ViewStore, settings: Settings) -> None:
    app.add_route(f"{web.API_PREFIX}/servers/{{server_id}}/action", ServerActionResource(cloud, views, settings))
