"""The audit log's result types: :class:`AuditEvent` (``vault.audit.events()``) and
:class:`AuditVerification` (``vault.audit.verify()``).

Apart from :mod:`._audit` so that writing events (every operation of a process that opens a
vault and reads a secret) does not build these frozen dataclasses; reading the log does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AuditEvent", "AuditVerification"]


@dataclass(frozen=True)
class AuditEvent:
    """One audited operation."""

    seq: int
    time: datetime
    principal: str
    operation: str
    object_id: str | None
    result: str
    request_id: str
    caller: dict[str, Any] = field(default_factory=dict)
    term: int = 0
    mac: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "principal": self.principal,
            "operation": self.operation,
            "object_id": self.object_id,
            "result": self.result,
            "request_id": self.request_id,
            "caller": self.caller,
            "term": self.term,
            "mac": self.mac,
        }


@dataclass(frozen=True)
class AuditVerification:
    """Result of :meth:`AuditLog.verify`."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok
