"""The keyring: terms of key-encryption keys, wrapped by the root key.

A *term* is a 256-bit secret with a 32-bit id. HKDF-SHA256 derives from each term:

- ``kek``: wraps the DEK of every record sealed under the term (AES-KW, RFC 3394);
- ``audit_key``: MACs the audit chain written while the term was active.

The keyring also holds keys that do not rotate with terms, because rotating them would
mean rewriting every stored key or invalidating every exported backup:

- ``index_key``: HMAC key that hides object names in the store's keys;
- ``domain_id`` / ``domain_key``: the *security domain*. Backups are encrypted under it,
  so they restore into this vault or any vault created from the same exported domain.

Retired terms keep only their audit key, so old audit chains stay verifiable after the
term's KEK is destroyed. ``generation`` counts keyring changes (rollback detection).

Serialised as compact JSON (base64 for keys) and sealed by the root key with the vault
header as associated data, so an edited header fails to unlock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, NoReturn

from vaultcore._frozen import Frozen, field
from vaultcore.crypto import _bindings
from vaultcore.exceptions import IntegrityError

__all__ = ["Keyring"]

_FORMAT = 1


def _derive(secret: bytes, label: bytes, vault_id: bytes) -> bytes:
    return _bindings.hkdf_sha256(secret, vault_id, label, 32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Keyring(Frozen):
    """A vault's key material: the KEK terms, the index key that hides names, the domain key.

    Immutable (a rotation makes a new one); never printed (``repr`` shows no key) nor pickled.
    Derived keys are cached per instance.
    """

    _fields = (
        "vault_id",
        "generation",
        "active_term",
        "terms",
        "index_key",
        "domain_id",
        "domain_key",
        "retired_audit_keys",
    )

    vault_id: bytes
    generation: int
    active_term: int
    terms: dict[int, bytes]
    index_key: bytes
    domain_id: bytes
    domain_key: bytes
    retired_audit_keys: dict[int, bytes] = field(default_factory=dict)
    _cache: dict[tuple[str, int], bytes] = field(default_factory=dict)

    def __init__(
        self,
        *,
        vault_id: bytes,
        generation: int,
        active_term: int,
        terms: dict[int, bytes],
        index_key: bytes,
        domain_id: bytes,
        domain_key: bytes,
        retired_audit_keys: dict[int, bytes] | None = None,
    ) -> None:
        self.__dict__.update(
            vault_id=vault_id,
            generation=generation,
            active_term=active_term,
            terms=terms,
            index_key=index_key,
            domain_id=domain_id,
            domain_key=domain_key,
            retired_audit_keys={} if retired_audit_keys is None else retired_audit_keys,
            _cache={},
        )

    __eq__ = object.__eq__  # compared by identity (key material)
    __hash__ = object.__hash__

    # -- construction ------------------------------------------------------------------

    @classmethod
    def new(cls, vault_id: bytes, *, domain: tuple[bytes, bytes] | None = None) -> Keyring:
        domain_id, domain_key = domain or (_bindings.random_bytes(16), _bindings.random_bytes(32))
        return cls(
            vault_id=vault_id,
            generation=1,
            active_term=1,
            terms={1: _bindings.random_bytes(32)},
            index_key=_bindings.random_bytes(32),
            domain_id=domain_id,
            domain_key=domain_key,
        )

    def with_new_term(self) -> Keyring:
        """A keyring with a fresh active term; the old terms stay until re-wrap finishes."""
        term = max([*self.terms, *self.retired_audit_keys]) + 1
        terms = dict(self.terms)
        terms[term] = _bindings.random_bytes(32)
        return self.evolve(generation=self.generation + 1, active_term=term, terms=terms)

    def without_terms(self, retired: set[int]) -> Keyring:
        """Destroy the KEKs of *retired* terms, keeping only their audit keys."""
        if self.active_term in retired:
            raise ValueError("cannot retire the active term")
        audit = dict(self.retired_audit_keys)
        for term in retired:
            audit[term] = self.audit_key(term)
        terms = {t: s for t, s in self.terms.items() if t not in retired}
        return self.evolve(generation=self.generation + 1, terms=terms, retired_audit_keys=audit)

    def bumped(self) -> Keyring:
        return self.evolve(generation=self.generation + 1)

    # -- derived keys ------------------------------------------------------------------

    def _sub(self, label: str, term: int) -> bytes:
        key = (label, term)
        cached = self._cache.get(key)
        if cached is None:
            secret = self.terms.get(term)
            if secret is None:
                raise IntegrityError()
            cached = _derive(secret, f"vaultcore {label} v1".encode(), self.vault_id)
            self._cache[key] = cached
        return cached

    def kek(self, term: int) -> bytes:
        """The DEK-wrapping key of *term* (``IntegrityError`` if the term is unknown)."""
        return self._sub("kek", term)

    def audit_key(self, term: int) -> bytes:
        retired = self.retired_audit_keys.get(term)
        return retired if retired is not None else self._sub("audit", term)

    def has_term(self, term: int) -> bool:
        return term in self.terms

    def name_hasher(self) -> hmac.HMAC:
        """An HMAC keyed with the index key; ``copy()`` it per name."""
        return hmac.new(self.index_key, digestmod=hashlib.sha256)

    def service_key(self, label: str) -> bytes:
        """A 256-bit key for a service of this vault (the server's token signing key), derived
        from the index key, which never rotates: every process that opens the vault derives
        the same key, and rotations do not invalidate what it signed."""
        return _derive(self.index_key, f"vaultcore service {label} v1".encode(), self.vault_id)

    def domain_kek(self) -> bytes:
        return _derive(self.domain_key, b"vaultcore domain kek v1", self.domain_id)

    # -- serialisation -----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        doc = {
            "format": _FORMAT,
            "vault_id": self.vault_id.hex(),
            "generation": self.generation,
            "active_term": self.active_term,
            "terms": {str(t): _b64(s) for t, s in sorted(self.terms.items())},
            "index_key": _b64(self.index_key),
            "domain_id": self.domain_id.hex(),
            "domain_key": _b64(self.domain_key),
            "retired_audit_keys": {str(t): _b64(k) for t, k in sorted(self.retired_audit_keys.items())},
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Keyring:
        try:
            doc: dict[str, Any] = json.loads(data)
            if doc["format"] != _FORMAT:
                raise IntegrityError("unsupported keyring format")
            ring = cls(
                vault_id=bytes.fromhex(doc["vault_id"]),
                generation=int(doc["generation"]),
                active_term=int(doc["active_term"]),
                terms={int(t): base64.b64decode(s) for t, s in doc["terms"].items()},
                index_key=base64.b64decode(doc["index_key"]),
                domain_id=bytes.fromhex(doc["domain_id"]),
                domain_key=base64.b64decode(doc["domain_key"]),
                retired_audit_keys={int(t): base64.b64decode(k) for t, k in doc["retired_audit_keys"].items()},
            )
        except (KeyError, TypeError, ValueError):
            raise IntegrityError() from None
        if ring.active_term not in ring.terms:
            raise IntegrityError()
        return ring

    def __repr__(self) -> str:
        return f"<Keyring generation={self.generation} active_term={self.active_term} terms={sorted(self.terms)}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a keyring cannot be pickled")
