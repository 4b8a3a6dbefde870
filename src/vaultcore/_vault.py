"""``Vault``: create or open a vault directory and reach its clients."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vaultcore._administration import AdministrationOperations
from vaultcore._principal_views import PrincipalViews
from vaultcore.access._audit import AuditLog, PendingEvent
from vaultcore.access._operations import ADMIN, Session, new_request_id, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto import _bindings
from vaultcore.crypto._credentials import KDF_DEFAULT, KDF_INTERACTIVE, Credential, KdfParameters, Pkcs11Credential
from vaultcore.crypto._keyring import Keyring
from vaultcore.engine._backup import ObjectBackup
from vaultcore.engine._context import (
    FORMAT_NAME,
    FORMAT_VERSION,
    GENERATION_KEY,
    HEADER_KEY,
    KEYRING_KEY,
    META,
    Clock,
    VaultContext,
    VaultSettings,
    keyring_aad,
    parse_header,
    utc_now,
)
from vaultcore.engine._lifecycle import Lifecycle
from vaultcore.engine._records import Kind, VersionRecord
from vaultcore.exceptions import (
    ConflictError,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    RollbackError,
    UnauthorizedError,
    VaultError,
    VaultLockedError,
)
from vaultcore.secrets._client import SecretClient
from vaultcore.storage._interface import Store, WriteTxn, is_url, open_store

if TYPE_CHECKING:
    # Imported where first used: opening a vault and reading a secret (the cold start of a
    # script or a CLI call) loads no administration plane, events, X.509 or key code.
    from vaultcore._results import MaintenanceReport
    from vaultcore._settings import VaultSettingsClient
    from vaultcore.access._audit_view import AuditView
    from vaultcore.access._principals import AccessManager
    from vaultcore.certificates._client import CertificateClient
    from vaultcore.engine._rotation import Progress
    from vaultcore.events._outbox import Outbox
    from vaultcore.events._scheduler import Scheduler
    from vaultcore.events._view import EventsView
    from vaultcore.keys._client import KeyClient

__all__ = ["Vault"]


_KINDS = ("vault", "managed_hsm")


def _default_name(path: str) -> str:
    if is_url(path):  # postgresql://...?vault=NAME: the vault's name in the database
        found = re.search(r"[?&]vault=([^&#]*)", path)
        path = found.group(1) if found else "vault"
    base = re.sub(r"[^0-9a-zA-Z-]", "-", os.path.basename(os.path.abspath(path))).strip("-").lower()
    return (base or "vault")[:24]


class Vault(PrincipalViews, AdministrationOperations):
    """An open vault. Create with :meth:`create`, open with :meth:`open`; use as a context manager.

    The object returned by ``create``/``open`` acts as the administrator (whoever holds the
    vault credential). :meth:`as_principal` and :meth:`as_os_user` return views of the same
    open vault whose every operation is checked against that principal's role assignments.
    Every operation of every view is audited.
    """

    def __init__(
        self,
        ctx: VaultContext,
        session: Session | None = None,
        *,
        owner: bool = True,
        access_kdf: KdfParameters = KDF_INTERACTIVE,
    ) -> None:
        self._ctx = ctx
        self._access_kdf = access_kdf
        self._session = session or Session(ADMIN)
        self._owner = owner
        self._engine = Lifecycle(ctx)
        self._backups = ObjectBackup(ctx, self._engine)
        self.secrets = SecretClient(ctx, self._engine, self._backups, self._session)
        self._engine.on_erased = self._on_erased
        # The event outbox is attached when the first event is emitted (events commit with
        # the changes that cause them), so a process that only reads never loads it.
        ctx.events_factory = _new_outbox
        self._scheduler: Scheduler | None = None

    @cached_property
    def audit(self) -> AuditView:
        """The audit log (``AuditView``): query and verify, created on first use."""
        from vaultcore.access._audit_view import AuditView

        return AuditView(self._ctx, self._session)

    @cached_property
    def settings(self) -> VaultSettingsClient:
        """The vault's settings (``VaultSettingsClient``), created on first use."""
        from vaultcore._settings import VaultSettingsClient

        return VaultSettingsClient(self)

    @cached_property
    def access(self) -> AccessManager:
        """Principals and role assignments (``AccessManager``), created on first use."""
        from vaultcore.access._principals import AccessManager

        return AccessManager(self._ctx, self._session, kdf=self._access_kdf)

    @cached_property
    def events(self) -> EventsView:
        """Events: subscriptions, the stream, dead letters (``EventsView``), created on first use."""
        from vaultcore.events._view import EventsView

        return EventsView(self._ctx, self._session)

    @cached_property
    def keys(self) -> KeyClient:
        """Keys (``KeyClient``), created on first use."""
        from vaultcore.keys._client import KeyClient

        return KeyClient(self._ctx, self._engine, self._backups, self._session)

    @cached_property
    def certificates(self) -> CertificateClient:
        """Certificates (``CertificateClient``), created on first use."""
        from vaultcore.certificates._client import CertificateClient

        return CertificateClient(self._ctx, self._engine, self._backups, self._session, self.keys)

    def _on_erased(self, kind: Kind, records: list[VersionRecord]) -> None:  # purged HSM keys
        if kind is Kind.KEY:
            self.keys.on_erased(kind, records)

    # -- create / open -----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        credential: Credential,
        *,
        retention_days: int = 90,
        purge_protection: bool = False,
        name: str | None = None,
        clock: Clock | None = None,
        kind: str = "vault",
        tier: str | None = None,
        security_domain: tuple[bytes, str | bytes | Sequence[bytes]] | None = None,
        allow_software_oct_keys: bool = False,
        audit: str = "group",
        access_kdf: KdfParameters = KDF_INTERACTIVE,
    ) -> Vault:
        """Create a new vault in the directory *path* (created 0700) or at a ``postgresql://`` URL.

        ``tier`` (``"standard"`` or ``"premium"``) defaults to the credential's: a
        :class:`Pkcs11Credential` makes a premium vault, software credentials a standard one;
        naming a tier the credential cannot provide is an ``InvalidParameterError``.

        *audit* is ``"group"`` (reads group-committed), ``"sync"`` or ``"off"`` (no read events);
        *access_kdf* is the Argon2id cost of hashing new application client secrets
        (``KDF_TESTING`` makes principals cheap in tests; never use it in production).
        """
        path = os.fspath(path)
        _check_kdf(access_kdf)
        if not isinstance(credential, Credential):
            raise InvalidParameterError("credential must be a vaultcore credential")
        if not isinstance(retention_days, int) or not 7 <= retention_days <= 90:
            raise InvalidParameterError("retention_days must be between 7 and 90")
        if kind not in _KINDS:
            raise InvalidParameterError(f"kind must be one of {', '.join(_KINDS)}")
        if tier is not None and tier not in ("standard", "premium"):
            raise InvalidParameterError("tier must be 'standard' or 'premium'")
        if tier is not None and tier != credential.tier:
            raise InvalidParameterError(
                f"a {tier} vault needs a {'PKCS#11 (Pkcs11Credential)' if tier == 'premium' else 'software'} "
                f"credential; {type(credential).__name__} makes a {credential.tier} vault"
            )
        if kind == "managed_hsm" and credential.tier != "premium":
            raise InvalidParameterError("a managed HSM needs a PKCS#11 credential (its root key lives in the token)")
        vault_name = name if name is not None else _default_name(path)
        if not re.fullmatch(r"[0-9a-zA-Z-]{1,63}", vault_name):
            raise InvalidParameterError("the vault name must be 1-63 characters of 0-9, a-z, A-Z and '-'")
        domain = None
        if security_domain is not None:
            from vaultcore._administration import open_security_domain

            domain = open_security_domain(security_domain)
        clock = clock or utc_now
        now = clock()
        if now.tzinfo is None:
            raise InvalidParameterError("the vault clock must return timezone-aware datetimes")

        vault_id = _bindings.random_bytes(16)
        root, root_header = credential._create_root(vault_id)
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "vault_id": vault_id.hex(),
            "name": vault_name,
            "kind": kind,
            "tier": credential.tier,
            "retention_days": retention_days,
            "purge_protection": bool(purge_protection),
            "allow_software_oct": bool(allow_software_oct_keys) or kind == "managed_hsm",
            "created_on": int(now.timestamp()),
            "root": root_header,
        }
        header_raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        ring = Keyring.new(vault_id, domain=domain)
        store = open_store(path, create=True)
        try:
            ctx = VaultContext(store, root, header_raw, ring, clock)
            ctx.audit = AuditLog(ctx, mode=audit)
            # The audit log starts with the vault's creation, in the creating transaction:
            # verify() relies on it to tell a wiped log from a new one.
            created = PendingEvent(ADMIN, "VaultCreate", "/", new_request_id(), Session(ADMIN).caller, now.timestamp())

            def init(txn: WriteTxn) -> None:
                if txn.get(META, HEADER_KEY) is not None:
                    raise ConflictError(f"a vault already exists at {path!r}")
                txn.put(META, HEADER_KEY, header_raw)
                txn.put(META, KEYRING_KEY, root.wrap(ring.to_bytes(), keyring_aad(header_raw)))
                txn.put(META, GENERATION_KEY, ring.generation.to_bytes(8, "big"))
                ctx.audit.append_in(txn, [created])

            store.write(init)
            _after_keyring_commit(ctx, root)
        except BaseException:
            store.close()
            raise
        return cls._attach(ctx, access_kdf)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        credential: Credential,
        *,
        clock: Clock | None = None,
        audit: str = "group",
        access_kdf: KdfParameters = KDF_INTERACTIVE,
    ) -> Vault:
        """Open an existing vault; ``UnauthorizedError`` if *credential* does not unlock it.

        *audit* and *access_kdf* as for :meth:`create`.
        """
        path = os.fspath(path)
        _check_kdf(access_kdf)
        if not isinstance(credential, Credential):
            raise InvalidParameterError("credential must be a vaultcore credential")
        store = open_store(path, create=False)
        try:
            with store.read() as txn:
                header_raw = txn.get(META, HEADER_KEY)
                header = parse_header(header_raw)
                assert header_raw is not None
                keyring_blob = txn.get(META, KEYRING_KEY)
            settings = VaultSettings.from_header(header)
            root_header = header.get("root")
            if not isinstance(root_header, dict):
                raise IntegrityError("the vault header is damaged")
            root = credential._open_root(root_header, settings.vault_id)
            if keyring_blob is None:
                raise IntegrityError("the keyring is missing")
            ring = Keyring.from_bytes(root.unwrap(keyring_blob, keyring_aad(header_raw)))
            if ring.vault_id != settings.vault_id:
                raise IntegrityError()
            header_raw, ring = _check_rollback(store, root, header_raw, ring)
            ctx = VaultContext(store, root, header_raw, ring, clock or utc_now)
            _after_keyring_commit(ctx, root)
            ctx.audit = AuditLog(ctx, mode=audit)
        except BaseException:
            store.close()
            raise
        vault = cls._attach(ctx, access_kdf)
        vault._record_admin("VaultOpen")
        with store.leader("maintenance") as lead:  # one node at a time on a shared database
            if lead:
                vault._engine.sweep()
        return vault

    @classmethod
    def _attach(cls, ctx: VaultContext, access_kdf: KdfParameters = KDF_INTERACTIVE) -> Vault:
        return cls(ctx, access_kdf=access_kdf)

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the vault (flushing queued audit events); further use raises ``VaultLockedError``.

        Closing a principal view only detaches the view; the vault stays open. Closing never
        raises: when the queued audit events cannot be written (the disk is full, another
        process changed the credential, the vault was opened before a fork) they are dropped
        and the reason is logged on the ``vaultcore`` logger.
        """
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if not self._owner or self._ctx.closed:
            return
        try:
            self._ctx.audit.close()
        except VaultError as exc:
            import logging  # only on this rare path: a CLI call does not pay for the module

            logging.getLogger("vaultcore").warning("vault closed without writing its queued audit events: %s", exc)
        finally:
            self._ctx.closed = True
            self._ctx.store.close()

    def _record_admin(self, operation_name: str, object_id: str = "/", *, durable: bool = False) -> None:
        """Audit an event of the vault itself; *durable* for mutations made outside an operation's
        write transaction (they commit at once and are kept even with ``audit="off"``)."""
        event = PendingEvent(
            self._session.principal,
            operation_name,
            object_id,
            new_request_id(),
            self._session.caller,
            self._ctx.clock().timestamp(),
        )
        self._ctx.audit.record(event, durable=durable)

    # -- principals --------------------------------------------------------------------

    @classmethod
    def from_env(cls, *, audit: str = "group") -> Vault:
        """Open the vault the ``VAULTCORE_*`` variables name, as the ``vaultcore`` CLI does
        (``vaultcore._environment``), as the administrator (see :meth:`as_principal`)."""
        from vaultcore._environment import credential_from_env, vault_path_from_env

        return cls.open(vault_path_from_env(), credential_from_env(), audit=audit)

    @property
    def principal(self) -> str:
        """Who this object acts as: ``admin``, ``app:<client id>`` or ``uid:<n>``."""
        return self._session.principal

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ctx.closed else "open"
        s = self._ctx.settings
        return f"<Vault {s.name!r} {s.kind}/{s.tier} at {self._ctx.store.path!r} ({state})>"

    def __reduce__(self) -> Any:
        raise TypeError("a Vault cannot be pickled; open it in each process")

    # -- properties --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._ctx.settings.name

    @property
    def vault_id(self) -> str:
        """The vault's random 128-bit id (hex): bound into every record's AAD, so a record
        copied between vaults fails to open; shown by ``vaultcore info``."""
        return self._ctx.settings.vault_id.hex()

    @property
    def vault_url(self) -> str:
        return self._ctx.settings.url

    @property
    def path(self) -> str:
        return self._ctx.store.path

    @property
    def kind(self) -> str:
        return self._ctx.settings.kind

    @property
    def tier(self) -> str:
        return self._ctx.settings.tier

    @property
    def retention_days(self) -> int:
        return self._ctx.settings.retention_days

    @property
    def purge_protection(self) -> bool:
        return self._ctx.settings.purge_protection

    @property
    def keyring_generation(self) -> int:
        return self._ctx.keyring.generation

    def _service_key(self, label: str) -> bytes:
        """A key derived from the keyring for *label* (the REST server's token key: the same
        in every replica serving this vault). Only the administrator's object hands it out."""
        self._require_open()
        if not self._session.is_admin:
            raise ForbiddenError("only the vault administrator may derive service keys", inner_code="ForbiddenByRbac")
        return self._ctx.keyring.service_key(label)

    # -- administration ----------------------------------------------------------------

    def _require_open(self) -> None:
        if self._ctx.closed:
            raise VaultLockedError("the vault is closed")

    @operation("VaultCredentialChange", A.VAULT_ADMIN)
    def change_credential(self, credential: Credential) -> None:
        """Protect the keyring with a new credential (re-wraps only the keyring)."""
        self._require_open()
        if not isinstance(credential, Credential):
            raise InvalidParameterError("credential must be a vaultcore credential")
        if self._ctx.settings.kind == "managed_hsm" and credential.tier != "premium":
            raise InvalidParameterError("a managed HSM needs a PKCS#11 credential")
        _check_same_token(self._ctx.header.get("root"), credential)
        root, root_header = credential._create_root(self._ctx.settings.vault_id)
        header = dict(self._ctx.header)
        header["root"] = root_header
        header["tier"] = credential.tier
        header_raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        old_root = self._ctx.root

        def run(txn: WriteTxn) -> Keyring:
            ring = self._ctx.keyring.bumped()
            self._ctx.root = root
            try:
                self._ctx.replace_keyring_in(txn, ring, header_raw)
            finally:
                self._ctx.root = old_root
            return ring

        ring = self._ctx.write(run)
        self._ctx.adopt(ring, header_raw, root)
        _after_keyring_commit(self._ctx, root)

    @operation("VaultUpdate", A.VAULT_ADMIN)
    def enable_purge_protection(self) -> None:
        """Turn purge protection on (as in Azure, it can never be turned off)."""
        self._require_open()
        if self._ctx.settings.purge_protection:
            return
        header = dict(self._ctx.header)
        header["purge_protection"] = True
        header_raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()

        def run(txn: WriteTxn) -> Keyring:
            ring = self._ctx.keyring.bumped()
            self._ctx.replace_keyring_in(txn, ring, header_raw)
            return ring

        ring = self._ctx.write(run)
        self._ctx.adopt(ring, header_raw)
        _after_keyring_commit(self._ctx, self._ctx.root)

    @operation("VaultKeyringRotate", A.VAULT_ADMIN)
    def rotate_keyring(self, *, progress: Progress | None = None) -> int:
        """Add a keyring term, re-wrap every DEK under it, destroy the old term.

        ``progress(done, total)`` is called after each committed chunk. Returns the number of
        records re-wrapped. If a previous rotation was interrupted, this finishes it.
        """
        self._require_open()
        from vaultcore.engine._rotation import rotate_keyring

        count = rotate_keyring(self._ctx, progress=progress)
        _after_keyring_commit(self._ctx, self._ctx.root)
        return count

    @operation("VaultMaintenance", A.VAULT_ADMIN)
    def run_maintenance(self) -> MaintenanceReport:
        """Purge soft-deleted objects past their scheduled purge date, apply key rotation
        policies and certificate lifetime actions, and emit the expiry events now due."""
        self._require_open()
        from vaultcore._results import MaintenanceReport

        with self._ctx.store.leader("maintenance") as lead:
            if not lead:  # another node of a shared (PostgreSQL) vault is running them now
                return MaintenanceReport(purged=0, leader=False)
            return self._maintain()

    def _maintain(self) -> MaintenanceReport:
        from vaultcore._results import MaintenanceReport

        purged = self._engine.sweep()
        events = self._rotation_job() + self._lifetime_job()
        from vaultcore.events._expiry import detect_expiry

        detect_expiry(self._ctx, self._engine, self.events._outbox)
        self.events.pump()
        return MaintenanceReport(purged=purged, events=tuple(events))

    def _rotation_job(self) -> list[dict[str, Any]]:
        events = self.keys.run_rotation_policies()
        for event in events:
            self._record_admin(event["event"], f"/keys/{event['key'].lower()}/{event['version']}", durable=True)
        return events

    def _lifetime_job(self) -> list[dict[str, Any]]:
        events = self.certificates.run_lifetime_actions()
        for event in events:
            path = f"/certificates/{event['certificate'].lower()}/{event['version']}"
            self._record_admin(event["event"], path, durable=True)
        return events

    @operation("VaultSchedulerStart", A.VAULT_ADMIN)
    def start_scheduler(self, interval: float = 60.0, *, start: bool = True, **retention: Any) -> Scheduler:
        """Run maintenance, expiry detection and event delivery every *interval* seconds in a
        background thread (docs/events.md); *start* False: call ``run_once()`` yourself.
        *retention*: ``retention_days`` (7) and ``keep_events`` (10,000) of the outbox."""
        self._require_open()
        if self._scheduler is None:
            from vaultcore.events._scheduler import Scheduler, maintenance_jobs

            jobs = maintenance_jobs(self._ctx, self._engine, self.events, self._rotation_job, self._lifetime_job)
            self._scheduler = Scheduler(self._ctx, jobs, interval=interval, **retention)
        return self._scheduler.start() if start else self._scheduler

    @operation("SecurityDomainExport", A.VAULT_ADMIN)
    def export_security_domain(self, passphrase: str | bytes, *, kdf: KdfParameters = KDF_DEFAULT) -> bytes:
        """The security domain sealed under *passphrase*, for ``create(security_domain=...)``."""
        self._require_open()
        from vaultcore.engine._backup import export_domain

        ring = self._ctx.keyring
        return export_domain(ring.domain_id, ring.domain_key, passphrase, kdf)

    @operation("VaultBackup", A.VAULT_ADMIN)
    def backup_to(self, path: str | os.PathLike[str]) -> None:
        """A consistent hot copy of the whole vault into a new directory or ``postgresql://`` URL.

        Open the copy with the same credential. Writers may keep running meanwhile. Between
        LMDB directories this is a compacting LMDB copy; to or from PostgreSQL (migration
        either way) every record is copied from one snapshot and then re-verified in the copy.
        """
        self._require_open()
        dest = os.fspath(path)
        store = self._ctx.store
        from vaultcore.engine._migrate import copy_and_verify
        from vaultcore.storage._lmdb import LmdbStore

        if isinstance(store, LmdbStore) and not is_url(dest):
            store.hot_copy(dest)
            return
        copy_and_verify(self._ctx, dest)


def _check_kdf(kdf: object) -> None:
    if not isinstance(kdf, KdfParameters):
        raise InvalidParameterError("access_kdf must be KdfParameters")
    kdf.check()


def _check_same_token(current: Any, credential: Credential) -> None:
    """A premium vault stays in its token: its HSM-backed keys (never extractable) and its
    rollback counter live there, so only a new root key in that token is accepted."""
    if not isinstance(current, dict) or current.get("type") != "pkcs11":
        return
    if isinstance(credential, Pkcs11Credential):
        config = credential.config
        module = current.get("module")
        if (
            isinstance(module, str)
            and os.path.realpath(config.module_path) == os.path.realpath(module)
            and config.token_label == current.get("token_label")
        ):
            return
    raise InvalidParameterError(
        f"this premium vault keeps its HSM-backed keys and rollback counter in PKCS#11 token "
        f"'{current.get('token_label')!s}'; the new credential must be a Pkcs11Credential for that token "
        "(a new key_label rotates the root key)"
    )


def _check_rollback(store: Store, root: Any, header_raw: bytes, ring: Keyring) -> tuple[bytes, Keyring]:
    """A root key that can remember the keyring generation (PKCS#11) refuses older vaults.

    Another process may change the keyring, and tell the token, after this open read it:
    then the store has moved on as well, so the newer header and keyring are read again
    instead of reporting a rollback. Returns the header and keyring to open with.
    """
    check = getattr(root, "check_generation", None)
    if check is None:
        return header_raw, ring
    while True:
        try:
            check(ring.generation)
            return header_raw, ring
        except RollbackError:
            with store.read() as txn:
                fresh_header, blob = txn.get(META, HEADER_KEY), txn.get(META, KEYRING_KEY)
            if fresh_header is None or blob is None:
                raise
            if parse_header(fresh_header).get("root") != parse_header(header_raw).get("root"):
                raise UnauthorizedError(
                    "the vault's credential was changed by another handle; open the vault again with the new credential"
                ) from None
            fresh = Keyring.from_bytes(root.unwrap(blob, keyring_aad(fresh_header)))
            if fresh.generation <= ring.generation or fresh.vault_id != ring.vault_id:
                raise  # the stored vault did not move on: a real rollback
            header_raw, ring = fresh_header, fresh


def _after_keyring_commit(ctx: VaultContext, root: Any) -> None:
    record = getattr(root, "record_generation", None)
    if record is not None:
        record(ctx.keyring.generation)


def _new_outbox(ctx: VaultContext) -> Outbox:
    from vaultcore.events._local import new_outbox

    return new_outbox(ctx)
