"""Expiry detection: Azure's ``<Kind>NearExpiry`` and ``<Kind>Expired`` for current versions.

Rules (Azure's): only the current (latest) version of a live object counts; NearExpiry when
``exp - 30 days <= now < exp``, Expired when ``now >= exp``; each fires once per version and
condition (markers in ``evstate`` make a second run, or another process, a no-op). A version
first seen already expired gets only Expired. Keys take NearExpiry from their rotation
policy's Notify action instead (default 30 days before expiry, as in Azure). Certificate-managed
keys and secrets are covered by their certificate's events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaultcore.engine._lifecycle import Lifecycle
from vaultcore.engine._records import Kind, VersionRecord
from vaultcore.events._outbox import Outbox
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["NEAR_EXPIRY_SECONDS", "detect_expiry"]

NEAR_EXPIRY_SECONDS = 30 * 86400
_CONDITIONS = {"NearExpiry": b"n", "Expired": b"e"}


def detect_expiry(ctx: VaultContext, engine: Lifecycle, outbox: Outbox) -> int:
    """Emit the expiry events now due; returns how many were emitted."""
    now = ctx.now()
    due: list[tuple[Kind, VersionRecord, str]] = []
    for kind in (Kind.SECRET, Kind.KEY, Kind.CERTIFICATE):
        for rec in engine.latest_all(kind):
            if rec.managed or rec.expires_on is None:
                continue
            if now >= rec.expires_on:
                due.append((kind, rec, "Expired"))
            elif kind is not Kind.KEY and now >= rec.expires_on - NEAR_EXPIRY_SECONDS:
                due.append((kind, rec, "NearExpiry"))
    if not due:
        return 0

    def run(txn: WriteTxn) -> int:
        count = 0
        for kind, rec, condition in due:
            marker = engine.objkey(kind, rec.name) + bytes.fromhex(rec.version) + _CONDITIONS[condition]
            if outbox.mark_once_in(txn, marker):
                ctx.emit_in(
                    txn, kind.title + condition, kind.title, rec.name, rec.version, rec.not_before, rec.expires_on
                )
                count += 1
        return count

    return ctx.write(run)
