"""Issue 13 §7: no third-party exception escapes the certificate parsers.

A NUL in a PFX password made cryptography's Rust code panic with ``PanicException``, which
derives from ``BaseException`` and so slipped past every ``except Exception``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

from vaultcore import RawKeyCredential, Vault
from vaultcore.exceptions import InvalidParameterError


def _pfx_and_pem() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nul-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pfx = pkcs12.serialize_key_and_certificates(b"n", key, cert, None, BestAvailableEncryption(b"pw"))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, BestAvailableEncryption(b"pw")
    ) + cert.public_bytes(serialization.Encoding.PEM)
    return pfx, pem


@pytest.mark.parametrize("password", ["p\x00w", b"p\x00w", "\x00"])
@pytest.mark.parametrize("form", ["pfx", "pem"])
def test_a_nul_in_the_password_is_invalid_parameter(tmp_path: Path, password: str | bytes, form: str) -> None:
    pfx, pem = _pfx_and_pem()
    with Vault.create(tmp_path / "v", RawKeyCredential(b"\x44" * 32)) as vault:
        try:
            vault.certificates.import_certificate("c", pfx if form == "pfx" else pem, password=password)
        except InvalidParameterError as exc:
            assert "NUL" in str(exc)
        except BaseException as exc:  # PanicException is not an Exception
            pytest.fail(f"{type(exc).__module__}.{type(exc).__name__} escaped")
        else:
            pytest.fail("a password with a NUL was accepted")
        # nothing was stored, and the right password still imports
        assert [p.name for p in vault.certificates.list_properties_of_certificates()] == []
        imported = vault.certificates.import_certificate("c", pfx if form == "pfx" else pem, password="pw")
        assert imported.name == "c"
