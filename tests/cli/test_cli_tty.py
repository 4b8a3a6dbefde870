"""Passphrase prompts on the controlling terminal and unlock-once sessions, through a real pty."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from ttyhelpers import run_with_tty

from vaultcore import PassphraseCredential, Vault

PASS = "correct horse battery staple"
PROMPT = "Vault passphrase: "
CONFIRM = "Repeat for confirmation (vault passphrase): "


@pytest.fixture
def vault_env(tmp_path: Path) -> dict[str, str]:
    env = {"VAULTCORE_VAULT": str(tmp_path / "v"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir(mode=0o700)
    result = run_with_tty(["init", "--kdf-profile", "interactive"], env, answers=[(PROMPT, PASS), (CONFIRM, PASS)])
    assert result.returncode == 0, result
    assert "lost passphrase means lost data" in result.stderr
    return env


def test_init_prompts_twice_on_the_terminal_and_never_echoes(vault_env: dict[str, str], tmp_path: Path) -> None:
    with Vault.open(tmp_path / "v", PassphraseCredential(PASS)) as vault:
        assert vault.name == "v"


def test_init_asks_again_when_the_entries_differ(tmp_path: Path) -> None:
    env = {"VAULTCORE_VAULT": str(tmp_path / "w")}
    result = run_with_tty(
        ["init", "--kdf-profile", "interactive"],
        env,
        answers=[(PROMPT, "short"), (CONFIRM, "other"), (PROMPT, "short"), (CONFIRM, "short")],
    )
    assert result.returncode == 0, result
    assert "do not match" in result.terminal
    assert "Warning: the passphrase has 5 characters" in result.stderr
    assert "short" not in result.stdout + result.stderr + result.terminal  # typed without echo


def test_piped_value_and_typed_passphrase(vault_env: dict[str, str], tmp_path: Path) -> None:
    result = run_with_tty(["secret", "set", "db-password"], vault_env, answers=[(PROMPT, PASS)], stdin=b"hunter2")
    assert result.returncode == 0, result
    got = run_with_tty(["secret", "get", "db-password"], vault_env, answers=[(PROMPT, PASS)])
    assert got.returncode == 0 and got.stdout == "hunter2\n", got
    wrong = run_with_tty(["secret", "get", "db-password"], vault_env, answers=[(PROMPT, "nope")])
    assert wrong.returncode == 3


def test_no_terminal_and_no_credential_says_what_to_set(vault_env: dict[str, str]) -> None:
    result = run_with_tty(["secret", "list"], vault_env, tty=False)
    assert result.returncode == 3
    for variable in ("VAULTCORE_KEY_FILE", "VAULTCORE_PASSPHRASE", "VAULTCORE_SESSION"):
        assert variable in result.stderr
    assert result.stderr.count("\n") == 1


def test_no_vault_is_exit_6_before_any_prompt(tmp_path: Path) -> None:
    result = run_with_tty(["secret", "list"], {"VAULTCORE_VAULT": str(tmp_path / "none")})
    assert result.returncode == 6
    assert "vaultcore init" in result.stderr and result.terminal == ""


def test_unlock_once_then_lock(vault_env: dict[str, str], tmp_path: Path) -> None:
    unlocked = run_with_tty(["unlock", "--timeout", "5m"], vault_env, answers=[(PROMPT, PASS)])
    assert unlocked.returncode == 0, unlocked
    line = unlocked.stdout.strip()
    assert line.startswith("export VAULTCORE_SESSION=") and PASS not in line
    session = line.split("=", 1)[1].strip("'")
    socket_path = session.rpartition(":")[0]
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(socket_path)).st_mode) == 0o700
    with_session = {**vault_env, "VAULTCORE_SESSION": session}
    try:
        stored = run_with_tty(["secret", "set", "api"], with_session, stdin=b"k", tty=False)
        assert stored.returncode == 0, stored  # no terminal, no passphrase: the session unlocks
        got = run_with_tty(["secret", "get", "api"], with_session, tty=False)
        assert got.stdout == "k\n"
        for junk in (b"[]\n", b"not json\n", b'{"op": "get"}\n'):  # no token: no answer, no crash
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(socket_path)
                sock.sendall(junk)
                assert b"passphrase" not in sock.recv(4096) and b"secret" not in sock.recv(4096)
        assert run_with_tty(["secret", "get", "api"], with_session, tty=False).stdout == "k\n"
        # A forged token, or another vault, gets nothing from the agent.
        forged = {**with_session, "VAULTCORE_SESSION": session[:-4] + "0000"}
        assert run_with_tty(["secret", "get", "api"], forged, tty=False).returncode == 3
        other = {**with_session, "VAULTCORE_VAULT": str(tmp_path / "other")}
        run_with_tty(["init", "--key-file", str(tmp_path / "o.key")], other, tty=False)
        assert run_with_tty(["secret", "list"], {**other, "VAULTCORE_KEY_FILE": ""}, tty=False).returncode == 3
    finally:
        locked = run_with_tty(["lock"], with_session, tty=False)
    assert locked.returncode == 0 and locked.stdout == "unset VAULTCORE_SESSION\n"
    assert not os.path.exists(socket_path)
    after = run_with_tty(["secret", "get", "api"], with_session, tty=False)
    assert after.returncode == 3 and "session has ended" in after.stderr


def test_unlock_refuses_a_wrong_passphrase(vault_env: dict[str, str]) -> None:
    result = run_with_tty(["unlock"], vault_env, answers=[(PROMPT, "wrong")])
    assert result.returncode == 3 and result.stdout == ""


def test_key_file_and_passphrase_both_set_warns(tmp_path: Path) -> None:
    env = {"VAULTCORE_VAULT": str(tmp_path / "k"), "VAULTCORE_KEY_FILE": str(tmp_path / "k.key")}
    assert run_with_tty(["init", "--key-file", str(tmp_path / "k.key")], env, tty=False).returncode == 0
    result = run_with_tty(["secret", "list"], {**env, "VAULTCORE_PASSPHRASE": "x"}, tty=False)
    assert result.returncode == 0 and "using the key file" in result.stderr
