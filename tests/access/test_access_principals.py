"""Principals, credentials, object-scoped assignments and revocation (issue 7 §1-3, §5)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from accesshelpers import last_event

from vaultcore import (
    ConflictError,
    ForbiddenError,
    InvalidParameterError,
    NotFoundError,
    RawKeyCredential,
    UnauthorizedError,
    Vault,
)

SECRETS_USER = "Key Vault Secrets User"
SECRETS_OFFICER = "Key Vault Secrets Officer"
CRYPTO_USER = "Key Vault Crypto User"
DIGEST = hashlib.sha256(b"x").digest()

Grant = Callable[..., Vault]


# -- object-scoped assignments ---------------------------------------------------------


def test_secret_scoped_role_reaches_that_secret_only(vault: Vault, principal: Grant) -> None:
    for name in ("app", "app-2", "other"):
        vault.secrets.set_secret(name, f"value of {name}")
    view = principal(SECRETS_USER, "/secrets/app")

    assert view.secrets.get_secret("app").value == "value of app"
    assert view.secrets.get_secret("APP").value == "value of app"  # names are case-insensitive
    assert [p.name for p in view.secrets.list_properties_of_secret_versions("app")] == ["app"]
    for other in ("app-2", "other"):  # "app-2" shares a prefix with the scope
        with pytest.raises(ForbiddenError, match="getSecret"):
            view.secrets.get_secret(other)
    with pytest.raises(ForbiddenError, match="readMetadata"):  # listing is a vault-level operation
        list(view.secrets.list_properties_of_secrets())
    with pytest.raises(ForbiddenError, match="setSecret"):  # the role, not the scope, is the limit here
        view.secrets.set_secret("app", "new")

    denied = last_event(vault, view.principal, "SecretGet")
    assert (denied.result, denied.object_id) == ("Forbidden", "/secrets/other")
    listed = last_event(vault, view.principal, "SecretList")
    assert (listed.result, listed.object_id) == ("Forbidden", "/")


def test_officer_scoped_to_one_secret_cannot_touch_others_or_restore(vault: Vault, principal: Grant) -> None:
    vault.secrets.set_secret("mine", "a")
    vault.secrets.set_secret("theirs", "b")
    view = principal(SECRETS_OFFICER, "/secrets/mine")

    view.secrets.set_secret("mine", "a2")
    blob = view.secrets.backup_secret("mine")
    view.secrets.delete_secret("mine")
    view.secrets.recover_deleted_secret("mine")
    with pytest.raises(ForbiddenError):
        view.secrets.set_secret("theirs", "x")
    with pytest.raises(ForbiddenError):
        view.secrets.delete_secret("theirs")
    with pytest.raises(ForbiddenError):  # restore and bulk set act on the vault, not one object
        view.secrets.restore_secret_backup(blob)
    with pytest.raises(ForbiddenError):
        view.secrets.set_secrets({"mine": "x"})
    assert vault.secrets.get_secret("theirs").value == "b"


def test_key_scope_does_not_reach_a_secret_of_the_same_name(vault: Vault, principal: Grant) -> None:
    vault.keys.create_ec_key("shared-name")
    vault.keys.create_ec_key("other-key")
    vault.secrets.set_secret("shared-name", "s")
    view = principal(CRYPTO_USER, "/keys/shared-name")

    signature = view.keys.get_cryptography_client("shared-name").sign("ES256", DIGEST).signature
    assert view.keys.get_cryptography_client("shared-name").verify("ES256", DIGEST, signature).is_valid
    with pytest.raises(ForbiddenError, match="keys/sign"):
        view.keys.get_cryptography_client("other-key").sign("ES256", DIGEST)
    with pytest.raises(ForbiddenError):
        list(view.keys.list_properties_of_keys())
    with pytest.raises(ForbiddenError):
        view.secrets.get_secret("shared-name")
    signed = last_event(vault, view.principal, "KeySign")
    assert signed.result == "Forbidden" and signed.object_id == "/keys/other-key"


def test_vault_scope_and_object_scope_combine(vault: Vault, principal: Grant) -> None:
    vault.secrets.set_secret("a", "1")
    vault.secrets.set_secret("b", "2")
    view = principal(SECRETS_USER, "/secrets/a")
    vault.access.assign_role(view.principal, "Key Vault Reader", "/")
    assert {p.name for p in view.secrets.list_properties_of_secrets()} == {"a", "b"}  # Reader lists
    assert view.secrets.get_secret("a").value == "1"
    with pytest.raises(ForbiddenError):
        view.secrets.get_secret("b")


@pytest.mark.parametrize(
    "scope", ["", "secrets/a", "/secrets/", "/secrets/a/b", "/vaults/x", "/secrets/a_b", "/vaults"]
)
def test_bad_scopes_are_refused(vault: Vault, scope: str) -> None:
    app = vault.access.create_application("scoped")
    with pytest.raises(InvalidParameterError):
        vault.access.assign_role(app.principal.id, SECRETS_USER, scope)


def test_unknown_role_and_unknown_principal_are_refused(vault: Vault) -> None:
    app = vault.access.create_application("someone")
    with pytest.raises(InvalidParameterError, match="not a built-in or custom role"):
        vault.access.assign_role(app.principal.id, "Owner")
    with pytest.raises(NotFoundError):
        vault.access.assign_role("app:nobody", SECRETS_USER)
    with pytest.raises(ConflictError):
        vault.access.create_application("someone")


# -- authentication --------------------------------------------------------------------


def test_bad_client_secret_is_unauthorized_and_audited(vault: Vault) -> None:
    app = vault.access.create_application("client")
    with pytest.raises(UnauthorizedError):
        vault.as_principal("client", app.client_secret[:-1] + ("A" if app.client_secret[-1] != "A" else "B"))
    with pytest.raises(UnauthorizedError):
        vault.as_principal("client", "")
    with pytest.raises(UnauthorizedError):
        vault.as_principal("ghost", app.client_secret)
    with pytest.raises(UnauthorizedError):  # arguments swapped: the secret must not reach the log
        vault.as_principal(app.client_secret, "client")
    events = vault.audit.events(operation="PrincipalAuthenticate")
    principals = [(e.principal, e.result) for e in events]
    assert principals[:2] == [("app:client", "Unauthorized"), ("app:client", "Unauthorized")]
    # Unknown client ids are logged as a short hash, never verbatim.
    assert [r for _, r in principals[2:]] == ["Unauthorized", "Unauthorized"]
    assert all(p.startswith("app:unknown-") for p, _ in principals[2:])
    assert principals[2][0] != principals[3][0]
    assert app.client_secret not in str([e.to_json() for e in events])
    assert vault.as_principal("client", app.client_secret).principal == "app:client"


def test_rotated_secret_refuses_the_old_one(vault: Vault) -> None:
    app = vault.access.create_application("rotating")
    vault.access.assign_role(app.principal.id, SECRETS_USER)
    new = vault.access.rotate_secret("rotating")
    assert new.client_secret != app.client_secret
    with pytest.raises(UnauthorizedError):
        vault.as_principal("rotating", app.client_secret)
    assert vault.as_principal("rotating", new.client_secret).principal == "app:rotating"
    assert last_event(vault, "admin", "PrincipalRotateSecret").result == "success"
    with pytest.raises(NotFoundError):
        vault.access.rotate_secret("never-created")


def test_client_secret_is_shown_once_and_kept_out_of_reprs(vault: Vault) -> None:
    app = vault.access.create_application("shy")
    assert len(app.client_secret) >= 43
    assert app.client_secret not in repr(app)
    listed = vault.access.list_principals()
    assert [p.id for p in listed] == ["app:shy"]
    assert app.client_secret not in repr(listed)


def test_deleted_principal_is_refused_and_leaves_no_assignment_behind(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    app = vault.access.create_application("leaver")
    vault.access.assign_role(app.principal.id, SECRETS_USER)
    view = vault.as_principal("leaver", app.client_secret)
    assert view.secrets.get_secret("s").value == "v"

    vault.access.delete_principal("app:leaver")
    with pytest.raises(UnauthorizedError):
        vault.as_principal("leaver", app.client_secret)
    with pytest.raises(ForbiddenError):  # an existing view loses every permission at once
        view.secrets.get_secret("s")
    assert vault.access.list_role_assignments() == []

    again = vault.access.create_application("leaver")  # a new identity with the same name
    fresh = vault.as_principal("leaver", again.client_secret)
    with pytest.raises(ForbiddenError):
        fresh.secrets.get_secret("s")


def test_removed_role_is_denied_at_once_in_an_existing_view(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    app = vault.access.create_application("revoked")
    assignment = vault.access.assign_role(app.principal.id, SECRETS_USER)
    view = vault.as_principal("revoked", app.client_secret)
    assert view.secrets.get_secret("s").value == "v"

    vault.access.remove_role(assignment.id)
    with pytest.raises(ForbiddenError):
        view.secrets.get_secret("s")
    assert last_event(vault, "app:revoked", "SecretGet").result == "Forbidden"
    with pytest.raises(NotFoundError):
        vault.access.remove_role(assignment.id)
    with pytest.raises(NotFoundError):
        vault.access.remove_role("not hex")


def test_role_assignment_from_another_handle_applies_at_once(
    vault: Vault, vault_and_cred: tuple[Vault, RawKeyCredential]
) -> None:
    vault.secrets.set_secret("s", "v")
    app = vault.access.create_application("late")
    view = vault.as_principal("late", app.client_secret)
    with pytest.raises(ForbiddenError):
        view.secrets.get_secret("s")
    other = Vault.open(vault.path, vault_and_cred[1])
    try:
        other.access.assign_role("app:late", SECRETS_USER)
    finally:
        other.close()
    assert view.secrets.get_secret("s").value == "v"


def test_client_ids_are_case_insensitive_everywhere(vault: Vault) -> None:
    """One principal, whatever the casing used to authenticate, assign or delete it."""
    vault.secrets.set_secret("s", "v")
    app = vault.access.create_application("MyApp")
    vault.access.assign_role("app:MYAPP", SECRETS_USER)
    view = vault.as_principal("myapp", app.client_secret)
    assert view.principal == "app:MyApp"  # audited under the id it was created with
    assert view.secrets.get_secret("s").value == "v"
    assert last_event(vault, "app:MyApp", "SecretGet").result == "success"
    assert [a.principal_id for a in vault.access.list_role_assignments("app:myapp")] == ["app:MyApp"]

    vault.access.delete_principal("app:myApp")
    assert vault.access.list_role_assignments() == []
    again = vault.access.create_application("MYAPP")
    with pytest.raises(ForbiddenError):  # the new principal inherits nothing
        vault.as_principal("MyApp", again.client_secret).secrets.get_secret("s")


def test_os_user_principals(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    vault.access.create_os_user(1234, display_name="backup job")
    vault.access.assign_role("uid:1234", SECRETS_USER)
    view = vault.as_os_user(1234, caller={"socket": "/run/vaultcore.sock"})
    assert view.principal == "uid:1234"
    assert view.secrets.get_secret("s").value == "v"
    event = last_event(vault, "uid:1234", "SecretGet")
    assert event.caller["socket"] == "/run/vaultcore.sock"
    with pytest.raises(UnauthorizedError):
        vault.as_os_user(4321)
    with pytest.raises(InvalidParameterError):
        vault.access.create_os_user(-1)


def test_a_principal_view_cannot_mint_other_identities(vault: Vault, principal: Grant) -> None:
    vault.access.create_os_user(0)
    vault.access.assign_role("uid:0", "Key Vault Administrator")
    view = principal(SECRETS_USER)
    with pytest.raises(ForbiddenError):
        view.as_os_user(0)
    assert last_event(vault, view.principal, "PrincipalImpersonate").result == "Forbidden"
    with pytest.raises(ForbiddenError):
        view.access.create_application("sneaky")
    with pytest.raises(ForbiddenError):
        view.access.assign_role(view.principal, "Key Vault Administrator")
    with pytest.raises(ForbiddenError):
        view.access.list_principals()


def test_administrator_role_principal_can_manage_access(vault: Vault, principal: Grant) -> None:
    view = principal("Key Vault Administrator")
    made = view.access.create_application("delegated")
    view.access.assign_role(made.principal.id, SECRETS_USER)
    assert last_event(vault, view.principal, "RoleAssignmentCreate").result == "success"


def test_closing_a_view_leaves_the_vault_open(vault: Vault, principal: Grant) -> None:
    vault.secrets.set_secret("s", "v")
    view = principal(SECRETS_USER)
    with view:
        assert view.secrets.get_secret("s").value == "v"
    assert view.secrets.get_secret("s").value == "v"
    assert vault.secrets.get_secret("s").value == "v"
