"""The instance actions view (os-instance-actions): one action per request that
changed a server the way Nova records one, and the steps ("events") it took.

Requests record their own request_id and user_id on the events they cause.
The scheduler's and the conductor's events (Scheduled, Spawned...) carry
none: they belong to the server's create action, and Deleted to its latest
delete action, so they are matched by server id. This view reads only its own
tables, so it can be rebuilt alone.
"""

from __future__ import annotations

from typing import Any

from chronova.messages import EventMessage
from domain.host_actions import host_action
from projections.migrations import MOVE_EVENT_TYPES
from projections.servers import view_time
from projections.views import Statement

DDL = (
    """CREATE TABLE IF NOT EXISTS instance_actions (
        server_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        action TEXT NOT NULL,
        project_id TEXT,
        user_id TEXT,
        start_time TEXT NOT NULL,
        updated_at TEXT,
        message TEXT,
        seq BIGINT NOT NULL,
        PRIMARY KEY (server_id, request_id)
    )""",
    "CREATE INDEX IF NOT EXISTS instance_actions_by_start ON instance_actions (server_id, start_time, seq)",
    """CREATE TABLE IF NOT EXISTS instance_action_events (
        server_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        event TEXT NOT NULL,
        start_time TEXT NOT NULL,
        finish_time TEXT,
        result TEXT,
        host TEXT,
        details TEXT,
        traceback TEXT,
        seq BIGINT NOT NULL,
        PRIMARY KEY (server_id, request_id, event)
    )""",
)

# Nova's event names for the steps of a boot and of a delete, and for the API's own part of a lock.
SCHEDULE = "conductor_schedule_and_build_instances"
BUILD = "compute__do_build_and_run_instance"
TERMINATE = "compute_terminate_instance"
API_LOCK = "api_lock"
API_UNLOCK = "api_unlock"
# The request's own action: a host action's report names its request.
_REQUESTED = "CAST(%(request_id)s AS TEXT)"

_CREATE_ACTION = "(SELECT request_id FROM instance_actions WHERE server_id = %(id)s AND action = 'create')"
_LATEST_DELETE = """(SELECT request_id FROM instance_actions WHERE server_id = %(id)s AND action = 'delete'
    ORDER BY seq DESC LIMIT 1)"""


_START_ACTION = """INSERT INTO instance_actions (server_id, request_id, action, project_id, user_id, start_time,
        updated_at, message, seq)
    VALUES (%(id)s, %(request_id)s, %(action)s, {project}, %(user_id)s, %(ts)s, %(ts)s, NULL, %(seq)s)
    ON CONFLICT (server_id, request_id) DO NOTHING"""
_SERVERS_PROJECT = "(SELECT project_id FROM instance_actions WHERE server_id = %(id)s AND action = 'create')"


def _start_action(
    message: EventMessage, action: str, project_id: str | None, project: str = "%(project_id)s"
) -> Statement:
    """`project` is the SQL of the action's project: the given `project_id`, or a subquery."""
    return Statement(
        _START_ACTION.format(project=project),
        {
            "id": message.aggregate_id,
            "request_id": message.data["request_id"],
            "action": action,
            "project_id": project_id,
            "user_id": message.data["user_id"],
            "ts": view_time(message.timestamp),
            "seq": message.notification_id,
        },
    )


def _start_server_action(message: EventMessage, action: str) -> list[Statement]:
    """An action on an existing server, shown under the server's project (as the delete action is)."""
    return [_start_action(message, action, None, _SERVERS_PROJECT)]


def _api_step(message: EventMessage, action: str, event: str) -> list[Statement]:
    """An action the API completes at once (lock, unlock): one event, started and finished together.

    The action starts at the event's time, so the step does not move its updated_at.
    """
    return [
        *_start_server_action(message, action),
        *_start_event(message, _REQUESTED, event, None, "CAST(%(ts)s AS TEXT)", touch=False, finished=True),
    ]


def _start_event(
    message: EventMessage,
    action: str,
    event: str,
    host: str | None,
    started: str,
    touch: bool = True,
    finished: bool = False,
) -> list[Statement]:
    """An event of the action `action` (a subquery), started at `started` (its start_time, or %(ts)s).

    `touch=False` when the action needs no new updated_at (a later statement of the same event touches it, or it
    starts at this event's time); `finished` when the step also succeeded at this event's time. Both save
    statements: a replay runs millions of them.
    """
    finish_columns, finish_values = (
        (", finish_time, result", ", CAST(%(ts)s AS TEXT), 'Success'") if finished else ("", "")
    )
    params = {"id": message.aggregate_id, "event": event, "host": host, "seq": message.notification_id}
    params |= {"ts": view_time(message.timestamp), "request_id": message.data.get("request_id")}
    insert = Statement(
        f"""INSERT INTO instance_action_events (server_id, request_id, event, start_time, host, seq{finish_columns})
            SELECT server_id, request_id, CAST(%(event)s AS TEXT), {started}, CAST(%(host)s AS TEXT),
                CAST(%(seq)s AS BIGINT){finish_values} FROM instance_actions
            WHERE server_id = %(id)s AND request_id = {action}
            ON CONFLICT (server_id, request_id, event) DO NOTHING""",
        params,
    )
    return [insert, _touch(action, params)] if touch else [insert]


def _finish_event(
    message: EventMessage, action: str, event: str, error: tuple[str, str] | None, touch: bool = True
) -> list[Statement]:
    """Finish an event of `action`; `error` is (details, traceback) for a failed step; `touch` as in _start_event."""
    details, traceback = error or (None, None)
    params: dict[str, Any] = {
        "id": message.aggregate_id,
        "event": event,
        "ts": view_time(message.timestamp),
        "result": "Error" if error else "Success",
        "details": details,
        "traceback": traceback,
        "request_id": message.data.get("request_id"),
    }
    finish = Statement(
        f"""UPDATE instance_action_events
            SET finish_time = %(ts)s, result = %(result)s, details = %(details)s, traceback = %(traceback)s
            WHERE server_id = %(id)s AND request_id = {action} AND event = %(event)s""",
        params,
    )
    statements = [finish, _touch(action, params)] if touch else [finish]
    if error:
        statements.append(
            Statement(
                f"UPDATE instance_actions SET message = 'Error' WHERE server_id = %(id)s AND request_id = {action}",
                params,
            )
        )
    return statements


def _touch(action: str, params: dict[str, Any]) -> Statement:
    """An action's updated_at is the time of its latest event start or finish, as in Nova."""
    return Statement(
        f"UPDATE instance_actions SET updated_at = %(ts)s WHERE server_id = %(id)s AND request_id = {action}", params
    )


def _move_step(message: EventMessage) -> list[Statement]:
    """A move saga's event (domain.migration): it may start an action, finish one step and start the next."""
    data = message.data
    statements = _start_server_action(message, data["action"]) if data["action"] else []
    if data["finished"]:
        error = tuple(data["error"]) if data["error"] else None
        statements += _finish_event(message, _REQUESTED, data["finished"], error)  # type: ignore[arg-type]
    if data["started"]:
        host = data["host"] if data["step"] else None  # a conductor's step has no host
        statements += _start_event(message, _REQUESTED, data["started"], host, "CAST(%(ts)s AS TEXT)")
    return statements


class InstanceActionsProjection:
    name = "instance_actions"
    ddl = DDL
    event_types = frozenset(
        {
            "Server.Created",
            "Server.Scheduled",
            "Server.SchedulingFailed",
            "Server.Spawned",
            "Server.SpawnFailed",
            "Server.DeletionStarted",
            "Server.Deleted",
            "Server.ActionRequested",
            "Server.ActionCompleted",
            "Server.ActionFailed",
            "Server.Locked",
            "Server.Unlocked",
            "Server.StateReset",
        }
        | MOVE_EVENT_TYPES
    )

    def statements(self, message: EventMessage) -> list[Statement]:
        data = message.data
        match message.event_type:
            case "Server.Created":
                return [_start_action(message, "create", data["project_id"])]
            case "Server.Scheduled":
                return [
                    *_start_event(message, _CREATE_ACTION, SCHEDULE, None, "start_time", touch=False, finished=True),
                    *_start_event(message, _CREATE_ACTION, BUILD, data["host"], "CAST(%(ts)s AS TEXT)"),
                ]
            case "Server.SchedulingFailed":
                return [
                    *_start_event(message, _CREATE_ACTION, SCHEDULE, None, "start_time"),
                    *_finish_event(message, _CREATE_ACTION, SCHEDULE, (data["message"], data["details"])),
                ]
            case "Server.Spawned":
                return _finish_event(message, _CREATE_ACTION, BUILD, None)
            case "Server.SpawnFailed":
                return _finish_event(message, _CREATE_ACTION, BUILD, (data["message"], data["details"]))
            case "Server.DeletionStarted":
                statements = _start_server_action(message, "delete")
                if data["host"] is not None:
                    started = "CAST(%(ts)s AS TEXT)"  # as the delete action itself: no touch
                    statements += _start_event(message, _LATEST_DELETE, TERMINATE, data["host"], started, touch=False)
                return statements
            case "Server.Deleted":
                if data["host"] is None:
                    return []
                return _finish_event(message, _LATEST_DELETE, TERMINATE, None)
            case "Server.ActionRequested":
                step = host_action(data["action"], data["args"]).step
                return [
                    *_start_server_action(message, data["action"]),
                    *_start_event(message, _REQUESTED, step, data["host"], "CAST(%(ts)s AS TEXT)"),
                ]
            case "Server.ActionCompleted":
                return _finish_event(message, _REQUESTED, host_action(data["action"], {}).step, None)
            case "Server.ActionFailed":
                error = (data["message"], data["details"])
                return _finish_event(message, _REQUESTED, host_action(data["action"], {}).step, error)
            case "Server.Locked":
                return _api_step(message, "lock", API_LOCK)
            case "Server.Unlocked":
                return _api_step(message, "unlock", API_UNLOCK)
            case "Server.StateReset":
                return _start_server_action(message, "resetState")
            case move if move in MOVE_EVENT_TYPES:
                return _move_step(message)
        return []
