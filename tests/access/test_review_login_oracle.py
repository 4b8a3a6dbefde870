"""Login checks are the administrator handle's: a view cannot use them as an oracle."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vaultcore import ForbiddenError, Vault


def test_views_cannot_check_credentials_or_probe_principals(vault: Vault, principal: Callable[..., Vault]) -> None:
    other = vault.access.create_application("other")
    view = principal("Key Vault Administrator")
    with pytest.raises(ForbiddenError, match="administrator's handle"):
        view.access.authenticate("other", other.client_secret)
    with pytest.raises(ForbiddenError, match="administrator's handle"):
        view.access.require_principal("app:other")
    with pytest.raises(ForbiddenError):
        view.as_principal("other", other.client_secret)
    # The administrator's handle still logs principals in.
    assert vault.as_principal("other", other.client_secret).principal == "app:other"
