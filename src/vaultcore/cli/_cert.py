"""``vaultcore cert ...``: Azure Key Vault certificates.

As in Azure, each certificate version has a backing key and a backing secret of the same
name; ``cert export`` reads the secret (the PEM or PFX with the private key).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
import textwrap
from collections.abc import Iterable
from typing import Any

import click

from vaultcore import AdministratorContact, CertificateContact, CertificatePolicy
from vaultcore.exceptions import InvalidParameterError

from . import _render as r
from . import _state
from ._errors import BadInput
from ._names import remember_names
from ._objects import KindSpec, add_lifecycle_commands
from ._params import TagType, complete_names, write_new_file
from ._state import State, output_option, pass_state, secret_from_env_or_prompt

__all__ = ["COMMANDS"]

ENV_PFX_PASSWORD = "VAULTCORE_PFX_PASSWORD"
CONTENT_TYPES = {"pem": "application/x-pem-file", "pkcs12": "application/x-pkcs12"}

SPEC = KindSpec(
    kind="certificate",
    label="certificate",
    client=lambda vault: vault.certificates,
    properties=r.certificate_properties,
    deleted=r.deleted_certificate,
    recovered=r.certificate,
    list_columns=("name", "enabled", "expires_on", "x509_thumbprint", "tags"),
    version_columns=("version", "enabled", "created_on", "not_before", "expires_on", "x509_thumbprint"),
)
name_argument = SPEC.name_argument()
version_option = click.option("--version", "version", help="A version id (default: the latest).")


def pem(der: bytes, label: str) -> str:
    """DER bytes as a PEM block."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _emit_cert(state: State, data: dict[str, Any]) -> None:
    state.emit(data, r.fields_table(r.certificate_summary(data)))


def _operation(op: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": op.name, **op.to_dict()}
    return data


def _emit_operation(state: State, op: Any) -> None:
    data = _operation(op)
    human = {k: v for k, v in data.items() if k != "csr"}
    if op.csr:
        human["next step"] = f"get the CSR with 'vaultcore cert csr {op.name}', then 'vaultcore cert merge'"
    state.emit(data, r.fields_table(human))


def _get(state: State, name: str, version: str | None) -> Any:
    certs = state.vault().certificates
    return certs.get_certificate(name) if version is None else certs.get_certificate_version(name, version)


def _load_policy(path: str) -> CertificatePolicy:
    try:
        with open(path, encoding="utf-8") as handle:
            return CertificatePolicy.from_dict(json.load(handle))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not a certificate policy ({exc})") from None


@click.group(
    "cert",
    epilog="""\b
Examples:
  vaultcore cert create web --subject CN=example.com --dns example.com --dns www.example.com
  vaultcore cert download web > web.crt
  vaultcore cert export web --out web.pem          (certificate + private key)
  vaultcore cert create ext --subject CN=ext --issuer Unknown; vaultcore cert csr ext > ext.csr
  vaultcore cert merge ext --file signed.pem --file ca.pem
  vaultcore cert contacts set --contact ops@example.com,Ops
  vaultcore cert issuer create digicert --provider DigiCert --password-stdin < pw.txt
""",
)
def cert() -> None:
    """Certificates: X.509 with a policy, self-signed or CSR + merge, import and export."""


@cert.command("create")
@name_argument
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False), help="Policy JSON (REST shape).")
@click.option("--subject", help="Subject, e.g. CN=example.com.")
@click.option("--dns", "dns_names", multiple=True, help="A DNS subject alternative name (repeatable).")
@click.option("--validity-months", type=int, help="Validity of each version (default 12).")
@click.option("--kty", help="RSA or EC (default RSA).")
@click.option("--key-size", "--size", "key_size", type=int, help="RSA key size (2048/3072/4096).")
@click.option("--curve", help="EC curve.")
@click.option("--content-type", type=click.Choice(tuple(CONTENT_TYPES)), help="Backing secret format.")
@click.option("--issuer", default=None, help="Self (default) or Unknown (CSR, then 'cert merge').")
@click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="A tag (repeatable).")
@click.option("--disabled", is_flag=True, help="Create the version disabled.")
@output_option
@pass_state
def create(
    state: State,
    name: str,
    policy_file: str | None,
    subject: str | None,
    dns_names: tuple[str, ...],
    validity_months: int | None,
    kty: str | None,
    key_size: int | None,
    curve: str | None,
    content_type: str | None,
    issuer: str | None,
    tags: tuple[tuple[str, str], ...],
    disabled: bool,
) -> None:
    """Create a version of certificate NAME; self-signed ones are ready at once."""
    base = _load_policy(policy_file) if policy_file else CertificatePolicy.get_default()
    overrides: dict[str, Any] = {
        "issuer_name": issuer,
        "subject": subject,
        "san_dns_names": list(dns_names) or None,
        "validity_in_months": validity_months,
        "key_type": kty,
        "key_size": key_size,
        "key_curve_name": curve,
        "content_type": CONTENT_TYPES[content_type] if content_type else None,
    }
    policy = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
    certs = state.vault().certificates
    op = certs.create_certificate(name, policy, enabled=not disabled, tags=dict(tags) if tags else None)
    done = certs.get_certificate_operation(name)
    if str(done.status) == "completed":
        _emit_cert(state, r.certificate(certs.get_certificate(name)))
    else:
        _emit_operation(state, done if done is not None else op)


@cert.command("csr")
@name_argument
@pass_state
def csr(state: State, name: str) -> None:
    """Print the pending CSR of certificate NAME (PEM), for an external CA."""
    op = state.vault().certificates.get_certificate_operation(name)
    if not op.csr:
        raise BadInput(f"certificate {name!r} has no pending signing request")
    click.echo(pem(op.csr, "CERTIFICATE REQUEST"), nl=False)


@cert.command("pending")
@name_argument
@click.option("--cancel", is_flag=True, help="Request cancellation of the pending operation.")
@click.option("--delete", "delete_", is_flag=True, help="Delete the pending operation.")
@output_option
@pass_state
def pending(state: State, name: str, cancel: bool, delete_: bool) -> None:
    """Show (or cancel / delete) the pending creation of certificate NAME."""
    certs = state.vault().certificates
    if cancel and delete_:
        raise click.UsageError("--cancel and --delete cannot be combined")
    if cancel:
        op = certs.cancel_certificate_operation(name)
    elif delete_:
        op = certs.delete_certificate_operation(name)
    else:
        op = certs.get_certificate_operation(name)
    _emit_operation(state, op)


@cert.command("merge")
@name_argument
@click.option(
    "-f",
    "--file",
    "paths",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Signed certificate, then its chain (PEM or DER; repeatable).",
)
@output_option
@pass_state
def merge(state: State, name: str, paths: tuple[str, ...]) -> None:
    """Complete a pending CSR with the certificate the CA signed."""
    chain: list[bytes] = []
    for path in paths:
        with open(path, "rb") as handle:
            chain.append(handle.read())
    _emit_cert(state, r.certificate(state.vault().certificates.merge_certificate(name, chain)))


@cert.command("import")
@name_argument
@click.option(
    "-f", "--file", "path", required=True, type=click.Path(exists=True, dir_okay=False), help="PEM or PFX file."
)
@click.option("--ask-password", is_flag=True, help=f"Prompt for the PFX password (else {ENV_PFX_PASSWORD}).")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False), help="Policy JSON (REST shape).")
@click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="A tag (repeatable).")
@output_option
@pass_state
def import_(
    state: State,
    name: str,
    path: str,
    ask_password: bool,
    policy_file: str | None,
    tags: tuple[tuple[str, str], ...],
) -> None:
    """Import a certificate with its private key (PEM, or PKCS#12 with an optional password)."""
    with open(path, "rb") as handle:
        data = handle.read()
    password = os.environ.get(ENV_PFX_PASSWORD)
    if ask_password:
        password = secret_from_env_or_prompt(ENV_PFX_PASSWORD, "PFX password")
    imported = state.vault().certificates.import_certificate(
        name,
        data,
        password=password,
        policy=_load_policy(policy_file) if policy_file else None,
        tags=dict(tags) if tags else None,
    )
    _emit_cert(state, r.certificate(imported))


@cert.command("get")
@name_argument
@version_option
@output_option
@pass_state
def get(state: State, name: str, version: str | None) -> None:
    """Show certificate NAME (JSON adds the DER certificate and the policy)."""
    _emit_cert(state, r.certificate(_get(state, name, version)))


@cert.command("download")
@name_argument
@version_option
@click.option("--der", is_flag=True, help="DER instead of PEM.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this new file.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@pass_state
def download(state: State, name: str, version: str | None, der: bool, out: str | None, force: bool) -> None:
    """Print the public certificate of NAME (PEM by default; no private key)."""
    cer = _get(state, name, version).cer
    data = cer if der else pem(cer, "CERTIFICATE").encode("ascii")
    if out is not None:
        write_new_file(out, data, force=force)
    else:
        click.echo(data, nl=False)


@cert.command("export")
@name_argument
@version_option
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this new file (0600).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@output_option
@pass_state
def export(state: State, name: str, version: str | None, out: str | None, force: bool) -> None:
    """Export certificate NAME with its private key (PEM text or PFX bytes; prints key material!).

    This reads the backing secret, as 'az keyvault secret download' does.
    """
    secret = state.vault().secrets.get_secret(name, version)
    content_type = secret.properties.content_type
    raw = base64.b64decode(secret.value) if content_type == CONTENT_TYPES["pkcs12"] else secret.value.encode()
    if out is not None:
        write_new_file(out, raw, force=force)
        state.emit({"name": name, "content_type": content_type, "file": out}, f"Exported {name!r} to {out}.")
    elif state.json:
        state.emit({"name": name, "content_type": content_type, "value": secret.value})
    else:
        click.echo(raw, nl=False)


@cert.command(
    "policy",
    epilog="""\b
Examples:
  vaultcore cert policy web -o json > policy.json
  vaultcore cert policy web --set policy.json
""",
)
@name_argument
@click.option("--set", "policy_file", type=click.Path(exists=True, dir_okay=False), help="New policy JSON.")
@output_option
@pass_state
def policy(state: State, name: str, policy_file: str | None) -> None:
    """Show the policy of certificate NAME (REST JSON shape), or replace it with --set."""
    certs = state.vault().certificates
    if policy_file:
        result = certs.update_certificate_policy(name, _load_policy(policy_file))
    else:
        result = certs.get_certificate_policy(name)
    data = result.to_dict()
    state.emit(data, json.dumps(data, indent=2))


@cert.command("update")
@name_argument
@version_option
@click.option("--enable/--disable", "enabled", default=None, help="Enable or disable (with its key and secret).")
@click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="Replace the tags (repeatable).")
@click.option("--clear-tags", is_flag=True, help="Remove every tag.")
@output_option
@pass_state
def update(
    state: State,
    name: str,
    version: str | None,
    enabled: bool | None,
    tags: tuple[tuple[str, str], ...],
    clear_tags: bool,
) -> None:
    """Enable/disable a version of certificate NAME or change its tags."""
    if tags and clear_tags:
        raise click.UsageError("--tag and --clear-tags cannot be combined")
    if enabled is None and not tags and not clear_tags:
        raise click.UsageError("nothing to update: give --enable/--disable or tags")
    updated = state.vault().certificates.update_certificate_properties(
        name, version, enabled=enabled, tags=dict(tags) if tags or clear_tags else None
    )
    _emit_cert(state, r.certificate(updated))


# -- contacts and issuers (vault-level certificate metadata) ------------------------------


class ContactType(click.ParamType):  # type: ignore[type-arg]
    """``EMAIL[,NAME[,PHONE]]`` (empty fields are absent; at least one is needed)."""

    name = "email[,name[,phone]]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, CertificateContact):
            return value
        parts = [part.strip() for part in str(value).split(",")]
        if len(parts) > 3:
            self.fail(f"{value!r} is not EMAIL[,NAME[,PHONE]]", param, ctx)
        email, name, phone = [*parts, "", ""][:3]
        try:
            return CertificateContact(email=email or None, name=name or None, phone=phone or None)
        except InvalidParameterError as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


class AdminType(click.ParamType):  # type: ignore[type-arg]
    """``EMAIL,FIRST,LAST[,PHONE]`` (an empty FIRST, LAST or PHONE is absent)."""

    name = "email,first,last[,phone]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, AdministratorContact):
            return value
        parts = [part.strip() for part in str(value).split(",")]
        if len(parts) not in (3, 4) or not parts[0]:
            self.fail(f"{value!r} is not EMAIL,FIRST,LAST[,PHONE]", param, ctx)
        email, first, last, phone = [*parts, ""][:4]
        try:
            return AdministratorContact(
                first_name=first or None, last_name=last or None, email=email, phone=phone or None
            )
        except InvalidParameterError as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


def _emit_contacts(state: State, contacts: Iterable[CertificateContact]) -> None:
    data = [r.certificate_contact(c) for c in contacts]
    state.emit(data, r.rows_table(("email", "name", "phone"), data))


@cert.group(
    "contacts",
    epilog="""\b
Examples:
  vaultcore cert contacts set --contact ops@example.com,Ops,+1-555-0100 --contact pki@example.com
  vaultcore cert contacts show -o json
  vaultcore cert contacts delete
""",
)
def contacts() -> None:
    """The vault's certificate contacts (named by EmailContacts lifetime actions)."""


@contacts.command(
    "set",
    epilog="""\b
Example:
  vaultcore cert contacts set --contact ops@example.com,Ops,+1-555-0100 --contact ',Night shift,+1-555-0199'
""",
)
@click.option(
    "--contact",
    "contact_list",
    type=ContactType(),
    multiple=True,
    required=True,
    help="EMAIL[,NAME[,PHONE]] (repeatable; replaces every contact).",
)
@output_option
@pass_state
def contacts_set(state: State, contact_list: tuple[CertificateContact, ...]) -> None:
    """Replace the certificate contacts of the vault."""
    _emit_contacts(state, state.vault().certificates.set_contacts(list(contact_list)))


@contacts.command("show")
@output_option
@pass_state
def contacts_show(state: State) -> None:
    """Show the certificate contacts (exit 1 when none are set)."""
    _emit_contacts(state, state.vault().certificates.get_contacts())


@contacts.command("delete")
@output_option
@pass_state
def contacts_delete(state: State) -> None:
    """Remove every certificate contact (exit 1 when none are set)."""
    removed = state.vault().certificates.delete_contacts()
    state.emit([r.certificate_contact(c) for c in removed], f"Deleted {len(removed)} certificate contact(s).")


issuer_name_argument = click.argument("name", shell_complete=complete_names("issuer"))
admin_option = click.option(
    "--admin",
    "admins",
    type=AdminType(),
    multiple=True,
    help="An administrator EMAIL,FIRST,LAST[,PHONE] (repeatable).",
)
password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the issuer account password from stdin (a hidden prompt on a terminal).",
)
password_file_option = click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the issuer account password from this file.",
)


def _issuer_password(from_stdin: bool, path: str | None) -> str | None:
    """The password from stdin or a file (one trailing newline dropped); never from an argument."""
    if from_stdin and path is not None:
        raise click.UsageError("--password-stdin and --password-file cannot be combined")
    if path is not None:
        with open(path, "rb") as handle:
            data = handle.read()
    elif not from_stdin:
        return None
    elif _state.interactive():
        prompted: str = click.prompt("Issuer password", hide_input=True, confirmation_prompt=True, err=True)
        return prompted
    else:
        data = sys.stdin.buffer.read()
    data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    if not data:
        raise BadInput("the issuer password is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("the issuer password is not UTF-8 text") from None


def _emit_issuer(state: State, issuer: Any) -> None:
    data = r.certificate_issuer(issuer)
    state.emit(data, r.fields_table(r.issuer_summary(data)))


@cert.group(
    "issuer",
    epilog="""\b
Examples:
  vaultcore cert issuer create digicert --provider DigiCert --account-id acct-1 \\
      --organization-id org-1 --admin pki@example.com,Ada,Lovelace --password-file pw.txt
  printf %s "$PW" | vaultcore cert issuer update digicert --password-stdin
  vaultcore cert issuer update digicert --disable
  vaultcore cert issuer list -o json
  vaultcore cert issuer delete digicert
""",
)
def issuer() -> None:
    """Certificate issuers: provider metadata only (vaultcore never calls a CA).

    The account password is read from stdin (--password-stdin) or a file (--password-file),
    never from the command line, and is never printed.
    """


@issuer.command(
    "create",
    epilog="""\b
Examples:
  vaultcore cert issuer create digicert --provider DigiCert --account-id acct-1 --password-file pw.txt
  printf %s "$PW" | vaultcore cert issuer create gs --provider GlobalSign --password-stdin \\
      --admin pki@example.com,Ada,Lovelace,+1-555-0100 --disabled
""",
)
@issuer_name_argument
@click.option("--provider", required=True, help="The issuer provider, e.g. DigiCert or GlobalSign.")
@click.option("--account-id", help="The account id at the provider.")
@click.option("--organization-id", help="The organization id at the provider.")
@admin_option
@click.option("--disabled", is_flag=True, help="Register the issuer disabled.")
@password_stdin_option
@password_file_option
@output_option
@pass_state
def issuer_create(
    state: State,
    name: str,
    provider: str,
    account_id: str | None,
    organization_id: str | None,
    admins: tuple[AdministratorContact, ...],
    disabled: bool,
    password_stdin: bool,
    password_file: str | None,
) -> None:
    """Register issuer NAME (replacing one of that name, as in Azure)."""
    password = _issuer_password(password_stdin, password_file)
    created = state.vault().certificates.create_issuer(
        name,
        provider,
        enabled=False if disabled else None,
        account_id=account_id,
        password=password,
        organization_id=organization_id,
        admin_contacts=list(admins) if admins else None,
    )
    _emit_issuer(state, created)


@issuer.command("update")
@issuer_name_argument
@click.option("--provider", help="New provider.")
@click.option("--account-id", help="New account id.")
@click.option("--organization-id", help="New organization id.")
@admin_option
@click.option("--clear-admins", is_flag=True, help="Remove every administrator.")
@click.option("--enable/--disable", "enabled", default=None, help="Enable or disable the issuer.")
@password_stdin_option
@password_file_option
@output_option
@pass_state
def issuer_update(
    state: State,
    name: str,
    provider: str | None,
    account_id: str | None,
    organization_id: str | None,
    admins: tuple[AdministratorContact, ...],
    clear_admins: bool,
    enabled: bool | None,
    password_stdin: bool,
    password_file: str | None,
) -> None:
    """Change the given fields of issuer NAME; --admin replaces every administrator."""
    if admins and clear_admins:
        raise click.UsageError("--admin and --clear-admins cannot be combined")
    password = _issuer_password(password_stdin, password_file)
    given = (provider, account_id, organization_id, enabled, password)
    if all(v is None for v in given) and not admins and not clear_admins:
        raise click.UsageError("nothing to update: give at least one option")
    updated = state.vault().certificates.update_issuer(
        name,
        provider=provider,
        enabled=enabled,
        account_id=account_id,
        password=password,
        organization_id=organization_id,
        admin_contacts=list(admins) if admins or clear_admins else None,
    )
    _emit_issuer(state, updated)


@issuer.command("show")
@issuer_name_argument
@output_option
@pass_state
def issuer_show(state: State, name: str) -> None:
    """Show issuer NAME (never its password)."""
    _emit_issuer(state, state.vault().certificates.get_issuer(name))


@issuer.command("delete")
@issuer_name_argument
@output_option
@pass_state
def issuer_delete(state: State, name: str) -> None:
    """Remove issuer NAME (no soft-delete: issuers are metadata)."""
    data = r.certificate_issuer(state.vault().certificates.delete_issuer(name))
    state.emit(data, f"Deleted issuer {data['name']!r}.")


@issuer.command("list")
@output_option
@pass_state
def issuer_list(state: State) -> None:
    """List the issuers: name, provider, id."""
    data = [r.issuer_properties(p) for p in state.vault().certificates.list_properties_of_issuers()]
    remember_names(state.vault_path, "issuer", (d["name"] for d in data))
    state.emit(data, r.rows_table(("name", "provider", "id"), data))


add_lifecycle_commands(cert, SPEC)

COMMANDS: tuple[click.Command, ...] = (cert,)
