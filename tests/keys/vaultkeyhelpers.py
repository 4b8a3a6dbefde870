"""Helpers for the key tests through the vault; fixtures live in ``conftest.py``.

``KEY_SPECS`` names one key of every supported type and size (the ``crypto_vault`` fixture
creates them all). ``raw_env`` opens a *closed* vault's LMDB environment directly so tests
can tamper with stored bytes the way an attacker with file access would. ``snapshot``
captures what the key API shows of a vault, to prove a refused request changed nothing.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultcore import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm, Vault

KEY_KIND = 2  # store byte of keys (vaultcore.engine._records.Kind.KEY)

# Offsets of a sealed record (see the ``_envelope`` docstring).
FORMAT, TERM, DEK, NONCE, BODY = 0, 1, 5, 45, 57
TAG_SIZE = 16

#: name -> (key type, create_key parameters)
KEY_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "rsa-2048": ("RSA", {"size": 2048}),
    "rsa-3072": ("RSA", {"size": 3072}),
    "rsa-4096": ("RSA", {"size": 4096}),
    "ec-p-256": ("EC", {"curve": "P-256"}),
    "ec-p-384": ("EC", {"curve": "P-384"}),
    "ec-p-521": ("EC", {"curve": "P-521"}),
    "ec-p-256k": ("EC", {"curve": "P-256K"}),
    "oct-128": ("oct", {"size": 128}),
    "oct-192": ("oct", {"size": 192}),
    "oct-256": ("oct", {"size": 256}),
}
RSA_KEYS = ["rsa-2048", "rsa-3072", "rsa-4096"]
EC_KEYS = {"ec-p-256": "ES256", "ec-p-384": "ES384", "ec-p-521": "ES512", "ec-p-256k": "ES256K"}
OCT_KEYS = {"oct-128": 128, "oct-192": 192, "oct-256": 256}

RSA_ENCRYPTION = [EncryptionAlgorithm.rsa1_5, EncryptionAlgorithm.rsa_oaep, EncryptionAlgorithm.rsa_oaep_256]
RSA_WRAP = [KeyWrapAlgorithm.rsa1_5, KeyWrapAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa_oaep_256]
RSA_SIGNATURES = [
    SignatureAlgorithm.rs256,
    SignatureAlgorithm.rs384,
    SignatureAlgorithm.rs512,
    SignatureAlgorithm.ps256,
    SignatureAlgorithm.ps384,
    SignatureAlgorithm.ps512,
]
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "t")


def oct_algorithms(bits: int) -> dict[str, str]:
    """The encryption and wrap algorithms of an oct key of *bits*."""
    return {
        "gcm": f"A{bits}GCM",
        "cbc": f"A{bits}CBC",
        "cbcpad": f"A{bits}CBCPAD",
        "kw": f"A{bits}KW",
    }


def snapshot(vault: Vault) -> dict[str, Any]:
    """Every live key with its versions and their attributes, the deleted keys, and each
    key's rotation policy: what a refused request must leave exactly as it was."""
    live: dict[str, Any] = {}
    for props in vault.keys.list_properties_of_keys():
        versions = [
            (p.version, p.enabled, p.not_before, p.expires_on, p.updated_on, tuple(sorted(p.tags.items())))
            for p in vault.keys.list_properties_of_key_versions(props.name)
        ]
        policy = vault.keys.get_key_rotation_policy(props.name)
        live[props.name] = (versions, policy)
    deleted = sorted(d.name for d in vault.keys.list_deleted_keys())
    return {"live": live, "deleted": deleted}


@contextmanager
def raw_env(path: Path | str) -> Iterator[tuple[Any, Any]]:
    """The LMDB environment of a closed vault and its ``versions`` database."""
    env = lmdb.open(str(path), max_dbs=16, subdir=True, lock=True)
    try:
        yield env, env.open_db(b"versions", create=False)
    finally:
        env.close()


def flip_version_byte(path: Path | str, version: str, offset: int) -> None:
    """Flip one bit of the sealed record of key version *version* (offset may be negative)."""
    vid = bytes.fromhex(version)
    with raw_env(path) as (env, db), env.begin(write=True, db=db) as txn:
        found = [(bytes(k), bytes(v)) for k, v in txn.cursor() if bytes(k)[0] == KEY_KIND and bytes(k).endswith(vid)]
        assert len(found) == 1, "exactly one stored record per key version"
        key, blob = found[0]
        data = bytearray(blob)
        data[offset] ^= 0x01
        txn.put(key, bytes(data))


def sealed_size(path: Path | str, version: str) -> int:
    vid = bytes.fromhex(version)
    with raw_env(path) as (env, db), env.begin(db=db) as txn:
        sizes = [len(v) for k, v in txn.cursor() if bytes(k)[0] == KEY_KIND and bytes(k).endswith(vid)]
    assert len(sizes) == 1
    return sizes[0]


def _b64u_int(value: int, size: int | None = None) -> str:
    raw = value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_CRV = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "P-256K"}


def private_jwk(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The JWK (with private members) of a ``cryptography`` key, built without vaultcore."""
    if isinstance(private, rsa.RSAPrivateKey):
        n = private.private_numbers()
        return {
            "kty": "RSA",
            "n": _b64u_int(n.public_numbers.n),
            "e": _b64u_int(n.public_numbers.e),
            "d": _b64u_int(n.d),
            "p": _b64u_int(n.p),
            "q": _b64u_int(n.q),
            "dp": _b64u_int(n.dmp1),
            "dq": _b64u_int(n.dmq1),
            "qi": _b64u_int(n.iqmp),
        }
    width = (private.curve.key_size + 7) // 8
    numbers = private.private_numbers()
    return {
        "kty": "EC",
        "crv": _CRV[private.curve.name],
        "x": _b64u_int(numbers.public_numbers.x, width),
        "y": _b64u_int(numbers.public_numbers.y, width),
        "d": _b64u_int(numbers.private_value, width),
    }


@functools.cache
def shared_rsa_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key per test process: import it where any RSA key will do (generation is slow)."""
    return rsa.generate_private_key(65537, 2048)
