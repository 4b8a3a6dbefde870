"""The public API does not shrink by accident: each public module's ``__all__`` against a list kept here.

Adding a name is a deliberate change to this list (and to CHANGELOG.md); removing one fails loudly.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC_API: dict[str, list[str]] = {
    "vaultcore": [
        "KDF_DEFAULT", "KDF_INTERACTIVE", "KDF_TESTING", "AdministratorContact", "CertificateContact",
        "CertificateContentType", "CertificateIssuer", "CertificateOperation", "CertificateOperationError",
        "CertificatePolicy", "CertificatePolicyAction", "CertificateProperties", "ConflictError", "Credential",
        "CryptographyClient", "DecryptResult", "DeletedCertificate", "DeletedKey", "DeletedSecret", "EncryptResult",
        "EncryptionAlgorithm", "ForbiddenError", "HSMConfigurationError", "HSMError", "HSMUnavailableError",
        "IntegrityError", "InvalidParameterError", "IssuerProperties", "JsonWebKey", "KdfParameters", "KeyCurveName",
        "KeyFileCredential", "KeyOperation", "KeyProperties", "KeyRotationLifetimeAction", "KeyRotationPolicy",
        "KeyType", "KeyUsageType", "KeyVaultCertificate", "KeyVaultKey", "KeyVaultSecret", "KeyWrapAlgorithm",
        "LifetimeAction", "MaintenanceReport", "NotAVaultError", "NotFoundError", "PassphraseCredential",
        "Pkcs11Credential", "RawKeyCredential", "RollbackError", "SecretProperties", "SignResult",
        "SignatureAlgorithm", "StorageError", "UnauthorizedError", "UnsupportedError", "UnwrapResult", "Vault",
        "VaultError", "VaultLockedError", "VerifyResult", "WellKnownIssuerNames", "WrapResult", "__version__",
        # issue 15: the administration plane
        "FullRestoreResult", "Permission", "RoleDefinition", "VaultSetting",
    ],
    "vaultcore.hazmat": [
        "AESGCM", "NONCE_SIZE", "RECORD_OVERHEAD", "TAG_SIZE", "BytesLike", "aes_gcm_decrypt_batch",
        "aes_gcm_encrypt_batch", "aes_key_rewrap_batch", "aes_key_unwrap", "aes_key_unwrap_batch",
        "aes_key_unwrap_with_padding", "aes_key_wrap", "aes_key_wrap_batch", "aes_key_wrap_with_padding",
        "constant_time_compare", "open_record", "open_records", "openssl_version", "random_bytes", "seal_record",
        "seal_records",
    ],
    "vaultcore.testing": [
        "START", "AkvServer", "FakeClock", "SoftHsm", "VaultFactory", "new_test_credential", "running_akv_server",
        "softhsm_missing",
    ],
    "vaultcore.server": [
        "DEFAULT_HOSTS", "AkvApp", "AsyncServerCredential", "BackgroundServer", "ConnectionLimits", "IssuedToken",
        "ServerCredential", "StaticTokenCredential", "TlsFiles", "TokenIssuer", "check_cert_files",
        "client_environment", "create_app", "credential", "ensure_local_tls", "public_ca_copy", "serve", "url_for",
    ],
    "vaultcore.exceptions": [
        "ConflictError", "ForbiddenError", "HSMConfigurationError", "HSMError", "HSMUnavailableError",
        "IntegrityError", "InvalidParameterError", "NotAVaultError", "NotFoundError", "RollbackError",
        "StorageError", "UnauthorizedError", "UnsupportedError", "VaultError", "VaultLockedError",
    ],
    "vaultcore.cli": ["EXIT_CODES", "cli", "exit_code_for", "main"],
    "vaultcore.pytest_plugin": ["akv_server", "premium_vault", "vault", "vault_factory", "vaultcore_softhsm"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC_API))
def test_every_public_name_is_still_exported(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    missing = set(PUBLIC_API[module]) - exported
    assert not missing, f"{module} no longer exports {sorted(missing)}"
    added = exported - set(PUBLIC_API[module])
    assert not added, f"{module} exports new names {sorted(added)}: add them to PUBLIC_API deliberately"
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which does not exist"
