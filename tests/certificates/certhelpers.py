"""Helpers for the certificate client tests; fixtures live in ``conftest.py``.

``FakeClock`` drives validity, renewal and retention without sleeping; ``TestCA`` is a
small certificate authority (root and intermediate) that signs CSRs the vault makes;
``raw_env``/``flip_byte`` open a *closed* vault's LMDB file directly, as an attacker with
file access would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lmdb
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

START = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
DBS = (b"meta", b"objects", b"versions", b"deleted", b"dversions", b"purgeq", b"audit", b"access", b"certmeta")
KIND_CERTIFICATE = 3


class FakeClock:
    """A mutable clock returning aware UTC datetimes; ``advance`` moves it forward."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    """A root CA and an intermediate that issues leaf certificates from CSRs."""

    __test__ = False  # not a test class

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._ca(_name("Test Root CA"), self.root_key, _name("Test Root CA"), self.root_key)
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._ca(_name("Test Intermediate CA"), self.inter_key, self.root.subject, self.root_key)

    def _ca(
        self, subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(days=1))
            .not_valid_after(self.now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    def sign_csr(self, csr: x509.CertificateSigningRequest, *, days: int = 365) -> x509.Certificate:
        """A leaf for the CSR's key and subject, copying its requested extensions."""
        assert csr.is_signature_valid
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.intermediate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now)
            .not_valid_after(self.now + dt.timedelta(days=days))
        )
        for ext in csr.extensions:
            builder = builder.add_extension(ext.value, critical=ext.critical)
        return builder.sign(self.inter_key, hashes.SHA256())

    def issue(self, private_key: Any, cn: str, *, days: int = 365) -> x509.Certificate:
        """A leaf certificate for *private_key* (for imports)."""
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.intermediate.subject)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now)
            .not_valid_after(self.now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{cn}.example")]), critical=False)
            .sign(self.inter_key, hashes.SHA256())
        )


@contextmanager
def raw_env(path: Any) -> Iterator[tuple[Any, dict[bytes, Any]]]:
    """The LMDB environment of a closed vault and its named databases (writable)."""
    env = lmdb.open(str(path), max_dbs=16, subdir=True, lock=True)
    try:
        dbs = {}
        for name in DBS:
            with env.begin() as txn:
                present = txn.get(name) is not None
            if present:
                dbs[name] = env.open_db(name, create=False)
        yield env, dbs
    finally:
        env.close()


def flip_byte(path: Any, db: bytes, select: Any, offset: int = -20) -> int:
    """Flip one byte (at *offset*) of every record of *db* whose key satisfies *select*."""
    count = 0
    with raw_env(path) as (env, dbs), env.begin(write=True, db=dbs[db]) as txn:
        rows = [(bytes(k), bytes(v)) for k, v in txn.cursor() if select(bytes(k))]
        for key, value in rows:
            data = bytearray(value)
            data[offset] ^= 0x01
            txn.put(key, bytes(data))
            count += 1
    return count
