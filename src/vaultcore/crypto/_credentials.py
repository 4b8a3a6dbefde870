"""Credentials and root keys: what unlocks a vault.

A *credential* is what the user holds (a passphrase, a key file, raw key bytes, a PKCS#11
token). Creating or opening a vault turns it into a *root key*, a tiny interface after
Tink's ``Aead``: ``wrap(plaintext, aad)`` / ``unwrap(blob, aad)`` / ``describe()``. The root
key protects only the keyring (a few hundred bytes); it is never stored in the vault.

Software root keys (standard tier) derive two independent 256-bit keys from the credential
secret with HKDF-SHA256, bound to the vault id: a wrapping key (AES-256-GCM over the
keyring) and a *verifier* stored in the header. The verifier tells a wrong credential
(``UnauthorizedError``) from a damaged keyring (``IntegrityError``) and costs an attacker
the same Argon2id work per guess as the keyring itself.

Passphrases go through Argon2id (``cryptography``); its parameters live in the vault header
and are **capped when read**, so an edited header cannot make ``open`` take hours or
exhaust memory.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from abc import ABC, abstractmethod
from typing import Any, ClassVar, NoReturn, Protocol

from vaultcore._frozen import DataclassView
from vaultcore.crypto import _bindings
from vaultcore.exceptions import (
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    NotFoundError,
    StorageError,
    UnauthorizedError,
)

__all__ = [
    "Credential",
    "KdfParameters",
    "KeyFileCredential",
    "PassphraseCredential",
    "Pkcs11Credential",
    "RawKeyCredential",
    "RootKey",
    "StretchedPassphrase",
]

_ROOT_BLOB_V1 = 0x01
_KEY_SIZE = 32


class RootKey(Protocol):
    """Protects the keyring. Implementations: software (here) and PKCS#11 (``hsm._pkcs11``)."""

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...

    def describe(self) -> dict[str, Any]: ...


class KdfParameters(DataclassView):
    """Argon2id cost parameters (RFC 9106). ``memory_cost`` is in KiB."""

    _fields = ("memory_cost", "iterations", "lanes")

    memory_cost: int = 65536
    iterations: int = 3
    lanes: int = 4

    #: Upper bounds enforced when parameters are read from a vault header.
    MAX_MEMORY_COST: ClassVar[int] = 1 << 20  # 1 GiB
    MAX_ITERATIONS: ClassVar[int] = 16
    MAX_LANES: ClassVar[int] = 16

    def __init__(self, memory_cost: int = 65536, iterations: int = 3, lanes: int = 4) -> None:
        self.__dict__.update(memory_cost=memory_cost, iterations=iterations, lanes=lanes)

    def check(self) -> None:
        if not (1 <= self.lanes <= self.MAX_LANES):
            raise InvalidParameterError(f"Argon2id lanes must be 1..{self.MAX_LANES}")
        if not (1 <= self.iterations <= self.MAX_ITERATIONS):
            raise InvalidParameterError(f"Argon2id iterations must be 1..{self.MAX_ITERATIONS}")
        if not (8 * self.lanes <= self.memory_cost <= self.MAX_MEMORY_COST):
            raise InvalidParameterError(f"Argon2id memory_cost must be {8 * self.lanes}..{self.MAX_MEMORY_COST} KiB")


#: Presets, after argon2-cffi's profiles.
KDF_DEFAULT = KdfParameters()  # RFC 9106 low-memory profile (64 MiB, t=3, p=4)
KDF_INTERACTIVE = KdfParameters(memory_cost=19456, iterations=2, lanes=1)  # OWASP minimum
KDF_TESTING = KdfParameters(memory_cost=64, iterations=1, lanes=1)  # tests only: not secure


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise NotAVaultError(f"vault header: {what} is missing")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise NotAVaultError(f"vault header: {what} is malformed") from None


def _hkdf(secret: bytes, info: bytes, salt: bytes) -> bytes:
    return _bindings.hkdf_sha256(secret, salt, info, _KEY_SIZE)


class _SoftwareRootKey:
    """AES-256-GCM over the keyring, keyed from the credential secret by HKDF."""

    __slots__ = ("_description", "_key")

    def __init__(self, wrap_key: bytes, description: dict[str, Any]) -> None:
        self._key = wrap_key
        self._description = description

    # The native GCM calls (the *_into forms), not the routed ones: a vault opens without
    # importing cryptography (see crypto._bindings).
    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = _bindings.random_bytes(12)
        out = bytearray(1 + 12 + len(plaintext) + 16)
        out[0] = _ROOT_BLOB_V1
        out[1:13] = nonce
        _bindings.gcm_seal_into(self._key, nonce, aad, plaintext, memoryview(out)[13:])
        return bytes(out)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + 12 + 16 or blob[0] != _ROOT_BLOB_V1:
            raise IntegrityError()
        out = bytearray(len(blob) - 1 - 12 - 16)
        try:
            _bindings.gcm_open_into(self._key, blob[1:13], aad, blob[13:], out)
            return bytes(out)
        finally:
            out[:] = bytes(len(out))

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def __repr__(self) -> str:
        return f"<SoftwareRootKey {self._description.get('type')}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("root keys cannot be pickled")


class Credential(ABC):
    """What unlocks a vault. Subclasses keep their secret out of ``repr`` and pickles."""

    #: ``standard`` (software root key) or ``premium`` (PKCS#11 token).
    tier = "standard"

    @abstractmethod
    def _create_root(self, vault_id: bytes) -> tuple[RootKey, dict[str, Any]]:
        """A new root key for a new vault and the header fields needed to open it again."""

    @abstractmethod
    def _open_root(self, header: dict[str, Any], vault_id: bytes) -> RootKey:
        """The root key of an existing vault; ``UnauthorizedError`` if this is the wrong one."""

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds a secret and cannot be pickled")


class _SecretCredential(Credential):
    """Shared machinery of software credentials: a 256-bit secret, HKDF, a verifier."""

    _type = ""

    def _root_from_secret(self, secret: bytes, vault_id: bytes, header: dict[str, Any]) -> RootKey:
        wrap_key = _hkdf(secret, b"vaultcore root wrap v1", vault_id)
        return _SoftwareRootKey(wrap_key, {"type": self._type})

    def _verifier(self, secret: bytes, vault_id: bytes) -> bytes:
        return _hkdf(secret, b"vaultcore root verifier v1", vault_id)

    def _check(self, secret: bytes, header: dict[str, Any], vault_id: bytes) -> RootKey:
        if header.get("type") != self._type:
            raise UnauthorizedError(
                f"this vault is unlocked by a {header.get('type', 'different')!s} credential, not a {self._type}"
            )
        expected = _unb64(header.get("verifier"), "credential verifier")
        if not _bindings.constant_time_eq(self._verifier(secret, vault_id), expected):
            raise UnauthorizedError("the credential does not unlock this vault")
        return self._root_from_secret(secret, vault_id, header)

    def _new(self, secret: bytes, vault_id: bytes, extra: dict[str, Any]) -> tuple[RootKey, dict[str, Any]]:
        header = {"type": self._type, **extra, "verifier": _b64(self._verifier(secret, vault_id))}
        return self._root_from_secret(secret, vault_id, header), header


class PassphraseCredential(_SecretCredential):
    """A passphrase stretched with Argon2id.

    ``kdf`` sets the cost for a *new* vault; an existing vault uses the parameters stored in
    its header (capped by :class:`KdfParameters` limits).
    """

    _type = "passphrase"

    def __init__(self, passphrase: str | bytes, *, kdf: KdfParameters = KDF_DEFAULT) -> None:
        data = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
        if not data:
            raise InvalidParameterError("the passphrase must not be empty")
        kdf.check()
        self._passphrase = data
        self._kdf = kdf

    def __repr__(self) -> str:
        return "PassphraseCredential(<hidden>)"

    def _derive(self, salt: bytes, params: KdfParameters) -> bytes:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # passphrases only

        return Argon2id(
            salt=salt,
            length=_KEY_SIZE,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_cost,
        ).derive(self._passphrase)

    def _create_root(self, vault_id: bytes) -> tuple[RootKey, dict[str, Any]]:
        salt = _bindings.random_bytes(16)
        secret = self._derive(salt, self._kdf)
        extra = {
            "kdf": "argon2id",
            "salt": _b64(salt),
            "memory_cost": self._kdf.memory_cost,
            "iterations": self._kdf.iterations,
            "lanes": self._kdf.lanes,
        }
        return self._new(secret, vault_id, extra)

    def _open_root(self, header: dict[str, Any], vault_id: bytes) -> RootKey:
        if header.get("type") != self._type:
            return self._check(b"", header, vault_id)  # UnauthorizedError: another kind of credential
        if header.get("kdf") != "argon2id":
            raise NotAVaultError("vault header: unknown key derivation function")
        try:
            params = KdfParameters(
                memory_cost=int(header.get("memory_cost", 0)),
                iterations=int(header.get("iterations", 0)),
                lanes=int(header.get("lanes", 0)),
            )
            params.check()
        except (TypeError, ValueError):
            # Hostile or damaged header: refuse before spending any work on it.
            raise IntegrityError("vault header: KDF parameters are out of bounds") from None
        salt = _unb64(header.get("salt"), "KDF salt")
        secret = self._derive(salt, params)
        root = self._check(secret, header, vault_id)
        self._stretched = (salt, secret)  # for an unlock-once session (StretchedPassphrase)
        return root

    def stretched(self) -> StretchedPassphrase:
        """The Argon2id result of the last vault this credential opened, as a credential.

        It opens that vault (that salt) only, without the Argon2id work and without the
        passphrase itself: what ``vaultcore unlock`` hands to its session agent.
        """
        stretched = getattr(self, "_stretched", None)
        if stretched is None:
            raise InvalidParameterError("open a vault with this credential first")
        return StretchedPassphrase(*stretched)


class StretchedPassphrase(PassphraseCredential):
    """A passphrase's Argon2id output for one salt (one vault); see :meth:`PassphraseCredential.stretched`."""

    def __init__(self, salt: bytes, secret: bytes) -> None:
        if len(secret) != _KEY_SIZE or not salt:
            raise InvalidParameterError("a stretched passphrase is 32 bytes for a non-empty salt")
        self._salt = bytes(salt)
        self._secret = bytes(secret)
        self._kdf = KDF_DEFAULT

    def __repr__(self) -> str:
        return "StretchedPassphrase(<hidden>)"

    @property
    def salt(self) -> bytes:
        return self._salt

    @property
    def secret(self) -> bytes:
        return self._secret

    def _derive(self, salt: bytes, params: KdfParameters) -> bytes:
        if not _bindings.constant_time_eq(salt, self._salt):
            raise UnauthorizedError("the credential does not unlock this vault")
        return self._secret

    def _create_root(self, vault_id: bytes) -> tuple[RootKey, dict[str, Any]]:
        raise InvalidParameterError("a stretched passphrase opens an existing vault only")


class KeyFileCredential(_SecretCredential):
    """A file holding 32 random bytes, readable only by its owner (mode 0600).

    Create one with :meth:`KeyFileCredential.generate`. A file that group or others can
    read is refused, as ssh refuses a private key with loose permissions.
    """

    _type = "key"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        try:
            fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except PermissionError as exc:  # another user's file: an environment problem, not a usage error
            raise StorageError(f"cannot read key file {self._path!r}: {exc.strerror}") from None
        except OSError as exc:
            raise InvalidParameterError(f"cannot read key file {self._path!r}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InvalidParameterError(f"key file {self._path!r} is not a regular file")
            if info.st_mode & 0o077:
                raise InvalidParameterError(
                    f"key file {self._path!r} is accessible by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):o}); chmod 600 it"
                )
            data = os.read(fd, _KEY_SIZE + 1)
        finally:
            os.close(fd)
        if len(data) != _KEY_SIZE:
            raise InvalidParameterError(f"key file {self._path!r} must hold exactly {_KEY_SIZE} bytes")
        self._key = data

    @staticmethod
    def generate(path: str | os.PathLike[str]) -> KeyFileCredential:
        """Write 32 fresh random bytes to a new file (mode 0600; refuses to overwrite)."""
        target = os.fspath(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidParameterError(f"key file {target!r} already exists") from None
        except OSError as exc:
            raise InvalidParameterError(f"cannot create key file {target!r}: {exc.strerror}") from None
        try:
            os.write(fd, _bindings.random_bytes(_KEY_SIZE))
            os.fsync(fd)
        finally:
            os.close(fd)
        return KeyFileCredential(target)

    def __repr__(self) -> str:
        return f"KeyFileCredential({self._path!r})"

    def _create_root(self, vault_id: bytes) -> tuple[RootKey, dict[str, Any]]:
        return self._new(self._key, vault_id, {})

    def _open_root(self, header: dict[str, Any], vault_id: bytes) -> RootKey:
        return self._check(self._key, header, vault_id)


class RawKeyCredential(_SecretCredential):
    """32 raw key bytes supplied by the program (embedding, tests, a key from elsewhere)."""

    _type = "key"

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray | memoryview) or len(key) != _KEY_SIZE:
            raise InvalidParameterError(f"a raw key must be exactly {_KEY_SIZE} bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "RawKeyCredential(<hidden>)"

    def _create_root(self, vault_id: bytes) -> tuple[RootKey, dict[str, Any]]:
        return self._new(self._key, vault_id, {})

    def _open_root(self, header: dict[str, Any], vault_id: bytes) -> RootKey:
        return self._check(self._key, header, vault_id)


class _Pkcs11Root:
    """Premium root key: AES-256-GCM inside the token, plus the token's rollback counter.

    ``check_generation``/``record_generation`` mirror the keyring generation in a token
    object, so a vault directory replaced by an older copy is refused at open.
    """

    def __init__(self, root: Any, vault_id: bytes) -> None:
        from vaultcore.hsm import _pkcs11

        self._root = root
        self._label = _pkcs11.generation_label(vault_id)

    @property
    def token(self) -> Any:
        return self._root.token

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return bytes(self._root.wrap(plaintext, aad))

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        return bytes(self._root.unwrap(blob, aad))

    def describe(self) -> dict[str, Any]:
        return dict(self._root.describe())

    def random_bytes(self, n: int) -> bytes:
        return bytes(self._root.token.random_bytes(n))

    def check_generation(self, generation: int) -> None:
        recorded = int(self._root.token.read_generation(self._label))
        if generation < recorded:
            from vaultcore.exceptions import RollbackError

            raise RollbackError(
                f"this vault's keyring is generation {generation}, but the HSM token recorded generation "
                f"{recorded}: the vault directory was replaced by an older copy (rollback refused)"
            )

    def record_generation(self, generation: int) -> None:
        from vaultcore.exceptions import RollbackError

        if int(self._root.token.read_generation(self._label)) < generation:
            # Another process may have recorded a newer generation since the read: nothing to do.
            with contextlib.suppress(RollbackError):
                self._root.token.write_generation(self._label, generation)

    def __repr__(self) -> str:
        return f"<Pkcs11Root {self._root!r}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("root keys cannot be pickled")


class Pkcs11Credential(Credential):
    """A root key in a PKCS#11 token (premium tier and managed HSMs).

    ``module`` is the PKCS#11 library (default: SoftHSM2); ``token_label`` and ``pin`` pick
    and unlock the token; ``key_label`` names the AES-256 root key, generated (or adopted)
    non-extractable and sensitive when the vault is created. The key never leaves the
    token: the keyring is encrypted and decrypted inside it with CKM_AES_GCM.
    """

    tier = "premium"

    def __init__(
        self, module: str | None = None, *, token_label: str, pin: str, key_label: str = "vaultcore-root"
    ) -> None:
        from vaultcore.hsm import _pkcs11

        self._config = _pkcs11.Pkcs11Config(module, token_label, pin, key_label)

    @property
    def config(self) -> Any:
        return self._config

    def __repr__(self) -> str:
        c = self._config
        return f"Pkcs11Credential(module={c.module!r}, token_label={c.token_label!r}, key_label={c.key_label!r})"

    def _create_root(self, vault_id: bytes) -> tuple[RootKey, dict[str, Any]]:
        from vaultcore.hsm import _pkcs11

        root = _pkcs11.HsmRootKey(self._config, create=True)
        described = root.describe()
        header = {
            "type": "pkcs11",
            "module": self._config.module,
            "token_label": self._config.token_label,
            "key_label": self._config.key_label,
            "key_id": described["key_id"],
        }
        return _Pkcs11Root(root, vault_id), header

    def _open_root(self, header: dict[str, Any], vault_id: bytes) -> RootKey:
        from vaultcore.hsm import _pkcs11

        if header.get("type") != "pkcs11":
            raise UnauthorizedError(
                f"this vault is unlocked by a {header.get('type')!s} credential, not a PKCS#11 token"
            )
        try:
            root = _pkcs11.HsmRootKey(self._config, create=False)
        except NotFoundError:
            # Another token, or a key label this vault does not use: a wrong credential.
            raise UnauthorizedError(
                f"PKCS#11 token '{self._config.token_label}' has no key '{self._config.key_label}'; this vault's "
                f"root key is '{header.get('key_label')!s}' in token '{header.get('token_label')!s}'"
            ) from None
        if root.describe()["key_id"] != header.get("key_id"):
            raise UnauthorizedError(
                f"key '{self._config.key_label}' in token '{self._config.token_label}' is not this vault's root key"
            )
        return _Pkcs11Root(root, vault_id)
