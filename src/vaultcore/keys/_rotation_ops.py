"""Key rotation through ``vault.keys``: ``rotate_key``, rotation policies, the policy sweep.

Split out of :mod:`vaultcore.keys._client` (a mixin of :class:`KeyClient`): rotation makes a
new version like the latest one (same type, size/curve, operations, exportability), by hand
or when a policy's Rotate action is due; a Notify action fires ``KeyNearExpiry`` once per
version. Policy rules and durations are in ``keys._rotation_policy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import Session, id_of, name_scope, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto._jwk import KeyType
from vaultcore.engine._durations import parse_duration
from vaultcore.engine._lifecycle import Lifecycle, NewVersion
from vaultcore.engine._records import Kind, VersionRecord
from vaultcore.exceptions import ForbiddenError, InvalidParameterError, NotFoundError
from vaultcore.keys._handles import discard_hsm_key_on_failure, hsm_ref_from_payload
from vaultcore.keys._models import KeyRotationLifetimeAction, KeyRotationPolicy, KeyVaultKey
from vaultcore.keys._rotation_policy import check_action, check_rotate_before_expiry, policy_model, rotation_due

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["KeyRotationOperations"]

_KIND = Kind.KEY
_name = name_scope("keys")


class KeyRotationOperations:
    """Rotation methods of :class:`~vaultcore.keys._client.KeyClient`."""

    _ctx: VaultContext
    _engine: Lifecycle
    _session: Session

    if TYPE_CHECKING:  # provided by KeyClient

        def _key(self, rec: VersionRecord) -> KeyVaultKey: ...

        def _generate(
            self, kty: KeyType, *, size: int | None, curve: str | None, public_exponent: int | None
        ) -> tuple[bytes, dict[str, Any]]: ...

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
        ) -> NewVersion: ...

        def _policy_expiry(self, name: str, expires_on: datetime | None) -> datetime | None: ...

        _token: Callable[[], Any]

    # -- rotation ----------------------------------------------------------------------

    @operation("KeyRotate", A.KEY_ROTATE, _name, object_id=id_of)
    def rotate_key(self, name: str) -> KeyVaultKey:
        """A new version with the same type, size/curve, operations and exportability."""
        rec = self._rotate(name)
        assert rec is not None  # unconditional without expected=
        return self._key(rec)

    def _rotate(self, name: str, *, expected: str | None = None) -> VersionRecord | None:
        """A new version like the latest one. With *expected* (rotation by policy) the new
        version is written only if the latest version is still *expected* in the write
        transaction, else None: concurrent maintenance runs (threads or processes) rotate a
        version once."""
        current = self._engine.get(_KIND, name)
        if expected is not None and current.version != expected:
            return None
        if current.managed:
            raise ForbiddenError(f"Key {name} is managed by a certificate.", inner_code="ManagedKey")
        kty = KeyType(current.extra["kty"])
        payload, info = self._generate(
            kty,
            size=current.extra.get("size") if kty.software is not KeyType.ec else None,
            curve=current.extra.get("crv"),
            public_exponent=current.extra.get("e"),
        )
        new = self._new_raw_version(
            payload,
            info,
            kty,
            list(current.extra.get("ops", [])),
            enabled=True,
            not_before=None,
            expires_on=self._policy_expiry(name, None),
            tags=current.tags,
            exportable=bool(current.extra.get("exportable")),
        )
        if expected is None:
            with discard_hsm_key_on_failure(self._token, payload, bool(info.get("hsm"))):
                return self._engine.add_version(_KIND, name, new)

        def run(txn: Any) -> VersionRecord | None:
            try:
                latest = self._engine.get_in(txn, _KIND, name)
            except NotFoundError:  # deleted meanwhile
                return None
            return self._engine.add_version_in(txn, _KIND, name, new) if latest.version == expected else None

        with discard_hsm_key_on_failure(self._token, payload, bool(info.get("hsm"))):
            rec = self._engine.write(run)
        if rec is None and info.get("hsm"):
            self._token().delete_hsm_key(hsm_ref_from_payload(payload))  # generated for nothing
        return rec

    @operation("KeyRotationPolicyGet", A.KEY_ROTATION_POLICY_READ, _name)
    def get_key_rotation_policy(self, name: str) -> KeyRotationPolicy:
        """The key's rotation policy (Azure's default when none was set: Notify 30 days before expiry)."""
        obj = self._engine.get_object(_KIND, name)
        return self._policy_model(name, obj.extra.get("rotation_policy"))

    @operation("KeyRotationPolicySet", A.KEY_ROTATION_POLICY_WRITE, _name)
    def update_key_rotation_policy(
        self,
        name: str,
        policy: KeyRotationPolicy | None = None,
        *,
        lifetime_actions: Sequence[KeyRotationLifetimeAction | Mapping[str, Any]] | None = None,
        expires_in: str | None = None,
    ) -> KeyRotationPolicy:
        if policy is not None:
            lifetime_actions = policy.lifetime_actions if lifetime_actions is None else lifetime_actions
            expires_in = policy.expires_in if expires_in is None else expires_in
        if isinstance(lifetime_actions, str | bytes | Mapping | KeyRotationLifetimeAction):
            raise InvalidParameterError("lifetime_actions must be a list of lifetime actions")
        actions = [check_action(a) for a in (lifetime_actions or [])]
        if expires_in is not None:
            expires_in = parse_duration(expires_in, "expires_in").text
        if (
            sum(1 for a in actions if a["action"] == "Rotate") > 1
            or sum(1 for a in actions if a["action"] == "Notify") > 1
        ):
            raise InvalidParameterError("a rotation policy has at most one Rotate and one Notify action")
        check_rotate_before_expiry(actions, expires_in, self._ctx.clock())
        now = self._ctx.now()

        def run(txn: Any) -> dict[str, Any]:
            obj = self._engine.get_object_in(txn, _KIND, name)
            old = obj.extra.get("rotation_policy") or {}
            doc = {
                "actions": actions,
                "expires_in": expires_in,
                "created": old.get("created", now),
                "updated": now,
            }
            self._engine.update_object_in(txn, _KIND, name, {"rotation_policy": doc})
            return doc

        return self._policy_model(name, self._engine.write(run))

    def _policy_model(self, name: str, doc: dict[str, Any] | None) -> KeyRotationPolicy:
        return policy_model(f"{self._ctx.settings.url}/keys/{name}/rotationpolicy", doc)

    @operation("VaultMaintenance", A.VAULT_ADMIN)
    def run_rotation_policies(self) -> list[dict[str, Any]]:
        """Apply every key's rotation policy at the vault clock's now (``run_maintenance``)."""
        now = self._ctx.clock()
        events: list[dict[str, Any]] = []
        for rec in self._engine.latest_all(_KIND):
            if rec.managed:
                continue
            try:
                obj = self._engine.get_object(_KIND, rec.name)
            except Exception:  # noqa: S112 - deleted meanwhile
                continue
            doc = obj.extra.get("rotation_policy")
            actions = doc.get("actions", []) if doc else [{"action": "Notify", "time_before_expiry": "P30D"}]
            for action in actions:
                if not rotation_due(action, rec, now):
                    continue
                if action["action"] == "Rotate":
                    try:
                        new = self._rotate(rec.name, expected=rec.version)
                    except NotFoundError:  # deleted meanwhile
                        new = None
                    if new is not None:
                        events.append(
                            {"event": "KeyRotated", "key": rec.name, "version": new.version, "previous": rec.version}
                        )
                elif obj.extra.get("notified") != rec.version and self._mark_notified(rec):
                    events.append({"event": "KeyNearExpiry", "key": rec.name, "version": rec.version})
        return events

    def _mark_notified(self, rec: VersionRecord) -> bool:
        """Notify fires once per version: remember the version it fired for. Checked and set
        in one write transaction, so concurrent maintenance runs notify once; False if
        another run did (or the key is gone)."""

        def run(txn: Any) -> bool:
            try:
                obj = self._engine.get_object_in(txn, _KIND, rec.name)
            except NotFoundError:
                return False
            if obj.extra.get("notified") == rec.version:
                return False
            self._engine.update_object_in(txn, _KIND, rec.name, {"notified": rec.version})
            # Azure: the rotation policy's Notify action is what fires KeyNearExpiry.
            self._ctx.emit_in(txn, "KeyNearExpiry", "Key", rec.name, rec.version, rec.not_before, rec.expires_on)
            return True

        return self._engine.write(run)
