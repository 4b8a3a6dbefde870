"""The stores ``bench_vault.py`` compares vaultcore with, built in the same run.

Every store offers the same tiny interface (``put_many``, ``get``, ``put``, ``close``) and
can be reopened from its path and a 32-byte key (the key-file case: no KDF), so the
benchmark code is the same for all of them:

- ``VaultStore``: vaultcore itself (``vault.secrets``), key-file credential.
- ``DiyStore``: what a careful Python programmer writes by hand: sqlite3 in WAL mode with
  ``synchronous=FULL``, one AES-256-GCM key (from Argon2id over a passphrase, or a key
  file), a random 96-bit nonce per value and the name as associated data.
- ``SqlCipherStore``: SQLCipher 4 via ``sqlcipher3`` (page-level AES-256-CBC + HMAC-SHA512),
  raw-key mode (``PRAGMA key = "x'..'"``: no PBKDF2), WAL, ``synchronous=FULL``.
- ``KeePassStore``: pykeepass (KDBX4, Argon2d as created by pykeepass), entries indexed in a
  dict once (its ``find_entries`` walks the XML tree on every call).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

import vaultcore
from vaultcore import KeyFileCredential, Vault

try:
    import sqlcipher3
except ImportError:  # pragma: no cover - optional peer
    sqlcipher3 = None

try:
    import pykeepass
except ImportError:  # pragma: no cover - optional peer
    pykeepass = None


def write_key_file(path: Path) -> bytes:
    """A 0600 file of 32 random bytes, shared by every store of one benchmark."""
    if not path.exists():
        KeyFileCredential.generate(path)
    return path.read_bytes()


class Store:
    name: ClassVar[str] = ""

    def put_many(self, items: dict[str, str]) -> None:
        raise NotImplementedError

    def get(self, name: str) -> str:
        raise NotImplementedError

    def put(self, name: str, value: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def settle(self) -> None:
        """Finish work the store queued in the background (timed inside the store's own round)."""

    #: Python run in a fresh interpreter: ``{path}``, ``{key_file}``, ``{probe}`` are filled in;
    #: it prints the seconds from before opening until one value has been read.
    COLD_OPEN: ClassVar[str] = ""


class VaultStore(Store):
    name = "vaultcore"

    def __init__(self, path: Path, key_file: Path, *, create: bool, audit: str = "group") -> None:
        cred = KeyFileCredential(key_file)
        self.vault = Vault.create(path, cred, audit=audit) if create else Vault.open(path, cred, audit=audit)

    def put_many(self, items: dict[str, str]) -> None:
        self.vault.secrets.set_secrets(items)

    def get(self, name: str) -> str:
        return self.vault.secrets.get_secret(name).value

    def put(self, name: str, value: str) -> None:
        self.vault.secrets.set_secret(name, value)

    def close(self) -> None:
        self.vault.close()

    def settle(self) -> None:
        self.vault.audit.flush()  # queued read events: their commit is part of the reads' cost

    COLD_OPEN = """
        from vaultcore import KeyFileCredential, Vault
        t0 = perf_counter()
        vault = Vault.open({path!r}, KeyFileCredential({key_file!r}))
        assert vault.secrets.get_secret({probe!r}).value
        t1 = perf_counter()
        vault.close()
    """


class VaultNoAuditStore(VaultStore):
    name = "vaultcore audit=off"

    def __init__(self, path: Path, key_file: Path, *, create: bool) -> None:
        super().__init__(path, key_file, create=create, audit="off")


class DiyStore(Store):
    """sqlite3 + AESGCM, as in the issue: one key, random nonce per value, name as AAD, WAL."""

    name = "diy sqlite3+AESGCM"
    KDF = {"iterations": 3, "lanes": 4, "memory_cost": 65536}

    def __init__(self, path: Path, key: bytes, *, create: bool) -> None:
        self.conn = sqlite3.connect(path / "diy.db" if path.is_dir() else path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        if create:
            self.conn.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, nonce BLOB, ct BLOB)")
        self.aead = AESGCM(key)

    @classmethod
    def key_from_passphrase(cls, passphrase: bytes, salt: bytes) -> bytes:
        return Argon2id(salt=salt, length=32, **cls.KDF).derive(passphrase)

    def _seal(self, name: str, value: str) -> tuple[str, bytes, bytes]:
        nonce = os.urandom(12)
        return name, nonce, self.aead.encrypt(nonce, value.encode(), name.encode())

    def put_many(self, items: dict[str, str]) -> None:
        rows = [self._seal(n, v) for n, v in items.items()]
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT OR REPLACE INTO secrets VALUES (?, ?, ?)", rows)
        self.conn.execute("COMMIT")

    def get(self, name: str) -> str:
        nonce, ct = self.conn.execute("SELECT nonce, ct FROM secrets WHERE name = ?", (name,)).fetchone()
        return self.aead.decrypt(nonce, ct, name.encode()).decode()

    def put(self, name: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO secrets VALUES (?, ?, ?)", self._seal(name, value))

    def close(self) -> None:
        self.conn.close()

    COLD_OPEN = """
        import sqlite3
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        t0 = perf_counter()
        with open({key_file!r}, "rb") as f:
            aead = AESGCM(f.read())
        conn = sqlite3.connect({path!r} + "/diy.db", isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        nonce, ct = conn.execute("SELECT nonce, ct FROM secrets WHERE name = ?", ({probe!r},)).fetchone()
        assert aead.decrypt(nonce, ct, {probe!r}.encode())
        t1 = perf_counter()
        conn.close()
    """


class DiyHmacStore(DiyStore):
    """The DIY store hiding names like vaultcore does: the row key is HMAC-SHA256(index key, name).

    The name is still the AAD, so a row copied under another name fails to decrypt.
    """

    name = "diy sqlite3+AESGCM+HMAC names"

    def __init__(self, path: Path, key: bytes, *, create: bool) -> None:
        super().__init__(path / "diy-hmac.db" if path.is_dir() else path, key, create=create)
        self._index = hmac.new(hashlib.sha256(b"index" + key).digest(), digestmod=hashlib.sha256)

    def _hide(self, name: str) -> bytes:
        h = self._index.copy()
        h.update(name.encode())
        return h.digest()

    def _seal(self, name: str, value: str) -> tuple[str, bytes, bytes]:  # type: ignore[override]
        nonce = os.urandom(12)
        return self._hide(name), nonce, self.aead.encrypt(nonce, value.encode(), name.encode())  # type: ignore[return-value]

    def get(self, name: str) -> str:
        row = self.conn.execute("SELECT nonce, ct FROM secrets WHERE name = ?", (self._hide(name),)).fetchone()
        return self.aead.decrypt(row[0], row[1], name.encode()).decode()


class SqlCipherStore(Store):
    name = "sqlcipher3"

    def __init__(self, path: Path, key: bytes, *, create: bool) -> None:
        assert sqlcipher3 is not None
        self.conn = sqlcipher3.connect(str(path / "cipher.db"), isolation_level=None)
        self.conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        if create:
            self.conn.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT)")

    def put_many(self, items: dict[str, str]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT OR REPLACE INTO secrets VALUES (?, ?)", list(items.items()))
        self.conn.execute("COMMIT")

    def get(self, name: str) -> str:
        return str(self.conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0])

    def put(self, name: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO secrets VALUES (?, ?)", (name, value))

    def close(self) -> None:
        self.conn.close()

    COLD_OPEN = """
        import sqlcipher3
        t0 = perf_counter()
        with open({key_file!r}, "rb") as f:
            key = f.read()
        conn = sqlcipher3.connect({path!r} + "/cipher.db", isolation_level=None)
        conn.execute(f"PRAGMA key = \\"x'{{key.hex()}}'\\"")
        assert conn.execute("SELECT value FROM secrets WHERE name = ?", ({probe!r},)).fetchone()[0]
        t1 = perf_counter()
        conn.close()
    """


class KeePassStore(Store):
    """pykeepass with an entry index built once; every durable write rewrites the file."""

    name = "pykeepass"

    def __init__(self, path: Path, key_file: Path, *, create: bool) -> None:
        assert pykeepass is not None
        self.file = str(path / "db.kdbx")
        if create:
            self.kp = pykeepass.create_database(self.file, keyfile=str(key_file))
        else:
            self.kp = pykeepass.PyKeePass(self.file, keyfile=str(key_file))
        self.index = {e.title: e for e in self.kp.entries}

    def put_many(self, items: dict[str, str]) -> None:
        for name, value in items.items():
            entry = self.index.get(name)
            if entry is None:
                self.index[name] = self.kp.add_entry(self.kp.root_group, name, "", value, force_creation=True)
            else:
                entry.password = value
        self.kp.save()

    def get(self, name: str) -> str:
        return str(self.index[name].password)

    def put(self, name: str, value: str) -> None:
        self.put_many({name: value})

    def close(self) -> None:
        pass

    COLD_OPEN = """
        import pykeepass
        t0 = perf_counter()
        kp = pykeepass.PyKeePass({path!r} + "/db.kdbx", keyfile={key_file!r})
        index = {{e.title: e for e in kp.entries}}
        assert index[{probe!r}].password
        t1 = perf_counter()
    """


def available() -> list[type[Store]]:
    stores: list[type[Store]] = [VaultStore, VaultNoAuditStore, DiyStore]
    if sqlcipher3 is not None:
        stores.append(SqlCipherStore)
    if pykeepass is not None:
        stores.append(KeePassStore)
    return stores


def make(kind: type[Store], path: Path, key_file: Path, *, create: bool) -> Store:
    path.mkdir(parents=True, exist_ok=True)
    if issubclass(kind, VaultStore):
        return kind(path / "vault", key_file, create=create)
    if kind is KeePassStore:
        return KeePassStore(path, key_file, create=create)
    return kind(path, key_file.read_bytes(), create=create)  # type: ignore[call-arg]


def cold_open_seconds(kind: type[Store], path: Path, key_file: Path, probe: str) -> float:
    """Open *path* and read one value in a fresh interpreter; seconds measured inside it."""
    target = path / "vault" if issubclass(kind, VaultStore) else path
    body = textwrap.dedent(kind.COLD_OPEN).format(path=str(target), key_file=str(key_file), probe=probe)
    code = "from time import perf_counter\n" + body + "\nprint(t1 - t0)\n"
    env = dict(os.environ)
    src = str(Path(vaultcore.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind.name} cold open failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def describe() -> dict[str, Any]:
    info: dict[str, Any] = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    if sqlcipher3 is not None:
        conn = sqlcipher3.connect(":memory:")
        conn.execute("PRAGMA key = 'x'")
        info["sqlcipher"] = conn.execute("PRAGMA cipher_version").fetchone()[0]
        conn.close()
    if pykeepass is not None:
        info["pykeepass"] = getattr(pykeepass, "__version__", "?")
    return info
