"""Shared constants and helpers of the HSM tests (imported by conftest and test modules)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

from vaultcore import _hsm_softhsm
from vaultcore._hsm import Pkcs11Config

PIN = "2468-test-user-pin"
SO_PIN = "1357-test-so-pin"
MAIN_LABEL = "vaultcore-test"
AUX_LABEL = "vaultcore-aux"
SRC_DIR = str(Path(__file__).resolve().parents[2] / "src")


@dataclasses.dataclass(frozen=True)
class SoftHsmEnv:
    """The session's SoftHSM2 set-up: one config, a main and an auxiliary token."""

    module: str
    conf_path: str
    tokendir: str
    main: _hsm_softhsm.SoftHsmToken
    aux: _hsm_softhsm.SoftHsmToken

    def config(self, key_label: str | None = None, *, label: str = MAIN_LABEL, pin: str = PIN) -> Pkcs11Config:
        """A config for ``label`` with a fresh root-key label unless one is given."""
        return Pkcs11Config(None, label, pin, key_label or f"root-{uuid.uuid4().hex[:12]}")


def run_python(
    code: str, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports vaultcore from this checkout."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = SRC_DIR + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
