"""The maintenance hooks behind ``run_maintenance`` are reachable on every view's clients:
they must need the vault-administration permission like ``run_maintenance`` itself, or a
principal with no role (or a mere Reader) could rotate every key and renew every certificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from accesshelpers import grant, new_vault

from vaultcore import ForbiddenError, KeyRotationLifetimeAction
from vaultcore.testing import FakeClock


def test_maintenance_hooks_need_admin(tmp_path: Path) -> None:
    clock = FakeClock()
    admin, _ = new_vault(tmp_path / "v", clock=clock)
    with admin:
        admin.keys.create_ec_key("k")
        admin.keys.update_key_rotation_policy(
            "k", lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P1D")]
        )
        clock.advance(days=2)
        for role in (None, "Key Vault Reader", "Key Vault Crypto User"):
            view = grant(admin, role)
            with pytest.raises(ForbiddenError):
                view.keys.run_rotation_policies()
            with pytest.raises(ForbiddenError):
                view.certificates.run_lifetime_actions()
        assert len(list(admin.keys.list_properties_of_key_versions("k"))) == 1
        # the administrator's maintenance still runs them
        report = admin.run_maintenance()
        assert report.events
        assert len(list(admin.keys.list_properties_of_key_versions("k"))) == 2
