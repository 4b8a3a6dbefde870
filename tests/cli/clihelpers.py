"""Helpers for the CLI tests: a CliRunner wrapper and a subprocess runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

import vaultcore
from vaultcore.cli import cli as root

SRC = Path(vaultcore.__file__).resolve().parent.parent  # the imported package (installed or editable)


class Cli:
    """``vaultcore`` through click's CliRunner with a fixed environment."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
        return self.runner.invoke(
            root, list(args), input=input, env={**self.env, **(env or {})}, catch_exceptions=False
        )

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "-o", "json", **kwargs).stdout)

    def fails(self, code: int, *args: str, **kwargs: Any) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        return result


def run_subprocess(
    *args: str, env: Mapping[str, str], input: bytes | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    """``python -m vaultcore.cli ARGS`` in a child process with *env* added."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), child_env.get("PYTHONPATH")]))
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "vaultcore.cli", *args],
        env=child_env,
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
