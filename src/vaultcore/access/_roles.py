"""Azure Key Vault's built-in data-plane roles and their data actions.

Data actions use Azure's names (``Microsoft.KeyVault/vaults/secrets/getSecret/action``), so
that a ForbiddenError names a permission an Azure user can look up; as in Azure, reading or
listing deleted objects needs the list permission of their kind (``secrets/readMetadata``,
``keys/read``, ``certificates/read``), and recover and purge have their own actions. Role
definitions are lists of patterns where ``*`` matches any run of characters, as in Azure
role definitions, copied from Azure's built-in roles except where noted.

vaultcore adds a few vault-administration actions of its own (keyring rotation, security
domain, role management, audit) that only the Key Vault Administrator role grants (Reader
may read the audit log and the role assignments, as a monitoring reader could). Azure vaults
have no get-random-bytes; as in Managed HSM, the crypto roles may use it. Azure's Purge
Operator purges deleted *vaults*; here it purges deleted objects and does nothing else.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["BUILTIN_ROLES", "DataAction", "role_allows"]

_P = "Microsoft.KeyVault/vaults/"


class DataAction:
    """Data actions checked by vaultcore (Azure's names where Azure has one)."""

    SECRET_GET = _P + "secrets/getSecret/action"
    SECRET_READ_METADATA = _P + "secrets/readMetadata/action"
    SECRET_SET = _P + "secrets/setSecret/action"
    SECRET_UPDATE = _P + "secrets/update/action"
    SECRET_DELETE = _P + "secrets/delete"
    SECRET_BACKUP = _P + "secrets/backup/action"
    SECRET_RESTORE = _P + "secrets/restore/action"
    DELETED_SECRET_READ = SECRET_READ_METADATA
    DELETED_SECRET_RECOVER = _P + "secrets/recover/action"
    DELETED_SECRET_PURGE = _P + "secrets/purge/action"

    KEY_READ = _P + "keys/read"
    KEY_CREATE = _P + "keys/create/action"
    KEY_IMPORT = _P + "keys/import/action"
    KEY_UPDATE = _P + "keys/update/action"
    KEY_DELETE = _P + "keys/delete"
    KEY_BACKUP = _P + "keys/backup/action"
    KEY_RESTORE = _P + "keys/restore/action"
    KEY_ROTATE = _P + "keys/rotate/action"
    KEY_EXPORT = _P + "keys/export/action"
    KEY_ENCRYPT = _P + "keys/encrypt/action"
    KEY_DECRYPT = _P + "keys/decrypt/action"
    KEY_WRAP = _P + "keys/wrap/action"
    KEY_UNWRAP = _P + "keys/unwrap/action"
    KEY_SIGN = _P + "keys/sign/action"
    KEY_VERIFY = _P + "keys/verify/action"
    KEY_ROTATION_POLICY_READ = _P + "keyrotationpolicies/read"
    KEY_ROTATION_POLICY_WRITE = _P + "keyrotationpolicies/write"
    DELETED_KEY_READ = KEY_READ
    DELETED_KEY_RECOVER = _P + "keys/recover/action"
    DELETED_KEY_PURGE = _P + "keys/purge/action"
    RNG = _P + "rng/action"

    CERT_READ = _P + "certificates/read"
    CERT_CREATE = _P + "certificates/create/action"
    CERT_IMPORT = _P + "certificates/import/action"
    CERT_UPDATE = _P + "certificates/update/action"
    CERT_DELETE = _P + "certificates/delete"
    CERT_BACKUP = _P + "certificates/backup/action"
    CERT_RESTORE = _P + "certificates/restore/action"
    CERT_CONTACTS_READ = _P + "certificatecontacts/read"
    CERT_CONTACTS_WRITE = _P + "certificatecontacts/write"
    CERT_ISSUERS_READ = _P + "certificatecas/read"
    CERT_ISSUERS_WRITE = _P + "certificatecas/write"
    CERT_ISSUERS_DELETE = _P + "certificatecas/delete"
    DELETED_CERT_READ = CERT_READ
    DELETED_CERT_RECOVER = _P + "certificates/recover/action"
    DELETED_CERT_PURGE = _P + "certificates/purge/action"

    # vaultcore's own vault-administration actions
    ROLE_READ = _P + "roleAssignments/read"
    ROLE_WRITE = _P + "roleAssignments/write"
    AUDIT_READ = _P + "auditEvents/read"
    EVENTS_READ = _P + "events/read"
    EVENT_SUBSCRIPTIONS_READ = _P + "eventSubscriptions/read"
    EVENT_SUBSCRIPTIONS_WRITE = _P + "eventSubscriptions/write"
    VAULT_ADMIN = _P + "administration/action"
    # the administration plane (issue 15): role definitions, full backup/restore, settings
    ROLE_DEFINITION_READ = _P + "roleDefinitions/read"
    ROLE_DEFINITION_WRITE = _P + "roleDefinitions/write"
    ROLE_DEFINITION_DELETE = _P + "roleDefinitions/delete"
    FULL_BACKUP = _P + "backup/start/action"
    FULL_RESTORE = _P + "restore/start/action"
    BACKUP_STATUS = _P + "backup/status/action"
    RESTORE_STATUS = _P + "restore/status/action"
    SETTINGS_READ = _P + "settings/read"
    SETTINGS_WRITE = _P + "settings/write"


BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "Key Vault Administrator": (_P + "*",),
    "Key Vault Secrets Officer": (_P + "secrets/*",),
    "Key Vault Secrets User": (DataAction.SECRET_GET, DataAction.SECRET_READ_METADATA),
    "Key Vault Crypto Officer": (_P + "keys/*", _P + "keyrotationpolicies/*", DataAction.RNG),
    "Key Vault Crypto User": (
        DataAction.KEY_READ,
        DataAction.KEY_UPDATE,
        DataAction.KEY_BACKUP,
        DataAction.KEY_ENCRYPT,
        DataAction.KEY_DECRYPT,
        DataAction.KEY_WRAP,
        DataAction.KEY_UNWRAP,
        DataAction.KEY_SIGN,
        DataAction.KEY_VERIFY,
        DataAction.RNG,
    ),
    "Key Vault Crypto Service Encryption User": (DataAction.KEY_READ, DataAction.KEY_WRAP, DataAction.KEY_UNWRAP),
    "Key Vault Certificates Officer": (
        _P + "certificates/*",
        _P + "certificatecas/*",
        _P + "certificatecontacts/*",
    ),
    "Key Vault Certificate User": (
        DataAction.CERT_READ,
        DataAction.SECRET_GET,
        DataAction.SECRET_READ_METADATA,
        DataAction.KEY_READ,
    ),
    "Key Vault Reader": (_P + "*/read", DataAction.SECRET_READ_METADATA),
    "Key Vault Purge Operator": (
        DataAction.DELETED_SECRET_PURGE,
        DataAction.DELETED_KEY_PURGE,
        DataAction.DELETED_CERT_PURGE,
    ),
}


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.IGNORECASE)


def pattern_matches(pattern: str, action: str) -> bool:
    """Azure's wildcard rule: ``*`` matches any run of characters, case-insensitively."""
    return _compiled(pattern).fullmatch(action) is not None


def role_allows(role: str, action: str) -> bool:
    """True if the built-in *role* grants *action*."""
    return any(_compiled(p).fullmatch(action) for p in BUILTIN_ROLES.get(role, ()))
