"""``vault.audit``: read, verify and export the audit log, as an audited operation itself.

Split out of :mod:`vaultcore._vault`: a thin view over :class:`~vaultcore.access._audit.AuditLog`
whose every call needs the audit-read data action. Used by the ``Vault`` facade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vaultcore.access._audit import AuditLog
from vaultcore.access._audit_records import AuditEvent, AuditVerification
from vaultcore.access._operations import Session, operation
from vaultcore.access._roles import DataAction as A

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["AuditView"]


class AuditView:
    """``vault.audit``: read, verify and export the audit log (needs the audit-read action)."""

    def __init__(self, ctx: VaultContext, session: Session) -> None:
        self._ctx = ctx
        self._session = session

    @property
    def _log(self) -> AuditLog:
        log: AuditLog = self._ctx.audit
        return log

    @operation("AuditRead", A.AUDIT_READ)
    def events(self, **filters: Any) -> list[AuditEvent]:
        """Events in order; filters: ``since``, ``until`` (datetimes), ``principal``, ``operation``."""
        return list(self._log.events(**filters))

    @operation("AuditVerify", A.AUDIT_READ)
    def verify(self) -> AuditVerification:
        """Check the HMAC chain; the result names the first edited, missing or moved event."""
        return self._log.verify()

    @operation("AuditExport", A.AUDIT_READ)
    def export(self, fp: Any, **filters: Any) -> int:
        """Write events as JSON lines to the text file *fp*; returns how many."""
        return self._log.export(fp, **filters)

    def flush(self) -> None:
        """Commit queued read events now."""
        self._log.flush()
