"""Certificate lifetime actions, evaluated by ``run_maintenance``.

Split out of :mod:`vaultcore.certificates._client` because it is a vault-wide sweep, not a client
call on one certificate: ``CertificateClient.run_lifetime_actions`` keeps the authorisation
and audit (vault administration) and delegates the evaluation here.

For every enabled certificate whose policy has lifetime actions, each action that is due at
the vault clock's now fires once per version (recorded in the object's ``actions_done``):
AutoRenew issues a new version (issuer Self; ``reuse_key`` honoured) or starts a pending CSR
(other issuers); EmailContacts records an event naming the contacts (no mail is sent).

"Once" holds with several processes running the sweep at the same time (LMDB processes, or
PostgreSQL nodes of which more than one believes it leads): the due check read outside is
repeated inside the write transaction that records the action (the certificate's latest
version is still the one the action is due for, and ``actions_done`` does not name it yet),
and a run that finds it done already records nothing and reports nothing.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from vaultcore.certificates._issuance import CertificateIssuance
from vaultcore.certificates._metadata import CertificateMetadata
from vaultcore.certificates._policy import CertificatePolicy, CertificatePolicyAction, WellKnownIssuerNames
from vaultcore.certificates._state import IN_PROGRESS, KIND, policy_of, refuse_if_pending
from vaultcore.certificates._x509 import build_csr, lifetime_action_due
from vaultcore.engine._lifecycle import Lifecycle
from vaultcore.engine._records import ObjectRecord, VersionRecord
from vaultcore.exceptions import InvalidParameterError, NotFoundError
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["LifetimeActions"]


class LifetimeActions:
    """Applies the certificates' lifetime actions (see the module docstring)."""

    def __init__(
        self, ctx: VaultContext, engine: Lifecycle, issuance: CertificateIssuance, meta: CertificateMetadata
    ) -> None:
        self._ctx = ctx
        self._engine = engine
        self._issuance = issuance
        self._meta = meta

    def run(self) -> list[dict[str, Any]]:
        """Apply every certificate's lifetime actions at the vault clock's now; returns the events."""
        if self._ctx.settings.kind == "managed_hsm":
            return []
        now = self._ctx.clock()
        events: list[dict[str, Any]] = []
        for rec in self._engine.latest_all(KIND):
            if not rec.enabled or rec.not_before is None or rec.expires_on is None:
                continue
            try:
                obj = self._engine.get_object(KIND, rec.name)
            except NotFoundError:
                continue
            policy = policy_of(obj)
            if policy is None:
                continue
            nbf, exp = datetime.fromtimestamp(rec.not_before, UTC), datetime.fromtimestamp(rec.expires_on, UTC)
            done = dict(obj.extra.get("actions_done") or {})
            for action in policy.lifetime_actions or ():
                kind = action.action.value
                if done.get(kind) == rec.version or not lifetime_action_due(action, nbf, exp, now):
                    continue
                if action.action is CertificatePolicyAction.email_contacts:
                    if not self._mark_done(rec, kind):
                        continue  # another run recorded it meanwhile
                    contacts = self._meta.read_contacts() or []
                    events.append(
                        {
                            "event": "CertificateNearExpiry",
                            "certificate": rec.name,
                            "version": rec.version,
                            "expires_on": exp.isoformat(),
                            "contacts": [c.email for c in contacts if c.email],
                        }
                    )
                else:
                    event = self._renew(rec, obj, policy, kind)
                    if event is not None:
                        events.append(event)
        return events

    def _still_due_in(self, txn: WriteTxn, rec: VersionRecord, kind: str) -> dict[str, Any] | None:
        """Inside the write transaction that records action *kind* for *rec*: the object's
        ``actions_done`` with it added, or None if another run did it or a newer version exists."""
        try:
            latest = self._engine.get_in(txn, KIND, rec.name)
            obj = self._engine.get_object_in(txn, KIND, rec.name)
        except NotFoundError:  # deleted meanwhile
            return None
        done = dict(obj.extra.get("actions_done") or {})
        if latest.version != rec.version or done.get(kind) == rec.version:
            return None
        done[kind] = rec.version
        return done

    def _mark_done(self, rec: VersionRecord, kind: str) -> bool:
        """Record action *kind* as done for *rec*; False if another run did it meanwhile."""

        def run(txn: WriteTxn) -> bool:
            done = self._still_due_in(txn, rec, kind)
            if done is not None:
                self._engine.update_object_in(txn, KIND, rec.name, {"actions_done": done})
            return done is not None

        return self._engine.write(run)

    def _renew(
        self, rec: VersionRecord, obj: ObjectRecord, policy: CertificatePolicy, kind: str
    ) -> dict[str, Any] | None:
        """AutoRenew: a new self-signed version, or a pending CSR for another issuer."""
        op = obj.extra.get("operation") or {}
        if op.get("status") == IN_PROGRESS:
            return None  # a request is already waiting for its merge
        try:
            full = self._issuance.complete(policy)
        except InvalidParameterError:
            return None  # e.g. the issuer was deleted: nothing can renew it
        material = self._issuance.material_for(rec.name, full)
        doc = obj.extra.get("policy") or full.to_dict()
        if full.issuer_name == WellKnownIssuerNames.Self.value:
            issued, op_doc = self._issuance.self_sign(
                rec.name, full, material, enabled=True, tags=dict(rec.tags), policy_doc=doc, request_id=uuid.uuid4().hex
            )

            def run(txn: WriteTxn) -> VersionRecord | None:
                done = self._still_due_in(txn, rec, kind)
                if done is None:
                    return None
                changes = {"operation": op_doc, "actions_done": done}
                return self._issuance.issue_in(txn, rec.name, issued, changes, refuse_pending=True)[1]

            new = self._engine.write(run)
            if new is None:
                return None  # another run renewed it meanwhile
            return {
                "event": "CertificateRenewed",
                "certificate": rec.name,
                "version": new.version,
                "previous": rec.version,
            }
        csr = build_csr(material.as_cryptography(), full).public_bytes(serialization.Encoding.DER)
        pending_op = self._issuance.pending_op(full, rec.name, csr, uuid.uuid4().hex)
        pending = {
            "key": base64.b64encode(material.to_bytes()).decode("ascii"),
            "enabled": True,
            "tags": dict(rec.tags),
        }

        def start(txn: WriteTxn) -> bool:
            done = self._still_due_in(txn, rec, kind)
            if done is None:
                return False
            refuse_if_pending(self._engine.get_object_in(txn, KIND, rec.name))
            changes = {"operation": pending_op.to_dict(), "pending": pending, "actions_done": done}
            self._engine.update_object_in(txn, KIND, rec.name, changes)
            return True

        if not self._engine.write(start):
            return None  # another run started it meanwhile
        return {"event": "CertificateRenewalRequested", "certificate": rec.name, "version": rec.version}
