"""os-getConsoleOutput: the API records a request, the server's host answers through
the conductor, and the API waits (bounded) for the answer. Here a thread plays
the host: it waits for the request in the store and sends its signed report."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.bus import Record
from chronova.cloud import Cloud
from chronova.conductor import Conductor
from chronova.config import Settings
from chronova.host_keys import HostKeys
from chronova.liveness import HostLiveness
from chronova.messages import REPORTS_TOPIC
from chronova.reports import ConsoleOutput, ConsoleUnavailable, Report, encode_report
from chronova.web import create_router
from command_api.app import create_app as create_command_app
from domain.console import ConsoleOutputRequest
from projections.views import ViewStore
from query_api.app import create_app as create_query_app
from tests.unit.conftest import ADMIN, DEMO, LATEST, SECRET

HOST = "compute1"
KEYS = HostKeys(SECRET.encode())
Answer = Callable[[str], Report]


def deliver(cloud: Cloud, report: Report) -> None:
    conductor = Conductor(cloud, HostLiveness(cloud, down_after=60), KEYS)
    conductor.handle(
        Record(REPORTS_TOPIC, 0, 0, report.host, encode_report(report, KEYS.key(report.host), time.time()))
    )
    conductor.flush()


@pytest.fixture
def waiting_client(cloud: Cloud, views: ViewStore, settings: Settings) -> TestClient:
    """The apps with a deployment's patience for the host's answer."""
    patient = settings.with_(console_output_timeout=10.0)
    router = create_router(create_command_app(cloud, views, patient), create_query_app(cloud, views, patient))
    return TestClient(router, headers={**ADMIN, **LATEST})


@pytest.fixture
def placed(cloud: Cloud, boot: Callable[..., dict[str, Any]]) -> str:
    server_id = boot(headers=DEMO)["id"]
    server = cloud.server(uuid.UUID(server_id))
    server.schedule(HOST)
    server.record_spawned(HOST, 1)
    cloud.save(server)
    return server_id


class FakeHost:
    """Answers the next console request it finds in the store with what `answer` makes of its id."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self._start = cloud.recorder.max_notification_id() or 0
        self._stop = threading.Event()
        self.asked: list[ConsoleOutputRequest] = []

    @contextmanager
    def serve(self, answer: Answer) -> Iterator[None]:
        thread = threading.Thread(target=self._answer_one, args=(answer,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=10)

    def _answer_one(self, answer: Answer) -> None:
        while not self._stop.is_set():
            for notification in self._cloud.recorder.select_notifications(self._start, 100, inclusive_of_start=False):
                if notification.topic.endswith("ConsoleOutputRequest.Created"):
                    request = self._cloud.load(notification.originator_id, ConsoleOutputRequest)
                    self.asked.append(request)
                    deliver(self._cloud, answer(str(request.id)))
                    return
            time.sleep(0.01)


def console(client: TestClient, server_id: str, body: dict[str, Any], headers: dict[str, str] = DEMO) -> Any:
    return client.simulate_post(
        f"/v2.1/servers/{server_id}/action", json={"os-getConsoleOutput": body}, headers={**LATEST, **headers}
    )


def test_the_hosts_answer_is_the_output_without_control_characters(
    waiting_client: TestClient, cloud: Cloud, placed: str
) -> None:
    host = FakeHost(cloud)
    with host.serve(lambda request_id: ConsoleOutput(HOST, request_id, "login:\x1b[0m \x00ok\r\n\tdone\n")):
        result = console(waiting_client, placed, {"length": "50"})

    assert (result.status_code, result.json) == (200, {"output": "login:[0m ok\n\tdone\n"})
    (asked,) = host.asked
    assert (asked.server_id, asked.host, asked.length) == (placed, HOST, 50)


@pytest.mark.parametrize(("body", "length"), [({}, None), ({"length": None}, None), ({"length": -1}, None)])
def test_no_length_or_minus_one_asks_for_all_of_it(
    waiting_client: TestClient, cloud: Cloud, placed: str, body: dict[str, Any], length: int | None
) -> None:
    host = FakeHost(cloud)
    with host.serve(lambda request_id: ConsoleOutput(HOST, request_id, "")):
        result = console(waiting_client, placed, body)

    assert (result.status_code, result.json) == (200, {"output": ""})
    assert host.asked[0].length == length


def test_a_guest_without_a_console_is_not_found(waiting_client: TestClient, cloud: Cloud, placed: str) -> None:
    host = FakeHost(cloud)
    unavailable = "Guest does not have a console available."
    with host.serve(lambda request_id: ConsoleUnavailable(HOST, request_id, unavailable)):
        result = console(waiting_client, placed, {})

    assert result.status_code == 404
    assert result.json == {"itemNotFound": {"code": 404, "message": unavailable}}


def test_an_answer_from_another_host_is_refused_and_the_wait_ends_in_a_conflict(
    client: TestClient, cloud: Cloud, placed: str
) -> None:
    host = FakeHost(cloud)
    with host.serve(lambda request_id: ConsoleOutput("compute2", request_id, "not yours to tell")):
        result = console(client, placed, {})  # the unit tests' settings wait 0.5 s

    assert result.status_code == 409
    message = f"Unable to get the console output of instance {placed}: its host did not answer within 0.5s."
    assert result.json["conflictingRequest"]["message"] == message
    (asked,) = host.asked
    assert not cloud.load(asked.id, ConsoleOutputRequest).answered


def test_a_server_without_a_host_is_not_ready(
    client: TestClient, cloud: Cloud, boot: Callable[..., dict[str, Any]]
) -> None:
    server_id = boot(headers=DEMO)["id"]
    recorded = cloud.recorder.max_notification_id()

    result = console(client, server_id, {})

    assert result.status_code == 409
    assert result.json["conflictingRequest"]["message"] == f"Instance {server_id} is not ready"
    assert cloud.recorder.max_notification_id() == recorded


def test_a_second_answer_to_the_same_request_changes_nothing(cloud: Cloud, placed: str) -> None:
    request = ConsoleOutputRequest(server_id=placed, host=HOST, length=None, request_id="req-1", user_id="u")
    cloud.save(request)
    deliver(cloud, ConsoleOutput(HOST, str(request.id), "first"))
    recorded = cloud.recorder.max_notification_id()

    deliver(cloud, ConsoleOutput(HOST, str(request.id), "second"))
    deliver(cloud, ConsoleUnavailable(HOST, str(uuid.uuid4()), "no such request"))

    assert cloud.recorder.max_notification_id() == recorded
    assert cloud.load(request.id, ConsoleOutputRequest).output == "first"
