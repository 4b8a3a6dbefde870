"""A PostgreSQL server for the tests: ``VAULTCORE_TEST_PG`` if set, else the local server
(socket or 127.0.0.1:5432) if it answers, else (as root) ``apt-get install postgresql`` and
``pg_ctlcluster``. Each test run gets its own schema, so parallel runs never collide; under
``CI=true`` a missing server fails the tests instead of skipping them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
import uuid

import pytest

_CANDIDATES = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@/test?host=/var/run/postgresql")


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _install() -> None:
    """As root: ``apt-get install postgresql`` unless the server binaries are there."""
    if os.geteuid() != 0:
        return
    if shutil.which("pg_ctlcluster") is None or not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, check=False).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, check=False)


def _install_and_start() -> None:
    if os.geteuid() != 0:
        return
    _install()
    for conf in sorted(glob.glob("/etc/postgresql/*/main")):
        version = conf.split("/")[3]
        hba = os.path.join(conf, "pg_hba.conf")
        with open(hba) as fh:
            text = fh.read()
        if "vaultcore-tests" not in text:  # trust on loopback and the socket, as on the dev machines
            with open(hba, "w") as fh:
                fh.write("# vaultcore-tests\nlocal all all trust\nhost all all 127.0.0.1/32 trust\n" + text)
        subprocess.run(["pg_ctlcluster", version, "main", "start"], check=False)
        subprocess.run(["pg_ctlcluster", version, "main", "reload"], check=False)
        break
    for _ in range(30):
        if _answers("postgresql://postgres@127.0.0.1:5432/postgres"):
            break
        time.sleep(1)
    subprocess.run(
        ["su", "postgres", "-c", "createdb test"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def server_url() -> str:
    """A base URL (no vault/schema) of a PostgreSQL server that answers, or fail/skip."""
    if os.environ.get("CI"):
        import psycopg  # noqa: F401 - under CI a missing driver is a failure, never a skip
    else:
        pytest.importorskip("psycopg")
    env = os.environ.get("VAULTCORE_TEST_PG")
    if env:
        return env
    for url in _CANDIDATES:
        if _answers(url):
            return url
    _install_and_start()
    for url in _CANDIDATES:
        if _answers(url):
            return url
    if os.environ.get("CI"):
        pytest.fail("no PostgreSQL server for the tests (set VAULTCORE_TEST_PG or run as root)")
    pytest.skip("no PostgreSQL server (set VAULTCORE_TEST_PG)")


def new_schema(base: str) -> str:
    import psycopg

    schema = f"vct_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error:
        pass


def vault_url(base: str, schema: str, vault: str | None = None) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}schema={schema}&vault={vault or 'v' + uuid.uuid4().hex[:12]}"


def sql(base: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one statement as the database administrator (for tampering tests)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def _where(url: str) -> tuple[str, str, str]:
    from vaultcore.storage._postgres import parse_location

    loc = parse_location(url)
    return loc.conninfo, loc.schema, loc.vault


def dump(url: str, db: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of one sub-database of the vault at *url*, in key order."""
    conninfo, schema, vault = _where(url)
    query = f'SELECT key, value FROM "{schema}".vaultcore_records WHERE vault=%s AND db=%s ORDER BY key'
    rows = sql(conninfo, query, (vault, db))
    return [(bytes(k), bytes(v)) for k, v in rows]  # type: ignore[arg-type]


def all_rows(url: str, *, audit: bool = True) -> dict[str, bytes]:
    """Every row of the vault as ``db/key-hex`` -> value; without *audit*, the audit log
    (segments and chain head) is left out: it grows by itself (group-committed reads)."""
    conninfo, schema, vault = _where(url)
    rows = sql(conninfo, f'SELECT db, key, value FROM "{schema}".vaultcore_records WHERE vault=%s', (vault,))
    out = {f"{bytes(d).decode()}/{bytes(k).hex()}": bytes(v) for d, k, v in rows}  # type: ignore[arg-type]
    if not audit:
        out = {k: v for k, v in out.items() if not k.startswith("audit/") and k != "meta/" + b"audit_head".hex()}
    return out


def put(url: str, db: bytes, key: bytes, value: bytes) -> None:
    """Overwrite one row with SQL, as a database administrator could."""
    conninfo, schema, vault = _where(url)
    sql(
        conninfo,
        f'UPDATE "{schema}".vaultcore_records SET value=%s WHERE vault=%s AND db=%s AND key=%s',
        (value, vault, db, key),
    )


def upsert(url: str, db: bytes, key: bytes, value: bytes) -> None:
    conninfo, schema, vault = _where(url)
    sql(
        conninfo,
        f'INSERT INTO "{schema}".vaultcore_records VALUES (%s, %s, %s, %s) '
        "ON CONFLICT (vault, db, key) DO UPDATE SET value = EXCLUDED.value",
        (vault, db, key, value),
    )


def delete(url: str, db: bytes, key: bytes) -> bool:
    conninfo, schema, vault = _where(url)
    rows = sql(
        conninfo,
        f'DELETE FROM "{schema}".vaultcore_records WHERE vault=%s AND db=%s AND key=%s RETURNING 1',
        (vault, db, key),
    )
    return bool(rows)


if __name__ == "__main__":  # `make pgserver`: a test server answers, server binaries installed (as root)
    _install()
    print("PostgreSQL for the tests:", server_url())


class PrivateCluster:
    """A throw-away PostgreSQL cluster of our own (initdb as the ``postgres`` user, a free
    port, trust on loopback), so a test can restart the server for real without disturbing
    anyone else using the machine's server. Needs root (CI runs as root) and the server
    binaries (installed by ``make pgserver`` when missing)."""

    def __init__(self, password: str | None = None) -> None:
        """With *password*: scram-sha-256 authentication for user ``postgres`` instead of trust."""
        import socket
        import tempfile

        _install()
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if os.geteuid() != 0 or not bindirs:
            if os.environ.get("CI"):
                pytest.fail("a private PostgreSQL cluster needs root and the server binaries")
            pytest.skip("a private PostgreSQL cluster needs root and the server binaries")
        self.bin = bindirs[-1]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.dir = tempfile.mkdtemp(prefix="vct-pg-")
        os.chmod(self.dir, 0o700)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        auth = "-A trust"
        if password is not None:
            pwfile = os.path.join(self.dir, "pw")
            with open(pwfile, "w") as fh:
                fh.write(password + "\n")
            shutil.chown(pwfile, "postgres", "postgres")
            os.chmod(pwfile, 0o600)
            auth = f"-A scram-sha-256 --pwfile={pwfile}"
        self._as_postgres(f"{self.bin}/initdb -D {self.data} {auth} -U postgres --no-sync", check=True)
        self.start()
        secret = f":{password}" if password is not None else ""
        self.url = f"postgresql://postgres{secret}@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, command: str, *, check: bool = False) -> None:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", command],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            f"{self.bin}/pg_ctl -D {self.data} -l {self.dir}/log -w -t 60 {' '.join(extra)} -o '{options}' {action}",
            check=True,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """A real restart: every connection dies, in-flight transactions are rolled back."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._as_postgres(f"{self.bin}/pg_ctl -D {self.data} -w -t 60 -m immediate stop")
        shutil.rmtree(self.dir, ignore_errors=True)
