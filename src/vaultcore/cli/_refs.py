"""Secret references in ``run --map`` files and ``inject`` templates.

A value is a reference when it is, as a whole:

- ``vault://NAME`` or ``vault://NAME/VERSION``;
- ``@Microsoft.KeyVault(SecretUri=https://<vault>/secrets/NAME[/VERSION][/])``, as App
  Service and Functions write Key Vault references (the host part is not checked: the
  reference is resolved in the vault being used);
- ``@Microsoft.KeyVault(VaultName=<vault>;SecretName=NAME[;SecretVersion=VERSION])``.

Anything else is a literal value. A value that starts like a reference but does not parse is
an error (so a typo never becomes a literal that looks like a secret reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TEMPLATE_REF", "Ref", "RefError", "parse_ref"]

_NAME = r"[0-9A-Za-z-]{1,127}"
_VERSION = r"[0-9A-Za-z]{1,64}"
_VAULT_URL = re.compile(rf"vault://(?P<name>{_NAME})(?:/(?P<version>{_VERSION}))?/?")
_SECRET_URI = re.compile(rf"https://[^/\s]+/secrets/(?P<name>{_NAME})(?:/(?P<version>{_VERSION}))?/?", re.I)
_AKV = re.compile(r"@Microsoft\.KeyVault\((?P<body>.*)\)", re.I | re.S)
#: ``{{ vault://name }}`` in an ``inject`` template (spaces inside the braces optional).
TEMPLATE_REF = re.compile(r"\{\{\s*(vault://[^\s}]*)\s*\}\}")


class RefError(ValueError):
    """A value that looks like a reference but is not a valid one."""


@dataclass(frozen=True)
class Ref:
    """A reference to a secret version (``version`` ``None``: the latest)."""

    name: str
    version: str | None = None


def parse_ref(value: str) -> Ref | None:
    """The reference in *value*, ``None`` for a literal; :class:`RefError` for a bad reference."""
    text = value.strip()
    if text.lower().startswith("vault://"):
        match = _VAULT_URL.fullmatch(text)
        if not match:
            raise RefError(f"{text!r} is not a reference vault://NAME[/VERSION]")
        return Ref(match["name"], match["version"])
    if text.lower().startswith("@microsoft.keyvault"):
        return _akv(text)
    return None


def _akv(text: str) -> Ref:
    match = _AKV.fullmatch(text)
    if not match:
        raise RefError("a Key Vault reference is @Microsoft.KeyVault(SecretUri=...) or (VaultName=...;SecretName=...)")
    fields: dict[str, str] = {}
    for part in match["body"].split(";"):
        key, sep, val = part.partition("=")
        if not sep:
            raise RefError(f"Key Vault reference: {part.strip()!r} is not Name=value")
        fields[key.strip().lower()] = val.strip()
    if "secreturi" in fields:
        uri = _SECRET_URI.fullmatch(fields["secreturi"])
        if not uri:
            raise RefError("Key Vault reference: SecretUri must be https://<vault>/secrets/NAME[/VERSION]")
        return Ref(uri["name"], uri["version"])
    name = fields.get("secretname", "")
    version = fields.get("secretversion") or None
    if not re.fullmatch(_NAME, name) or (version is not None and not re.fullmatch(_VERSION, version)):
        raise RefError("Key Vault reference: needs SecretName=NAME (and an optional SecretVersion)")
    return Ref(name, version)
