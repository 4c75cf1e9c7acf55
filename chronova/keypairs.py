"""Keypair use cases, and the key material they need: Nova's fingerprints of
imported public keys, and generated keys for clients below 2.92.

A generated private key goes back to the caller once, in the response; it is
never put in an event, which would keep it forever and publish it on the bus.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from chronova.quotas import ensure_within
from domain.commands import RequestContext
from domain.errors import AlreadyExists, NotFound
from domain.keypair import SSH, Keypair, already_exists_message, keypair_id, not_found_message
from projections.keypairs import keypairs_of_user
from projections.views import ViewStore

KEY_BITS = 2048
TOO_MANY_KEYPAIRS = "Quota exceeded, too many key pairs."
_USER_PRINCIPAL_NAME = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # what WinRM matches a certificate's user by


class InvalidKey(ValueError):
    """Key material Nova would refuse; the message is Nova's."""


@dataclass(frozen=True)
class KeyMaterial:
    public_key: str
    fingerprint: str
    private_key: str | None = None  # only for a generated key


def imported(public_key: str, key_type: str) -> KeyMaterial:
    """A public key (ssh) or PEM certificate (x509) the client sent, with its fingerprint, or InvalidKey."""
    fingerprint = ssh_fingerprint(public_key) if key_type == SSH else x509_fingerprint(public_key)
    return KeyMaterial(public_key=public_key, fingerprint=fingerprint)


def ssh_fingerprint(public_key: str) -> str:
    """Nova's fingerprint: MD5 of the key blob, as colon-separated hex pairs."""
    try:
        serialization.load_ssh_public_key(public_key.encode())
        blob = base64.b64decode(public_key.split(" ")[1])
    except (ValueError, IndexError, UnsupportedAlgorithm):
        raise InvalidKey("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(certificate: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode())
    except ValueError as e:
        raise InvalidKey(f"Keypair data is invalid: failed to generate X509 fingerprint. Error message: {e}") from None
    return _colon_hex(cert.fingerprint(hashes.SHA1()))  # Nova fingerprints certificates with SHA-1


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in digest)


def generated(key_type: str, user_id: str) -> KeyMaterial:
    """A new RSA key: ssh gives an OpenSSH public key and a PEM private key; x509
    a self-signed client certificate and the base64 PKCS#12 bundle holding its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    if key_type == SSH:
        public_key = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        private_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        public_text = f"{public_key.decode()} Generated-by-Nova"
        return KeyMaterial(public_text, ssh_fingerprint(public_text), private_key.decode())
    certificate = _client_certificate(key, user_id)
    bundle = pkcs12.serialize_key_and_certificates(None, key, certificate, None, serialization.NoEncryption())
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return KeyMaterial(pem, x509_fingerprint(pem), base64.b64encode(bundle).decode())


def _client_certificate(key: rsa.RSAPrivateKey, user_id: str) -> x509.Certificate:
    # A common name holds at most 64 bytes; the principal name below keeps the whole user id.
    common_name = user_id.encode()[:64].decode(errors="ignore") or "-"
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    upn = f"{user_id}@localhost"
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.OtherName(_USER_PRINCIPAL_NAME, _der_utf8_string(upn))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def _der_utf8_string(text: str) -> bytes:
    """An otherName holds its value DER-encoded: here a UTF8String (tag 0x0c)."""
    data = text.encode()
    if len(data) < 0x80:
        return bytes([0x0C, len(data)]) + data
    size = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return bytes([0x0C, 0x80 | len(size)]) + size + data


# --- use cases ----------------------------------------------------------------------------


def create_keypair(
    cloud: Cloud,
    views: ViewStore,
    ctx: RequestContext,
    *,
    user_id: str,
    name: str,
    key_type: str,
    key: KeyMaterial | None,
) -> tuple[Keypair, KeyMaterial]:
    """Import `key`, or generate one when it is None. Nova counts key_pairs per
    user, against the limit of the project the request is made in."""
    ensure_within(
        cloud, ctx.project_id, "key_pairs", lambda: keypairs_of_user(views, user_id), 1, message=TOO_MANY_KEYPAIRS
    )
    material = key or generated(key_type, user_id)
    fields = {"key_type": key_type, "public_key": material.public_key, "fingerprint": material.fingerprint}
    try:
        keypair = cloud.load(keypair_id(user_id, name), Keypair)
    except NotFound:
        keypair = Keypair(user_id=user_id, name=name, request_id=ctx.request_id, **fields)
    else:
        keypair.recreate(request_id=ctx.request_id, **fields)
    try:
        cloud.save(keypair)
    except IntegrityError:
        raise AlreadyExists(already_exists_message(name)) from None
    return keypair, material


def delete_keypair(cloud: Cloud, ctx: RequestContext, *, user_id: str, name: str) -> None:
    keypair = cloud.load(keypair_id(user_id, name), Keypair, not_found_message(user_id, name))
    keypair.delete(request_id=ctx.request_id)
    cloud.save(keypair)
