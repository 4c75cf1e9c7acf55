"""The image service through HTTP, as openstacksdk drives it: Glance v2 bodies and
status codes, image data kept in a real file store, reads from the images view,
and refused requests that leave the event store untouched."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from falcon.testing import Result, TestClient

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.images.app import create_app as create_image_app
from chronova.images.store import FileStore, IncompleteUpload
from chronova.messages import EventMessage
from chronova.web import MAX_BODY_BYTES, create_router
from command_api.app import create_app as create_command_app
from projections.images import ImagesProjection
from projections.views import ViewStore
from query_api.app import create_app as create_query_app
from tests.unit.conftest import ADMIN, DEMO, LATEST, OTHER

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}
IMAGE_KEYS = {
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
}


@pytest.fixture
def api(cloud: Cloud, views: ViewStore, settings: Settings) -> TestClient:
    """The compute API with the image service mounted, as `chronova run` serves them."""
    router = create_router(
        create_command_app(cloud, views, settings),
        create_query_app(cloud, views, settings),
        mounts={"/image": create_image_app(cloud, views, settings)},
    )
    return TestClient(router, headers=ADMIN)


@pytest.fixture
def image_files(settings: Settings) -> Path:
    return settings.images_dir()


def create(api: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Result:
    fields = {"name": "img", "disk_format": "qcow2", "container_format": "bare", **body}
    return api.simulate_post("/image/v2/images", json=fields, headers=headers)


def upload(api: TestClient, image_id: str, data: bytes, headers: dict[str, str] | None = None) -> Result:
    return api.simulate_put(f"/image/v2/images/{image_id}/file", body=data, headers={**OCTETS, **(headers or {})})


def patch(api: TestClient, image_id: str, ops: Any, headers: dict[str, str] | None = None) -> Result:
    return api.simulate_patch(
        f"/image/v2/images/{image_id}", body=json.dumps(ops), headers={**PATCH, **(headers or {})}
    )


def error(result: Result) -> tuple[int, str]:
    ((_, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, detail["message"]


def names(result: Result) -> list[str]:
    assert result.status_code == 200, result.text
    return [image["name"] for image in result.json["images"]]


# --- discovery ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status"), [("/image", 300), ("/image/", 300), ("/image/versions", 200)])
def test_versions_document_needs_no_token(api: TestClient, path: str, status: int) -> None:
    result = api.simulate_get(path, headers={"X-Auth-Token": ""})

    assert result.status_code == status
    versions = result.json["versions"]
    assert versions[0]["status"] == "CURRENT" and versions[0]["id"].startswith("v2.")
    assert {link["href"] for version in versions for link in version["links"]} == {
        "http://falconframework.org/image/v2/"
    }


def test_image_api_needs_a_token(api: TestClient) -> None:
    result = api.simulate_get("/image/v2/images", headers={"X-Auth-Token": ""})

    assert error(result) == (401, "The request you have made requires authentication.")


# --- the life of an image -------------------------------------------------------------------


def test_create_upload_download_list_patch_delete(
    api: TestClient, cloud: Cloud, catch_up: Callable[[], None], image_files: Path
) -> None:
    created = create(api, DEMO, tags=["boot"], min_ram=64, hypervisor_type="qemu")
    assert created.status_code == 201, created.text
    image = created.json
    image_id = image["id"]
    assert set(image) == IMAGE_KEYS | {"hypervisor_type"}
    assert image["status"] == "queued" and image["owner"] == "demo" and image["visibility"] == "shared"
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (None, None, None)
    assert (image["min_ram"], image["tags"], image["hypervisor_type"]) == (64, ["boot"], "qemu")
    assert image["self"] == f"/v2/images/{image_id}" and image["file"] == f"/v2/images/{image_id}/file"
    assert created.headers["Location"] == f"http://falconframework.org/image/v2/images/{image_id}"

    data = bytes(range(256)) * (MAX_BODY_BYTES // 128)  # 2 MiB: the compute API's body limit does not apply
    assert upload(api, image_id, data, DEMO).status_code == 204
    catch_up()

    shown = api.simulate_get(f"/image/v2/images/{image_id}", headers=DEMO).json
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha512", hashlib.sha512(data).hexdigest())
    downloaded = api.simulate_get(f"/image/v2/images/{image_id}/file", headers=DEMO)
    assert downloaded.status_code == 200 and downloaded.content == data
    assert downloaded.headers["Content-MD5"] == shown["checksum"]
    assert downloaded.headers["Content-Type"] == "application/octet-stream"

    create(api, DEMO, name="other")
    catch_up()
    assert names(api.simulate_get("/image/v2/images", params={"name": "img"}, headers=DEMO)) == ["img"]
    listed = api.simulate_get("/image/v2/images", params={"id": f"in:{image_id},{uuid.uuid4()}"}, headers=DEMO)
    assert names(listed) == ["img"]
    assert names(api.simulate_get("/image/v2/images", params={"tag": "boot"}, headers=DEMO)) == ["img"]
    assert names(api.simulate_get("/image/v2/images", params={"hypervisor_type": "qemu"}, headers=DEMO)) == ["img"]

    changed = patch(
        api,
        image_id,
        [
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/os_distro", "value": "cirros"},
            {"op": "remove", "path": "/hypervisor_type"},
            {"op": "replace", "path": "/tags", "value": ["a", "b"]},
            {"op": "replace", "path": "/min_disk", "value": 2},
        ],
        DEMO,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json["name"], changed.json["os_distro"], changed.json["tags"]) == ("renamed", "cirros", ["a", "b"])
    assert "hypervisor_type" not in changed.json and changed.json["min_disk"] == 2
    catch_up()
    assert api.simulate_get(f"/image/v2/images/{image_id}", headers=DEMO).json == changed.json
    assert names(api.simulate_get("/image/v2/images", params={"tag": "boot"}, headers=DEMO)) == []

    assert [path.name for path in image_files.iterdir()] == [shown_location(cloud, image_id)]
    assert api.simulate_delete(f"/image/v2/images/{image_id}", headers=DEMO).status_code == 204
    catch_up()
    assert list(image_files.iterdir()) == []
    assert error(api.simulate_get(f"/image/v2/images/{image_id}", headers=DEMO)) == (
        404,
        f"No image found with ID {image_id}",
    )
    assert api.simulate_get(f"/image/v2/images/{image_id}/file", headers=DEMO).status_code == 404
    assert names(api.simulate_get("/image/v2/images", headers=DEMO)) == ["other"]


def shown_location(cloud: Cloud, image_id: str) -> str:
    location = cloud.image(uuid.UUID(image_id)).location
    assert location is not None
    return location


def test_an_image_without_data_downloads_as_no_content(api: TestClient, catch_up: Callable[[], None]) -> None:
    image_id = create(api, DEMO).json["id"]
    catch_up()

    assert api.simulate_get(f"/image/v2/images/{image_id}/file", headers=DEMO).status_code == 204


def test_uploading_twice_conflicts_and_keeps_the_first(
    api: TestClient, cloud: Cloud, catch_up: Callable[[], None], image_files: Path
) -> None:
    image_id = create(api, DEMO).json["id"]
    upload(api, image_id, b"first", DEMO)
    before = cloud.recorder.max_notification_id()

    result = upload(api, image_id, b"second", DEMO)

    assert error(result) == (409, "Image status transition from active to saving is not allowed")
    assert cloud.recorder.max_notification_id() == before
    assert len(list(image_files.iterdir())) == 1
    catch_up()
    assert api.simulate_get(f"/image/v2/images/{image_id}/file", headers=DEMO).content == b"first"


def test_a_protected_image_is_not_deleted(api: TestClient, cloud: Cloud) -> None:
    image_id = create(api, DEMO, protected=True).json["id"]

    result = api.simulate_delete(f"/image/v2/images/{image_id}", headers=DEMO)

    assert error(result) == (403, f"Image {image_id} is protected and cannot be deleted.")
    assert cloud.image(uuid.UUID(image_id)).status == "queued"


def test_listing_pages_with_next_links_in_the_asked_order(api: TestClient, catch_up: Callable[[], None]) -> None:
    for name in ("b", "c", "a"):
        create(api, DEMO, name=name)
    catch_up()

    first = api.simulate_get("/image/v2/images", params={"sort": "name:asc", "limit": "2"}, headers=DEMO)
    assert names(first) == ["a", "b"]
    assert first.json["first"] == "/v2/images?sort=name%3Aasc&limit=2"
    query = first.json["next"].split("?", 1)[1]
    assert names(api.simulate_get("/image/v2/images", query_string=query, headers=DEMO)) == ["c"]
    newest_first = api.simulate_get("/image/v2/images", headers=DEMO)
    assert names(newest_first) == ["a", "c", "b"] and "next" not in newest_first.json
    by_key = api.simulate_get("/image/v2/images", params={"sort_key": "name", "sort_dir": "desc"}, headers=DEMO)
    assert names(by_key) == ["c", "b", "a"]


# --- who sees what ----------------------------------------------------------------------------


def test_projects_see_their_own_and_open_images_only(api: TestClient, catch_up: Callable[[], None]) -> None:
    private = create(api, DEMO, name="demo-private", visibility="private").json["id"]
    community = create(api, DEMO, name="demo-community", visibility="community").json["id"]
    public = create(api, name="admin-public", visibility="public").json["id"]
    upload(api, private, b"secret", DEMO)
    catch_up()

    assert sorted(names(api.simulate_get("/image/v2/images", headers=DEMO))) == [
        "admin-public",
        "demo-community",
        "demo-private",
    ]
    assert names(api.simulate_get("/image/v2/images", headers=OTHER)) == ["admin-public"]
    community_list = api.simulate_get("/image/v2/images", params={"visibility": "community"}, headers=OTHER)
    assert names(community_list) == ["demo-community"]
    assert api.simulate_get(f"/image/v2/images/{community}", headers=OTHER).status_code == 200
    for result in (
        api.simulate_get(f"/image/v2/images/{private}", headers=OTHER),
        api.simulate_get(f"/image/v2/images/{private}/file", headers=OTHER),
        patch(api, private, [{"op": "replace", "path": "/name", "value": "mine"}], OTHER),
        upload(api, private, b"overwrite", OTHER),
    ):
        assert error(result) == (404, f"No image found with ID {private}")
    assert error(api.simulate_delete(f"/image/v2/images/{private}", headers=OTHER)) == (
        404,
        f"Failed to find image {private} to delete",
    )
    refused = patch(api, public, [{"op": "replace", "path": "/name", "value": "mine"}], OTHER)
    assert error(refused) == (403, "You are not authorized to complete modify_image action.")
    assert error(api.simulate_delete(f"/image/v2/images/{public}", headers=OTHER))[0] == 403
    assert api.simulate_get(f"/image/v2/images/{private}", headers=ADMIN).status_code == 200


def test_only_admins_publish_images(api: TestClient, cloud: Cloud) -> None:
    image_id = create(api, DEMO).json["id"]
    before = cloud.recorder.max_notification_id()

    created = create(api, DEMO, visibility="public")
    patched = patch(api, image_id, [{"op": "replace", "path": "/visibility", "value": "public"}], DEMO)
    owned_elsewhere = create(api, DEMO, owner="other")

    assert error(created) == error(patched) == (403, "You are not authorized to complete publicize_image action.")
    assert error(owned_elsewhere) == (403, "You are not permitted to create images owned by 'other'.")
    assert cloud.recorder.max_notification_id() == before
    assert patch(api, image_id, [{"op": "replace", "path": "/visibility", "value": "public"}]).status_code == 200


# --- nova boots what glance holds ---------------------------------------------------------------


def test_servers_boot_from_uploaded_images_only(api: TestClient, flavor_id: str) -> None:
    image_id = create(api, DEMO).json["id"]

    def boot(headers: dict[str, str]) -> Result:
        server = {"name": "vm", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}
        return api.simulate_post("/v2.1/servers", json={"server": server}, headers={**LATEST, **headers})

    assert error(boot(DEMO)) == (400, f"Image {image_id} is not active.")
    upload(api, image_id, b"bootable", DEMO)
    assert boot(DEMO).status_code == 202
    assert error(boot(OTHER)) == (400, f"Image {image_id} could not be found.")
    api.simulate_delete(f"/image/v2/images/{image_id}", headers=DEMO)
    assert error(boot(DEMO)) == (400, f"Image {image_id} could not be found.")


# --- refused requests write nothing -----------------------------------------------------------


BAD_CREATES = [
    ("not json", 400, "Malformed request body"),
    ("[1, 2]", 400, "Provided object does not match schema 'image': [1, 2] is not of type 'object'"),
    (
        {"disk_format": "qcow3"},
        400,
        "Provided object does not match schema 'image': 'qcow3' is not one of [None, 'ami', 'ari', 'aki', 'vhd', "
        "'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']",
    ),
    ({"container_format": 7}, 400, "Provided object does not match schema 'image': 7 is not one of"),
    ({"id": "not-a-uuid"}, 400, "Provided object does not match schema 'image': 'not-a-uuid' does not match"),
    ({"min_ram": -1}, 400, "Invalid value '-1' for parameter 'min_ram': Cannot be a negative value"),
    ({"min_disk": "1"}, 400, "Provided object does not match schema 'image': '1' is not of type 'integer'"),
    ({"protected": "yes"}, 400, "Provided object does not match schema 'image': 'yes' is not of type 'boolean'"),
    ({"visibility": "everyone"}, 400, "Provided object does not match schema 'image': 'everyone' is not one of"),
    ({"tags": ["x" * 256]}, 400, f"Provided object does not match schema 'image': '{'x' * 256}' is too long"),
    ({"name": "x" * 256}, 400, f"Provided object does not match schema 'image': '{'x' * 256}' is too long"),
    ({"os_distro": 1}, 400, "Provided object does not match schema 'image': 1 is not of type 'string'"),
    ({"k" * 256: "v"}, 400, "Custom property should not be greater than 255 characters."),
    ({"status": "active"}, 403, "Attribute 'status' is read-only."),
    ({"size": 5}, 403, "Attribute 'size' is read-only."),
    ({"self": "/x"}, 403, "Attribute 'self' is read-only."),
    ({"os_glance_import_task": "x"}, 403, "Attribute 'os_glance_import_task' is reserved."),
    ({"deleted": "x"}, 403, "Attribute 'deleted' is reserved."),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_CREATES)
def test_bad_creates_record_nothing(api: TestClient, cloud: Cloud, body: Any, status: int, message: str) -> None:
    before = cloud.recorder.max_notification_id()
    raw = body if isinstance(body, str) else json.dumps({"name": "img", **body})

    result = api.simulate_post("/image/v2/images", body=raw, headers=DEMO)

    assert result.status_code == status
    assert error(result)[1].startswith(message)
    assert cloud.recorder.max_notification_id() == before


def test_an_image_id_is_taken_once(api: TestClient) -> None:
    image_id = str(uuid.uuid4())
    assert create(api, DEMO, id=image_id).json["id"] == image_id
    api.simulate_delete(f"/image/v2/images/{image_id}", headers=DEMO)

    assert error(create(api, DEMO, id=image_id)) == (409, f"Image ID {image_id} already exists!")


BAD_PATCHES = [
    ({"op": "replace"}, 400, "Request body must be a JSON array of operation objects."),
    ([1], 400, "Operations must be JSON objects."),
    ([{"op": "move", "path": "/name"}], 400, "Invalid operation: `move`."),
    ([{"path": "/name", "value": "x"}], 400, "Unable to find `op` in JSON Schema change."),
    ([{"op": "replace", "path": "name", "value": "x"}], 400, 'Pointer `name` does not start with "/".'),
    ([{"op": "replace", "path": "/name"}], 400, 'Operation "replace" requires a member named "value".'),
    ([{"op": "add", "path": "/a/b", "value": "x"}], 400, "Invalid JSON pointer for this resource: '/a/b'"),
    ([{"op": "replace", "path": "/min_ram", "value": -5}], 400, "Invalid value '-5' for parameter 'min_ram'"),
    ([{"op": "replace", "path": "/disk_format", "value": "x"}], 400, "Provided object does not match schema"),
    ([{"op": "add", "path": "/extra", "value": 1}], 400, "Provided object does not match schema 'image': 1 is"),
    ([{"op": "replace", "path": "/status", "value": "active"}], 403, "Attribute 'status' is read-only."),
    ([{"op": "replace", "path": "/checksum", "value": "x"}], 403, "Attribute 'checksum' is read-only."),
    ([{"op": "remove", "path": "/name"}], 403, "Property name may not be removed."),
    ([{"op": "replace", "path": "/owner", "value": "demo"}], 403, "Owner can't be updated by non admin."),
    ([{"op": "remove", "path": "/nothing"}], 409, "Property nothing does not exist."),
    ([{"op": "replace", "path": "/nothing", "value": "x"}], 409, "Property nothing does not exist."),
    # All or nothing: the valid first change is not kept either.
    ([{"op": "replace", "path": "/name", "value": "y"}, {"op": "remove", "path": "/nothing"}], 409, "Property"),
]


@pytest.mark.parametrize(("ops", "status", "message"), BAD_PATCHES)
def test_bad_patches_record_nothing(api: TestClient, cloud: Cloud, ops: Any, status: int, message: str) -> None:
    image_id = create(api, DEMO).json["id"]
    before = cloud.recorder.max_notification_id()

    result = patch(api, image_id, ops, DEMO)

    assert result.status_code == status
    assert error(result)[1].startswith(message)
    assert cloud.recorder.max_notification_id() == before
    assert cloud.image(uuid.UUID(image_id)).name == "img"


def test_requests_of_the_wrong_media_type_record_nothing(api: TestClient, cloud: Cloud) -> None:
    image_id = create(api, DEMO).json["id"]
    before = cloud.recorder.max_notification_id()

    as_json = api.simulate_patch(f"/image/v2/images/{image_id}", json=[], headers=DEMO)
    as_text = api.simulate_put(
        f"/image/v2/images/{image_id}/file", body=b"data", headers={**DEMO, "Content-Type": "text/plain"}
    )

    assert as_json.status_code == 415 and "Image PATCH expects Content-Type one of" in error(as_json)[1]
    assert as_json.headers["Accept-Patch"].startswith("application/openstack-images-v2.0-json-patch")
    assert error(as_text) == (415, "Invalid content type text/plain")
    assert cloud.recorder.max_notification_id() == before


def test_data_needs_both_formats_first(api: TestClient, cloud: Cloud, image_files: Path) -> None:
    image_id = create(api, DEMO, disk_format=None, container_format=None).json["id"]
    before = cloud.recorder.max_notification_id()

    result = upload(api, image_id, b"data", DEMO)

    assert error(result) == (400, "Properties disk_format, container_format must be set prior to saving data.")
    assert cloud.recorder.max_notification_id() == before
    assert not image_files.exists() or list(image_files.iterdir()) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort_key": "owner"}, "Invalid sort key: owner. It must be one of the following: name, status,"),
        ({"sort_dir": "up"}, "Invalid sort direction: up"),
        ({"sort": "name:asc", "sort_key": "id"}, "Old and new sorting syntax cannot be combined"),
        ({"limit": "x"}, "limit param must be an integer"),
        ({"limit": "-1"}, "limit param must be positive"),
        ({"visibility": "hidden"}, "Invalid visibility value: hidden"),
        ({"name": "like:x"}, "Unable to filter by unknown operator 'like'."),
        ({"size_min": "big"}, "Unable to filter on a range with a non-numeric value."),
        ({"created_at": "gt:yesterday"}, 'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'),
        ({"os_hidden": "maybe"}, "Invalid value 'maybe' for 'os_hidden' filter."),
        ({"marker": str(uuid.UUID(int=1))}, f"No image found with ID {uuid.UUID(int=1)}"),
    ],
)
def test_bad_listings_are_refused(
    api: TestClient, catch_up: Callable[[], None], params: dict[str, str], message: str
) -> None:
    catch_up()

    result = api.simulate_get("/image/v2/images", params=params, headers=DEMO)

    assert result.status_code == 400
    assert error(result)[1].startswith(message)


# --- the file store and the view on their own ---------------------------------------------------


class _Broken(io.RawIOBase):
    """A client that goes away after the first chunk."""

    def __init__(self) -> None:
        self._sent = False

    def read(self, size: int = -1) -> bytes:
        if self._sent:
            raise ConnectionResetError("client went away")
        self._sent = True
        return b"x" * 1000


def test_a_failed_upload_leaves_no_file(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "images")

    with pytest.raises(ConnectionResetError):
        files.write(uuid.uuid4(), _Broken(), None)
    with pytest.raises(IncompleteUpload):
        files.write(uuid.uuid4(), io.BytesIO(b"short"), 10)

    assert list((tmp_path / "images").iterdir()) == []


def test_replayed_image_events_change_nothing(cloud: Cloud, views: ViewStore, api: TestClient) -> None:
    image_id = create(api, DEMO, tags=["a"], os_distro="cirros").json["id"]
    projection = ImagesProjection()
    messages = [
        EventMessage.from_domain_event(notification.id, cloud.mapper.to_domain_event(notification))
        for notification in cloud.recorder.select_notifications(0, 10)
    ]

    for _ in range(2):
        views.write([], [statement for message in messages for statement in projection.statements(message)])

    assert len(views.query("SELECT * FROM images WHERE id = %(id)s", {"id": image_id})) == 1
    assert views.query("SELECT tag FROM image_tags") == [{"tag": "a"}]
    assert views.query("SELECT name, value FROM image_properties") == [{"name": "os_distro", "value": "cirros"}]
