"""The security domain under a quorum of operator RSA keys (download / upload)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultcore import IntegrityError, InvalidParameterError, RawKeyCredential, Vault
from vaultcore.engine._domainquorum import download_domain, upload_domain

_KEYS = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(5)]
PUBLIC = [
    k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for k in _KEYS
]
PRIVATE = [
    k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for k in _KEYS
]
DOMAIN_ID, DOMAIN_KEY = os.urandom(16), os.urandom(32)


def test_any_quorum_of_private_keys_recovers_the_domain() -> None:
    blob = download_domain(DOMAIN_ID, DOMAIN_KEY, PUBLIC, 3)
    doc = json.loads(blob)
    assert doc["quorum"] == 3 and len(doc["shares"]) == 5
    assert DOMAIN_KEY.hex() not in blob.decode()
    for chosen in itertools.combinations(range(5), 3):
        assert upload_domain(blob, [PRIVATE[i] for i in chosen]) == (DOMAIN_ID, DOMAIN_KEY)
    assert upload_domain(blob, PRIVATE) == (DOMAIN_ID, DOMAIN_KEY)


def test_fewer_than_the_quorum_or_foreign_keys_are_refused() -> None:
    blob = download_domain(DOMAIN_ID, DOMAIN_KEY, PUBLIC[:3], 2)
    with pytest.raises(InvalidParameterError, match="quorum is 2"):
        upload_domain(blob, [PRIVATE[0]])
    with pytest.raises(InvalidParameterError, match="quorum is 2"):
        upload_domain(blob, [PRIVATE[1], PRIVATE[1]])
    with pytest.raises(InvalidParameterError, match="does not belong"):
        upload_domain(blob, [PRIVATE[0], PRIVATE[4]])


def test_a_damaged_download_is_detected() -> None:
    doc = json.loads(download_domain(DOMAIN_ID, DOMAIN_KEY, PUBLIC[:3], 2))
    swapped = dict(doc, shares=[dict(doc["shares"][0], value=doc["shares"][1]["value"]), *doc["shares"][1:]])
    with pytest.raises(IntegrityError):
        upload_domain(json.dumps(swapped).encode(), [PRIVATE[0], PRIVATE[1]])
    other_id = dict(doc, domain_id=os.urandom(16).hex())  # the OAEP label binds the id
    with pytest.raises(IntegrityError):
        upload_domain(json.dumps(other_id).encode(), [PRIVATE[0], PRIVATE[1]])
    with pytest.raises(InvalidParameterError):
        upload_domain(b"{not json", [PRIVATE[0]])


def test_key_count_quorum_and_key_type_rules() -> None:
    with pytest.raises(InvalidParameterError, match="3 to 10"):
        download_domain(DOMAIN_ID, DOMAIN_KEY, PUBLIC[:2], 2)
    with pytest.raises(InvalidParameterError, match="quorum"):
        download_domain(DOMAIN_ID, DOMAIN_KEY, PUBLIC[:3], 4)
    with pytest.raises(InvalidParameterError, match="quorum"):
        download_domain(DOMAIN_ID, DOMAIN_KEY, PUBLIC[:3], 1)
    with pytest.raises(InvalidParameterError, match="distinct"):
        download_domain(DOMAIN_ID, DOMAIN_KEY, [PUBLIC[0], PUBLIC[0], PUBLIC[1]], 2)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    small_pem = small.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidParameterError, match="2048"):
        download_domain(DOMAIN_ID, DOMAIN_KEY, [small_pem, *PUBLIC[:2]], 2)
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidParameterError, match="RSA"):
        download_domain(DOMAIN_ID, DOMAIN_KEY, [ec_pem, *PUBLIC[:2]], 2)


def test_a_new_vault_from_a_quorum_restores_backups(tmp_path: Path) -> None:
    source = Vault.create(tmp_path / "a", RawKeyCredential(os.urandom(32)))
    source.secrets.set_secret("shared", "value")
    backup = source.secrets.backup_secret("shared")
    download = source.download_security_domain(PUBLIC[:3], 2)
    assert source.audit.events(operation="SecurityDomainDownload")[-1].result == "success"
    replica = Vault.create(
        tmp_path / "b", RawKeyCredential(os.urandom(32)), security_domain=(download, [PRIVATE[2], PRIVATE[0]])
    )
    assert replica.secrets.restore_secret_backup(backup).name == "shared"
    assert replica.secrets.get_secret("shared").value == "value"
    with pytest.raises(InvalidParameterError, match="quorum"):
        Vault.create(tmp_path / "c", RawKeyCredential(os.urandom(32)), security_domain=(download, "a passphrase"))
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
    replica.close()
    source.close()
