"""vaultcore: an embedded, encrypted key vault with Azure Key Vault's object model.

Create a vault with :meth:`Vault.create`, open it with :meth:`Vault.open` and a credential
(or :meth:`Vault.from_env`, which reads the ``VAULTCORE_*`` settings the ``vaultcore``
command uses), then use ``vault.secrets``, ``vault.keys``, ``vault.certificates``,
``vault.access`` and ``vault.audit`` (method names follow the Azure SDK). Raw cryptographic
primitives live in :mod:`vaultcore.hazmat` and are for experts only. Guides: README.md and
docs/ (docs/secrets.md for the everyday API, docs/cli.md for the command line).

Importing the package is cheap: the names below are loaded from their modules on first
use (PEP 562), so ``vaultcore --version`` or a script that only catches ``VaultError``
does not pay for X.509, PKCS#11 or the key clients.
"""

from vaultcore._version import __version__
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

TYPE_CHECKING = False  # not typing's: importing typing costs more than the rest of this module
if TYPE_CHECKING:
    from vaultcore._results import FullRestoreResult, MaintenanceReport, VaultSetting
    from vaultcore._vault import Vault
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

#: Public name -> the module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "FullRestoreResult": "vaultcore._results",
    "VaultSetting": "vaultcore._results",
    "Permission": "vaultcore.access._roledefs",
    "RoleDefinition": "vaultcore.access._roledefs",
    "MaintenanceReport": "vaultcore._results",
    "Vault": "vaultcore._vault",
    "CertificateProperties": "vaultcore.certificates._models",
    "DeletedCertificate": "vaultcore.certificates._models",
    "KeyVaultCertificate": "vaultcore.certificates._models",
    "AdministratorContact": "vaultcore.certificates._policy",
    "CertificateContact": "vaultcore.certificates._policy",
    "CertificateContentType": "vaultcore.certificates._policy",
    "CertificateIssuer": "vaultcore.certificates._policy",
    "CertificateOperation": "vaultcore.certificates._policy",
    "CertificateOperationError": "vaultcore.certificates._policy",
    "CertificatePolicy": "vaultcore.certificates._policy",
    "CertificatePolicyAction": "vaultcore.certificates._policy",
    "IssuerProperties": "vaultcore.certificates._policy",
    "KeyUsageType": "vaultcore.certificates._policy",
    "LifetimeAction": "vaultcore.certificates._policy",
    "WellKnownIssuerNames": "vaultcore.certificates._policy",
    "KDF_DEFAULT": "vaultcore.crypto._credentials",
    "KDF_INTERACTIVE": "vaultcore.crypto._credentials",
    "KDF_TESTING": "vaultcore.crypto._credentials",
    "Credential": "vaultcore.crypto._credentials",
    "KdfParameters": "vaultcore.crypto._credentials",
    "KeyFileCredential": "vaultcore.crypto._credentials",
    "PassphraseCredential": "vaultcore.crypto._credentials",
    "Pkcs11Credential": "vaultcore.crypto._credentials",
    "RawKeyCredential": "vaultcore.crypto._credentials",
    "EncryptionAlgorithm": "vaultcore.crypto._jwk",
    "KeyCurveName": "vaultcore.crypto._jwk",
    "KeyOperation": "vaultcore.crypto._jwk",
    "KeyType": "vaultcore.crypto._jwk",
    "KeyWrapAlgorithm": "vaultcore.crypto._jwk",
    "SignatureAlgorithm": "vaultcore.crypto._jwk",
    "DeletedSecret": "vaultcore.engine._models",
    "KeyVaultSecret": "vaultcore.engine._models",
    "SecretProperties": "vaultcore.engine._models",
    "CryptographyClient": "vaultcore.keys._crypto_client",
    "DecryptResult": "vaultcore.keys._models",
    "DeletedKey": "vaultcore.keys._models",
    "EncryptResult": "vaultcore.keys._models",
    "JsonWebKey": "vaultcore.keys._models",
    "KeyProperties": "vaultcore.keys._models",
    "KeyRotationLifetimeAction": "vaultcore.keys._models",
    "KeyRotationPolicy": "vaultcore.keys._models",
    "KeyVaultKey": "vaultcore.keys._models",
    "SignResult": "vaultcore.keys._models",
    "UnwrapResult": "vaultcore.keys._models",
    "VerifyResult": "vaultcore.keys._models",
    "WrapResult": "vaultcore.keys._models",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vaultcore' has no attribute {name!r}")
    # __import__ rather than importlib.import_module: no importlib package to load, and
    # ``python -X importtime`` then shows the lazy module under its importer.
    value = getattr(__import__(module, fromlist=(name,)), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
