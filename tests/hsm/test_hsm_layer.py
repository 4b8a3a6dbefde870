"""Root key, rollback counter, configuration and error mapping of the PKCS#11 layer."""

from __future__ import annotations

import os
import pickle
import re
import time

import pytest
from hsmhelpers import AUX_LABEL, MAIN_LABEL, PIN, SoftHsmEnv

from vaultcore.exceptions import (
    HSMConfigurationError,
    HSMUnavailableError,
    IntegrityError,
    InvalidParameterError,
    NotFoundError,
    RollbackError,
    UnauthorizedError,
)
from vaultcore.hsm import _pkcs11 as _hsm
from vaultcore.hsm import _softhsm as _hsm_softhsm
from vaultcore.hsm._pkcs11 import ROOT_BLOB_VERSION, HsmRootKey, HsmToken, Pkcs11Config, generation_label

pytestmark = pytest.mark.hsm


# --------------------------------------------------------------------------- root key


def test_root_key_round_trip_and_blob_layout(hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    keyring = os.urandom(400)
    blob = root.wrap(keyring, b"vault-1|keyring")
    assert blob[0] == ROOT_BLOB_VERSION
    assert len(blob) == 1 + 12 + len(keyring) + 16
    assert root.unwrap(blob, b"vault-1|keyring") == keyring
    assert root.wrap(keyring, b"vault-1|keyring") != blob  # fresh nonce each time
    assert root.wrap(b"", b"") and root.unwrap(root.wrap(b"", b""), b"") == b""


def test_root_key_tamper_and_wrong_aad_raise_integrity_error(hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    blob = root.wrap(b"k" * 64, b"aad")
    for index in (0, 1, 12, 13, 40, len(blob) - 1):  # version, nonce, ciphertext, tag
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(IntegrityError):
            root.unwrap(bytes(tampered), b"aad")
    for short in (b"", blob[:1], blob[:28]):
        with pytest.raises(IntegrityError):
            root.unwrap(short, b"aad")
    with pytest.raises(IntegrityError):
        root.unwrap(blob, b"other aad")
    assert root.unwrap(blob, b"aad") == b"k" * 64  # the session survives failed decrypts


def test_root_key_is_sensitive_and_never_extractable(hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    assert root.protection() == {
        "sensitive": True,
        "extractable": False,
        "always_sensitive": True,
        "never_extractable": True,
        "value_readable": False,  # reading CKA_VALUE is refused by the token
    }


def test_root_key_adopt_by_label_and_create_false(hsm_config: Pkcs11Config) -> None:
    with pytest.raises(NotFoundError, match=hsm_config.key_label):
        HsmRootKey(hsm_config, create=False)
    first = HsmRootKey(hsm_config, create=True)
    blob = first.wrap(b"secret", b"a")
    for create in (False, True):  # both adopt the existing key instead of making another
        again = HsmRootKey(hsm_config, create=create)
        assert again.key_id == first.key_id
        assert again.unwrap(blob, b"a") == b"secret"


def test_root_key_describe_and_repr_hold_no_secret(hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    info = root.describe()
    assert info["token_label"] == MAIN_LABEL
    assert info["key_label"] == hsm_config.key_label
    assert info["key_id"] == root.key_id.hex()
    assert os.path.isfile(info["module"])
    text = repr(root) + repr(hsm_config) + repr(root.token) + repr(info)
    assert PIN not in text
    for obj in (hsm_config, root, root.token):
        with pytest.raises(TypeError):
            pickle.dumps(obj)


def test_root_blobs_do_not_open_under_another_root_key(softhsm: SoftHsmEnv) -> None:
    one = HsmRootKey(softhsm.config(), create=True)
    two = HsmRootKey(softhsm.config(), create=True)
    with pytest.raises(IntegrityError):
        two.unwrap(one.wrap(b"x" * 32, b""), b"")


# --------------------------------------------------------------------------- rollback counter


def test_generation_counter_is_monotonic(hsm_token: HsmToken) -> None:
    label = generation_label(os.urandom(16))
    other = generation_label(os.urandom(16))
    assert hsm_token.read_generation(label) == 0
    hsm_token.write_generation(label, 5)
    assert hsm_token.read_generation(label) == 5
    hsm_token.write_generation(label, 5)  # same value: accepted, no change
    with pytest.raises(RollbackError, match="older"):
        hsm_token.write_generation(label, 4)
    assert hsm_token.read_generation(label) == 5
    hsm_token.write_generation(label, 2**64 - 1)
    assert hsm_token.read_generation(label) == 2**64 - 1
    assert hsm_token.read_generation(other) == 0
    for bad in (-1, 2**64, True, "3"):
        with pytest.raises(InvalidParameterError):
            hsm_token.write_generation(other, bad)  # type: ignore[arg-type]


def test_generation_label_is_derived_from_the_vault_id() -> None:
    assert generation_label("abc") == "vaultcore-generation:abc"
    assert generation_label(bytes.fromhex("00ff")) == "vaultcore-generation:00ff"
    with pytest.raises(InvalidParameterError):
        generation_label("")


# --------------------------------------------------------------------------- configuration


def test_config_validates_at_construction(softhsm: SoftHsmEnv) -> None:
    with pytest.raises(HSMConfigurationError, match=re.escape("/nonexistent/libpkcs11.so")):
        Pkcs11Config("/nonexistent/libpkcs11.so", MAIN_LABEL, PIN, "k")
    for bad in (dict(token_label=""), dict(pin=""), dict(key_label=""), dict(token_label="x" * 33)):
        kwargs = {"module": None, "token_label": MAIN_LABEL, "pin": PIN, "key_label": "k", **bad}
        with pytest.raises(InvalidParameterError):
            Pkcs11Config(**kwargs)  # type: ignore[arg-type]
    assert Pkcs11Config(None, MAIN_LABEL, PIN, "k").module == softhsm.module


def test_wrong_module_is_a_configuration_error(tmp_path: os.PathLike[str], softhsm: SoftHsmEnv) -> None:
    bogus = os.path.join(os.fspath(tmp_path), "libnot-pkcs11.so")
    with open(bogus, "wb") as fh:
        fh.write(b"\x7fELF not really a library")
    with pytest.raises(HSMConfigurationError, match=re.escape("libnot-pkcs11.so")):
        HsmToken(Pkcs11Config(bogus, MAIN_LABEL, PIN, "k"))


def test_second_softhsm_module_in_one_process_is_refused(hsm_token: HsmToken) -> None:
    proxy = next((p for p in _hsm_softhsm.P11KIT_PROXY_CANDIDATES if os.path.isfile(p)), None)
    if proxy is None or not _hsm_softhsm.p11kit_exposes_softhsm():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: p11-kit proxy tests must run; make test installs p11-kit-modules", pytrace=False)
        pytest.skip("p11-kit proxy with SoftHSM2 not installed")
    with pytest.raises(HSMConfigurationError, match="already drives SoftHSM2"):
        HsmToken(Pkcs11Config(proxy, MAIN_LABEL, PIN, "k"))


def test_missing_token_names_label_and_module(softhsm: SoftHsmEnv) -> None:
    with pytest.raises(HSMUnavailableError) as info:
        HsmToken(softhsm.config(label="no-such-token"))
    assert "PKCS#11 token 'no-such-token' not found in module" in str(info.value)
    assert softhsm.module in str(info.value)


def test_bad_softhsm2_conf_names_the_path(
    softhsm: SoftHsmEnv, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing_conf = os.path.join(os.fspath(tmp_path), "missing.conf")
    monkeypatch.setenv("SOFTHSM2_CONF", missing_conf)
    with pytest.raises(HSMConfigurationError, match=re.escape("missing.conf")):
        HsmToken(softhsm.config())
    no_dir_conf = os.path.join(os.fspath(tmp_path), "nodir.conf")
    with open(no_dir_conf, "w") as fh:
        fh.write(f"directories.tokendir = {tmp_path}/gone\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", no_dir_conf)
    with pytest.raises(HSMConfigurationError) as info:
        HsmToken(softhsm.config())
    assert "nodir.conf" in str(info.value) and "gone" in str(info.value)
    monkeypatch.setenv("SOFTHSM2_CONF", softhsm.conf_path)
    root = HsmRootKey(softhsm.config(), create=True)  # the good config still works
    assert root.unwrap(root.wrap(b"ok", b""), b"") == b"ok"


def test_switching_softhsm2_conf_reinitialises_the_module(
    softhsm: SoftHsmEnv, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = HsmRootKey(softhsm.config(), create=True)
    blob = root.wrap(b"before", b"")
    other = _hsm_softhsm.create_softhsm_token(os.fspath(tmp_path), label="other-token", pin=PIN, so_pin="0000")
    monkeypatch.setenv("SOFTHSM2_CONF", other.conf_path)
    other_root = HsmRootKey(Pkcs11Config(None, "other-token", PIN, "r"), create=True)
    assert other_root.unwrap(other_root.wrap(b"there", b""), b"") == b"there"
    with pytest.raises(HSMUnavailableError, match=MAIN_LABEL):
        root.unwrap(blob, b"")  # the main token is not in this config
    monkeypatch.setenv("SOFTHSM2_CONF", softhsm.conf_path)
    assert root.unwrap(blob, b"") == b"before"  # back again, with a fresh login


# --------------------------------------------------------------------------- PINs and sessions


def test_wrong_pin_is_unauthorized_and_names_no_pin(softhsm: SoftHsmEnv) -> None:
    with pytest.raises(UnauthorizedError) as info:
        HsmToken(softhsm.config(label=AUX_LABEL, pin="wrong-pin-123"))
    assert "wrong PIN" in str(info.value) and AUX_LABEL in str(info.value)
    assert "wrong-pin-123" not in str(info.value) and PIN not in str(info.value)


def test_wrong_pin_on_a_logged_in_token_is_still_refused(hsm_token: HsmToken, softhsm: SoftHsmEnv) -> None:
    # SoftHSM answers UserAlreadyLoggedIn before checking the PIN; the layer must not.
    with pytest.raises(UnauthorizedError):
        HsmToken(softhsm.config(pin="not-the-pin"))


def test_failed_logins_leak_no_session(softhsm: SoftHsmEnv) -> None:
    good = softhsm.config(label=AUX_LABEL)
    bad = softhsm.config(label=AUX_LABEL, pin="0000-bad")
    probe = HsmToken(softhsm.config())  # counts through the main token: the module is shared
    before = probe.open_session_count(whole_module=True)
    assert before is not None
    for _ in range(20):
        with pytest.raises(UnauthorizedError):
            HsmToken(bad)
    assert probe.open_session_count(whole_module=True) == before
    token = HsmToken(good)
    assert len(token.random_bytes(16)) == 16
    assert probe.open_session_count(whole_module=True) == before + 1  # exactly the one login session
    assert token.open_session_count() == 1
    for _ in range(3):  # more handles on a logged-in token reuse its session
        HsmToken(good)
    assert probe.open_session_count(whole_module=True) == before + 1


def test_random_bytes_come_from_the_token(hsm_token: HsmToken) -> None:
    for n in (1, 12, 32, 128, 4096):
        assert len(hsm_token.random_bytes(n)) == n
    assert hsm_token.random_bytes(32) != hsm_token.random_bytes(32)
    for bad in (0, -1, 1 << 20, True):
        with pytest.raises(InvalidParameterError):
            hsm_token.random_bytes(bad)


def test_describe_token(hsm_token: HsmToken, softhsm: SoftHsmEnv) -> None:
    info = hsm_token.describe()
    assert info["token_label"] == MAIN_LABEL and info["module"] == softhsm.module
    assert info["token_serial"]


# --------------------------------------------------------------------------- recovery


def test_lost_login_session_is_reopened_transparently(hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    blob = root.wrap(b"survives", b"")
    with _hsm._MANAGER.lock:  # close the login session behind the manager's back
        _hsm._MANAGER.ready(hsm_config).session.close()
    assert root.unwrap(blob, b"") == b"survives"  # stale handle -> re-login, look up again
    assert root.token.open_session_count() == 1


def test_start_up_retries_back_off_then_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)  # _hsm calls time.sleep
    general_error = _hsm._RETRYABLE_AT_START[1]  # python-pkcs11's GeneralError
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise general_error()
        return "ok"

    assert _hsm._TokenManager._retry(flaky) == "ok"
    assert sleeps == [0.01, 0.02, 0.04]

    def broken() -> str:
        raise general_error()

    with pytest.raises(general_error):
        _hsm._TokenManager._retry(broken)
    assert sleeps[3:] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32]
