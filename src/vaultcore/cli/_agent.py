"""The session agent behind ``vaultcore unlock`` / ``vaultcore lock`` (threat model: docs/cli.md).

``vaultcore unlock`` checks the passphrase, then starts this module as a detached process
(``python -m vaultcore.cli._agent``) and hands it, on a pipe, the passphrase's Argon2id result
for that vault (:class:`StretchedPassphrase`): it opens that vault only, without the Argon2id
work, and does not reveal the passphrase (which may be used elsewhere). The agent
listens on a Unix socket in a 0700 directory of the user's runtime dir (``$XDG_RUNTIME_DIR``,
else ``/tmp/vaultcore-<uid>``), mode 0600, and answers only a peer of the same uid
(``SO_PEERCRED``) that presents the session's random 256-bit token (compared in constant
time) and names the vault it was unlocked for. The session string
``VAULTCORE_SESSION=<socket>:<token>`` lives only in the shell's environment.

The agent exits, removing its socket, on ``lock``, after an idle timeout (default 30 min,
reset by each use) or at its maximum lifetime (12 h). It refuses core dumps and ptrace
(``PR_SET_DUMPABLE=0``) so other processes of the user cannot read the key from its memory.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import select
import socket
import struct
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from vaultcore.exceptions import InvalidParameterError

from ._runtime import UnsafeRuntimeDir, runtime_dir

if TYPE_CHECKING:
    from vaultcore.crypto._credentials import StretchedPassphrase

__all__ = ["MAX_LIFETIME", "SessionError", "lock_session", "session_credential", "start_agent"]

MAX_LIFETIME = 12 * 3600.0
_REQUEST_LIMIT = 4096
_CONNECT_TIMEOUT = 2.0


class SessionError(RuntimeError):
    """The session cannot be used (ended, malformed, or for another vault)."""


def _parse(session: str) -> tuple[str, str]:
    path, sep, token = session.rpartition(":")
    if not sep or not path or len(token) != 64:
        raise SessionError("VAULTCORE_SESSION is not a session from 'vaultcore unlock'")
    return path, token


def _ask(session: str, request: dict[str, Any]) -> dict[str, Any]:
    path, token = _parse(session)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_CONNECT_TIMEOUT)
        try:
            sock.connect(path)
            sock.sendall(json.dumps({**request, "token": token}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            raise SessionError("the session has ended (locked or timed out)") from None
    try:
        reply: dict[str, Any] = json.loads(data)
    except ValueError:
        raise SessionError("the session agent gave no answer") from None
    if "error" in reply:
        raise SessionError(str(reply["error"]))
    return reply


def session_credential(session: str, vault_path: str) -> StretchedPassphrase:
    """The credential the session holds for *vault_path* (``SessionError`` if it cannot)."""
    from vaultcore.crypto._credentials import StretchedPassphrase

    reply = _ask(session, {"op": "get", "vault": os.path.realpath(vault_path)})
    try:
        return StretchedPassphrase(bytes.fromhex(reply["salt"]), bytes.fromhex(reply["secret"]))
    except (KeyError, TypeError, ValueError, InvalidParameterError):
        raise SessionError("the session agent gave a malformed answer") from None


def lock_session(session: str) -> None:
    """End the session: the agent forgets the passphrase and exits."""
    _ask(session, {"op": "lock"})


def start_agent(credential: StretchedPassphrase, vault_path: str, idle_timeout: float) -> str:
    """Start a detached agent holding *credential* for *vault_path*; returns the session string."""
    try:
        directory = runtime_dir()
    except UnsafeRuntimeDir as exc:
        raise SessionError(str(exc)) from None
    config = {
        "salt": credential.salt.hex(),
        "secret": credential.secret.hex(),
        "vault": os.path.realpath(vault_path),
        "idle": idle_timeout,
        "dir": directory,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "vaultcore.cli._agent"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives the shell's job control and a Ctrl-C in it
        close_fds=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")},
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(config).encode())
    child.stdin.close()
    line = child.stdout.readline().decode().strip()
    child.stdout.close()
    if not line:
        raise SessionError("the session agent did not start")
    return line


# -- the agent process ---------------------------------------------------------------------


def _harden() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4: no ptrace by the same uid


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def _serve(config: dict[str, Any]) -> None:
    token = secrets.token_hex(32)
    path = os.path.join(config["dir"], f"agent-{os.getpid()}-{secrets.token_hex(4)}.sock")
    old_umask = os.umask(0o177)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    server.listen(8)
    sys.stdout.write(f"{path}:{token}\n")
    sys.stdout.flush()
    os.close(1)
    started = last_use = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            remaining = min(last_use + config["idle"], started + MAX_LIFETIME) - now
            if remaining <= 0:
                return
            ready, _, _ = select.select([server], [], [], remaining)
            if not ready:
                continue
            conn, _ = server.accept()
            with conn:
                if _handle(conn, config, token):
                    last_use = time.monotonic()
                if config.get("locked"):
                    return
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _handle(conn: socket.socket, config: dict[str, Any], token: str) -> bool:
    """Answer one request; True when it was a valid use of the session."""
    conn.settimeout(_CONNECT_TIMEOUT)
    try:
        if _peer_uid(conn) != os.getuid():
            return False
        data = b""
        while not data.endswith(b"\n") and len(data) < _REQUEST_LIMIT:
            chunk = conn.recv(_REQUEST_LIMIT)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        if not isinstance(request, dict):
            return False
        if not hmac.compare_digest(str(request.get("token", "")).encode(), token.encode()):
            conn.sendall(b'{"error": "not this session"}\n')
            return False
        if request.get("op") == "lock":
            config["locked"] = True
            conn.sendall(b'{"ok": true}\n')
            return True
        if request.get("op") == "get" and request.get("vault") == config["vault"]:
            conn.sendall(json.dumps({"salt": config["salt"], "secret": config["secret"]}).encode() + b"\n")
            return True
        conn.sendall(json.dumps({"error": f"this session unlocks {config['vault']}, not that vault"}).encode() + b"\n")
        return False
    except (OSError, ValueError):
        return False


def _main() -> None:
    config = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    _harden()
    os.chdir("/")
    _serve(config)


if __name__ == "__main__":
    _main()
