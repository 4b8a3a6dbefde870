"""The README's and the docs' examples run: an example that stops working fails the build.

Every fenced ``sh`` and ``python`` block of README.md, docs/cli.md and docs/secrets.md runs in
document order, in a fresh directory per document, against the installed ``vaultcore``
(its console script next to this interpreter). Shell blocks run with ``bash -euo pipefail``
and pass their environment on to the next shell block (as a reader's shell would); Python
blocks run in a new interpreter. A block preceded by ``<!-- not run: REASON -->`` is
skipped (say why); so is the README's opening ``make demo`` / ``make test`` block (it is for
a clone, and ``make test`` runs this very test). ``console`` blocks are transcripts of interactive terminal sessions
(prompts): tests/cli/test_cli_tty.py drives those cases through a pty.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/cli.md", "docs/secrets.md")
_BLOCK = re.compile(r"(?P<skip><!-- not run: [^>]+-->\n)?```(?P<lang>sh|python)\n(?P<code>.*?)```", re.S)


def _blocks(document: str) -> list[tuple[str, str, int]]:
    text = (ROOT / document).read_text()
    return [
        (m["lang"], m["code"], text.count("\n", 0, m.start("code")) + 1)
        for m in _BLOCK.finditer(text)
        if not m["skip"] and not m["code"].startswith("make ")
    ]


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def test_every_document_has_runnable_examples() -> None:
    for document in DOCUMENTS:
        assert _blocks(document), document


@pytest.mark.parametrize("document", DOCUMENTS)
def test_examples_run(document: str, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = _environment(tmp_path)
    env_file = tmp_path / "env.out"
    for lang, code, line in _blocks(document):
        if lang == "sh":
            script = f"{code}\nenv -0 > {env_file}\n"
            argv = ["bash", "-euo", "pipefail", "-c", script]
        else:
            argv = [sys.executable, "-c", code]
        result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{document} line {line}:\n{code}\n{result.stdout}\n{result.stderr}"
        if lang == "sh":
            entries = env_file.read_bytes().split(b"\0")
            env = dict(e.decode().split("=", 1) for e in entries if b"=" in e)
