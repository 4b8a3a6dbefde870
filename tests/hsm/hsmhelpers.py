"""Shared constants and helpers of the HSM tests (imported by conftest and test modules)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

import vaultcore
from vaultcore import JsonWebKey, Pkcs11Credential, Vault
from vaultcore.hsm import _softhsm as _hsm_softhsm
from vaultcore.hsm._pkcs11 import HsmKeyRef, Pkcs11Config
from vaultcore.keys._handles import hsm_ref_from_payload

PIN = "2468-test-user-pin"
SO_PIN = "1357-test-so-pin"
MAIN_LABEL = "vaultcore-test"
AUX_LABEL = "vaultcore-aux"
SRC_DIR = str(Path(vaultcore.__file__).resolve().parent.parent)  # the imported package, installed or not


@dataclasses.dataclass(frozen=True)
class SoftHsmEnv:
    """The session's SoftHSM2 set-up: one config, a main and an auxiliary token."""

    module: str
    conf_path: str
    tokendir: str
    main: _hsm_softhsm.SoftHsmToken
    aux: _hsm_softhsm.SoftHsmToken

    def config(self, key_label: str | None = None, *, label: str = MAIN_LABEL, pin: str = PIN) -> Pkcs11Config:
        """A config for ``label`` with a fresh root-key label unless one is given."""
        return Pkcs11Config(None, label, pin, key_label or f"root-{uuid.uuid4().hex[:12]}")

    def credential(self, key_label: str | None = None, *, label: str = MAIN_LABEL, pin: str = PIN) -> Pkcs11Credential:
        """A premium-vault credential for ``label`` with a fresh root-key label unless one is given."""
        return Pkcs11Credential(token_label=label, pin=pin, key_label=key_label or f"root-{uuid.uuid4().hex[:12]}")


def run_python(
    code: str, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports vaultcore from this checkout."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = SRC_DIR + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def public_key_from_jwk(jwk: JsonWebKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A ``cryptography`` public key built only from an exported JWK (n/e or crv/x/y)."""
    if jwk.n is not None and jwk.e is not None:
        return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()
    assert jwk.crv is not None and jwk.x is not None and jwk.y is not None, jwk
    curve = _CURVES[jwk.crv]
    return ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), curve).public_key()


def raw_to_der(signature: bytes) -> bytes:
    """JWS raw ECDSA r || s to the DER form ``cryptography`` verifies."""
    half = len(signature) // 2
    return utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))


def hsm_ref(vault: Vault, name: str, version: str | None = None) -> HsmKeyRef:
    """The token reference a vault stores for an HSM-backed key version (white-box)."""
    ref: HsmKeyRef = hsm_ref_from_payload(vault.keys._resolve(name, version).payload)
    return ref


_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}
