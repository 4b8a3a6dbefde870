"""vaultcore: an embedded, encrypted key vault with Azure Key Vault's object model.

Open a vault with :meth:`Vault.create` / :meth:`Vault.open` and a credential, then use
``vault.secrets`` (and, as they land, ``vault.keys`` and ``vault.certificates``). Raw
cryptographic primitives live in :mod:`vaultcore.hazmat` and are for experts only.
"""

from importlib.metadata import PackageNotFoundError, version

from ._credentials import (
    KDF_DEFAULT,
    KDF_INTERACTIVE,
    KDF_TESTING,
    Credential,
    KdfParameters,
    KeyFileCredential,
    PassphraseCredential,
    RawKeyCredential,
)
from ._models import DeletedSecret, KeyVaultSecret, SecretProperties
from ._vault import MaintenanceReport, Vault
from .exceptions import (
    ConflictError,
    ForbiddenError,
    HSMError,
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    NotFoundError,
    StorageError,
    UnauthorizedError,
    VaultError,
    VaultLockedError,
)

try:
    __version__ = version("vaultcore")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "KDF_DEFAULT",
    "KDF_INTERACTIVE",
    "KDF_TESTING",
    "ConflictError",
    "Credential",
    "DeletedSecret",
    "ForbiddenError",
    "HSMError",
    "IntegrityError",
    "InvalidParameterError",
    "KdfParameters",
    "KeyFileCredential",
    "KeyVaultSecret",
    "MaintenanceReport",
    "NotAVaultError",
    "NotFoundError",
    "PassphraseCredential",
    "RawKeyCredential",
    "SecretProperties",
    "StorageError",
    "UnauthorizedError",
    "Vault",
    "VaultError",
    "VaultLockedError",
    "__version__",
]
