"""Crash safety: SIGKILL in the middle of writes and of a keyring rotation (issue 3 §2-3, §7)."""

from __future__ import annotations

import os
import random
import signal
import textwrap
from pathlib import Path

import pytest

from corehelpers import dump, spawn_script
from vaultcore import RawKeyCredential, Vault

KEY = b"\x7e" * 32

WRITER = textwrap.dedent(
    """
    import sys
    from vaultcore import RawKeyCredential, Vault

    path, start = sys.argv[1], int(sys.argv[2])
    with Vault.open(path, RawKeyCredential(bytes([0x7e]) * 32)) as vault:
        i = start
        while True:
            if i % 7 == 3:
                vault.secrets.set_secrets({f"bulk{i}-{j}": f"bulk-{i}-{j}" for j in range(40)})
                print("bulk", i, flush=True)
            else:
                s = vault.secrets.set_secret(f"s{i}", f"value-{i}-" + "x" * (i % 500))
                print("single", i, flush=True)
            m = vault.secrets.set_secret("multi", f"multi-{i}")
            print("multi", i, m.properties.version, flush=True)
            i += 1
    """
)


def _single_value(i: int) -> str:
    return f"value-{i}-" + "x" * (i % 500)


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_write(vault_location: str, backend: str, tmp_path: Path) -> None:
    path = vault_location
    Vault.create(path, RawKeyCredential(KEY)).close()
    rng = random.Random(1234)
    acked: list[tuple[str, ...]] = []
    start = 0
    for _round in range(4):
        child = spawn_script(WRITER, str(path), str(start))
        assert child.stdout is not None
        target = rng.randint(40, 160)
        for lines, line in enumerate(child.stdout, 1):
            acked.append(tuple(line.split()))
            if lines >= target:
                os.kill(child.pid, signal.SIGKILL)
                break
        acked += [tuple(line.split()) for line in child.stdout]  # acknowledged before the kill
        assert child.wait(30) == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        start = max(int(a[1]) for a in acked) + 1

        with Vault.open(path, RawKeyCredential(KEY)) as vault:
            singles = {int(a[1]) for a in acked if a[0] == "single"}
            bulks = {int(a[1]) for a in acked if a[0] == "bulk"}
            multis = {a[2] for a in acked if a[0] == "multi"}
            for i in singles:
                assert vault.secrets.get_secret(f"s{i}").value == _single_value(i)
            for i in bulks:
                for j in (0, 17, 39):
                    assert vault.secrets.get_secret(f"bulk{i}-{j}").value == f"bulk-{i}-{j}"
            versions = {p.version for p in vault.secrets.list_properties_of_secret_versions("multi")}
            assert multis <= versions
            # no partial version: everything that exists is whole and readable; a bulk write
            # is all there or not at all
            by_bulk: dict[int, int] = {}
            for props in vault.secrets.list_properties_of_secrets():
                value = vault.secrets.get_secret(props.name, props.version).value
                if props.name.startswith("bulk"):
                    i, j = (int(x) for x in props.name[4:].split("-"))
                    assert value == f"bulk-{i}-{j}"
                    by_bulk[i] = by_bulk.get(i, 0) + 1
                elif props.name.startswith("s"):
                    assert value == _single_value(int(props.name[1:]))
            assert set(by_bulk.values()) <= {40}
            for version in versions:
                assert vault.secrets.get_secret("multi", version).value.startswith("multi-")
            # at most the one write in flight at the kill is present without acknowledgement
            assert len(versions - multis) <= 1
    assert len(acked) > 150


ROTATOR = textwrap.dedent(
    """
    import sys
    from vaultcore import RawKeyCredential, Vault

    def progress(done, total):
        print("progress", done, total, flush=True)

    with Vault.open(sys.argv[1], RawKeyCredential(bytes([0x7e]) * 32)) as vault:
        vault.rotate_keyring(progress=progress)
        print("finished", flush=True)
    """
)
N_VERSIONS = 30_000


def _term_ids(path: Path | str) -> set[int]:
    terms = set()
    for db in (b"objects", b"versions", b"deleted", b"dversions"):
        terms |= {int.from_bytes(blob[1:5], "big") for _, blob in dump(path, db)}
    return terms


@pytest.mark.slow
def test_rotation_killed_midway_then_resumed(vault_location: str, backend: str, tmp_path: Path) -> None:
    path = vault_location
    values = {f"n{i}": f"v{i:07d}" + "." * 92 for i in range(N_VERSIONS)}
    with Vault.create(path, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secrets(values)
        vault.secrets.set_secret("gone", "deleted value")
        vault.secrets.delete_secret("gone")
        generation = vault.keyring_generation
    assert _term_ids(path) == {1}

    for _attempt in range(3):
        child = spawn_script(ROTATOR, str(path))
        assert child.stdout is not None
        first = child.stdout.readline().split()
        os.kill(child.pid, signal.SIGKILL)  # while it re-wraps the next chunk
        child.wait(30)
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        assert first[0] == "progress" and int(first[1]) < int(first[2]), first
        with Vault.open(path, RawKeyCredential(KEY)) as vault:
            terms = sorted(vault._ctx.keyring.terms)
        if len(terms) == 2:
            break
        # a heavily loaded machine let the child finish before the kill: rotate again
    assert len(terms) == 2, "the rotation was never interrupted"
    old_term, new_term = terms

    # both terms are in the stored keyring; records are under one or the other
    terms_after_kill = _term_ids(path)
    assert terms_after_kill <= {old_term, new_term} and new_term in terms_after_kill
    with Vault.open(path, RawKeyCredential(KEY)) as vault:
        assert sorted(vault._ctx.keyring.terms) == [old_term, new_term]
        assert vault.keyring_generation > generation
        for name, value in values.items():
            assert vault.secrets.get_secret(name).value == value
        assert vault.secrets.get_deleted_secret("gone").name == "gone"
        vault.rotate_keyring()  # finishes the pending rotation instead of starting another
        assert sorted(vault._ctx.keyring.terms) == [new_term]
        assert vault.secrets.get_secret("n12345").value == values["n12345"]
        vault.secrets.recover_deleted_secret("gone")
        assert vault.secrets.get_secret("gone").value == "deleted value"
    assert _term_ids(path) == {new_term}
    with Vault.open(path, RawKeyCredential(KEY)) as vault:
        assert sorted(vault._ctx.keyring.terms) == [new_term]
        for name in ("n0", "n29999", "gone"):
            assert vault.secrets.get_secret(name).value == values.get(name, "deleted value")


def test_rotation_in_one_process_is_seen_by_another_handle(vault_location: str, backend: str, tmp_path: Path) -> None:
    path = vault_location
    with Vault.create(path, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secrets({f"k{i}": str(i) for i in range(100)})
    child = spawn_script(ROTATOR, str(path))
    other = Vault.open(path, RawKeyCredential(KEY))
    try:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert "finished" in out
        # the stale handle reads records sealed under the new term and writes under it
        assert other.secrets.get_secret("k42").value == "42"
        other.secrets.set_secret("after", "rotation")
    finally:
        other.close()
    assert _term_ids(path) == {2}
    with Vault.open(path, RawKeyCredential(KEY)) as vault:
        assert vault.secrets.get_secret("after").value == "rotation"
