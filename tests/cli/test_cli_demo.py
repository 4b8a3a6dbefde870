"""``make demo`` (``python -m vaultcore.demo``) runs its whole tour."""

from __future__ import annotations

import os

import pytest

from vaultcore import demo


def test_demo_tour(capfd: pytest.CaptureFixture[str]) -> None:
    cwd = os.getcwd()
    demo.main()
    out = capfd.readouterr().out
    assert os.getcwd() == cwd
    for expected in (
        "$ vaultcore init",
        "[exit 3]",  # the disabled version
        "[exit 5]",  # the name conflict while deleted
        "Recovered secret 'db-password'.",
        "Restored secret 'db-password'.",
        "Signature is valid.",
        "Signature is NOT valid.",
        "-----BEGIN PUBLIC KEY-----",
        "child sees API_URL = https://api.example",
        "API_TOKEN='t0k3n with spaces & $ign'",
        "Rotated the keyring",
        "Audit log intact",
        "# demo finished in",
    ):
        assert expected in out, expected
    assert "Traceback" not in out
