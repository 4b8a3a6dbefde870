"""Result types of the facade's own operations (``run_maintenance``, ``full_restore``, settings).

In their own module so that opening a vault does not build them: each is a frozen
dataclass, and a process that opens a vault and reads a secret never needs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FullRestoreResult", "MaintenanceReport", "VaultSetting"]


@dataclass(frozen=True)
class MaintenanceReport:
    """What ``run_maintenance`` did."""

    purged: int
    events: tuple[dict[str, Any], ...] = ()
    leader: bool = True  # False: another node held the maintenance lock, nothing ran here


@dataclass(frozen=True)
class FullRestoreResult:
    objects: int
    access_records: int


@dataclass(frozen=True)
class VaultSetting:
    """A vault setting: every setting is a boolean, as ``"true"``/``"false"`` on the wire."""

    name: str
    value: str
    type: str = "boolean"

    def getboolean(self) -> bool:
        return self.value == "true"
