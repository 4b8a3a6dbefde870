"""A private SoftHSM2 token per test session (in a temp dir, via SOFTHSM2_CONF).

SoftHSM reads SOFTHSM2_CONF once, inside C_Initialize: the session fixture sets it before
the first use of the module, and the token manager re-initialises the module if it was
loaded with another config. Without SoftHSM2 the tests skip, except under CI=true, where
they fail loudly: the HSM tests must run in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hsmhelpers import AUX_LABEL, MAIN_LABEL, PIN, SO_PIN, SoftHsmEnv

from vaultcore import Pkcs11Credential
from vaultcore.hsm import _softhsm as _hsm_softhsm
from vaultcore.hsm._pkcs11 import HsmToken, Pkcs11Config, default_module


def _softhsm_missing() -> str | None:
    if _hsm_softhsm.softhsm2_util() is None:
        return "softhsm2-util not found"
    if not any(os.path.isfile(p) for p in _hsm_softhsm.SOFTHSM_MODULE_CANDIDATES):
        return "libsofthsm2.so not found"
    return None


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsmEnv]:
    """Two fresh tokens (main, aux) in one temp SoftHSM2 config named by SOFTHSM2_CONF."""
    missing = _softhsm_missing()
    if missing:
        message = f"SoftHSM2 is not installed ({missing}); install it with: apt-get install softhsm2"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: HSM tests must run, but {message}", pytrace=False)
        pytest.skip(message)
    directory = str(tmp_path_factory.mktemp("softhsm"))
    main = _hsm_softhsm.create_softhsm_token(directory, label=MAIN_LABEL, pin=PIN, so_pin=SO_PIN)
    aux = _hsm_softhsm.create_softhsm_token(
        directory, label=AUX_LABEL, pin=PIN, so_pin=SO_PIN, conf_path=main.conf_path
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = main.conf_path
    try:
        yield SoftHsmEnv(default_module(), main.conf_path, main.tokendir, main, aux)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture(scope="session")
def hsm_token(softhsm: SoftHsmEnv) -> HsmToken:
    """A logged-in handle on the main token, shared by the session."""
    return HsmToken(softhsm.config())


@pytest.fixture
def hsm_config(softhsm: SoftHsmEnv) -> Pkcs11Config:
    """A main-token config with a root-key label unique to the test."""
    return softhsm.config()


@pytest.fixture(scope="module", autouse=True)
def _softhsm2_conf(softhsm: SoftHsmEnv) -> Iterator[None]:
    """Point SOFTHSM2_CONF at the session's config for each module here.

    The variable is process-wide: other session fixtures (the plugin's ``vaultcore_softhsm``)
    point it at their own config when their tests run in between; module fixtures here
    (vaults made once per module) must see this session's tokens.
    """
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = softhsm.conf_path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def premium_credential(softhsm: SoftHsmEnv) -> Pkcs11Credential:
    """A premium-vault credential for the main token, with a root-key label unique to the test."""
    return softhsm.credential()
