"""``vault.secrets``: Azure Key Vault's SecretClient over the lifecycle engine."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import Session, id_of, name_scope, operation, read_event
from vaultcore.access._roles import DataAction as A
from vaultcore.engine._lifecycle import BulkVersions, Lifecycle, NewVersion
from vaultcore.engine._models import (
    DeletedSecret,
    FusedSecret,
    KeyVaultSecret,
    SecretProperties,
    base_properties,
    deleted_fields,
    fast_init,
    lazy_secret,
)
from vaultcore.engine._records import DeletedRecord, Kind, VersionRecord
from vaultcore.engine._validation import (
    UNSET,
    attribute_changes,
    check_bool,
    check_content_type,
    check_tags,
    to_timestamp,
)
from vaultcore.exceptions import ForbiddenError, IntegrityError, InvalidParameterError, VaultError

if TYPE_CHECKING:
    from vaultcore.engine._backup import ObjectBackup
    from vaultcore.engine._context import VaultContext

__all__ = ["SecretClient"]

MAX_SECRET_BYTES = 25 * 1024
#: ``durability`` of writes: "full" (default) is on disk when the call returns; "meta_async"
#: flushes the data pages but not LMDB's meta page (``MDB_NOMETASYNC``): a power loss or OS
#: crash may undo the last commits, never corrupts the vault; a process crash loses nothing.
DURABILITY = ("full", "meta_async")
_KIND = Kind.SECRET
_BYTE = _KIND.byte
_UNSET = UNSET
_name = name_scope("secrets")


class SecretClient:
    """Secrets: immutable versions of string values with attributes and soft-delete."""

    def __init__(self, ctx: VaultContext, engine: Lifecycle, backups: ObjectBackup, session: Session) -> None:
        self._ctx = ctx
        self._session = session
        self._engine = engine
        self._backups = backups
        # Secrets can take the fused read (not in a managed HSM, which refuses secrets).
        self._fused = ctx.settings.kind != "managed_hsm"
        self._id_prefix = f"{ctx.settings.url}/secrets/"
        # What the fused read keeps between calls: its event template (read_event's *known*)
        # and, on LMDB, the engine's bound native call (Lifecycle.latest_call).
        self._known_event: list[Any] = [None]
        self._latest: tuple[object, Any, int, Any] | None = None

    @property
    def vault_url(self) -> str:
        return self._ctx.settings.url

    # -- helpers -----------------------------------------------------------------------

    def _props(self, rec: VersionRecord) -> SecretProperties:
        fields = base_properties(_KIND, rec, self._ctx.settings)
        key_id = rec.extra.get("kid")
        fields["content_type"] = rec.content_type
        fields["key_id"] = str(key_id) if key_id else None
        return fast_init(SecretProperties, fields)

    def _props_many(self, done: BulkVersions) -> list[SecretProperties]:
        """:meth:`_props` of each version a bulk write created (the shared fields built once)."""
        base = self._props(done.record).__dict__
        prefix = f"{self._ctx.settings.url}/{_KIND.collection}/"
        tags = done.record.tags
        return [
            fast_init(
                SecretProperties,
                {**base, "id": f"{prefix}{name}/{version}", "name": name, "version": version, "tags": dict(tags)},
            )
            for name, version in zip(done.names, done.versions, strict=True)
        ]

    def _deleted(self, deleted: DeletedRecord, rec: VersionRecord) -> DeletedSecret:
        return DeletedSecret(
            properties=self._props(rec),
            **deleted_fields(_KIND, rec.name, deleted, self._ctx.settings),  # type: ignore[arg-type]
        )

    def _check_allowed(self) -> None:
        if self._ctx.settings.kind == "managed_hsm":
            raise ForbiddenError(
                "Secrets are not supported by a managed HSM; it holds HSM-backed keys only.",
                inner_code="OperationNotAllowed",
            )

    @staticmethod
    def _durable(durability: object) -> bool:
        if durability not in DURABILITY:
            raise InvalidParameterError(f"durability must be one of {', '.join(DURABILITY)}")
        return durability == "full"

    @staticmethod
    def _value_bytes(value: object) -> bytes:
        if not isinstance(value, str):
            raise InvalidParameterError("a secret value must be a string")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterError("a secret value must be valid Unicode text (no lone surrogates)") from None
        if len(data) > MAX_SECRET_BYTES:
            raise InvalidParameterError(
                f"a secret value may be at most {MAX_SECRET_BYTES} bytes, got {len(data)}", inner_code="SecretTooLarge"
            )
        return data

    def _new_version(
        self,
        value: str,
        enabled: bool | None,
        tags: Mapping[str, str] | None,
        content_type: str | None,
        not_before: datetime | None,
        expires_on: datetime | None,
    ) -> NewVersion:
        return NewVersion(
            payload=self._value_bytes(value),
            enabled=True if enabled is None else check_bool(enabled, "enabled"),
            not_before=to_timestamp(not_before, "not_before"),
            expires_on=to_timestamp(expires_on, "expires_on"),
            tags=check_tags(tags),
            content_type=check_content_type(content_type),
        )

    def _to_secret(self, rec: VersionRecord) -> KeyVaultSecret:
        try:
            value = rec.payload.decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError() from None
        ident = f"{self._ctx.settings.url}/secrets/{rec.name}/{rec.version}"
        return lazy_secret(value, rec, ident, self._props)

    # -- operations --------------------------------------------------------------------

    @operation("SecretSet", A.SECRET_SET, _name, object_id=id_of)
    def set_secret(
        self,
        name: str,
        value: str,
        *,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = None,
        not_before: datetime | None = None,
        expires_on: datetime | None = None,
        durability: str = "full",
    ) -> KeyVaultSecret:
        """Create a new version of *name* (the secret is created if it does not exist).

        *durability*: ``"full"`` (default) or ``"meta_async"`` (see ``DURABILITY``: faster; a
        power loss may undo the last commits, never corrupts).
        """
        self._check_allowed()
        durable = self._durable(durability)
        new = self._new_version(value, enabled, tags, content_type, not_before, expires_on)
        rec = self._engine.add_version(_KIND, name, new, durable=durable)
        return KeyVaultSecret(properties=self._props(rec), value=value)

    @operation("SecretSetBulk", A.SECRET_SET)
    def set_secrets(
        self,
        secrets: Mapping[str, str],
        *,
        content_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        durability: str = "full",
    ) -> list[SecretProperties]:
        """Set many secrets in one transaction (one commit, one native batch); *durability* as in :meth:`set_secret`."""
        self._check_allowed()
        durable = self._durable(durability)
        names = list(secrets)  # names and values as two lists: no tuple per secret
        values = list(secrets.values())
        value_bytes = self._value_bytes
        payloads: list[bytes] = []
        new = NewVersion(payload=b"")
        if names:  # the checks of set_secret, in its order: the first value, then the shared attributes
            payloads.append(value_bytes(values[0]))
            new = NewVersion(payload=b"", tags=check_tags(tags), content_type=check_content_type(content_type))
            payloads += map(value_bytes, values[1:])
        self._engine.reserve(len(payloads), sum(map(len, payloads)))
        # The results are built inside the transaction, where the client would otherwise wait
        # for the database to finish the bulk insert (PostgreSQL's COPY); a re-run rebuilds them.
        return self._engine.write(
            lambda txn: self._props_many(self._engine.add_versions_bulk_in(txn, _KIND, names, payloads, new)),
            durable=durable,
        )

    def get_secret(
        self, name: str, version: str | None = None, *, out_content_type: str | None = None
    ) -> KeyVaultSecret:
        """The value of a version (latest by default); Forbidden only if it is disabled.

        As in Azure, a not-yet-valid or expired secret is still readable: ``nbf``/``exp`` are
        information for the application, which may check ``properties.expires_on`` itself.
        *out_content_type* ``application/x-pem-file`` returns a certificate's PKCS#12 backing
        secret as PEM (Azure's ``outContentType``).

        The latest version is read in one native call when it can succeed there (see
        ``engine._reads.read_latest``; on LMDB this method makes that call itself, kept from
        ``latest_call``): the C core reads, opens and checks the record and queues the audit
        event; anything else takes the audited operation below, which raises and records
        what went wrong.
        """
        if version is None and out_content_type is None and type(name) is str and self._fused:
            event = read_event(self, "SecretGet", "/secrets/", self._known_event)  # (held for the call)
            if event is not None:
                latest = self._latest  # (held for the call: it keeps the reader alive)
                try:
                    if latest is not None and latest[0] is self._ctx._keyring:  # read_latest, no frame
                        found = latest[1](
                            latest[2], _BYTE, name, event.address, FusedSecret, self._props, self._id_prefix
                        )
                    else:
                        found = self._read_latest(name, event.address)
                except VaultError:  # (an invalid name: the operation raises it, audited)
                    found = None
                if found is not None:
                    secret, waiting = found
                    # (waiting 0: nothing queued, audit off) the flusher lags: flush here
                    if waiting and waiting >= self._ctx.audit.backlog:
                        self._ctx.audit.flush()
                    return secret  # type: ignore[no-any-return]
        return self._get_secret(name, version, out_content_type=out_content_type)

    def _read_latest(self, name: str, event: int) -> tuple[Any, int] | None:
        """The engine's read_latest, its native call (LMDB) kept for the next reads."""
        self._latest = self._engine.latest_call()
        return self._engine.read_latest(_KIND, name, event, self._props, self._id_prefix)

    @operation("SecretGet", A.SECRET_GET, _name, object_id=id_of)
    def _get_secret(
        self, name: str, version: str | None = None, *, out_content_type: str | None = None
    ) -> KeyVaultSecret:
        self._check_allowed()
        rec = self._engine.get(_KIND, name, version)
        self._engine.check_usable(_KIND, rec, window=False)
        secret = self._to_secret(rec)
        if out_content_type is None:
            return secret
        from vaultcore.crypto._content_types import convert_secret_value  # certificate-backed secrets

        props = secret.properties
        value, content_type = convert_secret_value(
            secret.value, props.content_type, out_content_type, managed=props.managed
        )
        return KeyVaultSecret(props.evolve(content_type=content_type), value)

    @operation("SecretList", A.SECRET_READ_METADATA)
    def list_properties_of_secrets(self) -> Iterator[SecretProperties]:
        """Properties of the latest version of every secret (no values)."""
        self._check_allowed()
        return iter([self._props(r) for r in self._engine.latest_all(_KIND)])

    @operation("SecretListVersions", A.SECRET_READ_METADATA, _name)
    def list_properties_of_secret_versions(self, name: str) -> Iterator[SecretProperties]:
        self._check_allowed()
        return iter([self._props(r) for r in self._engine.versions(_KIND, name)])

    @operation("SecretUpdate", A.SECRET_UPDATE, _name, object_id=id_of)
    def update_secret_properties(
        self,
        name: str,
        version: str | None = None,
        *,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = _UNSET,
        not_before: datetime | None = _UNSET,
        expires_on: datetime | None = _UNSET,
    ) -> SecretProperties:
        """Change attributes of one version; arguments left out keep their value."""
        self._check_allowed()
        changes = attribute_changes(
            enabled=enabled, tags=tags, content_type=content_type, not_before=not_before, expires_on=expires_on
        )

        def run(txn: Any) -> VersionRecord:
            current = self._engine.get_in(txn, _KIND, name, version)
            if current.managed:
                raise ForbiddenError(
                    f"Secret {name} is managed by a certificate; update the certificate instead.",
                    inner_code="ManagedSecret",
                )
            return self._engine.update_version_in(txn, _KIND, name, version, changes)

        return self._props(self._engine.write(run))

    @operation("SecretDelete", A.SECRET_DELETE, _name)
    def delete_secret(self, name: str) -> DeletedSecret:
        """Soft-delete the secret and all its versions (``begin_delete_secret`` in Azure)."""
        self._check_allowed()

        def run(txn: Any) -> tuple[DeletedRecord, VersionRecord]:
            if self._engine.get_in(txn, _KIND, name).managed:
                raise ForbiddenError(
                    f"Secret {name} is managed by a certificate; delete the certificate instead.",
                    inner_code="ManagedSecret",
                )
            return self._engine.delete_in(txn, _KIND, name)

        return self._deleted(*self._engine.write(run))

    @operation("SecretGetDeleted", A.DELETED_SECRET_READ, _name)
    def get_deleted_secret(self, name: str) -> DeletedSecret:
        self._check_allowed()
        return self._deleted(*self._engine.get_deleted(_KIND, name))

    @operation("SecretListDeleted", A.DELETED_SECRET_READ)
    def list_deleted_secrets(self) -> Iterator[DeletedSecret]:
        self._check_allowed()
        return iter([self._deleted(d, r) for d, r in self._engine.list_deleted(_KIND)])

    @operation("SecretRecover", A.DELETED_SECRET_RECOVER, _name)
    def recover_deleted_secret(self, name: str) -> SecretProperties:
        self._check_allowed()
        return self._props(self._engine.recover(_KIND, name))

    @operation("SecretPurge", A.DELETED_SECRET_PURGE, _name)
    def purge_deleted_secret(self, name: str) -> None:
        """Erase a soft-deleted secret for good (refused under purge protection)."""
        self._check_allowed()
        self._engine.purge(_KIND, name)

    @operation("SecretBackup", A.SECRET_BACKUP, _name)
    def backup_secret(self, name: str) -> bytes:
        """An opaque blob with every version, restorable within the security domain."""
        self._check_allowed()
        return self._backups.backup(_KIND, name)

    @operation("SecretRestore", A.SECRET_RESTORE, object_id=id_of)
    def restore_secret_backup(self, backup: bytes) -> SecretProperties:
        self._check_allowed()
        return self._props(self._backups.restore(_KIND, backup))
