"""A backend for the ``keyring`` package that keeps passwords in a vaultcore vault.

The only module that imports :mod:`keyring` (``pip install 'vaultcore[keyring]'``; the
``keyring.backends`` entry point registers it). ``keyring.set_password(service, user, pw)``
stores a secret, ``get_password`` reads its current version, ``delete_password`` deletes it
(and purges it unless the vault has purge protection, so the name can be used again).

Which vault, with which credential: the environment the CLI reads. ``VAULTCORE_VAULT``
(default: the CLI's default vault), then ``VAULTCORE_KEY_FILE``, or ``VAULTCORE_PKCS11_TOKEN``
with ``VAULTCORE_PKCS11_PIN`` (and ``_MODULE``, ``_KEY_LABEL``), or ``VAULTCORE_PASSPHRASE``;
``VAULTCORE_CLIENT_ID`` + ``VAULTCORE_CLIENT_SECRET`` act as that application principal.
Without a usable vault and credential the backend is not viable (keyring skips it).
``VAULTCORE_KEYRING_PRIORITY`` (default 1) sets its priority against the OS keyrings.

Secret names (Azure's rule: 1-127 of ``0-9a-zA-Z-``, case-insensitive), reversible:
``kr-`` + enc(service) + ``-x`` + enc(username), where enc keeps ``0-9`` and ``a-z`` and
writes every other UTF-8 byte (upper case and ``-`` included) as ``-`` + two lower-case hex
digits. ``-x`` cannot start an escape, so the split is unambiguous: ``("github.com",
"alice")`` is ``kr-github-2ecom-xalice``. When that is longer than 127 characters the name is
``krh-`` + the first 40 hex digits of SHA-256(service NUL username); the secret's tags
``keyring-service`` and ``keyring-username`` always hold the originals.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import threading

import keyring.backend
import keyring.errors
from keyring.compat import properties

from vaultcore import (
    Credential,
    KeyFileCredential,
    PassphraseCredential,
    Pkcs11Credential,
    Vault,
)
from vaultcore.exceptions import NotFoundError, VaultError

__all__ = ["VaultcoreKeyring", "decode_name", "encode_name"]

_MAX = 127
_KEEP = re.compile(r"[0-9a-z]")
_CONTENT_TYPE = "application/x-keyring-password"


def _enc(text: str) -> str:
    out = []
    for ch in text:
        if _KEEP.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"-{b:02x}" for b in ch.encode())
    return "".join(out)


def _dec(text: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "-":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(text[i].encode())
            i += 1
    return raw.decode()


def encode_name(service: str, username: str) -> str:
    """The secret name of (*service*, *username*) (see the module docstring)."""
    name = f"kr-{_enc(service)}-x{_enc(username)}"
    if len(name) <= _MAX:
        return name
    return "krh-" + hashlib.sha256(service.encode() + b"\0" + username.encode()).hexdigest()[:40]


def decode_name(name: str) -> tuple[str, str] | None:
    """(service, username) of a ``kr-`` name; None for hashed or foreign names."""
    match = re.fullmatch(r"kr-((?:[0-9a-z]|-[0-9a-f]{2})*)-x((?:[0-9a-z]|-[0-9a-f]{2})*)", name.lower())
    if match is None:
        return None
    try:
        return _dec(match.group(1)), _dec(match.group(2))
    except (ValueError, UnicodeDecodeError):
        return None


def _default_vault() -> str:
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("vaultcore"), "default")


def _credential() -> Credential:
    env = os.environ
    if env.get("VAULTCORE_KEY_FILE"):
        return KeyFileCredential(env["VAULTCORE_KEY_FILE"])
    if env.get("VAULTCORE_PKCS11_TOKEN"):
        label = {"key_label": env["VAULTCORE_PKCS11_KEY_LABEL"]} if env.get("VAULTCORE_PKCS11_KEY_LABEL") else {}
        return Pkcs11Credential(
            env.get("VAULTCORE_PKCS11_MODULE") or None,
            token_label=env["VAULTCORE_PKCS11_TOKEN"],
            pin=env.get("VAULTCORE_PKCS11_PIN", ""),
            **label,
        )
    if "VAULTCORE_PASSPHRASE" in env:
        return PassphraseCredential(env["VAULTCORE_PASSPHRASE"])
    raise RuntimeError(
        "no vaultcore credential: set VAULTCORE_KEY_FILE, VAULTCORE_PASSPHRASE or VAULTCORE_PKCS11_TOKEN"
    )


class VaultcoreKeyring(keyring.backend.KeyringBackend):
    """Passwords as secrets of a vaultcore vault (opened once per backend, closed at exit)."""

    @properties.classproperty
    def priority(cls) -> float:
        path = os.environ.get("VAULTCORE_VAULT") or _default_vault()
        if not os.path.isdir(path):
            raise RuntimeError(f"no vaultcore vault at {path}")
        _credential()  # raises RuntimeError when none is configured
        raw = os.environ.get("VAULTCORE_KEYRING_PRIORITY", "1")
        try:
            return float(raw)
        except ValueError:
            raise RuntimeError(f"VAULTCORE_KEYRING_PRIORITY must be a number, not {raw!r}") from None

    def __init__(self, vault: Vault | None = None) -> None:
        """*vault*: use this open vault (embedding, tests) instead of the environment's."""
        super().__init__()  # type: ignore[no-untyped-call]
        self._vault = vault
        self._owned: Vault | None = None
        self._lock = threading.Lock()

    def _open(self) -> Vault:
        with self._lock:
            if self._vault is None:
                path = os.environ.get("VAULTCORE_VAULT") or _default_vault()
                try:
                    owner = Vault.open(path, _credential())
                except VaultError as exc:
                    raise keyring.errors.InitError(f"cannot open the vaultcore vault: {exc}") from None
                self._owned = owner
                atexit.register(owner.close)
                vault = owner
                client_id = os.environ.get("VAULTCORE_CLIENT_ID")
                if client_id:
                    try:
                        vault = owner.as_principal(client_id, os.environ.get("VAULTCORE_CLIENT_SECRET", ""))
                    except VaultError as exc:
                        raise keyring.errors.InitError(f"cannot act as {client_id!r}: {exc}") from None
                self._vault = vault
            return self._vault

    def close(self) -> None:
        """Close the vault this backend opened (it reopens on next use)."""
        with self._lock:
            if self._owned is not None:
                self._owned.close()
            self._owned = None
            self._vault = None

    def get_password(self, service: str, username: str) -> str | None:
        try:
            value: str | None = self._open().secrets.get_secret(encode_name(service, username)).value
        except NotFoundError:
            return None
        except VaultError as exc:
            raise keyring.errors.KeyringError(f"vaultcore: {exc}") from None
        return value

    def set_password(self, service: str, username: str, password: str) -> None:
        if not isinstance(password, str):
            raise keyring.errors.PasswordSetError("the password must be a string")
        vault = self._open()
        name = encode_name(service, username)
        tags = {"keyring-service": service[:256], "keyring-username": username[:256]}
        try:
            try:
                vault.secrets.set_secret(name, password, tags=tags, content_type=_CONTENT_TYPE)
            except VaultError as exc:
                if getattr(exc, "inner_code", None) != "ObjectIsDeletedButRecoverable":
                    raise
                vault.secrets.recover_deleted_secret(name)  # deleted under purge protection
                vault.secrets.set_secret(name, password, tags=tags, content_type=_CONTENT_TYPE)
        except VaultError as exc:
            raise keyring.errors.PasswordSetError(f"vaultcore: {exc}") from None

    def delete_password(self, service: str, username: str) -> None:
        vault = self._open()
        name = encode_name(service, username)
        try:
            vault.secrets.delete_secret(name)
        except NotFoundError:
            raise keyring.errors.PasswordDeleteError("no such password") from None
        except VaultError as exc:
            raise keyring.errors.PasswordDeleteError(f"vaultcore: {exc}") from None
        if not vault.purge_protection:
            # a principal without the purge action leaves the deleted secret recoverable
            with contextlib.suppress(VaultError):
                vault.secrets.purge_deleted_secret(name)

    def __repr__(self) -> str:
        return f"<VaultcoreKeyring {self._vault.path if self._vault else '(not opened)'}>"
