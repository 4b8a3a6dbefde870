"""Vault settings: ``GET /settings``, ``GET /settings/{name}``, ``PATCH /settings/{name}``.

``KeyVaultSettingsClient``'s wire format: a setting is ``{"name", "value", "type"}`` with
``type`` ``"boolean"`` and the value ``"true"``/``"false"`` (a string); the list is
``{"settings": [...]}`` (not paged). An update sends ``{"value": "true"}``; anything else
than a string ``true``/``false`` is a 400, an unknown name a 404 ``SettingNotFound``.
"""

from __future__ import annotations

from typing import Any

from vaultcore._results import VaultSetting
from vaultcore.exceptions import InvalidParameterError

from ._wire import Call, Reply, RouteSpec

__all__ = ["ROUTES"]


def _json(setting: VaultSetting) -> dict[str, Any]:
    return {"name": setting.name, "value": setting.value, "type": setting.type}


def list_settings(call: Call) -> Reply:
    return Reply({"settings": [_json(s) for s in call.vault.settings.list_settings()]})


def get_setting(call: Call) -> Reply:
    return Reply(_json(call.vault.settings.get_setting(call.param("name"))))


def update_setting(call: Call) -> Reply:
    value = call.body.get("value")
    if not isinstance(value, str) or value.lower() not in ("true", "false"):
        raise InvalidParameterError("value must be the string 'true' or 'false' (every setting is a boolean)")
    return Reply(_json(call.vault.settings.update_setting(call.param("name"), value)))


ROUTES = [
    RouteSpec("GET", "/settings", list_settings),
    RouteSpec("GET", "/settings/{name}", get_setting),
    RouteSpec("PATCH", "/settings/{name}", update_setting),
]
