"""Reading the audit log (filters, JSON-lines export) and what it must never contain.

The hygiene test scans every file of a vault directory and an exported audit log for secret
values, key material, client secrets (good and bad attempts) and the vault passphrase, in
every encoding a careless serialiser could have used.
"""

from __future__ import annotations

import base64
import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from accesshelpers import grant
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from vaultcore import (
    KDF_TESTING,
    CertificatePolicy,
    ForbiddenError,
    KeyCurveName,
    KeyType,
    PassphraseCredential,
    UnauthorizedError,
    Vault,
)
from vaultcore.testing import FakeClock


def test_events_filter_by_time_principal_and_operation(vault_path: Path) -> None:
    clock = FakeClock()
    vault = Vault.create(vault_path, PassphraseCredential("pw", kdf=KDF_TESTING), clock=clock, access_kdf=KDF_TESTING)
    try:
        start = clock.now
        vault.secrets.set_secret("a", "1")  # t0
        clock.advance(minutes=10)
        middle = clock.now
        reader = grant(vault, "Key Vault Reader", client_id="reader")  # t0+10
        list(reader.secrets.list_properties_of_secrets())
        with pytest.raises(ForbiddenError):
            reader.secrets.get_secret("a")
        clock.advance(minutes=10)
        end = clock.now
        vault.secrets.get_secret("a")  # t0+20

        everything = vault.audit.events()
        assert [e.seq for e in everything] == list(range(1, len(everything) + 1))
        assert all(e.time.tzinfo is not None for e in everything)

        early = vault.audit.events(until=start + timedelta(minutes=1))
        assert {e.operation for e in early} == {"VaultCreate", "SecretSet"}
        window = vault.audit.events(since=middle, until=middle)  # bounds are inclusive
        assert {e.operation for e in window} == {
            "PrincipalCreate",
            "RoleAssignmentCreate",
            "SecretList",
            "SecretGet",
        }
        assert [e.operation for e in vault.audit.events(since=end, operation="SecretGet")] == ["SecretGet"]
        by_reader = vault.audit.events(principal="app:reader")
        assert [(e.operation, e.result) for e in by_reader] == [("SecretList", "success"), ("SecretGet", "Forbidden")]
        gets = vault.audit.events(operation="SecretGet")
        assert [(e.principal, e.result) for e in gets] == [("app:reader", "Forbidden"), ("admin", "success")]
        assert vault.audit.events(principal="app:nobody") == []
        assert vault.audit.events(since=end + timedelta(seconds=1), operation="SecretSet") == []
    finally:
        vault.close()


def test_event_fields(vault: Vault) -> None:
    made = vault.secrets.set_secret("field-test", "v")
    vault.secrets.get_secret("field-test")
    get = vault.audit.events(operation="SecretGet")[-1]
    assert get.principal == "admin"
    assert get.object_id == f"/secrets/field-test/{made.properties.version}"
    assert get.result == "success"
    assert get.request_id and get.request_id != vault.audit.events(operation="SecretSet")[-1].request_id
    assert get.caller["pid"] == os.getpid()
    assert len(get.mac) == 64 and get.term >= 1


def test_export_writes_json_lines(vault: Vault) -> None:
    vault.secrets.set_secret("e", "v")
    vault.secrets.get_secret("e")
    out = io.StringIO()
    count = vault.audit.export(out)
    lines = out.getvalue().splitlines()
    assert count == len(lines) >= 3
    records = [json.loads(line) for line in lines]
    assert set(records[0]) == {
        "seq",
        "time",
        "principal",
        "operation",
        "object_id",
        "result",
        "request_id",
        "caller",
        "term",
        "mac",
    }
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    assert records[0]["operation"] == "VaultCreate"

    only_sets = io.StringIO()
    assert vault.audit.export(only_sets, operation="SecretSet") == 1
    assert json.loads(only_sets.getvalue())["object_id"].startswith("/secrets/e/")
    assert vault.audit.events(operation="AuditExport")[-1].result == "success"


def _forms(data: bytes) -> list[bytes]:
    """*data* as a careless serialiser could have written it."""
    return [
        data,
        data.hex().encode(),
        data.hex().upper().encode(),
        base64.b64encode(data).rstrip(b"="),
        base64.urlsafe_b64encode(data).rstrip(b"="),
    ]


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def test_no_secret_value_key_material_credential_or_passphrase_at_rest(tmp_path: Path) -> None:
    passphrase = "correct horse " + os.urandom(8).hex()
    secret_value = "s3cr3t-" + os.urandom(16).hex()
    oct_key = os.urandom(32)
    ec_private = ec.generate_private_key(ec.SECP256R1())
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong_secret = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()

    def b64u(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    path = tmp_path / "vault"
    vault = Vault.create(
        path,
        PassphraseCredential(passphrase, kdf=KDF_TESTING),
        allow_software_oct_keys=True,
        access_kdf=KDF_TESTING,
        audit="sync",
    )
    try:
        vault.secrets.set_secret("db-password", secret_value)
        assert vault.secrets.get_secret("db-password").value == secret_value
        vault.secrets.backup_secret("db-password")
        vault.keys.import_key("oct", {"kty": "oct", "k": b64u(oct_key), "key_ops": ["encrypt", "decrypt", "wrapKey"]})
        vault.keys.get_cryptography_client("oct").encrypt("A256GCM", b"hello")
        ec_numbers = ec_private.private_numbers()
        vault.keys.import_key(
            "ec",
            {
                "kty": "EC",
                "crv": "P-256",
                "x": b64u(ec_numbers.public_numbers.x.to_bytes(32, "big")),
                "y": b64u(ec_numbers.public_numbers.y.to_bytes(32, "big")),
                "d": b64u(ec_numbers.private_value.to_bytes(32, "big")),
            },
        )
        vault.keys.get_cryptography_client("ec").sign("ES256", hashes.Hash(hashes.SHA256()).finalize())
        rsa_numbers = rsa_private.private_numbers()
        vault.keys.import_key(
            "rsa",
            {
                "kty": "RSA",
                "n": b64u(_int_bytes(rsa_numbers.public_numbers.n)),
                "e": b64u(_int_bytes(rsa_numbers.public_numbers.e)),
                "d": b64u(_int_bytes(rsa_numbers.d)),
                "p": b64u(_int_bytes(rsa_numbers.p)),
                "q": b64u(_int_bytes(rsa_numbers.q)),
                "dp": b64u(_int_bytes(rsa_numbers.dmp1)),
                "dq": b64u(_int_bytes(rsa_numbers.dmq1)),
                "qi": b64u(_int_bytes(rsa_numbers.iqmp)),
            },
        )
        vault.certificates.create_certificate(
            "tls",
            CertificatePolicy("Self", subject="CN=tls", key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256),
        )
        pfx = base64.b64decode(vault.secrets.get_secret("tls").value)
        cert_key, _, _ = pkcs12.load_key_and_certificates(pfx, None)
        assert isinstance(cert_key, ec.EllipticCurvePrivateKey)
        cert_d = cert_key.private_numbers().private_value.to_bytes(32, "big")

        app = vault.access.create_application("scanner")
        vault.access.assign_role(app.principal.id, "Key Vault Secrets User")
        assert vault.as_principal("scanner", app.client_secret).secrets.get_secret("db-password").value
        with pytest.raises(UnauthorizedError):
            vault.as_principal("scanner", wrong_secret)
        rotated = vault.access.rotate_secret("scanner")

        export = tmp_path / "audit.jsonl"
        with export.open("w") as fp:
            assert vault.audit.export(fp) > 10
        assert vault.audit.verify().ok
    finally:
        vault.close()

    needles: dict[str, list[bytes]] = {
        "secret value": [secret_value.encode()],
        "passphrase": [passphrase.encode()],
        "client secret": [app.client_secret.encode(), rotated.client_secret.encode()],
        "rejected client secret": [wrong_secret.encode()],
        "oct key": _forms(oct_key),
        "EC private d": _forms(ec_numbers.private_value.to_bytes(32, "big")),
        "RSA private d": _forms(_int_bytes(rsa_numbers.d)),
        "RSA prime p": _forms(_int_bytes(rsa_numbers.p)),
        "certificate key d": _forms(cert_d),
        "PFX": [pfx[:48], base64.b64encode(pfx)[:64]],
        "private key PEM": [
            ec_private.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ],
    }
    files = [p for p in path.rglob("*") if p.is_file()] + [export]
    assert any(p.name == "data.mdb" for p in files)
    for file in files:
        content = file.read_bytes()
        for what, forms in needles.items():
            for form in forms:
                assert form not in content, f"{what} found in {file.name}"
    exported = export.read_text()
    assert "db-password" in exported  # names are fine in an export; values are not


def test_freed_heap_memory_never_reaches_the_vault_file(tmp_path: Path) -> None:
    """LMDB fills the unused part of a fresh page from malloc'd memory unless told to zero
    it (``meminit``): freed plaintext (a PFX, a private key) would land in the file."""
    path = tmp_path / "vault"
    vault = Vault.create(path, PassphraseCredential("pw", kdf=KDF_TESTING))
    marker = b"FREED-HEAP-" + os.urandom(8).hex().encode()
    try:
        for i in range(40):
            junk = [bytearray(marker * (4096 // len(marker) + 1)) for _ in range(64)]
            del junk  # freed: the next pages LMDB mallocs may reuse this memory
            vault.secrets.set_secrets({f"s{i}-{j}": "x" * 200 for j in range(20)})
    finally:
        vault.close()
    for file in path.iterdir():
        assert marker not in file.read_bytes(), f"freed heap memory written to {file.name}"
