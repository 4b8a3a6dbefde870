"""``vaultcore key ...`` through click's CliRunner."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from clihelpers import Cli
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def kcli(tmp_path: Path) -> Cli:
    runner = Cli({"VAULTCORE_VAULT": str(tmp_path / "kv"), "VAULTCORE_KEY_FILE": str(tmp_path / "kv.key")})
    runner.ok("init", "--allow-software-oct-keys", "--retention-days", "7")
    return runner


def test_create_get_list_versions_rotate(kcli: Cli) -> None:
    created = kcli.json("key", "create", "signing", "--kty", "EC", "--curve", "P-256", "-t", "team=a")
    assert created["key"]["kty"] == "EC" and created["key"]["crv"] == "P-256" and "d" not in created["key"]
    assert created["tags"] == {"team": "a"} and created["exportable"] is False
    table = kcli.ok("key", "get", "signing").stdout
    assert "P-256" in table and "sign, verify" in table
    rotated = kcli.json("key", "rotate", "signing")
    assert rotated["version"] != created["version"] and rotated["key"]["crv"] == "P-256"
    assert [v["version"] for v in kcli.json("key", "versions", "signing")] == [created["version"], rotated["version"]]
    assert [k["name"] for k in kcli.json("key", "list")] == ["signing"]
    updated = kcli.json("key", "update", "signing", "--disable", "--version", created["version"])
    assert updated["enabled"] is False
    kcli.fails(3, "key", "get", "signing", "--version", created["version"])
    assert kcli.json("key", "update", "signing", "--ops", "verify")["key"]["key_ops"] == ["verify"]
    assert "key_ops" in kcli.fails(3, "key", "sign", "signing", "-a", "ES256", input=b"x").stderr
    kcli.fails(2, "key", "update", "signing")


def test_sign_verify_with_data_and_digest(kcli: Cli, tmp_path: Path) -> None:
    kcli.ok("key", "create", "signing", "--kty", "EC", "--curve", "P-256")
    signed = kcli.json("key", "sign", "signing", "-a", "ES256", input=b"hello")
    sig = signed["signature"]
    assert kcli.json("key", "verify", "signing", "-a", "ES256", "--signature", sig, input=b"hello")["is_valid"]
    bad = kcli.fails(4, "key", "verify", "signing", "-a", "ES256", "--signature", sig, input=b"hellX")
    assert "NOT valid" in bad.stdout
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"hello")
    d64 = base64.b64encode(digest.finalize()).decode()
    assert kcli.json("key", "verify", "signing", "-a", "ES256", "--signature", sig, "--digest", d64)["is_valid"]
    # The exported public key verifies the signature outside the vault (raw r||s -> DER).
    pem = kcli.ok("key", "export-public", "signing", "--pem").stdout.encode()
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    raw = _b64d(sig)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, b"hello", ec.ECDSA(hashes.SHA256()))
    jwk = json.loads(kcli.ok("key", "export-public", "signing").stdout)
    assert jwk["kty"] == "EC" and "d" not in jwk


def test_encrypt_decrypt_wrap_unwrap(kcli: Cli, tmp_path: Path) -> None:
    kcli.ok("key", "create", "aes", "--kty", "oct", "--size", "256")
    enc = kcli.json("key", "encrypt", "aes", "-a", "A256GCM", "--aad", "YWFk", input=b"top secret")
    args = ["--ciphertext", enc["ciphertext"], "--iv", enc["iv"], "--tag", enc["authentication_tag"]]
    assert kcli.ok("key", "decrypt", "aes", "-a", "A256GCM", *args, "--aad", "YWFk").stdout_bytes == b"top secret"
    kcli.fails(4, "key", "decrypt", "aes", "-a", "A256GCM", *args)  # AAD missing: authentication fails
    out = tmp_path / "plain.bin"
    kcli.ok("key", "decrypt", "aes", "-a", "A256GCM", *args, "--aad", "YWFk", "--out", str(out))
    assert out.read_bytes() == b"top secret"
    kcli.ok("key", "create", "wrapper", "--kty", "RSA", "--size", "2048", "--ops", "wrapKey,unwrapKey")
    cek = bytes(range(32))
    wrapped = kcli.json("key", "wrap", "wrapper", "-a", "RSA-OAEP-256", input=cek)["encrypted_key"]
    unwrapped = kcli.json("key", "unwrap", "wrapper", "-a", "RSA-OAEP-256", "--encrypted-key", wrapped)
    assert _b64d(unwrapped["key"]) == cek
    forbidden = kcli.fails(3, "key", "encrypt", "wrapper", "-a", "RSA-OAEP", input=b"x")
    assert "key_ops" in forbidden.stderr


def test_bad_input(kcli: Cli) -> None:
    kcli.ok("key", "create", "k", "--kty", "EC")
    result = kcli.fails(2, "key", "sign", "k", "-a", "BOGUS", input=b"x")
    assert result.stderr.startswith("Error: algorithm 'BOGUS' is not supported")
    assert "key type" in kcli.fails(2, "key", "create", "x", "--kty", "DSA").stderr
    kcli.fails(2, "key", "verify", "k", "-a", "ES256", "--signature", "not base64!", input=b"x")
    kcli.fails(1, "key", "get", "missing")
    kcli.fails(3, "key", "export", "k")  # not exportable


def test_rotation_policy_and_maintenance(kcli: Cli) -> None:
    kcli.ok("key", "create", "r", "--kty", "RSA")
    default = kcli.json("key", "rotation-policy", "r")
    assert default["lifetime_actions"] == [
        {"action": "Notify", "time_after_create": None, "time_before_expiry": "P30D"}
    ]
    policy = kcli.json("key", "rotation-policy", "r", "--rotate-after", "P90D", "--expires-in", "P1Y")
    assert policy["expires_in"] == "P1Y"
    assert policy["lifetime_actions"][0] == {
        "action": "Rotate",
        "time_after_create": "P90D",
        "time_before_expiry": None,
    }
    kcli.fails(2, "key", "rotation-policy", "r", "--rotate-after", "ninety days")


def test_import_export_and_lifecycle(kcli: Cli, tmp_path: Path) -> None:
    kcli.ok("key", "create", "movable", "--kty", "RSA", "--exportable")
    private = json.loads(kcli.ok("key", "export", "movable").stdout)
    assert "d" in private and private["kty"] == "RSA"
    jwk_file = tmp_path / "k.json"
    jwk_file.write_text(json.dumps(private))
    imported = kcli.json("key", "import", "copy", "--jwk", str(jwk_file))
    assert imported["key"]["n"] == private["n"] and "d" not in imported["key"]
    (tmp_path / "bad.json").write_text("nope")
    kcli.fails(2, "key", "import", "x", "--jwk", str(tmp_path / "bad.json"))
    blob = tmp_path / "copy.vcbak"
    kcli.ok("key", "backup", "copy", "-f", str(blob))
    deleted = kcli.json("key", "delete", "copy")
    assert deleted["recovery_id"].endswith("/deletedkeys/copy") and deleted["key"]["kty"] == "RSA"
    assert [d["name"] for d in kcli.json("key", "list-deleted")] == ["copy"]
    kcli.fails(5, "key", "create", "copy", "--kty", "RSA")
    kcli.ok("key", "purge", "copy")
    restored = kcli.json("key", "restore", "-f", str(blob))
    assert restored["name"] == "copy"
    assert len(_b64d(kcli.json("key", "random", "--count", "16")["value"])) == 16
