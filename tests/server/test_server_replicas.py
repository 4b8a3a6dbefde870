"""Issue 16, done when: two ``vaultcore serve`` replicas and two embedded writers on one
PostgreSQL vault, under concurrent writes, a replica killed and the vault's database
connections dropped, lose no acknowledged write, and the audit chain verifies.

The vault lives on a private PostgreSQL cluster started for this test (restarting the
machine's shared server would disturb other test runs), which is restarted for real
(``pg_ctl restart -m fast``) in the middle of the writes; in addition every connection of the
vault is dropped twice with ``pg_terminate_backend``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

import pghelpers
from vaultcore import KeyFileCredential, Vault
from vaultcore.server import credential, ensure_local_tls

WRITER = textwrap.dedent(
    """
    import sys, time
    from vaultcore import KeyFileCredential, Vault, VaultError

    url, key_file, tag, stop_file = sys.argv[1:5]
    with Vault.open(url, KeyFileCredential(key_file)) as vault:
        i = 0
        while True:
            try:
                vault.secrets.set_secret(f"{tag}-{i}", f"value {tag} {i}")
                print("ack", i, flush=True)
            except VaultError as exc:
                print("fail", i, type(exc).__name__, str(exc).replace(" ", "_")[:200], flush=True)
            i += 1
            import os
            if os.path.exists(stop_file):
                break
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(url: str, key_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    env.update({"VAULTCORE_VAULT": url, "VAULTCORE_KEY_FILE": str(key_file)})
    return env


def _serve(env: dict[str, str], tls: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaultcore.cli", "-o", "json", "serve", "--port", str(port), "--tls-dir", str(tls)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "}":
        line = proc.stdout.readline().decode()
        assert line, proc.stderr.read().decode() if proc.stderr else ""
        lines.append(line.rstrip("\n"))
    deadline = time.monotonic() + 60
    while True:  # the address is printed before the server listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "the replica did not start listening"
            time.sleep(0.1)
    return proc, json.loads("\n".join(lines))


@pytest.fixture
def cluster() -> Iterator[pghelpers.PrivateCluster]:
    server = pghelpers.PrivateCluster()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_two_replicas_and_two_embedded_writers_lose_no_acknowledged_write(
    tmp_path: Path, cluster: pghelpers.PrivateCluster
) -> None:
    base, schema = cluster.url, pghelpers.new_schema(cluster.url)
    app = "vct-done-" + uuid.uuid4().hex[:8]
    url = pghelpers.vault_url(base, schema) + f"&application_name={app}"
    key_file = tmp_path / "vault.key"
    env = _env(url, key_file)
    init = subprocess.run(
        [sys.executable, "-m", "vaultcore.cli", "init", "--key-file", str(key_file)],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    tls = tmp_path / "tls"
    ensure_local_tls(tls)  # once, before two replicas would race to create it

    replicas = [_serve(env, tls) for _ in range(2)]
    stop_file = tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(key_file), f"e{k}", str(stop_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    writer_lines: list[list[str]] = [[], []]

    def collect(k: int) -> None:
        stream = writers[k].stdout
        assert stream is not None
        writer_lines[k].extend(line.strip() for line in stream)

    readers = [threading.Thread(target=collect, args=(k,)) for k in range(2)]
    for t in readers:
        t.start()

    infos = [info for _, info in replicas]
    ca = infos[0]["ca_path"]
    token = infos[0]["admin_token"]  # issued by replica 0, used on both

    def client(i: int) -> SecretClient:
        return SecretClient(
            infos[i]["url"],
            credential(infos[i]["url"], token=token),
            verify_challenge_resource=False,
            connection_verify=ca,
            retry_total=0,
        )

    clients = [client(0), client(1)]
    # a token issued by one replica is accepted by the other (the key comes from the keyring)
    clients[1].set_secret("token-check", "issued by replica 0")
    acked_http: dict[str, str] = {}
    failovers = 0
    terminated = 0
    restarted = False
    alive = [True, True]
    try:
        for i in range(160):
            if i == 70:  # the database server restarts
                before = pghelpers.sql(base, "SELECT pg_postmaster_start_time()")
                cluster.restart()
                restarted = pghelpers.sql(base, "SELECT pg_postmaster_start_time()") != before
            if i in (40, 120):  # the database drops every connection of this vault
                terminated += pghelpers.sql(
                    base,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                    (app,),
                )[0][0]  # type: ignore[operator]
            if i == 100:  # replica 0 dies; its clients continue on replica 1 with the same token
                replicas[0][0].send_signal(signal.SIGKILL)
                replicas[0][0].wait(30)
                alive[0] = False
            name, value = f"h-{i}", f"http value {i}"
            order = [i % 2, 1 - i % 2]
            for r in order:
                if not alive[r]:
                    continue
                try:
                    clients[r].set_secret(name, value)
                except Exception:
                    failovers += 1
                    continue
                acked_http[name] = value
                break
        time.sleep(0.5)
    finally:
        stop_file.write_text("stop")
        for w in writers:
            w.wait(120)
        for t in readers:
            t.join(30)
        for proc, _ in replicas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for w in writers:
            for text in (w.stdout, w.stderr):
                if text is not None:
                    text.close()

    assert [w.returncode for w in writers] == [0, 0]
    assert terminated >= 2 and restarted
    acked_embedded = {
        f"e{k}-{line.split()[1]}": f"value e{k} {line.split()[1]}"
        for k in range(2)
        for line in writer_lines[k]
        if line.startswith("ack")
    }
    assert len(acked_http) >= 150 and len(acked_embedded) >= 20
    print("failovers", failovers, [x for w in writer_lines for x in w if x.startswith("fail")])

    with Vault.open(url, KeyFileCredential(str(key_file))) as vault:
        for name, value in {**acked_http, **acked_embedded}.items():
            assert vault.secrets.get_secret(name).value == value, name
        # every stored version was acknowledged, or was the one write in flight at a failure
        result = vault.audit.verify()
        assert result.ok, result.reason
        sets = [e for e in vault.audit.events(operation="SecretSet") if e.result == "success"]
        assert len(sets) >= len(acked_http) + len(acked_embedded)


def test_every_handle_of_a_vault_derives_the_same_token_key_and_other_vaults_do_not(tmp_path: Path) -> None:
    from vaultcore import ForbiddenError, RawKeyCredential, UnauthorizedError
    from vaultcore.server import create_app

    cred = RawKeyCredential(b"\x21" * 32)
    one = Vault.create(tmp_path / "v", cred)
    two = Vault.open(tmp_path / "v", cred)
    other = Vault.create(tmp_path / "w", cred)
    try:
        apps = [create_app(v).state.akv for v in (one, two, other)]
        token = apps[0].admin_token()
        assert apps[1].issuer.verify(token) == apps[0].issuer.verify(token)
        with pytest.raises(UnauthorizedError):
            apps[2].issuer.verify(token)  # another vault's keyring, another key
        one.rotate_keyring()  # the key comes from the index key, which never rotates
        assert create_app(one).state.akv.issuer.verify(token) == apps[0].issuer.verify(token)
        app_id = one.access.create_application("reader").principal.id
        with pytest.raises(ForbiddenError):
            one.as_authenticated(app_id)._service_key("server-token")  # only the administrator's
    finally:
        for v in (one, two, other):
            v.close()
