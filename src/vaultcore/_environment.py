"""The ``VAULTCORE_*`` settings shared by the command line and :meth:`Vault.from_env`.

One reading of the environment, so an application and ``vaultcore`` in the same shell open the
same vault the same way: ``VAULTCORE_VAULT`` (default: ``<user data dir>/vaultcore/default``),
then the credential, first found: ``VAULTCORE_KEY_FILE``, ``VAULTCORE_PKCS11_TOKEN`` (with
``VAULTCORE_PKCS11_PIN``, ``VAULTCORE_PKCS11_MODULE``, ``VAULTCORE_PKCS11_KEY_LABEL``),
``VAULTCORE_PASSPHRASE``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vaultcore.exceptions import UnauthorizedError

if TYPE_CHECKING:  # the path functions serve shell completion: no cryptography for them
    from vaultcore.crypto._credentials import Credential

__all__ = ["credential_from_env", "default_vault_path", "vault_path_from_env"]


def default_vault_path(environ: Mapping[str, str] | None = None) -> str:
    """``<user data dir>/vaultcore/default`` (``$XDG_DATA_HOME`` or ``~/.local/share`` on Linux)."""
    env = os.environ if environ is None else environ
    if sys.platform.startswith("linux"):  # platformdirs' XDG rule, without importing it (~5 ms)
        base = env.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return os.path.join(base, "vaultcore", "default")
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("vaultcore"), "default")


def vault_path_from_env(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("VAULTCORE_VAULT") or default_vault_path(env)


def credential_from_env(environ: Mapping[str, str] | None = None) -> Credential:
    """The credential the environment names; ``UnauthorizedError`` saying what to set if none."""
    from vaultcore.crypto._credentials import KeyFileCredential, PassphraseCredential, Pkcs11Credential

    env = os.environ if environ is None else environ
    if env.get("VAULTCORE_KEY_FILE"):
        return KeyFileCredential(env["VAULTCORE_KEY_FILE"])
    if env.get("VAULTCORE_PKCS11_TOKEN"):
        pin = env.get("VAULTCORE_PKCS11_PIN")
        if pin is None:
            raise UnauthorizedError("VAULTCORE_PKCS11_TOKEN is set but VAULTCORE_PKCS11_PIN is not")
        label = {"key_label": env["VAULTCORE_PKCS11_KEY_LABEL"]} if env.get("VAULTCORE_PKCS11_KEY_LABEL") else {}
        return Pkcs11Credential(
            env.get("VAULTCORE_PKCS11_MODULE") or None, token_label=env["VAULTCORE_PKCS11_TOKEN"], pin=pin, **label
        )
    if env.get("VAULTCORE_PASSPHRASE") is not None:
        return PassphraseCredential(env["VAULTCORE_PASSPHRASE"])
    raise UnauthorizedError("no credential in the environment: set VAULTCORE_KEY_FILE or VAULTCORE_PASSPHRASE")
