"""`chronova audit history/state/export` on a real PostgreSQL store, through main(argv) and the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from chronova.audit.cli import main
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.seed import SEED_IMAGE_ID, seed
from domain.commands import CreateServer, RequestContext
from domain.host import Host
from domain.identity import project_aggregate_id, user_aggregate_id
from domain.placement import default_inventories, inventories_to_dict
from tests.conftest import REPO, temporary_database

DEMO_USER = user_aggregate_id("demo").hex
DEMO_PROJECT = project_aggregate_id("demo").hex


@dataclass
class Story:
    url: str
    cloud: Cloud
    server_id: str


@pytest.fixture(scope="module")
def story() -> Iterator[Story]:
    """A seeded cloud, a host, and one server created, scheduled, spawned and locked by the demo user."""
    with temporary_database() as url:
        settings = Settings(database_url=url, admin_password="pw", demo_password="pw")
        cloud = Cloud(settings.store_env(create_tables=True))
        seed(cloud, settings)
        inventories = inventories_to_dict(default_inventories(8, 16384, 100))
        cloud.save(Host(name="h1", inventories=inventories, hypervisor={}))
        ctx = RequestContext(project_id=DEMO_PROJECT, user_id=DEMO_USER, request_id="req-create")
        server = cloud.create_server(CreateServer(name="vm1", flavor_ref="1", image_ref=str(SEED_IMAGE_ID)), ctx)
        server = cloud.server(server.id)
        server.schedule("h1")
        cloud.save(server)
        server.record_spawned("h1", 1)
        cloud.save(server)
        server.lock(by_owner=True, reason="audit", request_id="req-lock", user_id=DEMO_USER)
        cloud.save(server)
        yield Story(url, cloud, str(server.id))
        cloud.close()


def audit(story: Story, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["--database-url", story.url, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def history(story: Story, capsys: pytest.CaptureFixture[str], *target: str) -> list[dict]:
    status, out, err = audit(story, capsys, "history", *target, "--json")
    assert status == 0, err
    return json.loads(out)["events"]


def test_server_history_has_every_event_in_order_with_request_and_actor(story, capsys):
    events = history(story, capsys, "server", story.server_id)
    names = [e["event"] for e in events]
    assert names[0] == "Server.Created"
    assert names[-3:] == ["Server.Scheduled", "Server.Spawned", "Server.Locked"]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    created, locked = events[0], events[-1]
    assert (created["request_id"], created["user_id"], created["project_id"]) == ("req-create", DEMO_USER, DEMO_PROJECT)
    assert (locked["request_id"], locked["user_id"], locked["owner_project_id"]) == (
        "req-lock",
        DEMO_USER,
        DEMO_PROJECT,
    )
    assert events[-3]["details"]["host"] == "h1"


def test_history_table_is_readable(story, capsys):
    status, out, _ = audit(story, capsys, "history", "server", story.server_id)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["TIME", "VERSION", "EVENT", "REQUEST", "USER", "PROJECT"]
    assert "Server.Locked" in lines[-1] and "req-lock" in lines[-1] and DEMO_USER in lines[-1]


def test_project_history_holds_its_servers_whole_lives_and_user_history_only_their_acts(story, capsys):
    project = history(story, capsys, "project", "demo")
    assert project[0]["event"] == "Project.Created"
    assert {"Server.Created", "Server.Scheduled", "Server.Spawned", "Server.Locked"} <= {e["event"] for e in project}
    by_id = history(story, capsys, "project", DEMO_PROJECT)
    assert by_id == project
    user = [e["event"] for e in history(story, capsys, "user", "demo")]
    assert user[0] == "User.Created"
    assert "Server.Locked" in user and "Server.Scheduled" not in user
    assert all(e["event"].startswith("Project.") for e in history(story, capsys, "project", "admin")[:1])


def test_host_flavor_and_image_history(story, capsys):
    assert [e["event"] for e in history(story, capsys, "host", "h1")] == ["Host.Registered"]
    assert history(story, capsys, "flavor", "1")[0]["details"]["name"] == "m1.tiny"
    assert history(story, capsys, "image", str(SEED_IMAGE_ID))[0]["event"].startswith("Image.")


def test_state_at_a_version_and_at_a_time(story, capsys):
    events = history(story, capsys, "server", story.server_id)
    status, out, err = audit(story, capsys, "state", "server", story.server_id, "--version", "1", "--json")
    assert status == 0, err
    first = json.loads(out)
    assert (first["version"], first["vm_state"], first["host"]) == (1, "building", None)
    latest = json.loads(audit(story, capsys, "state", "server", story.server_id, "--json")[1])
    assert (latest["version"], latest["vm_state"], latest["locked_reason"]) == (len(events), "active", "audit")
    spawned = next(e for e in events if e["event"] == "Server.Spawned")
    at = datetime.fromisoformat(spawned["time"]) + timedelta(microseconds=1)
    then = json.loads(audit(story, capsys, "state", "server", story.server_id, "--at", at.isoformat(), "--json")[1])
    assert (then["version"], then["vm_state"], then["locked_by"]) == (spawned["version"], "active", None)
    status, out, _ = audit(story, capsys, "state", "host", "h1")
    assert status == 0 and out.startswith("host h1 at version 1 of 1")
    project = json.loads(audit(story, capsys, "state", "project", "demo", "--json")[1])
    assert (project["name"], project["id"]) == ("demo", str(project_aggregate_id("demo")))


def test_export_json_lines_and_cloudevents(story, capsys):
    status, out, err = audit(story, capsys, "export")
    assert status == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["notification_id"] for line in lines] == list(range(1, story.cloud.recorder.max_notification_id() + 1))
    assert not any("password_hash" in line["data"] for line in lines)
    mid = lines[len(lines) // 2]["timestamp"]
    status, out, _ = audit(story, capsys, "export", "--since", mid)
    later = [json.loads(line) for line in out.splitlines()]
    assert later and all(line["timestamp"] >= mid for line in later) and len(later) < len(lines)
    status, out, _ = audit(story, capsys, "export", "server", story.server_id, "--format", "cloudevents")
    cloudevents = [json.loads(line) for line in out.splitlines()]
    assert {ce["subject"] for ce in cloudevents} == {story.server_id}
    first = cloudevents[0]
    assert first["specversion"] == "1.0" and first["type"] == "io.chronova.Server.Created"
    assert first["id"] == f"{story.server_id}/1" and first["source"] == f"/chronova/server/{story.server_id}"
    assert first["data"]["request_id"] == "req-create"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "server", "00000000-0000-0000-0000-000000000001"], "not found"),
        (["history", "server", "not-a-uuid"], "not a uuid"),
        (["history", "server", str(SEED_IMAGE_ID)], "not a server"),
        (["state", "host", str(SEED_IMAGE_ID)], "not found"),
        (["state", "server", str(SEED_IMAGE_ID)], "is a Image aggregate, not a server"),
        (["state", "user", "nobody"], "user nobody not found"),
        (["history", "host", "nowhere"], "not found"),
        (["history", "user", "nobody"], "not found"),
        (["state", "flavor", "1", "--at", "2999-01-01T00:00:00Z"], "in the future"),
        (["state", "flavor", "1", "--at", "2001-01-01T00:00:00Z"], "before the first event"),
        (["state", "flavor", "1", "--version", "7"], "versions 1 to 1"),
        (["state", "flavor", "1", "--at", "noon"], "ISO 8601"),
        (["export", "--since", "2026-01-02", "--until", "2026-01-01"], "malformed range"),
        (["export", "--since", "2999-01-01"], "in the future"),
        (["export", "--until", "2001-01-01"], "before the first event"),
        (["export", "server"], "KIND REF"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(story, capsys, argv, message):
    status, out, err = audit(story, capsys, *argv)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and message in err and err.startswith("chronova audit: error:")


def test_a_store_that_is_not_there_is_one_line_too(tmp_path, capsys):
    assert main(["--database-url", f"sqlite:///{tmp_path}/none", "history", "host", "h1"]) == 2
    assert capsys.readouterr().err.startswith("chronova audit: error: no event store at ")
    assert not (tmp_path / "none").exists()
    assert (
        main(["--database-url", "postgresql://postgres@127.0.0.1:5432/chronova_no_such_db", "state", "host", "h"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("chronova audit: error: cannot open the event store: ") and len(err.splitlines()) == 1


def test_console_script_reports_bad_input_without_traceback(story):
    result = subprocess.run(
        [sys.executable, "-m", "chronova.cli", "audit", "--database-url", story.url, "history", "host", "nowhere"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "chronova audit: error: host nowhere not found in the event store\n"
