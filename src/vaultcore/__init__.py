"""vaultcore: an embedded, encrypted key vault with Azure Key Vault's object model.

Open a vault with :meth:`Vault.create` / :meth:`Vault.open` and a credential, then use
``vault.secrets`` (and, as they land, ``vault.keys`` and ``vault.certificates``). Raw
cryptographic primitives live in :mod:`vaultcore.hazmat` and are for experts only.
"""

from importlib.metadata import PackageNotFoundError, version

from vaultcore._administration import FullRestoreResult, VaultSetting
from vaultcore._vault import MaintenanceReport, Vault
from vaultcore.access._roledefs import Permission, RoleDefinition
from vaultcore.certificates._models import CertificateProperties, DeletedCertificate, KeyVaultCertificate
from vaultcore.certificates._policy import (
    AdministratorContact,
    CertificateContact,
    CertificateContentType,
    CertificateIssuer,
    CertificateOperation,
    CertificateOperationError,
    CertificatePolicy,
    CertificatePolicyAction,
    IssuerProperties,
    KeyUsageType,
    LifetimeAction,
    WellKnownIssuerNames,
)
from vaultcore.crypto._credentials import (
    KDF_DEFAULT,
    KDF_INTERACTIVE,
    KDF_TESTING,
    Credential,
    KdfParameters,
    KeyFileCredential,
    PassphraseCredential,
    Pkcs11Credential,
    RawKeyCredential,
)
from vaultcore.crypto._jwk import (
    EncryptionAlgorithm,
    KeyCurveName,
    KeyOperation,
    KeyType,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from vaultcore.engine._models import DeletedSecret, KeyVaultSecret, SecretProperties
from vaultcore.exceptions import (
    ConflictError,
    ForbiddenError,
    HSMConfigurationError,
    HSMError,
    HSMUnavailableError,
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    NotFoundError,
    RollbackError,
    StorageError,
    UnauthorizedError,
    UnsupportedError,
    VaultError,
    VaultLockedError,
)
from vaultcore.keys._crypto_client import CryptographyClient
from vaultcore.keys._models import (
    DecryptResult,
    DeletedKey,
    EncryptResult,
    JsonWebKey,
    KeyProperties,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyVaultKey,
    SignResult,
    UnwrapResult,
    VerifyResult,
    WrapResult,
)

try:
    __version__ = version("vaultcore")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "KDF_DEFAULT",
    "KDF_INTERACTIVE",
    "KDF_TESTING",
    "AdministratorContact",
    "CertificateContact",
    "CertificateContentType",
    "CertificateIssuer",
    "CertificateOperation",
    "CertificateOperationError",
    "CertificatePolicy",
    "CertificatePolicyAction",
    "CertificateProperties",
    "ConflictError",
    "Credential",
    "CryptographyClient",
    "DecryptResult",
    "DeletedCertificate",
    "DeletedKey",
    "DeletedSecret",
    "EncryptResult",
    "EncryptionAlgorithm",
    "ForbiddenError",
    "FullRestoreResult",
    "HSMConfigurationError",
    "HSMError",
    "HSMUnavailableError",
    "IntegrityError",
    "InvalidParameterError",
    "IssuerProperties",
    "JsonWebKey",
    "KdfParameters",
    "KeyCurveName",
    "KeyFileCredential",
    "KeyOperation",
    "KeyProperties",
    "KeyRotationLifetimeAction",
    "KeyRotationPolicy",
    "KeyType",
    "KeyUsageType",
    "KeyVaultCertificate",
    "KeyVaultKey",
    "KeyVaultSecret",
    "KeyWrapAlgorithm",
    "LifetimeAction",
    "MaintenanceReport",
    "NotAVaultError",
    "NotFoundError",
    "PassphraseCredential",
    "Permission",
    "Pkcs11Credential",
    "RawKeyCredential",
    "RoleDefinition",
    "RollbackError",
    "SecretProperties",
    "SignResult",
    "SignatureAlgorithm",
    "StorageError",
    "UnauthorizedError",
    "UnsupportedError",
    "UnwrapResult",
    "Vault",
    "VaultError",
    "VaultLockedError",
    "VaultSetting",
    "VerifyResult",
    "WellKnownIssuerNames",
    "WrapResult",
    "__version__",
]
