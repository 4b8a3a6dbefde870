"""Issue 13 §10: a refused request changes nothing, in the vault or in the token.

A refused ``-HSM`` key creation used to generate the key pair in the token first and fail
afterwards, leaving objects the vault never learns about and can never purge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hsmhelpers import SoftHsmEnv
from pkcs11 import Attribute, ObjectClass

from vaultcore import KDF_TESTING, ConflictError, InvalidParameterError, RawKeyCredential, Vault
from vaultcore.hsm._pkcs11 import HsmToken

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def token(softhsm: SoftHsmEnv) -> HsmToken:
    return HsmToken(softhsm.config())


@pytest.fixture(scope="module")
def premium(softhsm: SoftHsmEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    vault = Vault.create(tmp_path_factory.mktemp("refusals") / "v", softhsm.credential())
    try:
        yield vault
    finally:
        vault.close()


def _key_objects(token: HsmToken) -> int:
    def count(state: Any) -> int:
        return sum(
            len(list(state.session.get_objects({Attribute.CLASS: cls})))
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.SECRET_KEY)
        )

    return token._run("count keys", count)


@pytest.mark.parametrize(
    ("kty", "name", "kwargs", "error"),
    [
        ("EC-HSM", "exportable", {"exportable": True}, InvalidParameterError),
        ("RSA-HSM", "exportable-rsa", {"exportable": True}, InvalidParameterError),
        ("oct-HSM", "not_a_valid_name!", {}, InvalidParameterError),
        ("EC-HSM", "x" * 128, {}, InvalidParameterError),
        ("EC-HSM", "tags", {"tags": {"t": 1}}, InvalidParameterError),
    ],
)
def test_a_refused_hsm_key_creation_leaves_no_token_object(
    premium: Vault, token: HsmToken, kty: str, name: str, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    before = _key_objects(token)
    with pytest.raises(error):
        premium.keys.create_key(name, kty, **kwargs)
    assert _key_objects(token) == before


def test_a_soft_deleted_name_refuses_before_generating(premium: Vault, token: HsmToken) -> None:
    premium.keys.create_key("gone", "EC-HSM")
    premium.keys.delete_key("gone")
    before = _key_objects(token)
    with pytest.raises(ConflictError):
        premium.keys.create_key("gone", "EC-HSM")
    with pytest.raises(ConflictError):
        premium.keys.create_ec_key("gone", hardware_protected=True)
    assert _key_objects(token) == before
    premium.keys.purge_deleted_key("gone")


def test_a_failure_after_generating_destroys_the_token_object(
    premium: Vault, token: HsmToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultcore.engine._lifecycle import Lifecycle

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ConflictError("injected failure after the key was generated")

    before = _key_objects(token)
    monkeypatch.setattr(Lifecycle, "add_version", failing)
    with pytest.raises(ConflictError, match="injected"):
        premium.keys.create_key("late-failure", "EC-HSM")
    assert _key_objects(token) == before


def test_a_managed_hsm_refuses_a_software_key_through_restore(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    passphrase = "shared domain"
    with Vault.create(tmp_path / "std", RawKeyCredential(b"\x55" * 32)) as standard:
        domain = standard.export_security_domain(passphrase, kdf=KDF_TESTING)
        standard.keys.create_key("soft", "EC")
        blob = standard.keys.backup_key("soft")
    with Vault.create(
        tmp_path / "mhsm", softhsm.credential(), kind="managed_hsm", security_domain=(domain, passphrase)
    ) as mhsm:
        with pytest.raises(InvalidParameterError, match="HSM-backed keys only"):
            mhsm.keys.restore_key_backup(blob)
        assert list(mhsm.keys.list_properties_of_keys()) == []
