"""``vaultcore key ...``: Azure Key Vault keys and their cryptographic operations.

Bytes on the command line (ciphertexts, signatures, digests) are base64url; sensitive
inputs (plaintext, a key to wrap, data to sign) come from stdin or ``--file``; decrypted
or unwrapped bytes are written raw to stdout or ``--out`` (JSON output: base64url).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from vaultcore import KeyRotationLifetimeAction
from vaultcore.crypto._jwk import ec_public_from_jwk, rsa_public_from_jwk

from . import _render as r
from ._errors import EXIT_INTEGRITY, BadInput
from ._objects import KindSpec, add_lifecycle_commands, attribute_changes, attribute_options
from ._params import Base64Type, TagType, WhenType, b64u, read_binary_input, write_new_file
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]

SPEC = KindSpec(
    kind="key",
    label="key",
    client=lambda vault: vault.keys,
    properties=r.key_properties,
    deleted=r.deleted_key,
    recovered=r.key,
    list_columns=("name", "enabled", "exportable", "updated_on", "expires_on", "tags"),
    version_columns=("version", "enabled", "created_on", "not_before", "expires_on", "exportable"),
)
name_argument = SPEC.name_argument()
version_option = click.option("--version", "version", help="A version id (default: the latest).")
algorithm_option = click.option("-a", "--algorithm", required=True, help="Azure algorithm name (see --help).")
B64 = Base64Type()


def _ops(value: str | None) -> list[str] | None:
    return None if value is None else [op.strip() for op in value.split(",") if op.strip()]


def _emit_key(state: State, data: dict[str, Any]) -> None:
    state.emit(data, r.fields_table(r.key_summary(data)))


def _crypto(state: State, name: str, version: str | None) -> Any:
    return state.vault().keys.get_cryptography_client(name, version)


def _emit_bytes(state: State, data: dict[str, Any], field: str, raw: bytes, out: str | None, force: bool) -> None:
    """Raw bytes to stdout (or *out*); JSON output carries them base64url in *field*."""
    if out is not None:
        write_new_file(out, raw, force=force)
        state.emit({k: v for k, v in data.items() if k != field}, f"Wrote {len(raw)} bytes to {out}.")
    elif state.json:
        state.emit(data)
    else:
        click.echo(raw, nl=False)


out_options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--out", type=click.Path(dir_okay=False), help="Write the bytes to this new file (0600)."),
    click.option("--force", is_flag=True, help="Overwrite --out if it exists."),
]


def _with(options: list[Callable[[Callable[..., Any]], Callable[..., Any]]]) -> Callable[..., Any]:
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


@click.group(
    "key",
    epilog="""\b
Examples:
  vaultcore key create signing --kty EC --curve P-256
  echo -n hello | vaultcore key sign signing -a ES256
  vaultcore key verify signing -a ES256 --signature <b64> < data.bin
  vaultcore key create wrapping --kty RSA --size 3072 --ops wrapKey,unwrapKey
  vaultcore key export-public signing --pem

\b
Algorithms:
  encrypt/decrypt  RSA-OAEP RSA-OAEP-256 RSA1_5 A128GCM..A256GCM A128CBC..A256CBCPAD
  wrap/unwrap      RSA-OAEP RSA-OAEP-256 RSA1_5 A128KW A192KW A256KW
  sign/verify      RS256..RS512 PS256..PS512 ES256 ES256K ES384 ES512
""",
)
def key() -> None:
    """Keys: RSA, EC and oct keys with versions, rotation and Azure's operations."""


@key.command("create")
@name_argument
@click.option("--kty", required=True, help="RSA, EC or oct (-HSM variants on premium vaults).")
@click.option("--size", "--key-size", "size", type=int, help="RSA: 2048/3072/4096; oct: 128/192/256.")
@click.option("--curve", help="EC: P-256, P-384, P-521, P-256K.")
@click.option("--ops", help="Comma-separated key_ops (default: all the type allows).")
@click.option("--hsm", is_flag=True, help="Keep the key in the HSM (premium and managed-HSM vaults).")
@click.option("--exportable", is_flag=True, help="Allow 'key export' of the private key.")
@click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="A tag (repeatable).")
@click.option("--disabled", is_flag=True, help="Create the version disabled.")
@click.option("--not-before", type=WhenType(), help="Not usable before this time.")
@click.option("--expires", type=WhenType(), help="Not usable after this time (e.g. +365d).")
@output_option
@pass_state
def create(
    state: State,
    name: str,
    kty: str,
    size: int | None,
    curve: str | None,
    ops: str | None,
    hsm: bool,
    exportable: bool,
    tags: tuple[tuple[str, str], ...],
    disabled: bool,
    not_before: datetime | None,
    expires: datetime | None,
) -> None:
    """Create key NAME (a new version if it exists)."""
    created = state.vault().keys.create_key(
        name,
        kty,
        size=size,
        curve=curve,
        key_operations=_ops(ops),
        hardware_protected=hsm,
        exportable=exportable or None,
        tags=dict(tags) if tags else None,
        enabled=not disabled,
        not_before=not_before,
        expires_on=expires,
    )
    _emit_key(state, r.key(created))


@key.command("import")
@name_argument
@click.option("--jwk", "path", required=True, type=click.Path(exists=True, dir_okay=False), help="JWK JSON file.")
@click.option("--hsm", is_flag=True, help="Keep the key in the HSM (premium and managed-HSM vaults).")
@click.option("--exportable", is_flag=True, help="Allow 'key export' of the private key.")
@click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="A tag (repeatable).")
@output_option
@pass_state
def import_(state: State, name: str, path: str, hsm: bool, exportable: bool, tags: tuple[tuple[str, str], ...]) -> None:
    """Import a private JWK (RFC 7517 JSON) as key NAME."""
    try:
        with open(path, encoding="utf-8") as handle:
            jwk = json.load(handle)
    except (ValueError, UnicodeDecodeError):
        raise BadInput(f"{path}: not a JSON web key") from None
    if not isinstance(jwk, dict):
        raise BadInput(f"{path}: not a JSON web key")
    imported = state.vault().keys.import_key(
        name, jwk, hardware_protected=hsm, exportable=exportable or None, tags=dict(tags) if tags else None
    )
    _emit_key(state, r.key(imported))


@key.command("get")
@name_argument
@version_option
@output_option
@pass_state
def get(state: State, name: str, version: str | None) -> None:
    """Show key NAME: properties and public JWK."""
    _emit_key(state, r.key(state.vault().keys.get_key(name, version)))


@key.command("update")
@name_argument
@version_option
@click.option("--ops", help="New comma-separated key_ops.")
@attribute_options
@output_option
@pass_state
def update(
    state: State,
    name: str,
    version: str | None,
    ops: str | None,
    enabled: bool | None,
    tags: tuple[tuple[str, str], ...],
    clear_tags: bool,
    not_before: Any,
    expires: Any,
) -> None:
    """Change attributes of a version of key NAME."""
    extra = {} if ops is None else {"key_operations": _ops(ops)}
    changes = attribute_changes(enabled, tags, clear_tags, not_before, expires, extra)
    _emit_key(state, r.key(state.vault().keys.update_key_properties(name, version, **changes)))


@key.command("rotate")
@name_argument
@output_option
@pass_state
def rotate(state: State, name: str) -> None:
    """Create a new version of key NAME with the same type, size/curve and operations."""
    _emit_key(state, r.key(state.vault().keys.rotate_key(name)))


def _policy(policy: Any) -> dict[str, Any]:
    return {
        "id": policy.id,
        "lifetime_actions": [
            {
                "action": a.action,
                "time_after_create": a.time_after_create,
                "time_before_expiry": a.time_before_expiry,
            }
            for a in policy.lifetime_actions
        ],
        "expires_in": policy.expires_in,
        "created_on": r.iso(policy.created_on),
        "updated_on": r.iso(policy.updated_on),
    }


def _policy_table(data: dict[str, Any]) -> Any:
    actions = [
        f"{a['action']} "
        + (f"{a['time_after_create']} after creation" if a["time_after_create"] else "")
        + (f"{a['time_before_expiry']} before expiry" if a["time_before_expiry"] else "")
        for a in data["lifetime_actions"]
    ]
    return r.fields_table({**data, "lifetime_actions": actions})


@key.command(
    "rotation-policy",
    epilog="""\b
Examples:
  vaultcore key rotation-policy signing                          (show it)
  vaultcore key rotation-policy signing --rotate-after P90D --expires-in P1Y
  vaultcore key rotation-policy signing --rotate-before-expiry P30D --notify-before-expiry P7D
""",
)
@name_argument
@click.option("--rotate-after", help="Rotate this long after creation (ISO 8601 duration, e.g. P90D).")
@click.option("--rotate-before-expiry", help="Rotate this long before expiry.")
@click.option("--notify-before-expiry", help="Record a near-expiry event this long before expiry.")
@click.option("--expires-in", help="Expiry given to new versions (e.g. P1Y).")
@output_option
@pass_state
def rotation_policy(
    state: State,
    name: str,
    rotate_after: str | None,
    rotate_before_expiry: str | None,
    notify_before_expiry: str | None,
    expires_in: str | None,
) -> None:
    """Show key NAME's rotation policy, or replace it when options are given.

    'vaultcore maintenance' applies the policies that are due.
    """
    keys = state.vault().keys
    if rotate_after and rotate_before_expiry:
        raise click.UsageError("give --rotate-after or --rotate-before-expiry, not both")
    actions = []
    if rotate_after or rotate_before_expiry:
        actions.append(KeyRotationLifetimeAction("Rotate", rotate_after, rotate_before_expiry))
    if notify_before_expiry:
        actions.append(KeyRotationLifetimeAction("Notify", time_before_expiry=notify_before_expiry))
    if actions or expires_in:
        policy = keys.update_key_rotation_policy(name, lifetime_actions=actions, expires_in=expires_in)
    else:
        policy = keys.get_key_rotation_policy(name)
    data = _policy(policy)
    state.emit(data, _policy_table(data))


# -- cryptographic operations ------------------------------------------------------------


@key.command("encrypt")
@name_argument
@algorithm_option
@version_option
@click.option("-f", "--file", "path", type=click.Path(exists=True, dir_okay=False), help="Plaintext file.")
@click.option("--aad", type=B64, help="Additional authenticated data (AES-GCM), base64.")
@output_option
@pass_state
def encrypt(state: State, name: str, algorithm: str, version: str | None, path: str | None, aad: bytes | None) -> None:
    """Encrypt the plaintext from stdin or --file; prints ciphertext, iv and tag (base64url)."""
    plaintext = read_binary_input(path, "plaintext")
    result = _crypto(state, name, version).encrypt(algorithm, plaintext, additional_authenticated_data=aad)
    data = {
        "kid": result.key_id,
        "algorithm": str(result.algorithm),
        "ciphertext": b64u(result.ciphertext),
        "iv": b64u(result.iv),
        "authentication_tag": b64u(result.authentication_tag),
        "additional_authenticated_data": b64u(result.additional_authenticated_data),
    }
    state.emit(data, r.fields_table(data))


@key.command("decrypt")
@name_argument
@algorithm_option
@version_option
@click.option("--ciphertext", type=B64, required=True, help="The ciphertext, base64.")
@click.option("--iv", type=B64, help="The IV (AES modes), base64.")
@click.option("--tag", "auth_tag", type=B64, help="The authentication tag (AES-GCM), base64.")
@click.option("--aad", type=B64, help="Additional authenticated data (AES-GCM), base64.")
@_with(out_options)
@output_option
@pass_state
def decrypt(
    state: State,
    name: str,
    algorithm: str,
    version: str | None,
    ciphertext: bytes,
    iv: bytes | None,
    auth_tag: bytes | None,
    aad: bytes | None,
    out: str | None,
    force: bool,
) -> None:
    """Decrypt; the plaintext goes raw to stdout or --out (JSON: base64url)."""
    result = _crypto(state, name, version).decrypt(
        algorithm, ciphertext, iv=iv, authentication_tag=auth_tag, additional_authenticated_data=aad
    )
    data = {"kid": result.key_id, "algorithm": str(result.algorithm), "plaintext": b64u(result.plaintext)}
    _emit_bytes(state, data, "plaintext", result.plaintext, out, force)


@key.command("wrap")
@name_argument
@algorithm_option
@version_option
@click.option("-f", "--file", "path", type=click.Path(exists=True, dir_okay=False), help="File holding the key.")
@output_option
@pass_state
def wrap(state: State, name: str, algorithm: str, version: str | None, path: str | None) -> None:
    """Wrap the key bytes from stdin or --file; prints the encrypted key (base64url)."""
    result = _crypto(state, name, version).wrap_key(algorithm, read_binary_input(path, "key to wrap"))
    data = {"kid": result.key_id, "algorithm": str(result.algorithm), "encrypted_key": b64u(result.encrypted_key)}
    state.emit(data, r.fields_table(data))


@key.command("unwrap")
@name_argument
@algorithm_option
@version_option
@click.option("--encrypted-key", type=B64, required=True, help="The wrapped key, base64.")
@_with(out_options)
@output_option
@pass_state
def unwrap(
    state: State, name: str, algorithm: str, version: str | None, encrypted_key: bytes, out: str | None, force: bool
) -> None:
    """Unwrap; the key bytes go raw to stdout or --out (JSON: base64url)."""
    result = _crypto(state, name, version).unwrap_key(algorithm, encrypted_key)
    data = {"kid": result.key_id, "algorithm": str(result.algorithm), "key": b64u(result.key)}
    _emit_bytes(state, data, "key", result.key, out, force)


data_options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--digest", type=B64, help="A precomputed digest, base64 (else data is hashed)."),
    click.option("-f", "--file", "path", type=click.Path(exists=True, dir_okay=False), help="Data file (else stdin)."),
]


@key.command("sign")
@name_argument
@algorithm_option
@version_option
@_with(data_options)
@output_option
@pass_state
def sign(state: State, name: str, algorithm: str, version: str | None, digest: bytes | None, path: str | None) -> None:
    """Sign data from stdin/--file (hashed for ALG) or a --digest; prints the signature."""
    client = _crypto(state, name, version)
    if digest is not None:
        result = client.sign(algorithm, digest)
    else:
        result = client.sign_data(algorithm, read_binary_input(path, "data to sign"))
    data = {"kid": result.key_id, "algorithm": str(result.algorithm), "signature": b64u(result.signature)}
    state.emit(data, r.fields_table(data))


@key.command("verify")
@name_argument
@algorithm_option
@version_option
@click.option("--signature", type=B64, required=True, help="The signature, base64.")
@_with(data_options)
@output_option
@pass_state
def verify(
    state: State,
    name: str,
    algorithm: str,
    version: str | None,
    signature: bytes,
    digest: bytes | None,
    path: str | None,
) -> None:
    """Verify a signature over data from stdin/--file or a --digest (exit 4 if invalid)."""
    client = _crypto(state, name, version)
    if digest is not None:
        result = client.verify(algorithm, digest, signature)
    else:
        result = client.verify_data(algorithm, read_binary_input(path, "signed data"), signature)
    data = {"kid": result.key_id, "algorithm": str(result.algorithm), "is_valid": result.is_valid}
    state.emit(data, "Signature is valid." if result.is_valid else "Signature is NOT valid.")
    if not result.is_valid:
        raise click.exceptions.Exit(EXIT_INTEGRITY)


@key.command("export-public")
@name_argument
@version_option
@click.option("--pem", is_flag=True, help="PEM SubjectPublicKeyInfo instead of a JWK (RSA and EC).")
@pass_state
def export_public(state: State, name: str, version: str | None, pem: bool) -> None:
    """Print the public key of NAME as a JWK (JSON) or PEM."""
    jwk = state.vault().keys.get_key(name, version).key.to_dict()
    if not pem:
        click.echo(json.dumps(jwk, indent=2))
        return
    from cryptography.hazmat.primitives import serialization

    kty = str(jwk.get("kty", "")).removesuffix("-HSM")
    if kty == "RSA":
        public: Any = rsa_public_from_jwk(jwk)
    elif kty == "EC":
        public = ec_public_from_jwk(jwk)
    else:
        raise BadInput(f"a {jwk.get('kty')} key has no public key to export")
    data = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    click.echo(data.decode("ascii"), nl=False)


@key.command("export")
@name_argument
@version_option
@pass_state
def export(state: State, name: str, version: str | None) -> None:
    """Print the private JWK of an exportable key (prints key material!)."""
    click.echo(json.dumps(state.vault().keys.export_key(name, version).key.to_dict(), indent=2))


@key.command("random")
@click.option("--count", type=click.IntRange(1, 128), default=32, show_default=True, help="Bytes.")
@output_option
@pass_state
def random(state: State, count: int) -> None:
    """Random bytes from the vault's RNG (base64url)."""
    value = b64u(state.vault().keys.get_random_bytes(count))
    state.emit({"value": value}, value)


add_lifecycle_commands(key, SPEC)

COMMANDS: tuple[click.Command, ...] = (key,)
