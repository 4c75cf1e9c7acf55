"""os-keypairs through the HTTP apps: import, generation, listing, deletion, per
microversion; each user's keypairs apart; refusals that record nothing."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from falcon.testing import TestClient

from chronova.cloud import Cloud
from domain.keypair import Keypair, keypair_id
from tests.unit.conftest import DEMO, LATEST, OTHER

V2_1 = {"OpenStack-API-Version": "compute 2.1"}
V2_2 = {"OpenStack-API-Version": "compute 2.2"}
V2_9 = {"OpenStack-API-Version": "compute 2.9"}
V2_10 = {"OpenStack-API-Version": "compute 2.10"}
V2_35 = {"OpenStack-API-Version": "compute 2.35"}
V2_91 = {"OpenStack-API-Version": "compute 2.91"}
V2_92 = {"OpenStack-API-Version": "compute 2.92"}


def ssh_key(kind: str = "rsa") -> str:
    private: Any = {
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
    }[kind]()
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode()} alice@laptop"


def md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def error(result: Any) -> tuple[int, str, str]:
    ((name, detail),) = result.json.items()
    assert detail["code"] == result.status_code
    return result.status_code, name, detail["message"]


@pytest.fixture
def post(client: TestClient) -> Callable[..., Any]:
    def post(keypair: Any, version: dict[str, str] = LATEST, who: dict[str, str] | None = None) -> Any:
        return client.simulate_post("/v2.1/os-keypairs", json={"keypair": keypair}, headers={**version, **(who or {})})

    return post


def get(client: TestClient, path: str, version: dict[str, str] = LATEST, who: dict[str, str] | None = None) -> Any:
    return client.simulate_get(f"/v2.1/{path}", headers={**version, **(who or {})})


def recorded(cloud: Cloud) -> int:
    return cloud.recorder.max_notification_id() or 0


# --- import, show, list, delete ----------------------------------------------------------------


def test_import_list_show_and_delete(
    client: TestClient, cloud: Cloud, post: Callable[..., Any], catch_up: Callable[[], None]
) -> None:
    public_key = ssh_key()

    created = post({"name": "k1", "public_key": public_key}, who=DEMO)

    assert created.status_code == 201, created.text
    assert created.json["keypair"] == {
        "name": "k1",
        "public_key": public_key,
        "fingerprint": md5_fingerprint(public_key),
        "user_id": "alice",
        "type": "ssh",
    }
    catch_up()
    listed = get(client, "os-keypairs", who=DEMO)
    assert listed.json == {
        "keypairs": [
            {
                "keypair": {
                    "name": "k1",
                    "public_key": public_key,
                    "fingerprint": md5_fingerprint(public_key),
                    "type": "ssh",
                }
            }
        ]
    }
    shown = get(client, "os-keypairs/k1", who=DEMO).json["keypair"]
    assert set(shown) == {
        "name",
        "public_key",
        "fingerprint",
        "user_id",
        "type",
        "id",
        "created_at",
        "deleted",
        "deleted_at",
        "updated_at",
    }
    assert (shown["user_id"], shown["deleted"], shown["deleted_at"], shown["updated_at"]) == (
        "alice",
        False,
        None,
        None,
    )
    assert isinstance(shown["id"], int) and len(shown["created_at"]) == len("2014-05-07T12:06:13.681238")

    deleted = client.simulate_delete("/v2.1/os-keypairs/k1", headers={**LATEST, **DEMO})

    assert deleted.status_code == 204 and deleted.text == ""
    catch_up()
    assert error(get(client, "os-keypairs/k1", who=DEMO)) == (
        404,
        "itemNotFound",
        "Keypair k1 not found for user alice",
    )
    assert get(client, "os-keypairs", who=DEMO).json == {"keypairs": []}
    again = client.simulate_delete("/v2.1/os-keypairs/k1", headers={**LATEST, **DEMO})
    assert error(again) == (404, "itemNotFound", "Keypair k1 not found for user alice")


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "ecdsa"])
def test_each_ssh_key_kind_imports_with_novas_md5_fingerprint(post: Callable[..., Any], kind: str) -> None:
    public_key = ssh_key(kind)

    created = post({"name": f"key-{kind}", "public_key": public_key})

    assert created.status_code == 201, created.text
    assert created.json["keypair"]["fingerprint"] == md5_fingerprint(public_key)


def test_status_codes_and_shapes_per_microversion(
    client: TestClient, post: Callable[..., Any], catch_up: Callable[[], None]
) -> None:
    old = post({"name": "old", "public_key": ssh_key()}, version=V2_1)
    assert old.status_code == 200 and set(old.json["keypair"]) == {"name", "public_key", "fingerprint", "user_id"}
    catch_up()
    assert "type" not in get(client, "os-keypairs/old", version=V2_1).json["keypair"]
    assert client.simulate_delete("/v2.1/os-keypairs/old", headers=V2_1).status_code == 202

    new = post({"name": "new", "public_key": ssh_key(), "type": "ssh"}, version=V2_2)
    assert new.status_code == 201 and new.json["keypair"]["type"] == "ssh"
    assert client.simulate_delete("/v2.1/os-keypairs/new", headers=V2_2).status_code == 204


def test_a_name_is_taken_until_its_keypair_is_deleted(
    client: TestClient, cloud: Cloud, post: Callable[..., Any]
) -> None:
    assert post({"name": "k1", "public_key": ssh_key()}).status_code == 201
    before = recorded(cloud)

    duplicate = post({"name": "k1", "public_key": ssh_key()})

    assert error(duplicate) == (409, "conflictingRequest", "Key pair 'k1' already exists.")
    assert recorded(cloud) == before
    assert client.simulate_delete("/v2.1/os-keypairs/k1", headers=LATEST).status_code == 204
    replacement = ssh_key()
    assert post({"name": "k1", "public_key": replacement}).status_code == 201
    assert cloud.load(keypair_id("admin", "k1"), Keypair).public_key == replacement


# --- generation ----------------------------------------------------------------------------


def test_generated_below_2_92_the_private_key_is_returned_once_and_never_recorded(
    client: TestClient, cloud: Cloud, post: Callable[..., Any], catch_up: Callable[[], None]
) -> None:
    created = post({"name": "gen"}, version=V2_91, who=DEMO)

    assert created.status_code == 201, created.text
    body = created.json["keypair"]
    assert body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert body["public_key"].startswith("ssh-rsa ") and body["public_key"].endswith(" Generated-by-Nova")
    assert body["fingerprint"] == md5_fingerprint(body["public_key"])
    private = serialization.load_pem_private_key(body["private_key"].encode(), password=None)
    derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert body["public_key"].startswith(derived.decode())
    # No part of the secret is in the store: not in any event, not in any view.
    secret_lines = [line for line in body["private_key"].splitlines() if not line.startswith("-----")]
    stored = b"".join(n.state for n in cloud.recorder.select_notifications(0, 10_000))
    assert stored and not any(line.encode() in stored for line in secret_lines)
    catch_up()
    assert "private_key" not in get(client, "os-keypairs/gen", who=DEMO).json["keypair"]


def test_from_2_92_a_public_key_is_required(cloud: Cloud, post: Callable[..., Any]) -> None:
    before = recorded(cloud)

    refused = post({"name": "gen"}, version=V2_92)

    assert error(refused) == (
        400,
        "badRequest",
        "Invalid input for field/attribute keypair. 'public_key' is a required property",
    )
    assert recorded(cloud) == before


def test_x509_certificates_are_generated_and_imported_with_a_sha1_fingerprint(post: Callable[..., Any]) -> None:
    created = post({"name": "winrm", "type": "x509"}, version=V2_2, who=DEMO)

    assert created.status_code == 201, created.text
    body = created.json["keypair"]
    certificate = x509.load_pem_x509_certificate(body["public_key"].encode())
    assert body["fingerprint"] == certificate.fingerprint(hashes.SHA1()).hex(":")
    key, bundled, _ = pkcs12.load_key_and_certificates(base64.b64decode(body["private_key"]), None)
    assert bundled == certificate and key is not None
    imported = post({"name": "again", "type": "x509", "public_key": body["public_key"]}, version=V2_2)
    assert imported.status_code == 201 and imported.json["keypair"]["fingerprint"] == body["fingerprint"]


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keypair", "version", "message"),
    [
        (
            {"name": "k", "public_key": "ssh-rsa bm90IGEga2V5"},
            LATEST,
            "Keypair data is invalid: failed to generate fingerprint",
        ),
        ({"name": "k", "public_key": "not a key"}, LATEST, "Keypair data is invalid: failed to generate fingerprint"),
        (
            {"name": "a!b", "public_key": "x"},
            V2_91,
            "Invalid input for field/attribute name. Value: \"a!b\". 'a!b' does not match '^[_\\\\- a-zA-Z0-9]+$'",
        ),
        ({"name": "me@host.example", "public_key": "x"}, V2_91, None),
        ({"name": " padded", "public_key": "x"}, LATEST, None),
        ({"name": "", "public_key": "x"}, LATEST, None),
        ({"name": "k" * 256, "public_key": "x"}, LATEST, None),
        ({"public_key": "x"}, LATEST, "Invalid input for field/attribute keypair. 'name' is a required property"),
        (
            {"name": "k", "type": "ssh"},
            V2_1,
            "Invalid input for field/attribute keypair. Additional properties are not allowed ('type' was unexpected)",
        ),
        ({"name": "k", "user_id": "bob"}, V2_9, None),
        (
            {"name": "k", "type": "pgp"},
            V2_91,
            "Invalid input for field/attribute type. Value: \"pgp\". 'pgp' is not one of ['ssh', 'x509']",
        ),
        ({"name": "k", "public_key": ssh_key(), "extra": 1}, LATEST, None),
        ({"name": "k", "public_key": 42}, LATEST, None),
    ],
)
def test_bad_requests_are_refused_and_record_nothing(
    cloud: Cloud, post: Callable[..., Any], keypair: dict[str, Any], version: dict[str, str], message: str | None
) -> None:
    before = recorded(cloud)

    refused = post(keypair, version=version)

    status, name, text = error(refused)
    assert (status, name) == (400, "badRequest")
    if message is not None:
        assert text == message
    assert recorded(cloud) == before


def test_2_92_names_may_hold_at_signs_and_dots(post: Callable[..., Any]) -> None:
    created = post({"name": "me.and.myself@this.nice.domain.com mooh.", "public_key": ssh_key()}, version=V2_92)

    assert created.status_code == 201, created.text


def test_unknown_query_parameters_are_refused_from_2_75(client: TestClient) -> None:
    assert get(client, "os-keypairs?foo=1", version={"OpenStack-API-Version": "compute 2.74"}).status_code == 200
    refused = get(client, "os-keypairs?foo=1")
    assert error(refused) == (400, "badRequest", "Additional properties are not allowed ('foo' was unexpected)")


# --- users apart -----------------------------------------------------------------------------


def test_each_user_sees_and_deletes_only_their_own_keypairs(
    client: TestClient, cloud: Cloud, post: Callable[..., Any], catch_up: Callable[[], None]
) -> None:
    assert post({"name": "k1", "public_key": ssh_key()}, who=DEMO).status_code == 201
    catch_up()

    assert get(client, "os-keypairs", who=OTHER).json == {"keypairs": []}
    assert error(get(client, "os-keypairs/k1", who=OTHER)) == (404, "itemNotFound", "Keypair k1 not found for user bob")
    deleted = client.simulate_delete("/v2.1/os-keypairs/k1", headers={**LATEST, **OTHER})
    assert error(deleted) == (404, "itemNotFound", "Keypair k1 not found for user bob")
    peek = get(client, "os-keypairs/k1?user_id=alice", who=OTHER)
    assert error(peek) == (403, "forbidden", "Policy doesn't allow os_compute_api:os-keypairs:show to be performed.")
    listed = get(client, "os-keypairs?user_id=alice", who=OTHER)
    assert error(listed) == (403, "forbidden", "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")
    steal = client.simulate_delete("/v2.1/os-keypairs/k1?user_id=alice", headers={**LATEST, **OTHER})
    assert error(steal) == (403, "forbidden", "Policy doesn't allow os_compute_api:os-keypairs:delete to be performed.")
    assert not cloud.load(keypair_id("alice", "k1"), Keypair).deleted
    # An admin names the user from 2.10; before it, the parameter means nothing.
    assert get(client, "os-keypairs/k1?user_id=alice", version=V2_10).json["keypair"]["user_id"] == "alice"
    assert get(client, "os-keypairs/k1?user_id=alice", version=V2_9).status_code == 404


def test_from_2_10_an_admin_creates_a_keypair_for_another_user(
    client: TestClient, cloud: Cloud, post: Callable[..., Any]
) -> None:
    created = post({"name": "for-alice", "public_key": ssh_key(), "user_id": "alice"}, version=V2_10)

    assert created.status_code == 201 and created.json["keypair"]["user_id"] == "alice"
    assert cloud.load(keypair_id("alice", "for-alice"), Keypair).user_id == "alice"
    refused = post({"name": "for-alice", "public_key": ssh_key(), "user_id": "alice"}, version=V2_10, who=OTHER)
    assert error(refused) == (
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-keypairs:create to be performed.",
    )


# --- listing pages and quota -----------------------------------------------------------------


def test_from_2_35_keypairs_list_in_pages_by_name(
    client: TestClient, post: Callable[..., Any], catch_up: Callable[[], None]
) -> None:
    for name in ("charlie", "alpha", "bravo"):
        assert post({"name": name, "public_key": ssh_key()}, who=DEMO).status_code == 201
    catch_up()

    first = get(client, "os-keypairs?limit=2", version=V2_35, who=DEMO).json

    assert [item["keypair"]["name"] for item in first["keypairs"]] == ["alpha", "bravo"]
    assert first["keypairs_links"] == [
        {"rel": "next", "href": "http://falconframework.org/v2.1/os-keypairs?limit=2&marker=bravo"}
    ]
    rest = get(client, "os-keypairs?limit=2&marker=bravo", version=V2_35, who=DEMO).json
    assert rest == {"keypairs": [{"keypair": rest["keypairs"][0]["keypair"]}]}
    assert rest["keypairs"][0]["keypair"]["name"] == "charlie"
    unknown = get(client, "os-keypairs?marker=zulu", version=V2_35, who=DEMO)
    assert error(unknown) == (400, "badRequest", "Marker zulu could not be found.")
    # Before 2.35 paging parameters mean nothing.
    assert len(get(client, "os-keypairs?limit=1", version=V2_2, who=DEMO).json["keypairs"]) == 3


def test_key_pairs_quota_counts_a_users_keypairs(
    client: TestClient, cloud: Cloud, post: Callable[..., Any], catch_up: Callable[[], None]
) -> None:
    put = client.simulate_put("/v2.1/os-quota-sets/demo", json={"quota_set": {"key_pairs": 1}}, headers=LATEST)
    assert put.status_code == 200, put.text
    catch_up()
    assert post({"name": "first", "public_key": ssh_key()}, who=DEMO).status_code == 201
    catch_up()
    before = recorded(cloud)

    refused = post({"name": "second", "public_key": ssh_key()}, who=DEMO)

    assert error(refused) == (403, "forbidden", "Quota exceeded, too many key pairs.")
    assert recorded(cloud) == before
