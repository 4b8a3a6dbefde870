"""Helpers for the access-control and audit tests (fixtures are in ``conftest.py``).

Vaults here use a random :class:`~vaultcore.RawKeyCredential` and ``access_kdf=KDF_TESTING``
so that creating a principal costs microseconds instead of an Argon2id hash at
``KDF_INTERACTIVE``. :class:`RawStore` opens the store with ``lmdb`` directly, as an attacker
without the vault credential would (for a PostgreSQL vault: with SQL, as a database
administrator would).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import lmdb
import pytest

import pghelpers
from vaultcore import KDF_TESTING, RawKeyCredential, Vault
from vaultcore.access._audit_records import AuditEvent

_ids = itertools.count(1)


def new_vault(path: Path, **kwargs: object) -> tuple[Vault, RawKeyCredential]:
    """A fresh vault with cheap principals; returns it with its credential (to reopen it)."""
    cred = RawKeyCredential(os.urandom(32))
    kwargs.setdefault("access_kdf", KDF_TESTING)
    return Vault.create(path, cred, **kwargs), cred  # type: ignore[arg-type]


def grant(admin: Vault, role: str | None, scope: str = "/", client_id: str | None = None) -> Vault:
    """A new application principal holding *role* on *scope*, authenticated as a view of *admin*."""
    cid = client_id or f"app-{next(_ids)}"
    app = admin.access.create_application(cid)
    if role is not None:
        admin.access.assign_role(app.principal.id, role, scope)
    return admin.as_principal(cid, app.client_secret)


def last_event(admin: Vault, principal: str, operation: str) -> AuditEvent:
    """The newest event of *principal* for *operation* (flushes queued reads first)."""
    events = admin.audit.events(principal=principal, operation=operation)
    assert events, f"no {operation} event for {principal}"
    return events[-1]


class RawStore:
    """The vault's LMDB file opened directly (the vault must be closed): an attacker's view.

    For a ``postgresql://`` vault: its rows edited with SQL, as a database administrator could."""

    def __new__(cls, path: Path | str) -> RawStore:
        if str(path).startswith("postgresql://"):
            return object.__new__(PgRawStore)
        return object.__new__(cls)

    def __init__(self, path: Path | str) -> None:
        self.env = lmdb.open(str(path), subdir=True, max_dbs=16, lock=True)
        self.audit = self.env.open_db(b"audit", create=False)
        self.meta = self.env.open_db(b"meta", create=False)

    def audit_rows(self) -> list[tuple[bytes, bytes]]:
        with self.env.begin() as txn:
            return [(bytes(k), bytes(v)) for k, v in txn.cursor(db=self.audit)]

    def put_audit(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value, db=self.audit)

    def delete_audit(self, *keys: bytes) -> None:
        with self.env.begin(write=True) as txn:
            for key in keys:
                assert txn.delete(key, db=self.audit)

    def get_meta(self, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            value = txn.get(key, db=self.meta)
            return None if value is None else bytes(value)

    def put_meta(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value, db=self.meta)

    def delete_meta(self, key: bytes) -> None:
        with self.env.begin(write=True) as txn:
            assert txn.delete(key, db=self.meta)

    def close(self) -> None:
        self.env.close()


class PgRawStore(RawStore):
    """The same attacks on a PostgreSQL vault, with SQL on its table."""

    def __init__(self, path: Path | str) -> None:
        self.url = str(path)

    def audit_rows(self) -> list[tuple[bytes, bytes]]:
        return pghelpers.dump(self.url, b"audit")

    def put_audit(self, key: bytes, value: bytes) -> None:
        pghelpers.upsert(self.url, b"audit", key, value)

    def delete_audit(self, *keys: bytes) -> None:
        for key in keys:
            assert pghelpers.delete(self.url, b"audit", key)

    def get_meta(self, key: bytes) -> bytes | None:
        return dict(pghelpers.dump(self.url, b"meta")).get(key)

    def put_meta(self, key: bytes, value: bytes) -> None:
        pghelpers.upsert(self.url, b"meta", key, value)

    def delete_meta(self, key: bytes) -> None:
        assert pghelpers.delete(self.url, b"meta", key)

    def close(self) -> None:
        pass


@pytest.fixture(params=["lmdb", "postgres"])
def vault_path_on_both(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new vault's location on each backend: a directory, then a PostgreSQL URL."""
    if request.param == "lmdb":
        return tmp_path / "vault"
    base, schema = request.getfixturevalue("pg_base")
    return pghelpers.vault_url(base, schema)


def seq_key(seq: int) -> bytes:
    return seq.to_bytes(8, "big")
