"""os-simple-tenant-usage through HTTP: usage computed from the servers view,
clipped to the asked window, per project; members see their own project only;
paging from 2.40; bad windows are Nova's 400s and record nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from projections.views import ViewStore
from tests.unit.conftest import DEMO, OTHER

NAIVE = "%Y-%m-%dT%H:%M:%S.%f"


def version(v: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {v}", **more}


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


def naive(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(NAIVE)


class Run:
    """A server's recorded life, read back from the view so expectations are exact."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.id = row["id"]
        self.launched = datetime.fromisoformat(row["launched_at"]).astimezone(UTC)
        ended = row["terminated_at"]
        self.terminated = datetime.fromisoformat(ended).astimezone(UTC) if ended else None


@pytest.fixture
def runs(
    cloud: Cloud, views: ViewStore, boot: Callable[..., dict[str, Any]], catch_up: Callable[[], None]
) -> dict[str, Run]:
    """`gone` (demo) ran briefly and was deleted; `alive` (other) still runs; `never` (demo) never launched."""

    def launch(name: str, headers: dict[str, str]) -> Any:
        server = cloud.server(uuid.UUID(boot(name, headers=headers)["id"]))
        server.schedule("compute1")
        server.record_spawned("compute1", 1)
        cloud.save(server)
        return server

    gone = launch("gone", DEMO)
    time.sleep(0.05)
    gone.request_delete(request_id="req-test", user_id="alice")
    gone.record_deleted("compute1")
    cloud.save(gone)
    alive = launch("alive", OTHER)
    boot("never", headers=DEMO)
    catch_up()
    rows = views.query("SELECT id, name, launched_at, terminated_at FROM servers WHERE launched_at IS NOT NULL")
    found = {row["name"]: Run(row) for row in rows}
    assert found["gone"].id == str(gone.id) and found["alive"].id == str(alive.id)
    return found


def usages(client: TestClient, path: str = "/v2.1/os-simple-tenant-usage", headers: Any = None, **query: str) -> Any:
    result = client.simulate_get(path, params=query, headers=headers or {})
    assert result.status_code == 200, result.text
    return result.json


def test_detailed_usage_of_every_project(client: TestClient, runs: dict[str, Run]) -> None:
    gone, alive = runs["gone"], runs["alive"]
    start = gone.launched - timedelta(hours=1)
    asked_at = datetime.now(UTC)

    body = usages(client, start=naive(start), end=naive(asked_at + timedelta(days=1)), detailed="1")

    demo, other = body["tenant_usages"]
    hours = (gone.terminated - gone.launched).total_seconds() / 3600
    assert demo == {
        "tenant_id": "demo",
        "start": naive(start),
        "stop": demo["stop"],
        "total_hours": pytest.approx(hours),
        "total_vcpus_usage": pytest.approx(hours),
        "total_memory_mb_usage": pytest.approx(512 * hours),
        "total_local_gb_usage": pytest.approx(hours),
        "server_usages": [
            {
                "instance_id": gone.id,
                "name": "gone",
                "hours": pytest.approx(hours),
                "memory_mb": 512,
                "local_gb": 1,
                "vcpus": 1,
                "tenant_id": "demo",
                "flavor": "m1.tiny",
                "started_at": naive(gone.launched),
                "ended_at": naive(gone.terminated),
                "state": "terminated",
                "uptime": int((gone.terminated - gone.launched).total_seconds()),
            }
        ],
    }
    # The window's end is cut at now: a running server counts until the moment of the request.
    assert naive(asked_at) <= demo["stop"] <= naive(datetime.now(UTC))
    (running,) = other["server_usages"]
    assert (running["state"], running["ended_at"], running["instance_id"]) == ("active", None, alive.id)
    ran_for = (datetime.strptime(other["stop"], NAIVE).replace(tzinfo=UTC) - alive.launched).total_seconds() / 3600
    assert running["hours"] == pytest.approx(ran_for) and running["hours"] > 0
    assert "server_usages" not in usages(client, start=naive(start))["tenant_usages"][0]


def test_usage_is_clipped_to_the_window(client: TestClient, runs: dict[str, Run]) -> None:
    gone = runs["gone"]
    middle = gone.launched + (gone.terminated - gone.launched) / 2
    path = "/v2.1/os-simple-tenant-usage/demo"

    late = usages(client, path, start=naive(middle), end=naive(middle + timedelta(days=1)))["tenant_usage"]
    early = usages(client, path, start=naive(gone.launched - timedelta(hours=1)), end=naive(middle))["tenant_usage"]
    before = usages(client, path, start="2001-01-01T00:00:00", end=naive(gone.launched - timedelta(seconds=1)))

    assert late["total_hours"] == pytest.approx((gone.terminated - middle).total_seconds() / 3600)
    assert early["total_hours"] == pytest.approx((middle - gone.launched).total_seconds() / 3600)
    assert early["server_usages"][0]["ended_at"] == naive(gone.terminated)
    assert before == {"tenant_usage": {}}


def test_members_see_their_own_project_only(client: TestClient, runs: dict[str, Run]) -> None:
    start = naive(runs["gone"].launched - timedelta(hours=1))

    own = usages(client, "/v2.1/os-simple-tenant-usage/demo", headers=DEMO, start=start)["tenant_usage"]
    others = client.simulate_get("/v2.1/os-simple-tenant-usage/other", params={"start": start}, headers=DEMO)
    everyone = client.simulate_get("/v2.1/os-simple-tenant-usage", params={"start": start}, headers=DEMO)

    assert [u["name"] for u in own["server_usages"]] == ["gone"]  # `never` never launched
    assert error(others) == (
        403, "forbidden", "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.",
    )  # fmt: skip
    assert error(everyone) == (
        403, "forbidden", "Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed.",
    )  # fmt: skip
    assert usages(client, "/v2.1/os-simple-tenant-usage/other", start=start)["tenant_usage"]["tenant_id"] == "other"


def test_paging_from_2_40(client: TestClient, runs: dict[str, Run]) -> None:
    start = naive(runs["gone"].launched - timedelta(hours=1))
    first_id, second_id = sorted([("demo", runs["gone"].id), ("other", runs["alive"].id)])

    page = usages(client, headers=version("2.40"), start=start, detailed="1", limit="1")
    rest = usages(client, headers=version("2.40"), start=start, detailed="1", marker=first_id[1])

    assert [u["tenant_id"] for u in page["tenant_usages"]] == ["demo"]
    (link,) = page["tenant_usages_links"]
    assert link["rel"] == "next" and link["href"].endswith(f"limit=1&marker={first_id[1]}")
    assert [s["instance_id"] for u in rest["tenant_usages"] for s in u["server_usages"]] == [second_id[1]]
    assert "tenant_usages_links" not in rest
    legacy = usages(client, start=start, limit="1")  # before 2.40 there is no paging
    assert len(legacy["tenant_usages"]) == 2 and "tenant_usages_links" not in legacy
    one = usages(client, "/v2.1/os-simple-tenant-usage/demo", headers=version("2.40"), start=start, limit="1")
    assert one["tenant_usage_links"][0]["href"].split("?")[0].endswith("/v2.1/os-simple-tenant-usage/demo")


def test_times_in_novas_three_formats(client: TestClient, runs: dict[str, Run]) -> None:
    launched = runs["gone"].launched - timedelta(hours=1)
    for start in (launched.strftime("%Y-%m-%dT%H:%M:%S"), naive(launched), launched.strftime("%Y-%m-%d %H:%M:%S.%f")):
        assert len(usages(client, start=start)["tenant_usages"]) == 2


@pytest.mark.usefixtures("runs")
@pytest.mark.parametrize(
    ("path", "query", "headers", "message"),
    [
        ("", {"start": "yesterday"}, {}, "Invalid datetime string: Datetime is in invalid format"),
        ("", {"end": "2024-01-01T00:00:00Z"}, {}, "Invalid datetime string: Datetime is in invalid format"),
        (
            "/demo",
            {"start": "2024-01-02T00:00:00", "end": "2024-01-01T00:00:00"},
            {},
            "Invalid start time. The start time cannot occur after the end time.",
        ),
        (
            "",
            {"start": "2024-01-01T00:00:00", "end": "2024-01-01T00:00:00"},
            {},
            "Invalid start time. The start time cannot occur after the end time.",
        ),
        ("", {"start": "2024-01-01T00:00:00", "marker": "nope"}, version("2.40"), "Marker nope could not be found."),
        ("", {"colour": "blue"}, version("2.75"), "Additional properties are not allowed ('colour' was unexpected)"),
        ("/demo", {"detailed": "1"}, version("2.75"), "Additional properties are not allowed ('detailed' was"),
        ("", {"limit": "-1"}, version("2.40"), "limit param must be positive"),
    ],
)
def test_bad_windows_and_parameters_are_bad_requests(
    client: TestClient, cloud: Cloud, path: str, query: dict[str, str], headers: dict[str, str], message: str
) -> None:
    before = cloud.recorder.max_notification_id()

    result = client.simulate_get(f"/v2.1/os-simple-tenant-usage{path}", params=query, headers=headers)

    status, name, text = error(result)
    assert (status, name) == (400, "badRequest") and text.startswith(message)
    assert cloud.recorder.max_notification_id() == before


def test_no_window_at_all_is_the_present_moment(client: TestClient, runs: dict[str, Run]) -> None:
    """Nova reads both ends as now: only what runs now is listed, for no time at all."""
    (running,) = usages(client)["tenant_usages"]

    assert (running["tenant_id"], running["total_hours"], running["start"]) == ("other", 0, running["stop"])
    assert usages(client, "/v2.1/os-simple-tenant-usage/demo", headers=DEMO) == {"tenant_usage": {}}


def test_a_window_in_the_future_holds_nothing(client: TestClient, runs: dict[str, Run]) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    body = usages(client, start=naive(tomorrow), end=naive(tomorrow + timedelta(hours=1)))

    assert body == {"tenant_usages": []}
