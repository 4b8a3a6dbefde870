"""The ``durability`` option of set_secret / set_secrets (``MDB_NOMETASYNC``, issue 12).

"full" (the default) flushes LMDB's meta page before returning; "meta_async" leaves it to
the next durable commit: a power loss may undo the last commits, never corrupt the store.
What a test can check without pulling the plug: which commits flush the meta page, that
both classes store the same records and audit events, and that a process crash right
after a "meta_async" write loses nothing (the OS still has the pages).
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest

from corehelpers import spawn_script
from vaultcore import InvalidParameterError, RawKeyCredential, Vault


class _CountingEnv:
    """Stands in for the store's LMDB environment and counts ``sync`` calls."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self.syncs = 0

    def sync(self) -> None:
        self.syncs += 1
        self._env.sync()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


@pytest.fixture
def counting(vault: Vault) -> Any:
    shared = vault._ctx.store._shared  # type: ignore[attr-defined]
    real = shared.env
    shared.env = _CountingEnv(real)
    try:
        yield shared.env
    finally:
        shared.env = real


@pytest.mark.parametrize("both_backends", ["lmdb"])  # counts LMDB meta-page flushes
def test_full_durability_flushes_the_meta_page_before_returning(vault: Vault, counting: Any) -> None:
    vault.secrets.set_secret("a", "1")
    assert counting.syncs == 1
    vault.secrets.set_secret("a", "2", durability="full")
    vault.secrets.set_secrets({"b": "1", "c": "2"})
    assert counting.syncs == 3


@pytest.mark.parametrize("both_backends", ["lmdb"])  # counts LMDB meta-page flushes
def test_meta_async_skips_the_meta_flush_and_stores_the_same(vault: Vault, counting: Any) -> None:
    s = vault.secrets.set_secret("a", "1", durability="meta_async")
    props = vault.secrets.set_secrets({"b": "x", "c": "y"}, durability="meta_async")
    assert counting.syncs == 0
    assert vault.secrets.get_secret("a").value == "1"
    assert vault.secrets.get_secret("a").properties.version == s.properties.version
    assert [p.name for p in props] == ["b", "c"]
    assert vault.secrets.get_secret("c").value == "y"
    ops = [e.operation for e in vault.audit.events()]
    assert ops.count("SecretSet") == 1 and ops.count("SecretSetBulk") == 1
    assert vault.audit.verify()


def test_bad_durability_is_refused_and_changes_nothing(vault: Vault) -> None:
    for bad in ("none", "", None, True):
        with pytest.raises(InvalidParameterError, match="durability"):
            vault.secrets.set_secret("a", "1", durability=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError, match="durability"):
            vault.secrets.set_secrets({"a": "1"}, durability=bad)  # type: ignore[arg-type]
    assert list(vault.secrets.list_properties_of_secrets()) == []


def test_process_killed_after_meta_async_writes_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, RawKeyCredential(b"\x22" * 32)).close()
    code = textwrap.dedent(
        """
        import os, signal, sys
        from vaultcore import RawKeyCredential, Vault
        vault = Vault.open(sys.argv[1], RawKeyCredential(b"\\x22" * 32))
        for i in range(20):
            vault.secrets.set_secret(f"s{i}", f"v{i}", durability="meta_async")
        vault.secrets.set_secrets({"bulk": "b"}, durability="meta_async")
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = spawn_script(code, str(path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    assert out.strip() == "written"
    with Vault.open(path, RawKeyCredential(b"\x22" * 32)) as vault:
        assert [vault.secrets.get_secret(f"s{i}").value for i in range(20)] == [f"v{i}" for i in range(20)]
        assert vault.secrets.get_secret("bulk").value == "b"
        assert vault.audit.verify()
