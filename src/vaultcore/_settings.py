"""``vault.settings``: the vault's settings, as Azure's ``KeyVaultSettingsClient`` has them.

Split out of :mod:`vaultcore._administration` and created on first use of ``vault.settings``,
so that opening a vault does not load it. Every call is an operation (authorised against
``settings/read|write`` and audited).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from vaultcore._results import VaultSetting
from vaultcore.access._operations import Session, operation
from vaultcore.access._roles import DataAction
from vaultcore.exceptions import InvalidParameterError, NotFoundError

if TYPE_CHECKING:
    from vaultcore.access._principals import AccessManager
    from vaultcore.engine._context import VaultContext
    from vaultcore.storage._interface import WriteTxn

__all__ = ["SETTING_NAMES", "VaultSettingsClient"]


class _Facade(Protocol):
    _ctx: VaultContext
    _session: Session

    @property
    def access(self) -> AccessManager: ...

    @property
    def purge_protection(self) -> bool: ...

    def enable_purge_protection(self) -> None: ...


ARM_SETTING = "AllowKeyManagementOperationsThroughARM"
PURGE_SETTING = "PurgeProtection"
AUDIT_SETTING = "AuditSynchronousReads"
#: Listed in this order; the last is Azure's own (the official sample toggles the last one).
SETTING_NAMES = (AUDIT_SETTING, PURGE_SETTING, ARM_SETTING)


def _bool_value(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidParameterError("a boolean setting's value must be true or false")


class VaultSettingsClient:
    """``vault.settings``: list, get and update the vault's settings.

    - ``AllowKeyManagementOperationsThroughARM`` (Azure's setting, default false): stored and
      reported; a local vault has no ARM, so it changes nothing else.
    - ``PurgeProtection``: the vault's purge protection; it can be turned on (which also
      needs ``administration/action``), never off, as in Azure.
    - ``AuditSynchronousReads``: true commits each read's audit event before the read
      returns (``audit="sync"``), false group-commits them; for this open vault.
    """

    def __init__(self, vault: _Facade) -> None:
        self._vault = vault
        self._ctx = vault._ctx
        self._session = vault._session

    def _read(self, name: str) -> VaultSetting:
        if name == PURGE_SETTING:
            return VaultSetting(name, "true" if self._vault.purge_protection else "false")
        if name == AUDIT_SETTING:
            return VaultSetting(name, "true" if self._ctx.audit.mode == "sync" else "false")
        with self._ctx.read() as txn:
            doc = self._vault.access._setting_in(txn, name)
        return VaultSetting(name, str(doc["value"]) if doc else "false")

    @staticmethod
    def _canonical(name: object) -> str:
        if isinstance(name, str):
            for known in SETTING_NAMES:
                if known.lower() == name.lower():
                    return known
        raise NotFoundError(f"there is no setting named {name!r}", inner_code="SettingNotFound")

    @operation("SettingsList", DataAction.SETTINGS_READ)
    def list_settings(self) -> list[VaultSetting]:
        return [self._read(name) for name in SETTING_NAMES]

    @operation("SettingGet", DataAction.SETTINGS_READ)
    def get_setting(self, name: str) -> VaultSetting:
        return self._read(self._canonical(name))

    @operation("SettingUpdate", DataAction.SETTINGS_WRITE)
    def update_setting(self, name: str, value: bool | str) -> VaultSetting:
        """Set a boolean setting (``True``/``False`` or ``"true"``/``"false"``)."""
        name = self._canonical(name)
        flag = _bool_value(value)
        if name == PURGE_SETTING:
            if not flag and self._vault.purge_protection:
                raise InvalidParameterError("purge protection cannot be turned off once it is on")
            if flag and not self._vault.purge_protection:
                self._vault.enable_purge_protection()
        elif name == AUDIT_SETTING:
            self._ctx.audit.mode = "sync" if flag else "group"
        else:
            text = "true" if flag else "false"

            def run(txn: WriteTxn) -> None:
                self._vault.access._put_setting_in(txn, name, text)

            self._ctx.write(run)
        return self._read(name)
