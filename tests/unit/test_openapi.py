"""The OpenAPI document: it names every route the compute, identity and image apps register,
and requests generated from it (schemathesis) never make the API fail with a 5xx."""

from __future__ import annotations

import collections
import itertools
import math
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.types import WSGIApplication

import falcon
import pytest
import schemathesis
from falcon.testing import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR  # the meta-schema, as schemathesis checks it

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity.app import create_app as create_identity_app
from chronova.images.app import create_app as create_image_app
from chronova.web import create_router
from command_api.app import create_app as create_command_app
from domain.commands import CreateFlavor
from domain.host import Host
from domain.placement import default_inventories, inventories_to_dict
from projections.views import ViewStore
from query_api.app import create_app as create_query_app
from tests.unit.conftest import ADMIN, DEMO, LATEST

REQUESTS_AT_LEAST = 2000
_CONVERTER = re.compile(r"\{(\w+)(:[^}]*)?\}")  # Falcon's {name:converter} is {name} in OpenAPI
# The image grounded rounds boot from (the id Nova's API samples use).
SAMPLE_IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
HOST = "compute1"
V3 = "/identity/v3"
PASSWORD = "correct horse battery staple"
IMAGE_PATCH = "application/openstack-images-v2.1-json-patch"


def registered_routes(cloud: Cloud, views: ViewStore, settings: Settings) -> dict[str, set[str]]:
    """Every route the command, query, identity and image apps add, with the methods their resources answer."""
    routes: dict[str, set[str]] = {}
    add_route = falcon.App.add_route

    def recording(app: falcon.App, uri_template: str, resource: object, **kwargs: Any) -> None:
        methods = falcon.routing.map_http_methods(resource, suffix=kwargs.get("suffix"))
        routes.setdefault(_CONVERTER.sub(r"{\1}", uri_template), set()).update(m.lower() for m in methods)
        add_route(app, uri_template, resource, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(falcon.App, "add_route", recording)
        create_command_app(cloud, views, settings)
        create_query_app(cloud, views, settings)
        create_identity_app(cloud, views, settings)
        create_image_app(cloud, views, settings)
    return routes


def test_every_registered_route_is_documented_with_its_methods(
    cloud: Cloud, views: ViewStore, settings: Settings, client: TestClient
) -> None:
    served = client.simulate_get("/openapi.json", headers={"X-Auth-Token": ""})
    assert served.status_code == 200, served.text
    documented = {
        path: {method for method in item if method != "parameters"} for path, item in served.json["paths"].items()
    }
    routes = registered_routes(cloud, views, settings)
    assert routes, "no routes were recorded"
    undocumented = [
        f"{path}: serves {sorted(methods)}, documents {sorted(documented.get(path, ()))}"
        for path, methods in sorted(routes.items())
        if documented.get(path) != methods
    ]
    assert not undocumented, "\n".join(undocumented)
    stale = sorted(path for path in documented if path not in routes)
    assert not stale, f"documented but not served: {stale}"


def test_the_document_is_openapi_3_0_and_declares_the_token_and_the_microversion(client: TestClient) -> None:
    doc = client.simulate_get("/openapi.json", headers={"X-Auth-Token": ""}).json
    assert doc["openapi"].startswith("3.0")
    assert [str(error) for error in OPENAPI_30_VALIDATOR.iter_errors(doc)] == []
    assert doc["components"]["securitySchemes"]["token"] == {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
    create = doc["paths"]["/v2.1/servers"]["post"]
    assert {"$ref": "#/components/parameters/Microversion"} in create["parameters"]
    assert doc["components"]["parameters"]["Microversion"]["name"] == "OpenStack-API-Version"
    fault = create["responses"]["400"]["content"]["application/json"]["schema"]
    assert fault["required"] == ["badRequest"]
    assert fault["properties"]["badRequest"]["required"] == ["code", "message"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    for branch in body["anyOf"]:  # one per microversion range
        server = branch["properties"]["server"]
        assert server["additionalProperties"] is False
        assert {"name", "flavorRef"} <= set(server["required"])
        assert server["properties"]["name"]["maxLength"] == 255


# --- inputs a generator rarely builds, found by hand while fuzzing -----------------------------


@pytest.mark.parametrize("path", ["/v2.1/servers", "/identity/v3/projects", "/image/v2/images"])
@pytest.mark.parametrize("token", ["ck1.e30.\u00e9", "ck1.\u00e9.x", "\u00ff"])
def test_a_token_with_foreign_characters_is_refused_not_a_failure(
    cloud: Cloud, views: ViewStore, settings: Settings, path: str, token: str
) -> None:
    router = create_router(
        create_command_app(cloud, views, settings),
        create_query_app(cloud, views, settings),
        mounts={
            "/identity": create_identity_app(cloud, views, settings),
            "/image": create_image_app(cloud, views, settings),
        },
    )
    assert TestClient(router).simulate_get(path, headers={"X-Auth-Token": token}).status_code == 401


@pytest.mark.parametrize("path", ["/v2.1/servers", "/v2.1/servers/detail", "/v2.1/flavors"])
@pytest.mark.parametrize("pattern", ["a{99999999999}", "(?<=a+)b"])
def test_a_name_filter_the_regex_engine_refuses_is_a_bad_request(client: TestClient, path: str, pattern: str) -> None:
    result = client.simulate_get(path, params={"name": pattern})
    assert result.status_code == 400, result.text
    assert "Invalid regular expression in the name filter" in result.json["badRequest"]["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v2.1/flavors/a\x00b", {}),
        ("/v2.1/os-quota-sets/a\x00b", {}),
        ("/v2.1/servers", {"host": "a\x00b", "all_tenants": "1"}),
        ("/identity/v3/projects/a\x00b", {}),
    ],
)
def test_a_nul_in_a_path_or_query_is_a_bad_request(client: TestClient, path: str, query: dict[str, str]) -> None:
    """SQLite stores NUL, PostgreSQL refuses it mid-query (a 500 there): it is refused before any lookup."""
    result = client.simulate_get(path, params=query)
    assert result.status_code == 400, result.text


@pytest.mark.parametrize("min_ram", [2**31, 2**63])
def test_an_image_number_no_view_column_holds_is_refused(
    client: TestClient, catch_up: Callable[[], None], min_ram: int
) -> None:
    """PostgreSQL's INTEGER (the images view's min_ram) ends at 2**31 - 1, SQLite's at 2**63 - 1: an
    event carrying more would stop every projection (one transaction per batch) for good."""
    result = client.simulate_post("/image/v2/images", json={"name": "big", "min_ram": min_ram})
    assert result.status_code == 400, result.text
    catch_up()


# --- fuzzing ---------------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    classes: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass(frozen=True)
class Round:
    """One pass over the operations: who asks, which mode, what share of the cases. A grounded
    round asks at the newest microversion, about things that exist: path parameters name them
    and body references point at them, so requests get past the lookups into the use cases."""

    who: dict[str, str]
    mode: GenerationMode
    share: float
    grounded: bool = False


_ROUNDS = (
    Round(ADMIN, GenerationMode.POSITIVE, 0.22),
    Round(ADMIN, GenerationMode.POSITIVE, 0.28, grounded=True),
    Round(ADMIN, GenerationMode.NEGATIVE, 0.25),
    Round(DEMO, GenerationMode.POSITIVE, 0.08),
    Round(DEMO, GenerationMode.POSITIVE, 0.12, grounded=True),
    Round({}, GenerationMode.POSITIVE, 0.05),  # schemathesis makes up the X-Auth-Token
)
_REFERENCES = ("key_name", "availability_zone", "block_device_mapping", "block_device_mapping_v2", "host")
_REFERENCES += ("hypervisor_hostname", "min_count", "max_count", "imageRef", "flavorRef", "networks")


class Cloudlet:
    """The seeded cloud the fuzzer talks to; each operation run with known path parameters gets
    fresh things to act on (a server, a flavor...), so one operation's deletes never starve the next."""

    def __init__(self, cloud: Cloud, router: WSGIApplication, catch_up: Callable[[], None]) -> None:
        self._cloud = cloud
        self._client = TestClient(router, headers={**ADMIN, **LATEST})
        self.catch_up = catch_up
        self._serial = itertools.count()
        cloud.create_flavor(CreateFlavor(name="m1.tiny", vcpus=1, ram=512, disk=1, flavorid="1"))
        cloud.register_image(
            uuid.UUID(SAMPLE_IMAGE),
            name="cirros",
            owner="admin",
            disk_format="qcow2",
            container_format="bare",
            min_disk=0,
            min_ram=0,
            size=1,
            visibility="public",
        )
        host = Host(name=HOST, inventories=inventories_to_dict(default_inventories(64, 262144, 4000)), hypervisor={})
        host.report_alive()
        cloud.save(host)
        generated = {**ADMIN, "OpenStack-API-Version": "compute 2.91"}  # 2.92 only imports keys
        keypair = self._post("/v2.1/os-keypairs", {"keypair": {"name": "seed"}}, generated, status=201)
        self.public_key = keypair.json["keypair"]["public_key"]
        project = self._post(f"{V3}/projects", {"project": {"name": "fuzz"}}, status=201).json["project"]["id"]
        user = {"name": "fuzzer", "password": PASSWORD, "default_project_id": project}
        self.identity = {
            "projects": project,
            "users": self._post(f"{V3}/users", {"user": user}, status=201).json["user"]["id"],
        }
        result = self._client.simulate_put(f"{V3}/projects/{project}/users/{self.identity['users']}/roles/member")
        assert result.status_code == 204, result.text
        self.identity |= {"roles": "member", "domains": "default"}
        catch_up()

    def unlimit(self) -> None:
        """Whatever quota the fuzzer set, there is room for more servers."""
        for project in ("admin", "demo"):
            limits = {"instances": -1, "cores": -1, "ram": -1}
            self._client.simulate_put(f"/v2.1/os-quota-sets/{project}", json={"quota_set": limits})
        self.catch_up()  # reads wait for the views to reach the last write; let them find it there

    def _post(self, path: str, body: dict[str, Any], who: dict[str, str] = ADMIN, status: int = 200) -> Any:
        result = self._client.simulate_post(path, json=body, headers=who)
        assert result.status_code == status, f"{path}: {result.text}"
        self.catch_up()
        return result

    def _server(self, who: dict[str, str]) -> tuple[str, str]:
        """A new ACTIVE server with a metadata item and a tag, and the request id of its create action."""
        self.unlimit()
        server = {"name": "vm", "imageRef": SAMPLE_IMAGE, "flavorRef": "1", "networks": "none"}
        server |= {"metadata": {"color": "blue"}, "tags": ["blue"]}
        result = self._post("/v2.1/servers", {"server": server}, who, status=202)
        server_id = result.json["server"]["id"]
        placed = self._cloud.server(uuid.UUID(server_id))
        placed.schedule(HOST)
        self._cloud.save(placed)
        placed.record_spawned(HOST, 1)
        self._cloud.save(placed)
        self.catch_up()
        return server_id, result.headers["x-openstack-request-id"]

    def known_path(self, path: str, who: dict[str, str]) -> dict[str, str]:
        """Values for an operation's path parameters that name existing things, by the segment before each."""
        values: dict[str, str] = {}
        segments = path.split("/")
        serial = next(self._serial)
        for before, segment in itertools.pairwise(segments):
            if not segment.startswith("{"):
                continue
            name = segment[1:-1]
            if before == "servers":
                values[name], values["request_id"] = self._server(who)
            elif before == "flavors":
                flavor = {"name": f"f{serial}", "id": f"f{serial}", "ram": 64, "vcpus": 1, "disk": 0}
                self._post("/v2.1/flavors", {"flavor": flavor})
                self._post(f"/v2.1/flavors/f{serial}/os-extra_specs", {"extra_specs": {"hw:cpu_policy": "shared"}})
                values[name] = f"f{serial}"
            elif before == "os-keypairs":
                body = {"keypair": {"name": f"kp{serial}", "public_key": self.public_key}}
                self._post("/v2.1/os-keypairs", body, who, status=201)
                values[name] = f"kp{serial}"
            elif before == "os-aggregates":
                body = {"aggregate": {"name": f"agg{serial}", "availability_zone": "nova"}}
                values[name] = str(self._post("/v2.1/os-aggregates", body).json["aggregate"]["id"])
            elif before == "os-server-groups":
                body = {"server_group": {"name": f"g{serial}", "policy": "anti-affinity"}}
                values[name] = self._post("/v2.1/os-server-groups", body, who).json["server_group"]["id"]
            elif before in ("os-hypervisors", "os-services"):
                listed = self._client.simulate_get(f"/v2.1/{before}").json
                values[name] = str(listed["hypervisors" if before == "os-hypervisors" else "services"][0]["id"])
            elif before in ("os-quota-sets", "os-simple-tenant-usage"):
                values[name] = "demo"
            elif before == "os-quota-class-sets":
                values[name] = "default"
            elif before == "images":
                image = {"name": f"img{serial}", "disk_format": "raw", "container_format": "bare"}
                values[name] = self._post("/image/v2/images", image, who, status=201).json["id"]
            elif path.startswith(V3) and before in self.identity:
                values[name] = self.identity[before]
        known = {"metadata": "color", "tags": "blue", "os-extra_specs": "hw:cpu_policy"}
        for before, segment in itertools.pairwise(segments):
            if segment.startswith("{") and before in known:
                values[segment[1:-1]] = known[before]
        return {name: value for name, value in values.items() if "{" + name + "}" in path}


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def _ground(case: Any, cloudlet: Cloudlet) -> None:
    """Points a generated body's references (image, flavor, key) at things that exist."""
    body, route = case.body, (case.method, case.operation.path)
    if route == ("POST", "/v2.1/servers") and isinstance(body, dict) and isinstance(body.get("server"), dict):
        server = {key: value for key, value in body["server"].items() if key not in _REFERENCES}
        case.body = {"server": server | {"imageRef": SAMPLE_IMAGE, "flavorRef": "1", "networks": "none"}}
    elif route == ("POST", f"{V3}/auth/tokens") and isinstance(body, dict) and isinstance(body.get("auth"), dict):
        user = {"name": "fuzzer", "domain": {"id": "default"}, "password": PASSWORD}
        body["auth"]["identity"] = {"methods": ["password"], "password": {"user": user}}
    elif route == ("POST", "/v2.1/os-keypairs") and isinstance(body, dict) and isinstance(body.get("keypair"), dict):
        body["keypair"] |= {"public_key": cloudlet.public_key, "type": "ssh"}


def _exercise(operation: Any, rnd: Round, examples: int, cloudlet: Cloudlet, tally: Tally) -> None:
    headers = dict(rnd.who)
    path_parameters = None
    if rnd.grounded:
        headers |= {**LATEST, "X-Subject-Token": rnd.who["X-Auth-Token"]}
        path_parameters = cloudlet.known_path(operation.path, rnd.who)
        cloudlet.unlimit()
    strategy = operation.as_strategy(generation_mode=rnd.mode, headers=headers, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if rnd.grounded:
            _ground(case, cloudlet)
        response = case.call()
        tally.requests += 1
        tally.classes[f"{response.status_code // 100}xx"] += 1
        if case.method not in ("GET", "HEAD"):
            try:
                cloudlet.catch_up()
            except Exception as e:
                e.add_note(f"The read models cannot take the events of: {case.as_curl_command()}")
                raise
        if response.status_code >= 500:
            tally.errors.append(f"{response.status_code} {case.as_curl_command()}\n{response.text[:500]}")

    try:
        run()
    except Unsatisfiable:
        # An operation whose every input is fixed (no parameters, no body) has nothing to make invalid.
        assert rnd.mode is GenerationMode.NEGATIVE, operation.label


def test_generated_requests_never_get_a_server_error(
    cloud: Cloud, views: ViewStore, settings: Settings, catch_up: Callable[[], None]
) -> None:
    router = create_router(
        create_command_app(cloud, views, settings),
        create_query_app(cloud, views, settings),
        mounts={
            "/identity": create_identity_app(cloud, views, settings),
            "/image": create_image_app(cloud, views, settings),
        },
    )
    schemathesis.serializer.alias(IMAGE_PATCH, "application/json")
    cloudlet = Cloudlet(cloud, router, catch_up)
    unmasked = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})  # sort_key is no secret
    schema = schemathesis.openapi.from_wsgi("/openapi.json", router, config=unmasked)
    operations = list(_operations(schema))
    per_operation = math.ceil(REQUESTS_AT_LEAST * 1.7 / len(operations))
    tally = Tally()
    for rnd in _ROUNDS:
        for operation in operations:
            _exercise(operation, rnd, max(1, round(per_operation * rnd.share)), cloudlet, tally)
    answers = ", ".join(f"{n} {status}" for status, n in sorted(tally.classes.items()))
    print(f"schemathesis sent {tally.requests} requests over {len(operations)} operations ({answers})")
    assert not tally.errors, "\n\n".join(tally.errors)
    assert tally.requests >= REQUESTS_AT_LEAST
