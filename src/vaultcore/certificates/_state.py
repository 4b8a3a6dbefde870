"""Per-certificate state kept in the certificate's object record (``extra``).

Split out of :mod:`vaultcore.certificates._client` because the client, the issuance machinery
(:mod:`vaultcore.certificates._issuance`) and the lifetime actions (:mod:`vaultcore.certificates._lifetime`)
all read and check this state; one module keeps its layout and rules in one place.

The certificate's object record ``extra`` holds::

    policy        the current policy (REST JSON, Azure defaults filled, created/updated stamps)
    operation     the last certificate operation (REST JSON without ``id``): inProgress for a
                  CSR waiting for a merge, else completed/cancelled
    pending       while an operation is in progress: the pending private key (KeyMaterial
                  bytes, base64), and the ``enabled``/``tags`` asked at creation
    actions_done  {action type: version} — each lifetime action fires once per version

The whole object record is envelope-sealed, so the pending key is as protected as a key
version's payload. A certificate whose first version is still pending has an object record
but no version: ``get_certificate`` says NotFound and lists skip it (Azure's
``include_pending=False``), while its policy and operation can be read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vaultcore.certificates._policy import CertificateOperationStatus, CertificatePolicy
from vaultcore.crypto import _keymaterial as km
from vaultcore.engine._lifecycle import Lifecycle, NewVersion
from vaultcore.engine._records import Kind, ObjectRecord
from vaultcore.engine._validation import from_timestamp
from vaultcore.exceptions import ConflictError, IntegrityError, InvalidParameterError, NotFoundError
from vaultcore.storage._interface import ReadTxn

__all__ = [
    "ALL",
    "BACKING",
    "IN_PROGRESS",
    "KIND",
    "no_operation",
    "pending_material",
    "pending_of",
    "policy_created",
    "policy_doc_in",
    "policy_of",
    "refuse_if_pending",
    "with_policy",
]

KIND = Kind.CERTIFICATE
BACKING = (Kind.KEY, Kind.SECRET)
ALL = (Kind.CERTIFICATE, Kind.KEY, Kind.SECRET)
IN_PROGRESS = CertificateOperationStatus.in_progress.value


def policy_of(obj: ObjectRecord) -> CertificatePolicy | None:
    doc = obj.extra.get("policy")
    if not doc:
        return None
    try:
        return CertificatePolicy.from_dict(doc)
    except InvalidParameterError:
        raise IntegrityError() from None


def policy_created(doc: Mapping[str, Any] | None) -> datetime | None:
    if not doc:
        return None
    created = (doc.get("attributes") or {}).get("created")
    return from_timestamp(created) if isinstance(created, int) else None


def policy_doc_in(engine: Lifecycle, txn: ReadTxn, name: str) -> dict[str, Any] | None:
    try:
        doc = engine.get_object_in(txn, KIND, name).extra.get("policy")
    except NotFoundError:
        return None
    return dict(doc) if doc else None


def with_policy(new: NewVersion, doc: dict[str, Any]) -> NewVersion:
    return new.evolve(extra={**(new.extra or {}), "policy": doc})


def refuse_if_pending(obj: ObjectRecord) -> None:
    op = obj.extra.get("operation") or {}
    if op.get("status") == IN_PROGRESS:
        raise ConflictError(
            f"Certificate {obj.name} has a pending operation; merge, cancel or delete it first.",
            inner_code="Conflict",
        )


def no_operation(name: str) -> NotFoundError:
    return NotFoundError(
        f"Pending certificate not found: {name}",
        inner_code="PendingCertificateNotFound",
    )


def pending_of(obj: ObjectRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """The in-progress operation and its pending state; NotFound/Conflict otherwise."""
    op = obj.extra.get("operation")
    if not op:
        raise no_operation(obj.name)
    if op.get("status") != IN_PROGRESS:
        raise ConflictError(
            f"The operation of certificate {obj.name} is {op.get('status')}, not in progress.",
            inner_code="Conflict",
        )
    return dict(op), dict(obj.extra.get("pending") or {})


def pending_material(pending: Mapping[str, Any]) -> km.KeyMaterial:
    text = pending.get("key")
    if not isinstance(text, str):
        raise IntegrityError()
    try:
        return km.KeyMaterial.from_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise IntegrityError() from None
