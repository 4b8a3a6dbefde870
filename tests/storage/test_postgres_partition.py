"""A network partition of one app server (issue 16 §4): handle B reaches PostgreSQL through a
small TCP proxy that the test cuts *silently* (a blackhole: nothing is forwarded either way,
no socket is closed, bytes wait as TCP would retransmit them), while handle A connects
directly. B fails within its timeouts with ``StorageError``; the server ends B's orphaned
transaction (``idle_in_transaction_timeout``) so A waits only that long for the vault's write
lock; nothing B was not told about is half-applied; after healing B works again; every
acknowledged write is there and the audit chain verifies on both handles."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

import pghelpers
from vaultcore import NotFoundError, RawKeyCredential, StorageError, Vault

KEY = b"\x42" * 32
#: B's timeouts (ms): the server ends B's idle transaction after IDLE, B gives up on an
#: unanswered round trip after NET and retries a lost write for WINDOW.
IDLE, NET, WINDOW = 2000, 1500, 1500
B_PARAMS = (
    f"connect_timeout=2&statement_timeout=1000&idle_in_transaction_timeout={IDLE}"
    f"&network_timeout={NET}&retry_window={WINDOW}"
)


class Blackhole:
    """A loopback TCP proxy to the PostgreSQL server; ``cut()`` stops forwarding in both
    directions and ``heal()`` resumes it. While cut, nothing is read or closed: data stays in
    the socket buffers (and is delivered after healing, as TCP would retransmit it), new
    connections are accepted but not connected onwards."""

    def __init__(self, upstream: Callable[[], socket.socket]) -> None:
        self._upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def cut(self) -> None:
        self.flowing.clear()

    def heal(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self._stop.set()
        self.flowing.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()
        for t in self._threads:
            t.join(5)

    def _wait_flowing(self) -> bool:
        while not self.flowing.wait(0.1):
            if self._stop.is_set():
                return False
        return not self._stop.is_set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._connect, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _connect(self, client: socket.socket) -> None:
        self._sockets.append(client)
        if not self._wait_flowing():  # a partition: the connection attempt gets no answer
            return
        try:
            server = self._upstream()
        except OSError:
            client.close()
            return
        self._sockets.append(server)
        for src, dst in ((client, server), (server, client)):
            t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
            self._threads.append(t)
            t.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while self._wait_flowing():
                readable, _, _ = select.select([src], [], [], 0.1)
                if not readable or not self.flowing.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    break
                if not self._wait_flowing():  # cut between recv and send: hold the bytes
                    break
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


def _through_proxy(base: str, port: int) -> tuple[str, Callable[[], socket.socket]]:
    """The base URL rewritten to reach the server through the proxy, and how to reach it."""
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(base)
    host = str(params.get("host") or "/var/run/postgresql")
    server_port = int(str(params.get("port") or 5432))
    if host.startswith("/"):
        path = f"{host}/.s.PGSQL.{server_port}"

        def upstream() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock
    else:

        def upstream() -> socket.socket:
            return socket.create_connection((host, server_port), timeout=5)

    user = quote(str(params.get("user") or "postgres"))
    password = params.get("password")
    secret = f":{quote(str(password))}" if password else ""
    url = f"postgresql://{user}{secret}@127.0.0.1:{port}/{quote(str(params.get('dbname') or 'test'))}"
    return url, upstream


@pytest.fixture
def handles(pg_base: tuple[str, str]) -> Iterator[tuple[Vault, Vault, Blackhole]]:
    """A (direct) and B (through the proxy, short timeouts) on one vault."""
    base, schema = pg_base
    name = "p" + uuid.uuid4().hex[:12]
    url_a = pghelpers.vault_url(base, schema, name)
    a = Vault.create(url_a, RawKeyCredential(KEY))
    _, upstream = _through_proxy(base, 0)
    proxy = Blackhole(upstream)
    proxy_base, _ = _through_proxy(base, proxy.port)
    b = Vault.open(f"{pghelpers.vault_url(proxy_base, schema, name)}&{B_PARAMS}", RawKeyCredential(KEY))
    try:
        yield a, b, proxy
    finally:
        proxy.heal()
        b.close()
        a.close()
        proxy.close()


def _whole_or_absent(vault: Vault, name: str, value: str) -> bool:
    """True if *name* reads back as *value*, False if absent; anything else fails the test."""
    try:
        got = vault.secrets.get_secret(name).value
    except NotFoundError:
        return False
    assert got == value, (name, got)
    return True


def _until(done: Callable[[], bool], seconds: float, state: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting {seconds} s: {state()}"
        time.sleep(0.02)


def test_b_cut_off_while_holding_the_write_lock(handles: tuple[Vault, Vault, Blackhole]) -> None:
    a, b, proxy = handles
    a.secrets.set_secret("a-before", "1")
    b.secrets.set_secret("b-before", "2")
    store = b._ctx.store
    real_write = store.write
    holding, go_on = threading.Event(), threading.Event()

    def write(fn: Callable[[Any], Any], **kwargs: Any) -> Any:
        def paused(txn: Any) -> Any:
            result = fn(txn)
            if txn.get(b"objects", b"\x00" * 17) is None and not holding.is_set():  # one statement in
                holding.set()  # B holds the vault's write lock inside its transaction ...
                go_on.wait(30)  # ... while the network goes away
            return result

        return real_write(paused, **kwargs)

    store.write = write  # type: ignore[method-assign]
    outcome: list[BaseException | str] = []
    b_failed_after: list[float] = []

    def b_writes() -> None:
        try:
            b.secrets.set_secret("b-cut", "never acknowledged")
            outcome.append("acknowledged")
        except BaseException as exc:
            outcome.append(exc)
        b_failed_after.append(time.monotonic() - cut_at)

    cut_at = time.monotonic()
    thread = threading.Thread(target=b_writes)
    thread.start()
    assert holding.wait(30)
    proxy.cut()
    cut_at = time.monotonic()
    go_on.set()  # B's commit goes into the blackhole

    a.secrets.set_secret("a-during", "3")  # waits for B's lock until the server ends B's session
    a_stall = time.monotonic() - cut_at
    thread.join(60)
    assert not thread.is_alive()
    store.write = real_write  # type: ignore[method-assign]
    assert len(outcome) == 1 and isinstance(outcome[0], StorageError), outcome
    # bounds for correctness (generous: a loaded machine), not performance
    assert a_stall < IDLE / 1000 + 10, a_stall
    assert b_failed_after[0] < (NET + WINDOW) / 1000 + 15, b_failed_after
    print(f"\nA stalled {a_stall:.2f} s; B failed after {b_failed_after[0]:.2f} s: {outcome[0]}")

    assert not _whole_or_absent(a, "b-cut", "never acknowledged")  # its session died before COMMIT
    proxy.heal()
    _until(lambda: _write_ok(b, "b-after", "4"), 30)  # the pool replaces the dead connections
    for vault in (a, b):
        for name, value in (("a-before", "1"), ("b-before", "2"), ("a-during", "3"), ("b-after", "4")):
            assert vault.secrets.get_secret(name).value == value
        assert not _whole_or_absent(vault, "b-cut", "never acknowledged")
        result = vault.audit.verify()
        assert result.ok, result.reason


def _write_ok(vault: Vault, name: str, value: str) -> bool:
    try:
        vault.secrets.set_secret(name, value)
    except StorageError:
        return False
    return True


def test_partition_under_concurrent_writers_of_both_handles(handles: tuple[Vault, Vault, Blackhole]) -> None:
    """Threads of A and B write all the time; B is cut off at an arbitrary point of its
    writes, then healed: A keeps going, B's writes fail (never hang), all acknowledged writes
    of both are there, the unacknowledged ones are whole or absent, the chain verifies."""
    a, b, proxy = handles
    acked: dict[str, str] = {}
    tried: dict[str, str] = {}
    failures: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()
    errors: list[str] = []

    def state() -> str:
        with lock:
            counts = Counter(n[0] for n in acked)
            return f"acked {dict(counts)}, failures {[round(f, 2) for f in failures]}, other errors {errors[-3:]}"

    def work(vault: Vault, who: str) -> None:
        i = 0
        while not stop.is_set():
            name, value = f"{who}-{i}", f"value {who} {i} " + "x" * (i % 50)
            with lock:
                tried[name] = value
            started = time.monotonic()
            try:
                vault.secrets.set_secret(name, value)
                with lock:
                    acked[name] = value
            except StorageError:
                with lock:
                    failures.append(time.monotonic() - started)
            except BaseException as exc:
                with lock:
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                raise
            i += 1

    threads = [threading.Thread(target=work, args=(v, f"{w}{t}")) for v, w in ((a, "a"), (b, "b")) for t in range(2)]
    for t in threads:
        t.start()
    try:
        _until(lambda: sum(n.startswith("b") for n in acked) >= 20, 60, state)
        proxy.cut()
        mark = sum(n.startswith("a") for n in acked)
        _until(lambda: sum(n.startswith("a") for n in acked) >= mark + 20, 60, state)  # A is not blocked for long
        _until(lambda: len(failures) >= 2, 60, state)  # both B threads get StorageError, none hangs
        proxy.heal()
        mark_b = sum(n.startswith("b") for n in acked)
        _until(lambda: sum(n.startswith("b") for n in acked) >= mark_b + 10, 90, state)
    finally:
        stop.set()
        proxy.heal()
        for t in threads:
            t.join(60)
    assert not any(t.is_alive() for t in threads), state()
    assert errors == []
    for name, value in tried.items():
        present = _whole_or_absent(a, name, value)
        assert present or name not in acked, name
    for vault in (a, b):
        result = vault.audit.verify()
        assert result.ok, result.reason
