"""Helpers for testing programs that use vaultcore (public API, after structlog's ``testing``).

The pytest plugin (installed with vaultcore, entry point ``pytest11``) turns these into
fixtures: ``vault`` (a fresh temporary vault), ``vault_factory`` (makes more, closes them
all at teardown) and ``akv_server`` (:func:`running_akv_server`: the Azure Key Vault REST
server on a free port, for the official Azure SDK clients; needs ``vaultcore[server]``).
Use the classes directly in other test runners::

    from vaultcore.testing import FakeClock, VaultFactory

    factory = VaultFactory(tmp_dir)
    clock = FakeClock()
    vault = factory(clock=clock, retention_days=7)
    vault.secrets.set_secret("db-password", "s3cr3t")
    clock.advance(days=8)
    factory.close()

Test vaults use a random :class:`~vaultcore.RawKeyCredential` by default (no key
derivation, so they are fast); ``factory.passphrase_credential(pw)`` gives a passphrase
credential with :data:`~vaultcore.KDF_TESTING` (cheap, **not secure**: tests only).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaultcore import KDF_TESTING, Credential, PassphraseCredential, Pkcs11Credential, RawKeyCredential, Vault

if TYPE_CHECKING:
    from vaultcore.server import BackgroundServer, ServerCredential, StaticTokenCredential

__all__ = [
    "START",
    "AkvServer",
    "FakeClock",
    "SoftHsm",
    "VaultFactory",
    "new_test_credential",
    "running_akv_server",
    "softhsm_missing",
]

#: Where a :class:`FakeClock` starts unless told otherwise.
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock for ``Vault.create(clock=...)`` that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        if now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware datetime")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``, e.g. ``advance(days=8)``; returns the new time."""
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware datetime")
        self.now = when

    def __repr__(self) -> str:
        return f"FakeClock({self.now.isoformat()})"


def new_test_credential() -> RawKeyCredential:
    """A fresh random raw-key credential (fast: no key derivation)."""
    return RawKeyCredential(os.urandom(32))


class VaultFactory:
    """Creates vaults in sub-directories of *base_dir*; :meth:`close` closes every one."""

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self.base_dir = Path(base_dir)
        self._vaults: list[Vault] = []
        self._credentials: dict[str, Credential] = {}
        self._count = 0

    def __call__(self, name: str | None = None, *, credential: Credential | None = None, **create: Any) -> Vault:
        """Create a vault (``name`` is its directory and vault name); ``create`` goes to
        :meth:`Vault.create` (``retention_days``, ``purge_protection``, ``clock``, ...)."""
        self._count += 1
        dirname = name or f"vault{self._count}"
        path = self.base_dir / dirname
        credential = credential or new_test_credential()
        vault = Vault.create(path, credential, **create)
        self._credentials[vault.path] = credential
        self._vaults.append(vault)
        return vault

    @staticmethod
    def passphrase_credential(passphrase: str) -> PassphraseCredential:
        """A passphrase credential with the cheap ``KDF_TESTING`` parameters (tests only)."""
        return PassphraseCredential(passphrase, kdf=KDF_TESTING)

    def credential(self, vault: Vault | str | os.PathLike[str]) -> Credential:
        """The credential a vault of this factory was created with."""
        path = vault.path if isinstance(vault, Vault) else os.fspath(vault)
        for known, credential in self._credentials.items():
            if os.path.realpath(known) == os.path.realpath(path):
                return credential
        raise KeyError(f"{path!r} was not created by this factory")

    def reopen(self, vault: Vault | str | os.PathLike[str], **open_kwargs: Any) -> Vault:
        """Open a vault of this factory again (another handle, e.g. after ``close()``)."""
        path = vault.path if isinstance(vault, Vault) else os.fspath(vault)
        opened = Vault.open(path, self.credential(path), **open_kwargs)
        self._vaults.append(opened)
        return opened

    @property
    def vaults(self) -> list[Vault]:
        """Every handle created or reopened so far, in order."""
        return list(self._vaults)

    def close(self) -> None:
        """Close every vault handle this factory made (closing twice is harmless)."""
        while self._vaults:
            self._vaults.pop().close()

    def __enter__(self) -> VaultFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- premium vaults: a SoftHSM2 token ----------------------------------------------------


def softhsm_missing() -> str | None:
    """Why SoftHSM2 cannot be used here (``None`` when it can)."""
    from vaultcore.hsm import _softhsm

    if _softhsm.softhsm2_util() is None:
        return "SoftHSM2 is not installed (softhsm2-util not found; apt-get install softhsm2)"
    if not any(os.path.isfile(p) for p in _softhsm.SOFTHSM_MODULE_CANDIDATES):
        return "SoftHSM2 is not installed (libsofthsm2.so not found; apt-get install softhsm2)"
    return None


class SoftHsm:
    """A fresh SoftHSM2 token in *directory*, for premium vaults and managed HSMs in tests.

    SoftHSM finds its tokens through ``SOFTHSM2_CONF``: use the token inside
    ``with softhsm.activated():`` (the ``premium_vault`` fixture does this for the session).
    Each :meth:`credential` names a new root key, so vaults made from one token stay apart.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        label: str = "vaultcore-test",
        pin: str = "1234",
        so_pin: str = "12345678",
    ) -> None:
        from vaultcore.hsm import _softhsm

        missing = softhsm_missing()
        if missing:
            raise RuntimeError(missing)
        self._token = _softhsm.create_softhsm_token(os.fspath(directory), label=label, pin=pin, so_pin=so_pin)
        self.label = label
        self.pin = pin

    @property
    def conf_path(self) -> str:
        """The SoftHSM2 configuration naming this token's directory."""
        return self._token.conf_path

    @contextmanager
    def activated(self) -> Iterator[SoftHsm]:
        """Point ``SOFTHSM2_CONF`` at this token for the duration of the block."""
        previous = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = self.conf_path
        try:
            yield self
        finally:
            if previous is None:
                os.environ.pop("SOFTHSM2_CONF", None)
            else:
                os.environ["SOFTHSM2_CONF"] = previous

    def credential(self, key_label: str | None = None) -> Pkcs11Credential:
        """A PKCS#11 credential for this token; a fresh root key label unless one is given."""
        label = key_label or f"vaultcore-root-{uuid.uuid4().hex[:12]}"
        return Pkcs11Credential(token_label=self.label, pin=self.pin, key_label=label)

    def __repr__(self) -> str:
        return f"SoftHsm(label={self.label!r}, conf={self.conf_path!r})"


# -- a running Azure Key Vault REST server (needs the ``server`` extra) -------------------


@dataclass
class AkvServer:
    """A running ``vaultcore.server`` in this process, for the official Azure SDK clients::

        client = SecretClient(akv.url, akv.credential, **akv.client_kwargs)

    ``credential`` acts as an application principal (``client_id``) holding the role the
    server was started with (Key Vault Administrator by default); ``vault`` is the
    administrator's handle on the served vault (seed or inspect it directly).
    """

    url: str
    ca_path: str
    credential: ServerCredential
    vault: Vault
    client_id: str
    server: BackgroundServer
    backup_dir: str | None = None

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """``verify_challenge_resource=False`` and ``connection_verify=<ca_path>``."""
        return {"verify_challenge_resource": False, "connection_verify": self.ca_path}

    def credential_for(self, client_id: str, client_secret: str) -> ServerCredential:
        """A credential for another application principal of the vault."""
        return self.server.credential(client_id, client_secret)

    def admin_credential(self) -> StaticTokenCredential:
        """A credential acting as the vault administrator."""
        return self.server.admin_credential()

    def inject(self, faults: str | None) -> None:
        """Inject faults from now on, e.g. ``"throttle=0.2,latency=10ms,reset=0.05"`` (429 with
        ``Retry-After``, a delay per request, dropped connections); ``None`` stops them."""
        self.server.akv.faults.set(faults)


@contextmanager
def running_akv_server(
    vault: Vault,
    tls_dir: str | os.PathLike[str],
    *,
    client_id: str = "akv-test",
    role: str = "Key Vault Administrator",
    inject: str | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
) -> Iterator[AkvServer]:
    """Serve *vault* (an administrator handle) on a free port of 127.0.0.1 for the block.

    Creates the application principal *client_id* with *role* on the whole vault (vaults
    made with ``access_kdf=KDF_TESTING`` make this cheap) and a local CA in *tls_dir*
    (reused when still valid). *inject* starts with faults injected (see
    :meth:`AkvServer.inject`). *backup_dir* receives full backups made over REST (see
    docs/server.md); without it the backup routes answer 400.
    """
    from vaultcore.server import BackgroundServer, ensure_local_tls

    tls = ensure_local_tls(tls_dir)
    app = vault.access.create_application(client_id)
    vault.access.assign_role(app.principal.id, role)
    server = BackgroundServer(vault, tls, backup_dir=backup_dir)
    server.akv.faults.set(inject)
    with server:
        credential = server.credential(client_id, app.client_secret)
        kept = os.fspath(backup_dir) if backup_dir is not None else None
        yield AkvServer(server.url, str(tls.ca_path), credential, vault, client_id, server, kept)
