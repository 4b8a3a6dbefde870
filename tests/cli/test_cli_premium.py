"""Premium vaults and managed HSMs from the CLI, on the plugin's SoftHSM2 token."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from clihelpers import Cli

from vaultcore.testing import SoftHsm


@pytest.fixture
def hsm_env(vaultcore_softhsm: SoftHsm, tmp_path: Path) -> dict[str, str]:
    return {
        "VAULTCORE_VAULT": str(tmp_path / "pv"),
        "VAULTCORE_PKCS11_TOKEN": vaultcore_softhsm.label,
        "VAULTCORE_PKCS11_PIN": vaultcore_softhsm.pin,
        "VAULTCORE_PKCS11_KEY_LABEL": f"cli-{uuid.uuid4().hex[:8]}",
    }


def test_premium_vault_with_hsm_keys(hsm_env: dict[str, str]) -> None:
    runner = Cli(hsm_env)
    info = runner.json("init", "--tier", "premium")
    assert info["tier"] == "premium" and info["kind"] == "vault"
    key = runner.json("key", "create", "hk", "--kty", "EC", "--curve", "P-256", "--hsm")
    assert key["key"]["kty"] == "EC-HSM" and key["hsm_platform"] == "0"
    sig = runner.json("key", "sign", "hk", "-a", "ES256", input=b"data")["signature"]
    assert runner.json("key", "verify", "hk", "-a", "ES256", "--signature", sig, input=b"data")["is_valid"]
    runner.ok("secret", "set", "s", input="premium secret")
    assert runner.ok("secret", "get", "s").stdout == "premium secret\n"
    wrong = runner.fails(3, "secret", "get", "s", env={"VAULTCORE_PKCS11_PIN": "0000"})
    assert "PIN" in wrong.stderr and "0000" not in wrong.stderr
    other_key = runner.fails(3, "info", env={"VAULTCORE_PKCS11_KEY_LABEL": "not-this-vault"})
    assert other_key.stderr.startswith("Error: ") and "not-this-vault" in other_key.stderr


def test_managed_hsm(hsm_env: dict[str, str]) -> None:
    runner = Cli(hsm_env)
    assert runner.json("init", "--kind", "managed-hsm")["kind"] == "managed_hsm"
    runner.ok("key", "create", "aes", "--kty", "oct", "--size", "256", "--hsm")
    assert "managed HSM" in runner.fails(3, "secret", "set", "s", input="x").stderr


def test_premium_needs_a_token(tmp_path: Path) -> None:
    runner = Cli({"VAULTCORE_VAULT": str(tmp_path / "x"), "VAULTCORE_PASSPHRASE": "pw"})
    assert "PKCS#11 token" in runner.fails(2, "init", "--tier", "premium").stderr
    assert "PKCS#11 token" in runner.fails(2, "init", "--kind", "managed-hsm").stderr
