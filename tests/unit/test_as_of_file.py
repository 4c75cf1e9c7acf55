"""The cloud as of a moment on the embedded store: every view rebuilt into a file of its own,
read by the unchanged query app."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from falcon.testing import TestClient

from chronova.audit.cli import main as audit
from chronova.config import Settings
from projections.as_of import FrozenCloud, build, open_views
from query_api.app import create_app
from tests.unit.conftest import ADMIN, LATEST


def test_as_of_a_moment_reads_the_old_name_from_a_file(
    client: TestClient,
    settings: Settings,
    cloud: Any,
    tmp_path: Path,
    boot: Callable[..., dict[str, Any]],
    catch_up: Callable[[], None],
) -> None:
    server = boot("before")["id"]
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    renamed = client.simulate_put(f"/v2.1/servers/{server}", json={"server": {"name": "after"}}, headers=LATEST)
    assert renamed.status_code == 200, renamed.text
    catch_up()

    copy = build(cloud, settings, moment)
    assert Path(copy.location).parent == tmp_path and Path(copy.location).exists()
    views = open_views(copy.env)
    past = TestClient(create_app(FrozenCloud(copy.position), views, settings), headers=ADMIN)  # type: ignore[arg-type]
    assert past.simulate_get(f"/v2.1/servers/{server}", headers=LATEST).json["server"]["name"] == "before"
    assert client.simulate_get(f"/v2.1/servers/{server}", headers=LATEST).json["server"]["name"] == "after"
    assert past.simulate_get(f"/v2.1/servers/{uuid.uuid4()}", headers=LATEST).status_code == 404


def test_rebuild_and_verify_say_they_need_postgresql(settings: Settings, capsys: Any) -> None:
    for command in ("rebuild", "verify"):
        assert audit(["--database-url", settings.database_url, command, "servers"]) == 2
        assert "PostgreSQL" in capsys.readouterr().err
