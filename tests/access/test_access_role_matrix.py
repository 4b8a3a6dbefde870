"""Every built-in role x every operation class: allowed, or ForbiddenError naming the missing
permission, and in both cases the matching audit event.

The expected decisions are computed from **Azure's documented role definitions** (the
``dataActions`` of each built-in role, copied below verbatim) and the Azure data action each
operation needs, matched with Azure's wildcard rule. They are never read back from
``vaultcore.access._roles``: a wrong grant or a missing one in vaultcore's role table fails here.

vaultcore's deliberate departures from Azure are listed in :data:`VAULTCORE_ADDITIONS`
(and in docs/access.md); vaultcore's own vault-administration actions get Azure-style names
under ``Microsoft.KeyVault/vaults/`` so that Azure's own patterns decide them: the
Administrator's ``vaults/*`` grants them all, the Reader's ``vaults/*/read`` grants the reads.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from accesshelpers import grant, new_vault

from vaultcore import (
    CertificatePolicy,
    EncryptResult,
    ForbiddenError,
    KeyCurveName,
    KeyRotationLifetimeAction,
    KeyType,
    Permission,
    Vault,
)
from vaultcore.access._roles import BUILTIN_ROLES

P = "Microsoft.KeyVault/vaults/"

#: Azure's built-in Key Vault roles, data actions as documented (learn.microsoft.com,
#: "Azure built-in roles for Security"). Azure's Purge Operator has no data actions: it purges
#: soft-deleted *vaults*, a control-plane action.
AZURE_ROLES: dict[str, list[str]] = {
    "Key Vault Administrator": [P + "*"],
    "Key Vault Secrets Officer": [P + "secrets/*"],
    "Key Vault Secrets User": [P + "secrets/getSecret/action", P + "secrets/readMetadata/action"],
    "Key Vault Crypto Officer": [P + "keys/*", P + "keyrotationpolicies/*"],
    "Key Vault Crypto User": [
        P + "keys/read",
        P + "keys/update/action",
        P + "keys/backup/action",
        P + "keys/encrypt/action",
        P + "keys/decrypt/action",
        P + "keys/wrap/action",
        P + "keys/unwrap/action",
        P + "keys/sign/action",
        P + "keys/verify/action",
    ],
    "Key Vault Crypto Service Encryption User": [P + "keys/read", P + "keys/wrap/action", P + "keys/unwrap/action"],
    "Key Vault Certificates Officer": [
        P + "certificatecas/*",
        P + "certificates/*",
        P + "certificatecontacts/write",
    ],
    "Key Vault Certificate User": [
        P + "certificates/read",
        P + "secrets/getSecret/action",
        P + "secrets/readMetadata/action",
        P + "keys/read",
    ],
    "Key Vault Reader": [P + "*/read", P + "secrets/readMetadata/action"],
    "Key Vault Purge Operator": [],
}

#: Where vaultcore knowingly departs from Azure (see docs/access.md).
VAULTCORE_ADDITIONS: dict[str, list[str]] = {
    # One vaultcore vault is one store: there are no deleted vaults to purge, so the Purge
    # Operator purges soft-deleted objects, and can do nothing else.
    "Key Vault Purge Operator": [P + "secrets/purge/action", P + "keys/purge/action", P + "certificates/purge/action"],
    # Azure vaults have no get-random-bytes; vaultcore follows Managed HSM, whose Crypto
    # User may get random bytes.
    "Key Vault Crypto Officer": [P + "rng/action"],
    "Key Vault Crypto User": [P + "rng/action"],
}


#: A custom role (issue 15) granting exactly one data action: evaluated by the same engine.
CUSTOM_ROLE = "Custom Secret Getter"
CUSTOM_ROLES: dict[str, list[str]] = {CUSTOM_ROLE: [P + "secrets/getSecret/action"]}


def expected_allowed(role: str, azure_action: str) -> bool:
    patterns = {**AZURE_ROLES, **CUSTOM_ROLES}[role] + VAULTCORE_ADDITIONS.get(role, [])
    return any(fnmatch.fnmatchcase(azure_action.lower(), p.lower()) for p in patterns)


DIGEST = hashlib.sha256(b"role matrix").digest()
EC_KEY, OCT_KEY, CERT = "shared-ec", "shared-oct", "shared-cert"


def ec_policy() -> CertificatePolicy:
    return CertificatePolicy("Self", subject="CN=matrix", key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256)


@dataclass
class Env:
    """One vault per role: its administrator, the role's principal view and shared objects."""

    admin: Vault
    view: Vault
    encrypted: EncryptResult
    wrapped: bytes
    signature: bytes

    def crypto(self, name: str) -> Any:
        return self.view.keys.get_cryptography_client(name)


@dataclass(frozen=True)
class OpClass:
    """One operation class: what Azure calls the permission, what vaultcore names in the error,
    the audited operation name, the scope it acts on, and how to run it as the view."""

    label: str
    azure_action: str
    permission: str
    operation: str
    scope: Callable[[str], str]
    run: Callable[[Env, str], object]


def on_secret(n: str) -> str:
    return f"/secrets/{n}"


def on_key(name: str | None = None) -> Callable[[str], str]:
    return lambda n: f"/keys/{name or n}"


def on_vault(_: str) -> str:
    return "/"


def _deleted_secret(env: Env, n: str) -> bool:
    env.admin.secrets.set_secret(n, "value")
    env.admin.secrets.delete_secret(n)
    return True


def _restore(env: Env, n: str) -> object:
    env.admin.secrets.set_secret(n, "value")
    blob = env.admin.secrets.backup_secret(n)
    _deleted = env.admin.secrets.delete_secret(n)
    env.admin.secrets.purge_deleted_secret(n)
    return env.view.secrets.restore_secret_backup(blob)


def _deleted_key(env: Env, n: str) -> bool:
    env.admin.keys.create_ec_key(n)
    env.admin.keys.delete_key(n)
    return True


OPS: list[OpClass] = [
    # secrets
    OpClass(
        "secret get value",
        P + "secrets/getSecret/action",
        P + "secrets/getSecret/action",
        "SecretGet",
        on_secret,
        lambda e, n: (e.admin.secrets.set_secret(n, "value"), e.view.secrets.get_secret(n))[1],
    ),
    OpClass(
        "secret list (metadata)",
        P + "secrets/readMetadata/action",
        P + "secrets/readMetadata/action",
        "SecretList",
        on_vault,
        lambda e, n: list(e.view.secrets.list_properties_of_secrets()),
    ),
    OpClass(
        "secret set",
        P + "secrets/setSecret/action",
        P + "secrets/setSecret/action",
        "SecretSet",
        on_secret,
        lambda e, n: e.view.secrets.set_secret(n, "value"),
    ),
    OpClass(
        "secret delete",
        P + "secrets/delete",
        P + "secrets/delete",
        "SecretDelete",
        on_secret,
        lambda e, n: (e.admin.secrets.set_secret(n, "value"), e.view.secrets.delete_secret(n))[1],
    ),
    OpClass(
        "secret update",
        P + "secrets/update/action",
        P + "secrets/update/action",
        "SecretUpdate",
        on_secret,
        lambda e, n: (
            e.admin.secrets.set_secret(n, "value"),
            e.view.secrets.update_secret_properties(n, tags={"a": "b"}),
        )[1],
    ),
    OpClass(
        "deleted secret list",
        P + "secrets/readMetadata/action",
        P + "secrets/readMetadata/action",
        "SecretListDeleted",
        on_vault,
        lambda e, n: (_deleted_secret(e, n), list(e.view.secrets.list_deleted_secrets()))[1],
    ),
    OpClass(
        "deleted secret recover",
        P + "secrets/recover/action",
        P + "secrets/recover/action",
        "SecretRecover",
        on_secret,
        lambda e, n: (_deleted_secret(e, n), e.view.secrets.recover_deleted_secret(n))[1],
    ),
    OpClass(
        "deleted secret purge",
        P + "secrets/purge/action",
        P + "secrets/purge/action",
        "SecretPurge",
        on_secret,
        lambda e, n: (_deleted_secret(e, n), e.view.secrets.purge_deleted_secret(n))[1],
    ),
    OpClass(
        "secret backup",
        P + "secrets/backup/action",
        P + "secrets/backup/action",
        "SecretBackup",
        on_secret,
        lambda e, n: (e.admin.secrets.set_secret(n, "value"), e.view.secrets.backup_secret(n))[1],
    ),
    OpClass(
        "secret restore",
        P + "secrets/restore/action",
        P + "secrets/restore/action",
        "SecretRestore",
        on_vault,
        _restore,
    ),
    # keys
    OpClass(
        "key read",
        P + "keys/read",
        P + "keys/read",
        "KeyGet",
        on_key(EC_KEY),
        lambda e, n: e.view.keys.get_key(EC_KEY),
    ),
    OpClass(
        "key create",
        P + "keys/create/action",
        P + "keys/create/action",
        "KeyCreate",
        on_key(),
        lambda e, n: e.view.keys.create_ec_key(n),
    ),
    OpClass(
        "key update",
        P + "keys/update/action",
        P + "keys/update/action",
        "KeyUpdate",
        on_key(EC_KEY),
        lambda e, n: e.view.keys.update_key_properties(EC_KEY, tags={"touched": n}),
    ),
    OpClass(
        "key delete",
        P + "keys/delete",
        P + "keys/delete",
        "KeyDelete",
        on_key(),
        lambda e, n: (e.admin.keys.create_ec_key(n), e.view.keys.delete_key(n))[1],
    ),
    OpClass(
        "deleted key list",
        P + "keys/read",
        P + "keys/read",
        "KeyListDeleted",
        on_vault,
        lambda e, n: (_deleted_key(e, n), list(e.view.keys.list_deleted_keys()))[1],
    ),
    OpClass(
        "deleted key purge",
        P + "keys/purge/action",
        P + "keys/purge/action",
        "KeyPurge",
        on_key(),
        lambda e, n: (_deleted_key(e, n), e.view.keys.purge_deleted_key(n))[1],
    ),
    OpClass(
        "key backup",
        P + "keys/backup/action",
        P + "keys/backup/action",
        "KeyBackup",
        on_key(EC_KEY),
        lambda e, n: e.view.keys.backup_key(EC_KEY),
    ),
    OpClass(
        "key sign",
        P + "keys/sign/action",
        P + "keys/sign/action",
        "KeySign",
        on_key(EC_KEY),
        lambda e, n: e.crypto(EC_KEY).sign("ES256", DIGEST),
    ),
    OpClass(
        "key verify",
        P + "keys/verify/action",
        P + "keys/verify/action",
        "KeyVerify",
        on_key(EC_KEY),
        lambda e, n: e.crypto(EC_KEY).verify("ES256", DIGEST, e.signature),
    ),
    OpClass(
        "key encrypt",
        P + "keys/encrypt/action",
        P + "keys/encrypt/action",
        "KeyEncrypt",
        on_key(OCT_KEY),
        lambda e, n: e.crypto(OCT_KEY).encrypt("A256GCM", b"plaintext"),
    ),
    OpClass(
        "key decrypt",
        P + "keys/decrypt/action",
        P + "keys/decrypt/action",
        "KeyDecrypt",
        on_key(OCT_KEY),
        lambda e, n: e.crypto(OCT_KEY).decrypt(
            "A256GCM", e.encrypted.ciphertext, iv=e.encrypted.iv, authentication_tag=e.encrypted.authentication_tag
        ),
    ),
    OpClass(
        "key wrap",
        P + "keys/wrap/action",
        P + "keys/wrap/action",
        "KeyWrap",
        on_key(OCT_KEY),
        lambda e, n: e.crypto(OCT_KEY).wrap_key("A256KW", bytes(32)),
    ),
    OpClass(
        "key unwrap",
        P + "keys/unwrap/action",
        P + "keys/unwrap/action",
        "KeyUnwrap",
        on_key(OCT_KEY),
        lambda e, n: e.crypto(OCT_KEY).unwrap_key("A256KW", e.wrapped),
    ),
    OpClass(
        "key rotate",
        P + "keys/rotate/action",
        P + "keys/rotate/action",
        "KeyRotate",
        on_key(),
        lambda e, n: (e.admin.keys.create_ec_key(n), e.view.keys.rotate_key(n))[1],
    ),
    OpClass(
        "rotation policy read",
        P + "keyrotationpolicies/read",
        P + "keyrotationpolicies/read",
        "KeyRotationPolicyGet",
        on_key(EC_KEY),
        lambda e, n: e.view.keys.get_key_rotation_policy(EC_KEY),
    ),
    OpClass(
        "rotation policy write",
        P + "keyrotationpolicies/write",
        P + "keyrotationpolicies/write",
        "KeyRotationPolicySet",
        on_key(EC_KEY),
        lambda e, n: e.view.keys.update_key_rotation_policy(
            EC_KEY, lifetime_actions=[KeyRotationLifetimeAction("Notify", time_before_expiry="P30D")]
        ),
    ),
    OpClass(
        "random bytes",
        P + "rng/action",
        P + "rng/action",
        "KeyRandom",
        on_vault,
        lambda e, n: e.view.keys.get_random_bytes(16),
    ),
    # certificates
    OpClass(
        "certificate read",
        P + "certificates/read",
        P + "certificates/read",
        "CertificateGet",
        lambda n: f"/certificates/{CERT}",
        lambda e, n: e.view.certificates.get_certificate(CERT),
    ),
    OpClass(
        "certificate create",
        P + "certificates/create/action",
        P + "certificates/create/action",
        "CertificateCreate",
        lambda n: f"/certificates/{n}",
        lambda e, n: e.view.certificates.create_certificate(n, ec_policy()),
    ),
    # vaultcore's vault administration (Azure-style names; see the module docstring)
    OpClass(
        "access read",
        P + "roleAssignments/read",
        P + "roleAssignments/read",
        "RoleAssignmentList",
        on_vault,
        lambda e, n: e.view.access.list_role_assignments(),
    ),
    OpClass(
        "access write",
        P + "roleAssignments/write",
        P + "roleAssignments/write",
        "PrincipalCreate",
        on_vault,
        lambda e, n: e.view.access.create_application(f"made-{n}"),
    ),
    OpClass(
        "audit read",
        P + "auditEvents/read",
        P + "auditEvents/read",
        "AuditRead",
        on_vault,
        lambda e, n: e.view.audit.events(),
    ),
    OpClass(
        "vault administration",
        P + "administration/action",
        P + "administration/action",
        "VaultKeyringRotate",
        on_vault,
        lambda e, n: e.view.rotate_keyring(),
    ),
]

ROLES = [*AZURE_ROLES, *CUSTOM_ROLES]


def test_the_matrix_covers_every_builtin_role() -> None:
    assert set(AZURE_ROLES) == set(BUILTIN_ROLES)


def test_the_custom_role_grants_exactly_one_operation_class() -> None:
    assert [op.label for op in OPS if expected_allowed(CUSTOM_ROLE, op.azure_action)] == ["secret get value"]


def test_every_role_can_do_something_and_none_but_the_administrator_everything() -> None:
    for role in ROLES:
        allowed = [op.label for op in OPS if expected_allowed(role, op.azure_action)]
        assert allowed, role
        assert (len(allowed) == len(OPS)) == (role == "Key Vault Administrator"), role


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Env]]:
    """Lazily one vault per role, closed at the end of the module."""
    vaults: list[Vault] = []

    class Lazy(dict[str, Env]):
        def __missing__(self, role: str) -> Env:
            admin, _ = new_vault(tmp_path_factory.mktemp("matrix") / "vault", allow_software_oct_keys=True)
            vaults.append(admin)
            admin.keys.create_ec_key(EC_KEY)
            admin.keys.create_oct_key(OCT_KEY)
            admin.certificates.create_certificate(CERT, ec_policy())
            if role in CUSTOM_ROLES:
                admin.access.set_role_definition(role, permissions=[Permission.build(data_actions=CUSTOM_ROLES[role])])
            crypto_ec = admin.keys.get_cryptography_client(EC_KEY)
            crypto_oct = admin.keys.get_cryptography_client(OCT_KEY)
            env = Env(
                admin=admin,
                view=grant(admin, role),
                encrypted=crypto_oct.encrypt("A256GCM", b"secret data"),
                wrapped=crypto_oct.wrap_key("A256KW", os.urandom(32)).encrypted_key,
                signature=crypto_ec.sign("ES256", DIGEST).signature,
            )
            self[role] = env
            return env

    lazy = Lazy()
    try:
        yield lazy
    finally:
        for vault in vaults:
            vault.close()


@pytest.mark.parametrize("op", OPS, ids=[op.label.replace(" ", "-") for op in OPS])
@pytest.mark.parametrize("role", ROLES, ids=[r.removeprefix("Key Vault ").replace(" ", "-") for r in ROLES])
def test_role_matrix(envs: dict[str, Env], role: str, op: OpClass, request: pytest.FixtureRequest) -> None:
    env = envs[role]
    name = "n" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    principal = env.view.principal
    before = len(env.admin.audit.events(principal=principal, operation=op.operation))

    if expected_allowed(role, op.azure_action):
        result = op.run(env, name)
        assert result is not None or op.operation in ("SecretPurge", "KeyPurge")
        outcome = "success"
    else:
        with pytest.raises(ForbiddenError) as info:
            op.run(env, name)
        message = str(info.value)
        assert f"missing permission {op.permission}" in message
        assert principal in message and op.operation in message
        assert info.value.inner_code == "ForbiddenByRbac"
        outcome = "Forbidden"

    events = env.admin.audit.events(principal=principal, operation=op.operation)
    assert len(events) == before + 1, f"expected exactly one new {op.operation} event"
    event = events[-1]
    assert event.result == outcome
    assert event.object_id is not None
    scope = op.scope(name)
    if scope == "/":
        assert event.object_id == "/" or (outcome == "success" and event.object_id.startswith("/"))
    elif outcome == "Forbidden":
        assert event.object_id == scope
    else:
        assert event.object_id == scope or event.object_id.startswith(scope + "/")
    assert event.request_id


def test_matrix_events_chain_verifies(envs: dict[str, Env]) -> None:
    for env in envs.values():
        assert env.admin.audit.verify().ok


def _matrix_markdown() -> str:
    """The README/docs table (rows: roles; columns: operation classes)."""
    head = "| Role | " + " | ".join(op.label for op in OPS) + " |"
    rule = "|---|" + "---|" * len(OPS)
    rows = [
        f"| {role} | " + " | ".join("✓" if expected_allowed(role, op.azure_action) else "" for op in OPS) + " |"
        for role in ROLES
    ]
    return "\n".join([head, rule, *rows])


if __name__ == "__main__":  # pragma: no cover - prints the docs table
    print(_matrix_markdown())
