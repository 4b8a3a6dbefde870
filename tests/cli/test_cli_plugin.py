"""The pytest plugin and ``vaultcore.testing``, exercised with pytester."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vaultcore
from vaultcore import RawKeyCredential, Vault, VaultLockedError
from vaultcore.testing import FakeClock, VaultFactory, softhsm_missing

# Enabled here, not in conftest.py: pytest refuses pytest_plugins in a non-root conftest.
pytest_plugins = ["pytester"]

PLUGIN_TESTS = """
from vaultcore import Vault
from vaultcore.testing import FakeClock

opened = []

def test_vault_fixture(vault: Vault) -> None:
    vault.secrets.set_secret("db-password", "s3cr3t")
    assert vault.secrets.get_secret("db-password").value == "s3cr3t"
    assert vault.tier == "standard"
    opened.append(vault)

def test_each_test_gets_a_fresh_vault(vault: Vault) -> None:
    assert list(vault.secrets.list_properties_of_secrets()) == []
    assert opened and opened[0].path != vault.path

def test_factory_makes_more_and_reopens(vault_factory) -> None:
    clock = FakeClock()
    a = vault_factory("alpha", retention_days=7, clock=clock)
    b = vault_factory(credential=vault_factory.passphrase_credential("pw"))
    assert a.name == "alpha" and a.retention_days == 7 and a.path != b.path
    a.secrets.set_secret("x", "1")
    a.secrets.delete_secret("x")
    clock.advance(days=8)
    assert a.run_maintenance().purged == 1
    b.secrets.set_secret("y", "2")
    b.close()
    again = vault_factory.reopen(b)
    assert again.secrets.get_secret("y").value == "2"
    opened.extend([a, again])

def test_fixtures_closed_everything() -> None:
    import pytest
    from vaultcore import VaultLockedError
    assert len(opened) == 3
    for v in opened:
        with pytest.raises(VaultLockedError):
            v.secrets.set_secret("z", "3")
"""


@pytest.fixture
def plugin_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester that loads the plugin explicitly (entry points off: installed or not)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    src = str(Path(vaultcore.__file__).resolve().parent.parent)  # the installed package, not the tree
    monkeypatch.syspath_prepend(src)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    return pytester


def test_plugin_fixtures(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_uses_vault=PLUGIN_TESTS)
    result = plugin_pytester.runpytest("-p", "vaultcore.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_plugin_in_a_subprocess_like_another_project(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_uses_vault=PLUGIN_TESTS)
    plugin_pytester.makeini("[pytest]\naddopts = -p vaultcore.pytest_plugin -p no:cacheprovider\n")
    result = plugin_pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)


PREMIUM_TESTS = """
def test_premium_vault(premium_vault, vaultcore_softhsm) -> None:
    assert premium_vault.tier == "premium"
    key = premium_vault.keys.create_key("hsm-key", "EC-HSM")
    assert key.key.kty == "EC-HSM"
    premium_vault.secrets.set_secret("s", "v")

def test_each_premium_vault_has_its_own_root_key(premium_vault, vault_factory, vaultcore_softhsm) -> None:
    other = vault_factory(credential=vaultcore_softhsm.credential())
    assert other.path != premium_vault.path
    assert list(other.keys.list_properties_of_keys()) == []
"""


def test_premium_vault_fixture(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_premium=PREMIUM_TESTS)
    # In a subprocess: an in-process run would unload the PKCS#11 module it loaded (pytester
    # restores sys.modules) while the C library stays initialised for this process.
    result = plugin_pytester.runpytest_subprocess("-p", "vaultcore.pytest_plugin", "-p", "no:cacheprovider", "-rs")
    if softhsm_missing():  # the fixture skips with the reason (and fails under CI=true)
        result.stdout.fnmatch_lines(["*SoftHSM2 is not installed*"])
    else:
        result.assert_outcomes(passed=2)


def test_fixtures_are_listed_with_docs(plugin_pytester: pytest.Pytester) -> None:
    result = plugin_pytester.runpytest("-p", "vaultcore.pytest_plugin", "--fixtures")
    result.stdout.fnmatch_lines(["*vault_factory*", "*Creates temporary vaults*", "vault *", "*fresh temporary*"])


def test_plugin_import_adds_nothing_heavy() -> None:
    """Loading the plugin costs no more than ``import vaultcore`` (+ pytest itself)."""
    code = (
        "import sys, pytest, vaultcore; before = set(sys.modules); import vaultcore.pytest_plugin; "
        "print(sorted(m for m in set(sys.modules) - before))"
    )
    src = Path(vaultcore.__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(src)}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['vaultcore.pytest_plugin']"


def test_testing_module_directly(tmp_path: Path) -> None:
    with VaultFactory(tmp_path) as factory:
        clock = FakeClock()
        vault = factory(clock=clock)
        assert isinstance(factory.credential(vault), RawKeyCredential)
        vault.secrets.set_secret("a", "b")
        clock.advance(hours=1)
        assert vault.secrets.set_secret("a", "c").properties.created_on == clock()
        with pytest.raises(KeyError):
            factory.credential(tmp_path / "elsewhere")
        opened = factory.reopen(vault.path)
        assert len(factory.vaults) == 2 and isinstance(opened, Vault)
    with pytest.raises(VaultLockedError):
        vault.secrets.get_secret("a")
    with pytest.raises(ValueError):
        FakeClock(clock().replace(tzinfo=None))
