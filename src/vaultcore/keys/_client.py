"""``vault.keys``: Azure Key Vault's KeyClient over the lifecycle engine.

Private key material is the version's payload, sealed by the envelope like a secret value.
It leaves the vault only through :meth:`KeyClient.export_key`, for keys created or imported
with ``exportable=True``. Cryptographic operations go through :class:`CryptographyClient`
(``get_cryptography_client``), which enforces ``key_ops``, enabled, ``nbf`` and ``exp``.

Azure's rules kept here: software ``oct`` keys exist only in a Managed HSM (a vault created
with ``allow_software_oct_keys=True`` relaxes that); ``-HSM`` key types need a premium vault
or a managed HSM; ``exp`` stops encrypt, wrapKey and sign but not decrypt, unwrapKey and
verify (so data protected before expiry can still be read).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import Session, id_of, name_scope, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto import _bindings
from vaultcore.crypto import _keymaterial as km
from vaultcore.crypto._jwk import KeyCurveName, KeyOperation, KeyType
from vaultcore.engine._backup import ObjectBackup
from vaultcore.engine._durations import parse_duration
from vaultcore.engine._lifecycle import Lifecycle, NewVersion
from vaultcore.engine._models import base_properties, deleted_fields
from vaultcore.engine._reads import VERSIONS, CachedVersion
from vaultcore.engine._records import DeletedRecord, Kind, VersionRecord
from vaultcore.engine._validation import UNSET, attribute_changes, check_bool, check_tags, to_timestamp
from vaultcore.exceptions import ForbiddenError, InvalidParameterError, NotFoundError, UnsupportedError
from vaultcore.keys._handles import (
    HsmHandle,
    KeyHandle,
    SoftwareHandle,
    discard_hsm_key_on_failure,
    hsm_ref_from_payload,
    hsm_ref_to_payload,
)
from vaultcore.keys._models import (
    DeletedKey,
    JsonWebKey,
    KeyProperties,
    KeyVaultKey,
)
from vaultcore.keys._rotation_ops import KeyRotationOperations
from vaultcore.keys._rules import (
    check_before_generating,
    check_operation,
    check_restorable,
    check_type_allowed,
    key_ops,
    material_params,
    operation_windows,
)
from vaultcore.keys._rules import key_type as parse_key_type

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext
    from vaultcore.keys._crypto_client import CryptographyClient

__all__ = ["KeyClient", "UsableVersion"]

_NEVER = (1, 0)  # an empty window: every time is refused

_KIND = Kind.KEY
_name = name_scope("keys")
_UNSET = UNSET
_ALL_OPS = {op.value for op in KeyOperation}
_MAX_RANDOM = 128


class KeyClient(KeyRotationOperations):
    """Keys: RSA, EC and oct keys with versions, rotation and Azure's operations."""

    def __init__(self, ctx: VaultContext, engine: Lifecycle, backups: ObjectBackup, session: Session) -> None:
        self._ctx = ctx
        self._engine = engine
        self._backups = backups
        self._session = session
        self._cache: OrderedDict[tuple[str, str], KeyHandle] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._records: dict[tuple[int, str, str | None], CachedVersion] = {}
        #: id of a record of ``_records`` -> what key operations need of it (see ``_usable``).
        self._views: dict[int, UsableVersion] = {}
        #: The cryptography clients made here: a purge drops what their fast paths keep.
        self._crypto_clients: weakref.WeakSet[CryptographyClient] = weakref.WeakSet()

    @property
    def vault_url(self) -> str:
        return self._ctx.settings.url

    # -- conversions -------------------------------------------------------------------

    def _kid(self, rec: VersionRecord) -> str:
        return f"{self._ctx.settings.url}/keys/{rec.name}/{rec.version}"

    def _props(self, rec: VersionRecord) -> KeyProperties:
        return KeyProperties(
            **base_properties(_KIND, rec, self._ctx.settings),  # type: ignore[arg-type]
            exportable=bool(rec.extra.get("exportable", False)),
            hsm_platform="0" if rec.extra.get("hsm") else None,
        )

    def handle(self, rec: VersionRecord) -> KeyHandle:
        """The (cached) key handle of a version: software material or an HSM key reference.

        A version's key never changes, so the parsed material is cached (bounded LRU).
        """
        key = (rec.name.lower(), rec.version)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        handle: KeyHandle
        if rec.extra.get("hsm"):
            handle = HsmHandle(self._token(), hsm_ref_from_payload(rec.payload))
        else:
            handle = SoftwareHandle(km.KeyMaterial.from_bytes(rec.payload), self._ctx.envelope.key_contexts)
        with self._cache_lock:
            self._cache[key] = handle
            while len(self._cache) > 128:
                self._cache.popitem(last=False)
        return handle

    def material(self, rec: VersionRecord) -> km.KeyMaterial:
        """Software key material of a version (``UnsupportedError`` for HSM keys)."""
        handle = self.handle(rec)
        if not isinstance(handle, SoftwareHandle):
            raise UnsupportedError("the private key of an HSM-backed key never leaves the HSM")
        return handle.material

    def _token(self) -> Any:
        token = getattr(self._ctx.root, "token", None)
        if token is None:
            raise InvalidParameterError("HSM-backed keys need a premium vault or a managed HSM")
        return token

    def _jwk(self, rec: VersionRecord) -> JsonWebKey:
        ops = list(rec.extra.get("ops", []))
        jwk = self.handle(rec).public_jwk(self._kid(rec), ops)
        jwk["kty"] = rec.extra.get("kty", jwk.get("kty"))
        return JsonWebKey.from_dict(jwk)

    def _key(self, rec: VersionRecord) -> KeyVaultKey:
        return KeyVaultKey(properties=self._props(rec), key=self._jwk(rec))

    def _deleted(self, deleted: DeletedRecord, rec: VersionRecord) -> DeletedKey:
        try:
            key = self._jwk(rec)
        except NotFoundError:
            if not rec.extra.get("hsm"):
                raise
            # Its token objects are gone (purged through another copy of the vault, or removed
            # from the token): the deleted key is shown without public members, so it can be purged.
            ops = list(rec.extra.get("ops", []))
            key = JsonWebKey(kid=self._kid(rec), kty=rec.extra.get("kty"), key_ops=ops)
        return DeletedKey(
            properties=self._props(rec),
            key=key,
            **deleted_fields(_KIND, rec.name, deleted, self._ctx.settings),  # type: ignore[arg-type]
        )

    # -- rules -------------------------------------------------------------------------

    def _check_type_allowed(self, kty: KeyType) -> None:
        check_type_allowed(self._ctx.settings, kty)

    @staticmethod
    def _ops(key_operations: Sequence[str] | None, kty: KeyType) -> list[str]:
        return key_ops(key_operations, kty)

    _describe = staticmethod(material_params)

    def _generate(
        self, kty: KeyType, *, size: int | None, curve: str | None, public_exponent: int | None
    ) -> tuple[bytes, dict[str, Any]]:
        """New key material: (payload to seal, parameters). HSM keys are made in the token."""
        if not kty.value.endswith("-HSM"):
            material = km.generate(kty, size=size, curve=curve, public_exponent=public_exponent)
            return material.to_bytes(), self._describe(material)
        if public_exponent not in (None, 65537):
            raise InvalidParameterError("HSM-backed RSA keys use the public exponent 65537")
        if kty is KeyType.ec_hsm and curve is not None:
            curve = str(km.KeyCurveName(curve)) if curve in {c.value for c in km.KeyCurveName} else curve
        ref = self._token().generate_hsm_key(kty.value, key_id=_bindings.random_bytes(16), size=size, curve=curve)
        info: dict[str, Any] = {"hsm": True}
        if ref.size is not None:
            info["size"] = ref.size
        if ref.curve is not None:
            info["crv"] = ref.curve
        return hsm_ref_to_payload(ref), info

    def _new_version(
        self,
        material: km.KeyMaterial,
        kty: KeyType,
        ops: list[str],
        **kwargs: Any,
    ) -> NewVersion:
        """A version of software key material (also used for certificates' managed keys)."""
        return self._new_raw_version(material.to_bytes(), self._describe(material), kty, ops, **kwargs)

    def _new_raw_version(
        self,
        payload: bytes,
        info: dict[str, Any],
        kty: KeyType,
        ops: list[str],
        *,
        enabled: bool | None,
        not_before: datetime | None,
        expires_on: datetime | None,
        tags: Mapping[str, str] | None,
        exportable: bool | None,
        managed: bool = False,
    ) -> NewVersion:
        if exportable and kty.value.endswith("-HSM"):
            raise InvalidParameterError("HSM-backed keys are never exportable")
        extra: dict[str, Any] = {"kty": kty.value, "ops": ops, "exportable": bool(exportable), **info}
        return NewVersion(
            payload=payload,
            enabled=True if enabled is None else check_bool(enabled, "enabled"),
            not_before=to_timestamp(not_before, "not_before"),
            expires_on=to_timestamp(expires_on, "expires_on"),
            tags=check_tags(tags),
            managed=managed,
            extra=extra,
        )

    def _policy_expiry(self, name: str, expires_on: datetime | None) -> datetime | None:
        """A key rotated or created under a policy with ``expires_in`` gets that expiry."""
        if expires_on is not None:
            return expires_on
        try:
            obj = self._engine.get_object(_KIND, name)
        except Exception:
            return None
        expires_in = (obj.extra.get("rotation_policy") or {}).get("expires_in")
        if not expires_in:
            return None
        return parse_duration(expires_in).add_to(self._ctx.clock())

    # -- create / import ---------------------------------------------------------------

    @operation("KeyCreate", A.KEY_CREATE, _name, object_id=id_of)
    def create_key(
        self,
        name: str,
        key_type: KeyType | str,
        *,
        size: int | None = None,
        curve: KeyCurveName | str | None = None,
        key_operations: Sequence[str] | None = None,
        public_exponent: int | None = None,
        enabled: bool | None = None,
        not_before: datetime | None = None,
        expires_on: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        exportable: bool | None = None,
        hardware_protected: bool = False,
    ) -> KeyVaultKey:
        """Create a key (a new version if *name* exists) with Azure's parameters and defaults."""
        kty = parse_key_type(key_type)
        if hardware_protected and not kty.value.endswith("-HSM"):
            kty = KeyType(kty.value + "-HSM")
        self._check_type_allowed(kty)
        ops = self._ops(key_operations, kty)
        check_before_generating(name, kty, tags, not_before, expires_on, exportable, enabled)
        if kty.value.endswith("-HSM"):
            self._engine.check_addable(_KIND, name)
        expires_on = self._policy_expiry(name, expires_on)
        payload, info = self._generate(
            kty, size=size, curve=None if curve is None else str(curve), public_exponent=public_exponent
        )
        with discard_hsm_key_on_failure(self._token, payload, bool(info.get("hsm"))):
            new = self._new_raw_version(
                payload,
                info,
                kty,
                ops,
                enabled=enabled,
                not_before=not_before,
                expires_on=expires_on,
                tags=tags,
                exportable=exportable,
            )
            rec = self._engine.add_version(_KIND, name, new)
        return self._key(rec)

    def create_rsa_key(self, name: str, *, size: int | None = None, **kwargs: Any) -> KeyVaultKey:
        hsm = kwargs.pop("hardware_protected", False)
        return self.create_key(name, KeyType.rsa_hsm if hsm else KeyType.rsa, size=size, **kwargs)

    def create_ec_key(self, name: str, *, curve: KeyCurveName | str | None = None, **kwargs: Any) -> KeyVaultKey:
        hsm = kwargs.pop("hardware_protected", False)
        return self.create_key(name, KeyType.ec_hsm if hsm else KeyType.ec, curve=curve, **kwargs)

    def create_oct_key(self, name: str, *, size: int | None = None, **kwargs: Any) -> KeyVaultKey:
        hsm = kwargs.pop("hardware_protected", False)
        return self.create_key(name, KeyType.oct_hsm if hsm else KeyType.oct, size=size, **kwargs)

    @operation("KeyImport", A.KEY_IMPORT, _name, object_id=id_of)
    def import_key(
        self,
        name: str,
        key: JsonWebKey | Mapping[str, Any],
        *,
        hardware_protected: bool = False,
        enabled: bool | None = None,
        not_before: datetime | None = None,
        expires_on: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        exportable: bool | None = None,
    ) -> KeyVaultKey:
        """Import a JWK with its private members (a new version if *name* exists)."""
        if not isinstance(key, JsonWebKey | Mapping):
            raise InvalidParameterError(f"key must be a JsonWebKey or a JWK mapping, not {type(key).__name__}")
        jwk = key.to_dict() if isinstance(key, JsonWebKey) else dict(key)
        material = km.from_jwk(jwk)
        kty = material.kty
        if hardware_protected:
            raise UnsupportedError(
                "importing key material into the HSM (BYOK) is not supported by this HSM integration; "
                "create the key inside the HSM instead"
            )
        self._check_type_allowed(kty)
        ops = self._ops(jwk.get("key_ops"), kty)
        new = self._new_raw_version(
            material.to_bytes(),
            self._describe(material),
            kty,
            ops,
            enabled=enabled,
            not_before=not_before,
            expires_on=expires_on,
            tags=tags,
            exportable=exportable,
        )
        return self._key(self._engine.add_version(_KIND, name, new))

    # -- reads -------------------------------------------------------------------------

    @operation("KeyGet", A.KEY_READ, _name, object_id=id_of)
    def get_key(self, name: str, version: str | None = None) -> KeyVaultKey:
        """A version's public JWK and properties (a disabled key is Forbidden, as in Azure)."""
        rec = self._engine.get(_KIND, name, version)
        if not rec.enabled:
            raise ForbiddenError("Operation get is not allowed on a disabled key.", inner_code="KeyDisabled")
        return self._key(rec)

    @operation("KeyList", A.KEY_READ)
    def list_properties_of_keys(self) -> Iterator[KeyProperties]:
        return iter([self._props(r) for r in self._engine.latest_all(_KIND)])

    @operation("KeyListVersions", A.KEY_READ, _name)
    def list_properties_of_key_versions(self, name: str) -> Iterator[KeyProperties]:
        return iter([self._props(r) for r in self._engine.versions(_KIND, name)])

    @operation("KeyUpdate", A.KEY_UPDATE, _name, object_id=id_of)
    def update_key_properties(
        self,
        name: str,
        version: str | None = None,
        *,
        enabled: bool | None = None,
        key_operations: Sequence[str] | None = None,
        not_before: datetime | None = _UNSET,
        expires_on: datetime | None = _UNSET,
        tags: Mapping[str, str] | None = None,
    ) -> KeyVaultKey:
        changes = attribute_changes(enabled=enabled, tags=tags, not_before=not_before, expires_on=expires_on)

        def run(txn: Any) -> VersionRecord:
            current = self._engine.get_in(txn, _KIND, name, version)
            if current.managed:
                raise ForbiddenError(
                    f"Key {name} is managed by a certificate; update the certificate instead.", inner_code="ManagedKey"
                )
            local = dict(changes)
            if key_operations is not None:
                local["extra"] = {**current.extra, "ops": self._ops(key_operations, KeyType(current.extra["kty"]))}
            return self._engine.update_version_in(txn, _KIND, name, version, local)

        return self._key(self._engine.write(run))

    # -- delete / recover / purge ------------------------------------------------------

    @operation("KeyDelete", A.KEY_DELETE, _name)
    def delete_key(self, name: str) -> DeletedKey:
        def run(txn: Any) -> tuple[DeletedRecord, VersionRecord]:
            if self._engine.get_in(txn, _KIND, name).managed:
                raise ForbiddenError(
                    f"Key {name} is managed by a certificate; delete the certificate instead.", inner_code="ManagedKey"
                )
            return self._engine.delete_in(txn, _KIND, name)

        return self._deleted(*self._engine.write(run))

    @operation("KeyGetDeleted", A.DELETED_KEY_READ, _name)
    def get_deleted_key(self, name: str) -> DeletedKey:
        return self._deleted(*self._engine.get_deleted(_KIND, name))

    @operation("KeyListDeleted", A.DELETED_KEY_READ)
    def list_deleted_keys(self) -> Iterator[DeletedKey]:
        return iter([self._deleted(d, r) for d, r in self._engine.list_deleted(_KIND)])

    @operation("KeyRecover", A.DELETED_KEY_RECOVER, _name, object_id=id_of)
    def recover_deleted_key(self, name: str) -> KeyVaultKey:
        return self._key(self._engine.recover(_KIND, name))

    @operation("KeyPurge", A.DELETED_KEY_PURGE, _name)
    def purge_deleted_key(self, name: str) -> None:
        self._engine.purge(_KIND, name)

    def on_erased(self, kind: Kind, records: Sequence[VersionRecord]) -> None:
        """After a purge committed: destroy the token objects of purged HSM-backed keys, and
        drop every purged version's cached handle (software key material included)."""
        if kind is not _KIND:
            return
        for rec in records:
            if rec.extra.get("hsm"):
                # Already gone (e.g. purged through another copy of the vault): nothing to destroy.
                with contextlib.suppress(NotFoundError):
                    self._token().delete_hsm_key(hsm_ref_from_payload(rec.payload))
            with self._cache_lock:
                self._cache.pop((rec.name.lower(), rec.version), None)
        self._records.clear()  # opened records of purged keys leave this process too
        self._views.clear()
        for client in list(self._crypto_clients):  # and what their fast paths kept (handles)
            client._forget()

    # -- backup / restore --------------------------------------------------------------

    @operation("KeyBackup", A.KEY_BACKUP, _name)
    def backup_key(self, name: str) -> bytes:
        """An opaque blob with every version (not for HSM-backed keys: see docs/hsm.md)."""
        if any(rec.extra.get("hsm") for rec in self._engine.versions(_KIND, name)):
            raise UnsupportedError(
                "Backup of HSM-backed keys is refused: SoftHSM cannot keep a wrapped key inside a security "
                "domain safely (its trusted wrapping keys are stored unencrypted); see docs/hsm.md"
            )
        return self._backups.backup(_KIND, name)

    @operation("KeyRestore", A.KEY_RESTORE, object_id=id_of)
    def restore_key_backup(self, backup: bytes) -> KeyVaultKey:
        return self._key(
            self._backups.restore(_KIND, backup, check=lambda parts: check_restorable(self._ctx.settings, parts))
        )

    # -- export ------------------------------------------------------------------------

    @operation("KeyExport", A.KEY_EXPORT, _name, object_id=id_of)
    def export_key(self, name: str, version: str | None = None) -> KeyVaultKey:
        """The key with its private JWK members — only for keys marked ``exportable``."""
        rec = self._engine.get(_KIND, name, version)
        self._engine.check_usable(_KIND, rec)
        if not rec.extra.get("exportable"):
            raise ForbiddenError(
                f"Key {name} is not exportable; create or import it with exportable=True.",
                inner_code="KeyNotExportable",
            )
        ops = list(rec.extra.get("ops", []))
        jwk = dict(self.material(rec).private_jwk(self._kid(rec), key_ops=ops))
        jwk["kty"] = rec.extra.get("kty", jwk.get("kty"))
        return KeyVaultKey(properties=self._props(rec), key=JsonWebKey.from_dict(jwk))

    # -- misc --------------------------------------------------------------------------

    @operation("KeyRandom", A.RNG)
    def get_random_bytes(self, count: int) -> bytes:
        """*count* (1-128) bytes from the CSPRNG (the token's RNG in a managed HSM)."""
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= _MAX_RANDOM:
            raise InvalidParameterError(f"count must be an integer from 1 to {_MAX_RANDOM}")
        rng = getattr(self._ctx.root, "random_bytes", None)
        if self._ctx.settings.kind == "managed_hsm" and rng is not None:
            return bytes(rng(count))
        return _bindings.random_bytes(count)

    def get_cryptography_client(self, name: str, version: str | None = None) -> CryptographyClient:
        """A client for encrypt/decrypt, wrap/unwrap and sign/verify with this key."""
        from vaultcore.keys._crypto_client import CryptographyClient

        client = CryptographyClient(self, name, version)
        self._crypto_clients.add(client)
        return client

    # used by the cryptography client
    def _resolve(self, name: str, version: str | None) -> VersionRecord:
        # Every operation re-reads the version (attributes may change at any time); an
        # unchanged record is not decrypted and parsed again.
        return self._engine.get_cached(_KIND, name, version, self._records)

    def _usable(self, name: str, version: str | None, op: str) -> tuple[KeyHandle, str]:
        """The handle and key id of the version a key operation *op* acts on, re-read now,
        once Azure's rules let *op* run on it (``ForbiddenError`` otherwise, from
        :func:`check_operation`).

        What a record implies for operations (its windows, key id and handle) is worked out
        once per opened record: :meth:`_resolve` returns the very object it returned before
        while the stored bytes are unchanged, and a new one after any change.
        """
        rec = self._engine.get_cached(_KIND, name, version, self._records)
        views = self._views
        view = views.get(id(rec))
        if view is None or view.rec is not rec:
            view = UsableVersion(rec, self._kid(rec))
            if len(views) >= 256:
                views.clear()
            views[id(rec)] = view  # the view holds rec: its id is not reused while listed
        now = int(self._ctx.timestamp())  # VaultContext.now() without its call
        lo, hi = view.windows.get(op, _NEVER)
        if not lo <= now < hi:
            check_operation(rec, op, now)  # raises Azure's refusal
        handle = view.handle
        if handle is None:
            handle = view.handle = self.handle(rec)
        return handle, view.kid

    def _fast_view(
        self, name: str, version: str | None, op: str
    ) -> tuple[Callable[[], int], tuple[float, float], KeyHandle, str] | None:
        """For the version :meth:`_usable` just returned for *op*: the store's check that its
        sealed record is unchanged (a call without arguments), *op*'s time window on it, its
        handle and key id, all from the one record read; None if the store has no watches
        (PostgreSQL) or the record is too large for one."""
        hit = self._records.get((_KIND.byte, name, version))
        watch_check = getattr(self._ctx.store, "watch_check", None)
        if hit is None or hit.watch is None or watch_check is None:
            return None
        view = self._views.get(id(hit.rec))
        if view is None or view.rec is not hit.rec or view.handle is None:
            return None
        return watch_check(VERSIONS, hit.watch), view.windows.get(op, _NEVER), view.handle, view.kid


class UsableVersion:
    """A key version as the cryptography client uses it, derived once from one opened record:
    the per-operation time windows of :func:`operation_windows`, the key id, the handle."""

    __slots__ = ("handle", "kid", "rec", "windows")

    def __init__(self, rec: VersionRecord, kid: str) -> None:
        self.rec = rec
        self.kid = kid
        self.windows = operation_windows(rec)
        #: Set after the first check passes (an HSM key's handle needs the token).
        self.handle: KeyHandle | None = None
