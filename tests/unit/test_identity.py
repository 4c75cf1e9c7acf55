"""The built-in identity service and token checks on every API, through the HTTP apps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from falcon.testing import TestClient

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity.app import create_app as create_identity_app
from chronova.identity.tokens import TokenSigner, token_key
from chronova.messages import EventMessage
from chronova.seed import seed
from projections.views import ViewStore
from query_api.app import create_app as create_query_app
from tests.unit.conftest import DEMO, LATEST, SECRET

NO_TOKEN = {"X-Auth-Token": ""}


def password_auth(name: str, password: str, project: str | None = None) -> dict:
    auth: dict = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": name, "domain": {"name": "Default"}, "password": password}},
        }
    }
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


@pytest.fixture
def seeded(cloud: Cloud, settings: Settings, catch_up: Callable[[], None]) -> dict[str, str]:
    created = seed(cloud, settings.with_(admin_password="admin-pw"))
    catch_up()
    return {user.name: user.password for user in created}


def login(client: TestClient, name: str, password: str, project: str | None = None) -> str:
    result = client.simulate_post("/identity/v3/auth/tokens", json=password_auth(name, password, project))
    assert result.status_code == 201, result.text
    return result.headers["X-Subject-Token"]


def test_version_documents_need_no_token(client: TestClient) -> None:
    for path in ("/", "/v2.1", "/v2.1/", "/identity/v3"):
        assert client.simulate_get(path, headers=NO_TOKEN).status_code == 200, path
    versions = client.simulate_get("/identity", headers=NO_TOKEN)
    assert versions.status_code == 300
    assert versions.json["versions"]["values"][0]["id"] == "v3.14"
    assert client.simulate_get("/identity/v3", headers=NO_TOKEN).json["version"]["status"] == "stable"


@pytest.mark.parametrize("path", ["/v2.1/servers", "/v2.1/flavors/detail", "/v2.1/os-hypervisors/detail"])
def test_compute_apis_refuse_a_missing_or_forged_token(client: TestClient, path: str) -> None:
    forged = DEMO["X-Auth-Token"][:-4] + "AAAA"
    for headers in (NO_TOKEN, {"X-Auth-Token": forged}, {"X-Auth-Token": "garbage"}):
        result = client.simulate_get(path, headers=headers)
        assert result.status_code == 401
        assert result.json == {
            "unauthorized": {"code": 401, "message": "The request you have made requires authentication."}
        }
        assert result.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_an_expired_token_is_refused(client: TestClient) -> None:
    signer = TokenSigner(token_key(SECRET.encode()), ttl=timedelta(hours=1))
    token, _ = signer.issue(
        user_id="alice",
        user_name="alice",
        project_id="demo",
        project_name="demo",
        roles=("member",),
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    assert client.simulate_get("/v2.1/servers", headers={"X-Auth-Token": token}).status_code == 401


def test_password_login_gives_a_scoped_token_with_a_catalog(client: TestClient, seeded: dict[str, str]) -> None:
    result = client.simulate_post("/identity/v3/auth/tokens", json=password_auth("admin", "admin-pw", "admin"))

    assert result.status_code == 201
    token = result.json["token"]
    assert token["user"]["name"] == "admin"
    assert token["project"]["name"] == "admin"
    assert [role["name"] for role in token["roles"]] == ["admin"]
    urls = {entry["type"]: entry["endpoints"][0]["url"] for entry in token["catalog"]}
    assert urls == {
        "compute": "http://falconframework.org/v2.1",
        "image": "http://falconframework.org/image",
        "identity": "http://falconframework.org/identity",
    }
    subject = result.headers["X-Subject-Token"]
    servers = client.simulate_get("/v2.1/servers", headers={"X-Auth-Token": subject})
    assert servers.status_code == 200
    validated = client.simulate_get(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": subject, "X-Subject-Token": subject}
    )
    assert validated.status_code == 200
    assert validated.json["token"]["project"]["id"] == token["project"]["id"]


def test_unscoped_login_uses_the_default_project(client: TestClient, seeded: dict[str, str]) -> None:
    token = login(client, "demo", seeded["demo"])
    listing = client.simulate_get("/v2.1/servers", headers={"X-Auth-Token": token})
    assert listing.status_code == 200
    hypervisors = client.simulate_get("/v2.1/os-hypervisors/detail", headers={"X-Auth-Token": token})
    assert hypervisors.status_code == 403


@pytest.mark.parametrize(
    ("name", "password", "project"),
    [("admin", "wrong", "admin"), ("nobody", "admin-pw", "admin"), ("admin", "admin-pw", "no-such-project")],
)
def test_bad_credentials_get_keystones_401(
    client: TestClient, seeded: dict[str, str], name: str, password: str, project: str
) -> None:
    result = client.simulate_post("/identity/v3/auth/tokens", json=password_auth(name, password, project))
    assert result.status_code == 401
    assert result.json["error"]["code"] == 401
    assert "X-Subject-Token" not in result.headers


def test_a_member_cannot_log_in_to_a_project_without_a_role(client: TestClient, seeded: dict[str, str]) -> None:
    result = client.simulate_post("/identity/v3/auth/tokens", json=password_auth("demo", seeded["demo"], "admin"))
    assert result.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"auth": {}},
        {"auth": {"identity": {"methods": ["kerberos"]}}},
        {"auth": {"identity": {"methods": ["password"]}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": "x"}}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": 5}}}}},
    ],
)
def test_malformed_auth_bodies_are_400(client: TestClient, seeded: dict[str, str], body: dict) -> None:
    result = client.simulate_post("/identity/v3/auth/tokens", json=body)
    assert result.status_code == 400
    assert result.json["error"]["code"] == 400


def test_admin_creates_a_project_and_a_user_who_then_works_there(
    client: TestClient, seeded: dict[str, str], catch_up: Callable[[], None]
) -> None:
    admin = {"X-Auth-Token": login(client, "admin", "admin-pw", "admin")}
    project = client.simulate_post(
        "/identity/v3/projects", json={"project": {"name": "web", "domain_id": "default"}}, headers=admin
    )
    assert project.status_code == 201
    user = client.simulate_post(
        "/identity/v3/users", json={"user": {"name": "carol", "password": "carol-pw"}}, headers=admin
    )
    assert user.status_code == 201
    project_id, user_id = project.json["project"]["id"], user.json["user"]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/member"
    assert client.simulate_put(grant, headers=admin).status_code == 204

    carol = {"X-Auth-Token": login(client, "carol", "carol-pw", "web"), **LATEST}
    catch_up()
    assert client.simulate_get("/v2.1/servers", headers=carol).status_code == 200
    names = [p["name"] for p in client.simulate_get("/identity/v3/projects", headers=admin).json["projects"]]
    assert names == ["admin", "demo", "web"]
    mine = client.simulate_get("/identity/v3/auth/projects", headers=carol).json["projects"]
    assert [p["id"] for p in mine] == [project_id]

    again = client.simulate_post("/identity/v3/users", json={"user": {"name": "carol", "password": "x"}}, headers=admin)
    assert again.status_code == 409


def test_members_cannot_manage_identity(client: TestClient, seeded: dict[str, str], cloud: Cloud) -> None:
    demo = {"X-Auth-Token": login(client, "demo", seeded["demo"], "demo")}
    before = cloud.recorder.max_notification_id()
    assert (
        client.simulate_post(
            "/identity/v3/users", json={"user": {"name": "x", "password": "y"}}, headers=demo
        ).status_code
        == 403
    )
    assert client.simulate_get("/identity/v3/users", headers=demo).status_code == 403
    assert cloud.recorder.max_notification_id() == before


def test_the_url_project_must_be_the_tokens_project(client: TestClient, seeded: dict[str, str]) -> None:
    result = client.simulate_get("/v2.1/someone-else/servers", headers=DEMO)
    assert result.status_code == 400
    assert "doesn't match Context's project_id 'demo'" in result.json["badRequest"]["message"]


def test_password_hashes_never_leave_the_store(cloud: Cloud, seeded: dict[str, str]) -> None:
    notifications = cloud.recorder.select_notifications(start=1, limit=1000)
    messages = [EventMessage.from_domain_event(n.id, cloud.mapper.to_domain_event(n)) for n in notifications]
    users = [m for m in messages if m.event_type == "User.Created"]
    assert len(users) == 2
    assert all("password_hash" not in m.data for m in users)
    assert all("admin-pw" not in m.to_json().decode() for m in messages)


@pytest.fixture
def external_keystone(cloud: Cloud, views: ViewStore, settings: Settings, seeded: dict[str, str]) -> Iterator[str]:
    """This cloud's identity service on a real port, standing in for an external Keystone."""

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, create_identity_app(cloud, views, settings), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/identity"
    server.shutdown()


def test_an_external_keystone_can_vouch_for_tokens_instead(
    client: TestClient, cloud: Cloud, views: ViewStore, settings: Settings, external_keystone: str
) -> None:
    admin_token = login(client, "admin", "admin-pw", "admin")
    other_cloud = settings.with_(
        secret="",
        keystone_url=external_keystone,
        keystone_username="admin",
        keystone_password="admin-pw",
        keystone_project="admin",
    )
    remote = TestClient(create_query_app(cloud, views, other_cloud))

    assert remote.simulate_get("/v2.1/servers", headers={"X-Auth-Token": admin_token}).status_code == 200
    assert remote.simulate_get("/v2.1/servers", headers={"X-Auth-Token": "ck1.bogus.token"}).status_code == 401
