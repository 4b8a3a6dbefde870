"""The public plugin's ``premium_vault`` fixture, and the CI rule: without SoftHSM2 the HSM
tests skip, except under ``CI=true``, where they fail loudly.

Everything runs in subprocesses (``runpytest_subprocess``): a pytest session that makes its
own SoftHSM2 token would re-point ``SOFTHSM2_CONF`` in this process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hsmhelpers import SoftHsmEnv

import vaultcore

pytest_plugins = ["pytester"]  # here, not in conftest.py: pytest refuses it in a non-root conftest

_ROOT = Path(__file__).resolve().parents[2]
# The directory holding the vaultcore this test imported (installed or editable), never src/.
_PACKAGE_DIR = str(Path(vaultcore.__file__).resolve().parent.parent)

PREMIUM_TESTS = """
import os
from vaultcore import ForbiddenError, Pkcs11Credential, Vault

def test_premium_vault(premium_vault, vault_factory) -> None:
    assert (premium_vault.tier, premium_vault.kind) == ("premium", "vault")
    assert os.environ["SOFTHSM2_CONF"]
    key = premium_vault.keys.create_key("signing", "EC-HSM")
    assert key.key.kty == "EC-HSM"
    client = premium_vault.keys.get_cryptography_client("signing")
    assert client.verify("ES256", bytes(32), client.sign("ES256", bytes(32)).signature).is_valid
    premium_vault.secrets.set_secret("s", "v")
    premium_vault.close()
    again = vault_factory.reopen(premium_vault)  # the factory knows its PKCS#11 credential
    assert isinstance(vault_factory.credential(again), Pkcs11Credential)
    assert again.secrets.get_secret("s").value == "v"
"""


def _env(path: str | None = None, ci: bool = False) -> dict[str, str]:
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=_PACKAGE_DIR)
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    if path is not None:
        env["PATH"] = path
    return env


@pytest.fixture
def no_softhsm_path(tmp_path: Path) -> str:
    """A PATH with the interpreter but without softhsm2-util."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    return str(bin_dir)


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> pytest.RunResult:
    for name in ("PATH", "CI", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_premium=PREMIUM_TESTS)
    return pytester.runpytest_subprocess("-p", "vaultcore.pytest_plugin", "-p", "no:cacheprovider", "-rs")


@pytest.mark.hsm
def test_premium_vault_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, softhsm: SoftHsmEnv) -> None:
    # ``softhsm``: skips here without SoftHSM2 (fails under CI=true), like every HSM test.
    result = _run(pytester, monkeypatch, _env())
    result.assert_outcomes(passed=1)


def test_premium_vault_skips_without_softhsm(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_softhsm_path: str
) -> None:
    result = _run(pytester, monkeypatch, _env(no_softhsm_path))
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SoftHSM2 is not installed (softhsm2-util not found*"])


def test_premium_vault_fails_without_softhsm_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_softhsm_path: str
) -> None:
    result = _run(pytester, monkeypatch, _env(no_softhsm_path, ci=True))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*CI=true: premium vault tests must run, but SoftHSM2 is not installed*"])


@pytest.mark.parametrize("ci", [False, True], ids=["local", "CI=true"])
def test_this_projects_hsm_tests_run_under_ci(no_softhsm_path: str, ci: bool) -> None:
    """tests/hsm itself: skipped without SoftHSM2 locally, an error (never a skip) in CI."""
    import subprocess

    target = "tests/hsm/test_premium_vault.py::test_an_unchanged_copy_opens"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider", "-rs", "-q"],
        cwd=_ROOT,
        env=_env(no_softhsm_path, ci=ci),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ci:
        assert result.returncode != 0, result.stdout
        assert "CI=true: HSM tests must run, but SoftHSM2 is not installed" in result.stdout
        assert "skipped" not in result.stdout.splitlines()[-1]
    else:
        assert result.returncode == 0, result.stdout
        assert "1 skipped" in result.stdout.splitlines()[-1]
