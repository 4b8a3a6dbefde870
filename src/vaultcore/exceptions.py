"""The one exception tree of vaultcore.

Every error raised by vaultcore derives from :class:`VaultError`; third-party exceptions
(lmdb, pkcs11, cryptography) are translated by the module that owns the dependency and
never leak out. Messages never contain secret values, keys or passphrases.

::

    VaultError
    ├── NotFoundError              object, version, principal... does not exist      (404)
    ├── ConflictError              name exists / is soft-deleted / operation pending   (409)
    ├── ForbiddenError             disabled/expired object, role denied, key_ops,     (403)
    │                              purge protection, wrong vault kind
    ├── UnauthorizedError          bad or missing credential                          (401)
    ├── IntegrityError             any failed tag/unwrap/MAC/format check              (400/500)
    │   └── RollbackError          the vault on disk is older than the HSM says
    ├── InvalidParameterError      bad argument (also a ValueError)                   (400)
    │   └── UnsupportedError       valid request the backend cannot do (e.g. an HSM mechanism)
    ├── HSMError                   PKCS#11 token/module problems                      (503)
    │   ├── HSMConfigurationError  module missing, bad SOFTHSM2_CONF, token dir missing
    │   └── HSMUnavailableError    token not present, device gone while running
    ├── StorageError               the store cannot be read or written                 (500)
    │   └── NotAVaultError         the path holds no vault, or a newer format
    └── VaultLockedError           the vault is closed / locked                        (423)

``IntegrityError`` is deliberately one class with no detail on which check failed
(like Fernet's ``InvalidToken``): callers cannot build an oracle from it.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "HSMConfigurationError",
    "HSMError",
    "HSMUnavailableError",
    "IntegrityError",
    "InvalidParameterError",
    "NotAVaultError",
    "NotFoundError",
    "RollbackError",
    "StorageError",
    "UnauthorizedError",
    "UnsupportedError",
    "VaultError",
    "VaultLockedError",
]


class VaultError(Exception):
    """Root of every vaultcore error.

    ``code`` is the Azure Key Vault error code the server reports; ``inner_code`` the
    optional ``innererror.code`` (for example ``ObjectIsDeletedButRecoverable``).
    """

    code = "VaultError"
    status = 500

    def __init__(self, message: str = "", *, inner_code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.inner_code = inner_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFoundError(VaultError):
    """The object, version or principal does not exist."""

    code = "NotFound"
    status = 404


class ConflictError(VaultError):
    """The request conflicts with the current state (name exists, soft-deleted, pending)."""

    code = "Conflict"
    status = 409


class ForbiddenError(VaultError):
    """The operation is not allowed (disabled/expired object, role, key_ops, protection)."""

    code = "Forbidden"
    status = 403


class UnauthorizedError(VaultError):
    """The credential is wrong or missing."""

    code = "Unauthorized"
    status = 401


class IntegrityError(VaultError):
    """Authentication of stored or supplied data failed."""

    code = "IntegrityError"
    status = 400

    def __init__(self, message: str = "", *, inner_code: str | None = None) -> None:
        super().__init__(message or "authentication failed", inner_code=inner_code)


class RollbackError(IntegrityError):
    """The vault on disk is older than the generation recorded in the HSM token."""

    code = "Rollback"


class InvalidParameterError(VaultError, ValueError):
    """An argument is invalid."""

    code = "BadParameter"
    status = 400


class UnsupportedError(InvalidParameterError):
    """The request is valid but this backend (e.g. this HSM) cannot perform it."""

    code = "NotSupported"


class HSMError(VaultError):
    """The PKCS#11 token or module failed."""

    code = "HSMError"
    status = 503


class HSMConfigurationError(HSMError):
    """The PKCS#11 module or its configuration is missing or broken."""

    code = "HSMConfiguration"


class HSMUnavailableError(HSMError):
    """The token is not present or went away."""

    code = "HSMUnavailable"


class StorageError(VaultError):
    """The store cannot be read or written."""

    code = "StorageError"
    status = 500


class NotAVaultError(StorageError):
    """The path does not hold a vaultcore vault, or holds a newer format."""

    code = "NotAVault"
    status = 400


class VaultLockedError(VaultError):
    """The vault is closed or locked."""

    code = "VaultLocked"
    status = 423
